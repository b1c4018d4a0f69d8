#pragma once
// The extended page tables (SDM 29.3): guest-physical -> host-physical, built once from
// the guest's memory regions with the kit's EPT builder (common/memory/ept_table.hpp). Only
// guest RAM is mapped; the monitor's own frames (its image, its page tables, the VMCS,
// these tables) never appear, so no guest access can reach them: touching anything else
// is an EPT violation (exit reason 48).

#include <cstdint>

#include "common/memory/ept_table.hpp"
#include "common/memory/guest_memory.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/result.hpp"

namespace hvlab::lab04 {

struct EptStats {
  unsigned tables = 0;  ///< paging-structure frames used
  unsigned pages_4k = 0;
  unsigned pages_2m = 0;
};

/// Builds an EPT mapping every region of `guest` (with a known host-physical base)
/// read/write/execute, write-back, with 2 MiB pages where both addresses are 2 MiB aligned
/// and `large_pages` (exercise lab04-e4). Tables come from `frames`.
Result<mem::EptTable> build_ept(mem::PhysicalMemory& memory, mem::FrameSource<HostPhysAddr>& frames,
                                const mem::GuestMemory& guest, bool large_pages, EptStats* stats = nullptr);

}  // namespace hvlab::lab04
