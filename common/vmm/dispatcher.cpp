#include "common/vmm/dispatcher.hpp"

#include "common/vmm/board.hpp"
#include "common/vmm/machine.hpp"

namespace hvlab::vmm {

const char* action_name(Action a) {
  switch (a) {
    case Action::resume: return "resume";
    case Action::advance: return "emulated";
    case Action::reflect: return "reflected";
    case Action::stop: return "stopped";
  }
  return "?";
}

Action stop_unhandled(Machine& m, VCpu&, const Event& e) {
  m.board().fail("no handler for %s (%s %u) at eip %08x", reason_name(e.reason),
                 e.source == Source::vm_exit ? "exit reason" : "vector", e.raw_reason, e.guest_eip);
  return Action::stop;
}

Dispatcher::Dispatcher() : fallback_(stop_unhandled) {}

Action Dispatcher::dispatch(Machine& m, VCpu& vcpu, const Event& e) {
  auto idx = static_cast<unsigned>(e.reason);
  if (idx >= table_.size()) idx = static_cast<unsigned>(Reason::other);
  ++counts_[idx];
  Handler h = table_[idx] ? table_[idx] : fallback_;
  Action a = h(m, vcpu, e);
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
