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

}  // namespace hvlab::vmm
