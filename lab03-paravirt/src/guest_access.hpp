#pragma once
// Guest pointers in hypercall arguments. Each is a guest-virtual address in the guest's
// current address space, read or written as the guest kernel would (a supervisor access,
// CR0.WP honoured), through the guest's own page tables walked in its memory. A pointer
// the monitor must refuse gives -EFAULT, and the call changes nothing:
//   - the range wraps around or reaches HVLAB_PV_HYPERVISOR_VIRT_START (the monitor's area),
//   - a page of it is not mapped, or not writable for a write,
//   - it translates to guest-physical memory the guest does not have.
// The walk never leaves guest memory, so no pointer reaches the monitor's own.

#include <cstddef>
#include <cstdint>

#include "common/vmm/machine.hpp"

namespace hvlab::lab03 {

class PvMachine;

/// 0 if all of [va, va + n) can be read (write = false) or written (write = true) now.
int probe_guest(PvMachine& m, std::uint32_t va, std::size_t n, bool write);
/// Copies n bytes from the guest's va into dst: 0 or -EFAULT (then dst is undefined).
int copy_from_guest(PvMachine& m, void* dst, std::uint32_t va, std::size_t n);
/// Copies n bytes into the guest at va: 0, or -EFAULT with nothing written.
int copy_to_guest(PvMachine& m, std::uint32_t va, const void* src, std::size_t n);

}  // namespace hvlab::lab03
