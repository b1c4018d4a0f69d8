#pragma once
// Extended page tables (SDM 29.3): a 4-level tree that translates guest-physical addresses
// into host-physical ones, living in host memory. Built and walked only here, like every
// other page table of the kit (page_table.hpp); a VT-x monitor maps its guest's RAM with it
// and hands the processor eptp().

#include <cstdint>

#include "common/arch/paging.hpp"
#include "common/memory/address.hpp"
#include "common/memory/page_table.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/result.hpp"

namespace hvlab::mem {

class EptTable {
 public:
  /// A detached handle: every operation fails with Error::invalid_argument.
  constexpr EptTable() = default;
  /// Wraps the existing tree whose PML4 table is at `pml4`. Without `frames`, a map() that
  /// needs a new table fails with Error::unsupported.
  constexpr EptTable(PhysicalMemory& memory, HostPhysAddr pml4, FrameSource<HostPhysAddr>* frames = nullptr)
      : mem_(&memory), frames_(frames), pml4_(pml4) {}

  /// A new, empty tree: one zeroed PML4 table from `frames`.
  static Result<EptTable> create(PhysicalMemory& memory, FrameSource<HostPhysAddr>& frames);

  HostPhysAddr pml4() const { return pml4_; }
  /// The EPT pointer for the VMCS (SDM 25.6.11): write-back, 4-level walk.
  std::uint64_t eptp() const { return x86::EptPointer::make(pml4_.value()).raw(); }

  /// Maps the 4 KiB page at `gpa` to the frame at `hpa` with `rights` (x86::ept::R, W, X)
  /// and `memory_type` (x86::ept::kWriteBack...). Tables on the way grant R, W and X: the
  /// leaf decides (rights are ANDed along the walk, SDM 29.3.3). Errors: invalid_argument
  /// (misaligned, no rights, W without R: a misconfiguration, SDM 29.3.3.1), already_exists,
  /// out_of_memory, unsupported (no frame source).
  Status map(GuestPhysAddr gpa, HostPhysAddr hpa, std::uint64_t rights = x86::ept::RWX,
             unsigned memory_type = x86::ept::kWriteBack);
  /// The same for a 2 MiB page (a PDE with bit 7 set; both addresses 2 MiB aligned).
  Status map_large(GuestPhysAddr gpa, HostPhysAddr hpa, std::uint64_t rights = x86::ept::RWX,
                   unsigned memory_type = x86::ept::kWriteBack);

  /// Walks for `gpa`: the host-physical address, page size and leaf. Error::not_found when
  /// the walk ends at an entry with no rights (an EPT violation), invalid_argument when a
  /// table lies outside backed memory.
  Result<Translation<HostPhysAddr>> translate(GuestPhysAddr gpa) const;

  /// Paging-structure frames this handle has allocated (the PML4 included, for create()).
  unsigned tables_allocated() const { return tables_; }

 private:
  Result<HostPhysAddr> next_table(HostPhysAddr table, unsigned index);
  /// The table that holds `a`'s entry at `level` (1: PT, 2: PD), made on the way as needed.
  Result<HostPhysAddr> walk_to(std::uint64_t a, unsigned level);
  Status set_leaf(HostPhysAddr slot, std::uint64_t raw);

  PhysicalMemory* mem_ = nullptr;
  FrameSource<HostPhysAddr>* frames_ = nullptr;
  HostPhysAddr pml4_;
  unsigned tables_ = 0;
};

}  // namespace hvlab::mem
