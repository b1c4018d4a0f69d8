#pragma once
// PAE page tables (SDM 4.4): a 32-bit linear (or guest-physical) address space translated
// through a page-directory-pointer table of four entries, page directories and page tables
// of 64-bit entries, with 2 MiB or 4 KiB pages and physical addresses above 4 GiB. Built and
// walked only here, like every table of the kit. lab04's AMD-V back end runs its host in PAE
// mode and builds the nested page table in this format (a nested table follows the host's
// paging mode, APM 15.25.3).

#include <cstdint>

#include "common/arch/paging.hpp"
#include "common/memory/address.hpp"
#include "common/memory/page_table.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/result.hpp"

namespace hvlab::mem {

template <typename Virt, typename Phys>
class PageTablePae {
 public:
  using Memory = PhysicalMemoryOf<Phys>;
  using Frames = FrameSource<Phys>;

  /// A detached handle: every operation fails with Error::invalid_argument.
  constexpr PageTablePae() = default;

  /// A new tree: a zeroed page-directory-pointer table and, since a PAE processor loads all
  /// four PDPTEs at once (SDM 4.4.1), all four page directories, from `frames` (below 4 GiB,
  /// as CR3 holds 32 bits).
  static Result<PageTablePae> create(Memory& memory, Frames& frames);

  /// Physical address of the page-directory-pointer table: the value for CR3 (or N_CR3).
  Phys pdpt() const { return pdpt_; }
  std::uint32_t cr3() const { return static_cast<std::uint32_t>(pdpt_.value()); }

  /// Maps the 4 KiB page at `va` to the frame at `pa`. `flags` are raw entry bits (P
  /// implied): x86::page::RW, US, PWT, PCD, G, A, D and bit 63 (XD). A new page table gets a
  /// PDE with P|RW|US so the PTE alone decides the rights. Errors: invalid_argument
  /// (misaligned, out of reach, bad flags), already_exists, out_of_memory, unsupported
  /// (no frame source).
  Status map(Virt va, Phys pa, std::uint64_t flags);
  /// Maps the 2 MiB page at `va` to `pa` (both 2 MiB aligned) with a PS = 1 PDE.
  Status map_large(Virt va, Phys pa, std::uint64_t flags);
  /// Maps [va, va + size), 2 MiB pages where both sides are aligned if `large_pages`.
  Status map_range(Virt va, Phys pa, std::uint64_t size, std::uint64_t flags, bool large_pages = false);

  /// Walks for `va` without checking rights: Error::not_found if not mapped,
  /// invalid_argument if a table lies outside backed memory.
  Result<Translation<Phys>> translate(Virt va) const;

 private:
  constexpr PageTablePae(Memory& m, Frames& f, Phys pdpt) : mem_(&m), frames_(&f), pdpt_(pdpt) {}
  Result<Phys> directory(std::uint32_t la) const;

  Memory* mem_ = nullptr;
  Frames* frames_ = nullptr;
  Phys pdpt_;
};

/// The monitor's own PAE tables: host-virtual to host-physical.
using HostPageTablePae = PageTablePae<HostVirtAddr, HostPhysAddr>;
/// Nested tables in PAE format (AMD-V nested paging under a PAE host): guest-physical to
/// host-physical, living in host memory.
using NestedPageTablePae = PageTablePae<GuestPhysAddr, HostPhysAddr>;

extern template class PageTablePae<HostVirtAddr, HostPhysAddr>;
extern template class PageTablePae<GuestPhysAddr, HostPhysAddr>;

}  // namespace hvlab::mem
