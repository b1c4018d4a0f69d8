#include "common/vmm/monitor.hpp"

namespace hvlab::vmm {

const char* reason_name(Reason r) {
  switch (r) {
#define HVLAB_X(name) \
  case Reason::name:  \
    return #name;
    HVLAB_EVENT_REASONS(HVLAB_X)
#undef HVLAB_X
    case Reason::count:
      break;
  }
  return "?";
}

const char* action_name(Action a) {
  switch (a) {
    case Action::resume: return "resume";
    case Action::advance: return "emulated";
    case Action::reflect: return "reflected";
    case Action::stop: return "stopped";
  }
  return "?";
}

Action stop_unhandled(VCpu&, const Event&) { return Action::stop; }

Dispatcher::Dispatcher() : fallback_(stop_unhandled) {}

Action Dispatcher::dispatch(VCpu& vcpu, const Event& e) {
  auto idx = static_cast<unsigned>(e.reason);
  if (idx >= table_.size()) idx = static_cast<unsigned>(Reason::other);
  ++counts_[idx];
  Handler h = table_[idx] ? table_[idx] : fallback_;
  Action a = h(vcpu, e);
  if (a == Action::advance) {
    // The one place the instruction pointer moves past an emulated instruction.
    vcpu.eip += e.insn_length;
    ++vcpu.instructions_emulated;
  }
  return a;
}

std::uint64_t Dispatcher::total() const {
  std::uint64_t n = 0;
  for (auto c : counts_) n += c;
  return n;
}

}  // namespace hvlab::vmm
