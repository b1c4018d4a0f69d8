#include "common/vmm/debug.hpp"

namespace hvlab::vmm {

DebugState g_debug;

void DebugState::record(const Event& e, Action a, const char* mnemonic) {
  DebugEvent& d = ring[events % kRing];
  d.seq = ++events;
  d.reason = e.reason;
  d.action = a;
  d.vector = e.exception.vector;
  d.guest_eip = e.guest_eip;
  d.number = e.number();
  d.raw_reason = e.raw_reason;
  d.raw_qualification = e.raw_qualification;
  d.mnemonic = mnemonic;
}

DebugHypercall& DebugState::hypercall_begun(std::uint32_t number, const char* name, unsigned nargs,
                                            const std::uint32_t (&args)[5], std::uint32_t guest_eip) {
  DebugHypercall& h = hypercall_ring[hypercalls % kHypercallRing];
  h = DebugHypercall{};
  h.seq = ++hypercalls;
  h.number = number;
  for (unsigned i = 0; i < 5; ++i) h.args[i] = args[i];
  h.guest_eip = guest_eip;
  h.nargs = static_cast<std::uint8_t>(nargs);
  h.name = name;
  return h;
}

void DebugState::hypercall_done(DebugHypercall& h, Action a, std::int32_t result, const char* error) {
  h.action = a;
  h.result = result;
  h.error = error;
  h.done = true;
}

}  // namespace hvlab::vmm
