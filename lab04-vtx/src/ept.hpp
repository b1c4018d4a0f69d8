#pragma once
// The extended page tables (SDM 29.3): guest-physical -> host-physical, built once from
// the guest's memory regions. Only guest RAM is mapped; the monitor's own frames (its
// image, its page tables, the VMCS, these tables) never appear, so no guest access can
// reach them: touching anything else is an EPT violation (exit reason 48).

#include <cstdint>

#include "common/memory/address.hpp"
#include "common/memory/guest_memory.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/result.hpp"

namespace hvlab::lab04 {

struct EptStats {
  unsigned tables = 0;       ///< paging-structure frames used
  unsigned pages_4k = 0;
  unsigned pages_2m = 0;
};

/// Builds a 4-level EPT mapping every region of `guest` (with a known host-physical base)
/// read/write/execute, write-back. Tables come from `frames` and are written through
/// `memory`. Uses 2 MiB pages where both addresses are 2 MiB aligned and `large_pages`.
/// Returns the PML4 table's host-physical address (for EptPointer::make).
Result<HostPhysAddr> build_ept(mem::PhysicalMemory& memory, mem::FrameSource<HostPhysAddr>& frames,
                               const mem::GuestMemory& guest, bool large_pages, EptStats* stats = nullptr);

/// Walks the EPT for `gpa` (for tests and diagnostics): the host-physical address, or
/// Error::not_found when the walk ends in a non-present entry.
Result<HostPhysAddr> ept_translate(mem::PhysicalMemory& memory, HostPhysAddr pml4, GuestPhysAddr gpa);

}  // namespace hvlab::lab04
