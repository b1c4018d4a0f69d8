#pragma once
// Shadow page tables kept in step with a paravirtual guest's validated tables.
//
// The guest's tables hold guest-physical frames, so the real MMU cannot walk them: it walks
// shadows (guest-virtual to host-physical), as under lab01. What paravirtualization changes is
// when the shadows learn about a change. Under lab01 the guest writes its tables freely, so
// the monitor can only drop everything at each CR3 load and refill on faults. Here every
// change arrives through the monitor (mmu_update, mmuext_op) and a table can never be written
// behind its back (it is never mapped writable), so the shadows can follow each change as it
// is made, and they can outlive a CR3 switch:
//
//   - one shadow page table per guest page table (typed L1), shared by every directory that
//     names it, kept while the table stays typed: a switch between address spaces rewrites the
//     directory's 960 entries to point at shadows that are already filled;
//   - an mmu_update of an L1 entry rewrites the shadow entry at once (marked accessed in the
//     guest's entry, as a processor's walk would on its way; present but read-only until the
//     guest's D bit is set, so the first write still faults and the monitor sets D);
//   - entries filled on demand (a #PF the shadow explains) go through lab01's ShadowMmu, into
//     the same shadow tables;
//   - INVLPG and TLB flushes need not touch them: the shadows are never stale, and the real
//     TLB is flushed at every entry into the guest (the trap back end loads CR3).
//
// The one hardware directory is lab01's (the trap back end's guest directory, its window
// above 0xF0000000 untouched): this class writes the guest part of it, lab01's ShadowMmu
// keeps walking the guest's tables and filling entries.

#include <cstdint>

#include "common/memory/address.hpp"
#include "common/memory/guest_memory.hpp"
#include "common/memory/page_table.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/vmm/vcpu.hpp"
#include "lab01-trap-and-emulate/src/trap_backend.hpp"
#include "lab03-paravirt/src/pv_mmu.hpp"

namespace hvlab::lab03 {

class PvShadow final : public MmuObserver {
 public:
  struct Config {
    mem::PhysicalMemory* host = nullptr;  ///< reaches the directory and the pool
    mem::GuestMemory* guest = nullptr;
    HostPhysAddr directory;  ///< the trap back end's guest directory
    HostPhysAddr pool;       ///< frames for shadow page tables: [pool, pool + frames pages)
    std::uint32_t frames = 0;
    std::uint16_t* slots = nullptr;  ///< one per guest frame, zeroed: its shadow's pool index + 1
    std::uint32_t* owners = nullptr;  ///< one per pool frame: the guest frame it shadows
  };

  PvShadow(lab01::TrapBackend& backend, PvMmu& mmu, const Config& c);

  /// Before each entry into the guest: the hardware directory shows the guest's current base
  /// (after a new base, a reset of lab01's shadow, or a changed directory entry). Nothing
  /// while the guest's paging is off: lab01's identity shadow serves then.
  void sync(const vmm::VCpu& v);

  // ---- MmuObserver ------------------------------------------------------------------------
  void entry_written(GuestPhysAddr entry, std::uint32_t old, std::uint32_t now) override;
  void base_changed(GuestPhysAddr directory) override;
  void flush(std::uint32_t linear, bool all) override;
  void table_validated(std::uint32_t gfn, PageType level) override;

  struct Stats {
    std::uint64_t installs = 0;      ///< directories installed (CR3 switches the shadows survived)
    std::uint64_t eager_fills = 0;   ///< shadow entries written as the guest's entry was
    std::uint64_t tables = 0;        ///< shadow page tables made
    std::uint64_t pool_resets = 0;   ///< times every shadow table was dropped for want of frames
  };
  const Stats& stats() const { return stats_; }
  /// The shadow page table of guest frame `gfn`, if it has one (tests).
  bool has_shadow(std::uint32_t gfn) const { return gfn < nr_pages_ && cfg_.slots[gfn] != 0; }
  HostPhysAddr shadow_of(std::uint32_t gfn) const;

  /// The shadow entry for the guest's PTE `pte` (0 if not present).
  std::uint32_t shadow_entry(std::uint32_t pte) const;

 private:
  bool install(const vmm::VCpu& v);
  bool install_slot(unsigned index);
  Result<HostPhysAddr> make_shadow(std::uint32_t gfn);
  void drop_all();
  void mark_accessed(GuestPhysAddr entry, std::uint32_t value);

  lab01::TrapBackend& backend_;
  PvMmu& mmu_;
  Config cfg_;
  std::uint32_t nr_pages_;
  mem::ShadowPageTable32 directory_;
  std::uint32_t used_ = 0;
  bool installed_ = false;
  std::uint32_t installed_base_ = 0;
  std::uint64_t seen_resets_ = ~std::uint64_t{0};
  Stats stats_;
};

}  // namespace hvlab::lab03
