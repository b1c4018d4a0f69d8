#pragma once
// Validated page tables, the way Xen does them for a paravirtual guest. The guest owns its
// page tables and reads them freely, but it can change them only by asking (mmu_update,
// mmuext_op, update_va_mapping), and every request is checked against three rules:
//
//   1. a frame the guest does not own is never mapped (guest RAM is frames 0 .. nr_pages-1);
//   2. a frame in use as a page table is never mapped writable, so the guest cannot change a
//      table behind the monitor's back: tables are typed, and a type can change only when
//      nothing refers to the frame any more;
//   3. the monitor's part of every address space (HVLAB_PV_HYPERVISOR_VIRT_START and up) is
//      never reachable: those page-directory slots stay empty.
//
// A refused request returns an error and changes nothing. The bookkeeping is Xen's type
// counts: each frame has a type (none, writable, L1 = page table, L2 = page directory) and a
// count of the references of that type: a writable PTE counts on the frame it maps, a present
// PDE on the table it names, a pin or the base pointer (CR3) on the table itself. A frame
// whose count reaches 0 loses its type; a table that loses its type gives up the references
// its own entries held (devalidation).
//
// Entries hold guest-physical addresses (the guest is "translated": the monitor maps its
// frames onto host memory), so nothing here knows where guest RAM lives on the host. While
// the guest runs with paging off its whole memory is writable, so no frame can be typed: pins
// and the base pointer are then only remembered, and validated when paging is turned on.

#include <cstdint>

#include "common/memory/address.hpp"
#include "common/memory/guest_memory.hpp"
#include "lab03-paravirt/abi/hvlab_pv.h"
#include "lab03-paravirt/src/errors.hpp"

namespace hvlab::lab03 {

enum class PageType : std::uint8_t { none, writable, l1, l2 };
const char* page_type_name(PageType t);

/// What the monitor knows about one guest frame.
struct FrameInfo {
  PageType type = PageType::none;
  PageType pin = PageType::none;  ///< l1 or l2 while pinned
  std::uint16_t pad = 0;
  std::uint32_t count = 0;  ///< references of `type`
};

/// What the monitor does with the hardware when the tables change: the back end keeps its
/// TLB and its own tables (shadows) in step. Host tests record the calls.
class MmuObserver {
 public:
  /// The entry at guest-physical `entry` of a live (typed) table changed from `old` to `now`.
  virtual void entry_written(GuestPhysAddr entry, std::uint32_t old, std::uint32_t now) = 0;
  /// The page directory in use changed (a new CR3).
  virtual void base_changed(GuestPhysAddr directory) = 0;
  /// Flush the TLB entry for `linear`, or all non-global entries if `all`.
  virtual void flush(std::uint32_t linear, bool all) = 0;
  /// Frame `gfn` has just become a table of `level` (l1 or l2), its entries checked: what the
  /// guest wrote there while it was ordinary memory is what counts from now on.
  virtual void table_validated(std::uint32_t gfn, PageType level) {
    (void)gfn;
    (void)level;
  }

 protected:
  ~MmuObserver() = default;
};

class PvMmu {
 public:
  /// Entries of a 32-bit table.
  static constexpr unsigned kEntries = 1024;

  /// `frames` holds one FrameInfo per guest frame (nr_pages of them), zeroed.
  PvMmu(mem::GuestMemory& memory, FrameInfo* frames, std::uint32_t nr_pages,
        std::uint32_t hypervisor_virt_start = HVLAB_PV_HYPERVISOR_VIRT_START);

  void set_observer(MmuObserver* o) { observer_ = o; }
  std::uint32_t nr_pages() const { return nr_pages_; }
  /// The first page-directory slot that belongs to the monitor.
  unsigned first_monitor_slot() const { return first_monitor_slot_; }
  bool paging() const { return paging_; }
  /// The page directory in use (what CR3 names), if the guest has named one.
  bool has_base() const { return has_base_; }
  std::uint32_t base() const { return base_; }
  const FrameInfo& frame(std::uint32_t gfn) const { return frames_[gfn]; }
  bool owns(std::uint32_t gfn) const { return gfn < nr_pages_; }
  /// A frame the monitor itself writes while the guest runs (the shared info page): it can
  /// never become a page table, or the monitor's writes would change entries behind the
  /// type counts. A request that would make it one is refused with EBUSY.
  void reserve_frame(std::uint32_t gfn) { reserved_ = gfn; }

  // ---- The hypercalls' operations (each returns 0 or a negative error code) --------------
  /// One mmu_update request: write `val` into the entry at guest-physical `ptr` (its low two
  /// bits are the command). In a typed table the new entry is validated first.
  int update(std::uint32_t ptr, std::uint32_t val);
  /// One mmuext_op.
  int extended(std::uint32_t cmd, std::uint32_t arg);
  /// update_va_mapping: the PTE that maps `va` in the current tables, then `flags`' flush.
  int update_va(std::uint32_t va, std::uint32_t val, std::uint32_t flags);

  /// The guest turned paging on (CR0.PG 0 -> 1): the remembered pins and base pointer are
  /// validated now. On an error nothing is typed and paging stays off for the monitor.
  int enable_paging();
  /// The guest turned paging off: every type is dropped (pins and base are remembered).
  void disable_paging();

  // ---- Checks and counters ---------------------------------------------------------------
  /// Recomputes every count from the tables and checks the three rules; returns nullptr when
  /// all hold, else what is wrong (a static string; *gfn names the frame). For tests and the
  /// fuzzer, which call it after every hypercall. Host only (pv_mmu_check.cpp).
  const char* check_invariants(std::uint32_t* gfn) const;
  /// The raw entry `index` of the table in frame `gfn` (which must be owned).
  std::uint32_t read_entry(std::uint32_t gfn, unsigned index) const;
  /// The 1024 entries of the table in frame `gfn` as the monitor sees them (an owned frame
  /// lies in one region of guest memory), or nullptr.
  const std::uint32_t* table(std::uint32_t gfn) const;

  struct Stats {
    std::uint64_t updates = 0;      ///< entries written through mmu_update/update_va_mapping
    std::uint64_t refused = 0;      ///< requests refused
    std::uint64_t validations = 0;  ///< tables validated entry by entry
    std::uint64_t flushes = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  int get_type(std::uint32_t gfn, PageType want);
  void put_type(std::uint32_t gfn);
  int validate_table(std::uint32_t gfn, PageType level);
  void release_entries(std::uint32_t gfn, PageType level, unsigned upto);
  int check_l1e(std::uint32_t pte) const;
  int check_l2e(unsigned index, std::uint32_t pde) const;
  int get_entry_refs(PageType level, unsigned index, std::uint32_t e);
  void put_entry_refs(PageType level, unsigned index, std::uint32_t e);
  void write_entry(std::uint32_t gfn, unsigned index, std::uint32_t v);
  int frame_arg(std::uint32_t arg, std::uint32_t* gfn) const;
  void flush(std::uint32_t linear, bool all);

  mem::GuestMemory& memory_;
  FrameInfo* frames_;
  std::uint32_t nr_pages_;
  unsigned first_monitor_slot_;
  std::uint32_t hypervisor_virt_start_;
  MmuObserver* observer_ = nullptr;
  std::uint32_t reserved_ = 0xffffffffu;
  bool paging_ = false;
  bool has_base_ = false;
  std::uint32_t base_ = 0;  // guest-physical page directory
  Stats stats_;
};

}  // namespace hvlab::lab03
