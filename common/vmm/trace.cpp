#include "common/vmm/trace.hpp"

namespace hvlab::vmm {

const char* source_name(Source s) {
  switch (s) {
    case Source::trap: return "trap";
    case Source::hypercall: return "hypercall";
    case Source::vm_exit: return "exit";
    case Source::callout: return "callout";
  }
  return "?";
}

void TraceWriter::string_field(const char* key, const char* value) {
  format_to(out_, ",\"%s\":\"", key);
  for (const char* p = value ? value : ""; *p; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\') {
      out_.put('\\');
      out_.put(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      format_to(out_, "\\u%04x", c);
    } else {
      out_.put(static_cast<char>(c));
    }
  }
  out_.put('"');
}

void TraceWriter::event(const Event& e, Action outcome, const char* insn) {
  ++seq_;
  if (!events_enabled_) return;
  format_to(out_, "{\"seq\":%llu,\"kind\":\"%s\",\"reason\":\"%s\"", static_cast<unsigned long long>(seq_),
            source_name(e.source), reason_name(e.reason));
  if (e.source == Source::trap || e.reason == Reason::exception || e.reason == Reason::page_fault ||
      e.reason == Reason::software_interrupt || e.reason == Reason::external_interrupt) {
    format_to(out_, ",\"vector\":%u", e.exception.vector);
  }
  if (e.exception.has_error_code) format_to(out_, ",\"error_code\":%u", e.exception.error_code);
  if (e.source == Source::vm_exit) {
    format_to(out_, ",\"exit_reason\":%u,\"qualification\":\"0x%llx\"", e.raw_reason,
              static_cast<unsigned long long>(e.raw_qualification));
  }
  if (e.memory.has_linear) format_to(out_, ",\"address\":\"0x%08x\"", e.memory.linear.low32());
  if (e.memory.has_physical)
    format_to(out_, ",\"gpa\":\"0x%08llx\"", static_cast<unsigned long long>(e.memory.physical.value()));
  if (e.reason == Reason::io_instruction) {
    format_to(out_, ",\"port\":%u,\"size\":%u,\"dir\":\"%s\"", e.io.port, e.io.size, e.io.in ? "in" : "out");
  }
  if (e.reason == Reason::hypercall || e.reason == Reason::msr_read || e.reason == Reason::msr_write ||
      e.reason == Reason::cr_access || e.reason == Reason::software_interrupt) {
    format_to(out_, ",\"number\":%u", e.number());
  }
  if (e.reason == Reason::privileged_instruction && e.op != PrivilegedOp::decoded) string_field("op", privileged_op_name(e.op));
  format_to(out_, ",\"eip\":\"0x%08x\",\"cpl\":%u", e.guest_eip, e.guest_cpl);
  if (insn) string_field("insn", insn);
  string_field("outcome", action_name(outcome));
  out_.write("}\n", 2);
}

void TraceWriter::note(const char* kind, const char* what) {
  ++seq_;
  if (kind[0] == 'k' && kind[1] == 't' && kind[2] == 'a' && kind[3] == 'p' && kind[4] == '\0') ++ktap_notes_;
  format_to(out_, "{\"seq\":%llu", static_cast<unsigned long long>(seq_));
  string_field("kind", kind);
  string_field("what", what);
  out_.write("}\n", 2);
}

void TraceWriter::summary(const Dispatcher& d, std::uint64_t emulated, const char* stop_reason) {
  format_to(out_, "{\"kind\":\"summary\",\"events\":%llu,\"emulated\":%llu",
            static_cast<unsigned long long>(d.total()), static_cast<unsigned long long>(emulated));
  string_field("stop", stop_reason);
  out_.write(",\"counts\":{", 11);
  bool first = true;
  for (unsigned i = 0; i < static_cast<unsigned>(Reason::count); ++i) {
    auto r = static_cast<Reason>(i);
    if (!d.count(r)) continue;
    format_to(out_, "%s\"%s\":%llu", first ? "" : ",", reason_name(r), static_cast<unsigned long long>(d.count(r)));
    first = false;
  }
  out_.write("}}\n", 3);
}

}  // namespace hvlab::vmm
