#pragma once
// Host only (Linux): whether this machine's KVM can run the kit's guests, for the hosted
// VMM (lab05) and for the grader, which skips lab05 where it cannot.

#include <string>

namespace hvlab::vmm {

/// Empty if /dev/kvm can be opened and its KVM runs a 32-bit guest with paging on (every
/// test guest and xv6 turn it on); else why not, in one sentence. It tries, on a scratch
/// VM: some KVMs (kvm-pvm, which works without VT-x or AMD-V beneath it) support paging
/// only in long mode and keep CR0.PG clear for a 32-bit guest, whose own MOV to CR0 that
/// turns paging on then gets a #GP.
std::string kvm_unavailable_reason(const char* device = "/dev/kvm");

}  // namespace hvlab::vmm
