#pragma once
// Shadow page tables: the tables the real MMU walks while the guest runs. They map
// guest-virtual to host-physical and act as a software TLB filled on demand from the
// guest's own tables (guest-virtual -> guest-physical) and the guest's memory map
// (guest-physical -> host-physical). The guest part of the one shadow page directory is
// everything below kMonitorBase; the window above it is the trap back end's (the trap pages,
// address_space.hpp) and never touched here.
//
// Every entry is written through the kit's page-table code (mem::ShadowPageTable32), new
// page tables come from a pool of host frames that a reset hands out again, and no TLB flush
// is needed: the trap back end reloads CR3 at every entry into the guest.

#include <cstdint>

#include "common/memory/guest_memory.hpp"
#include "common/memory/page_table.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/vmm/vcpu.hpp"
#include "lab01-trap-and-emulate/src/address_space.hpp"

namespace hvlab::lab01 {

class ShadowMmu {
 public:
  static constexpr unsigned kGuestPdes = kMonitorBase >> 22;  ///< PDEs below the monitor (960)

  struct Config {
    mem::PhysicalMemory* host = nullptr;  ///< where the shadow tables live
    mem::GuestMemory* guest = nullptr;    ///< the guest's physical memory
    HostPhysAddr directory;               ///< the shadow page directory (CR3 while the guest runs)
    HostPhysAddr pool;                    ///< frames for shadow page tables: [pool, pool + pool_frames pages)
    std::uint32_t pool_frames = 0;
  };

  void init(const Config& c);

  /// The guest's paging mode changed (CR0.PG/WP, CR3, CR4.PSE/PGE): drop every shadow entry.
  void reset(const vmm::VCpu& v);
  /// Whether the shadow was last reset for the paging state `v` has now.
  bool matches(const vmm::VCpu& v) const;
  /// INVLPG: drop the shadow entry for `la`.
  void invalidate(std::uint32_t la);

  /// A walk of the guest's MMU for an access the monitor makes on the guest's behalf.
  enum class WalkKind : std::uint8_t { ok, page_fault, bad_frame };
  struct Walk {
    WalkKind kind = WalkKind::ok;
    GuestPhysAddr gpa;              ///< the guest-physical address (ok, bad_frame)
    std::uint32_t error_code = 0;   ///< #PF error code (page_fault)
    bool writable = false, user = false, dirty = false;
  };
  /// Translates `la` through the guest's tables (identity while guest paging is off),
  /// checking `access` and setting A/D bits as the CPU would.
  Walk walk(std::uint32_t la, mem::Access access);

  /// What a real #PF taken while the guest ran turned out to be.
  enum class Fill : std::uint8_t {
    filled,   ///< the shadow entry was missing or stale: fixed, run the instruction again
    reflect,  ///< the guest's own tables say fault: deliver #PF with *guest_error
    refused,  ///< the guest maps (or touches) memory it does not own: stop it
  };
  /// Exercise lab01-e5.
  Fill handle_fault(std::uint32_t la, std::uint32_t hw_error, std::uint32_t* guest_error, GuestPhysAddr* bad);

  /// The shadow tables, for tests and for the back end's own checks.
  const mem::ShadowPageTable32& table() const { return table_; }
  unsigned tables_in_use() const { return static_cast<unsigned>(pool_.used()); }
  std::uint64_t fills() const { return fills_; }
  std::uint64_t resets() const { return resets_; }

 private:
  void clear_guest_part();

  Config cfg_{};
  mem::BumpFrameSource<HostPhysAddr> pool_{HostPhysAddr(0), 0};
  mem::ShadowPageTable32 table_;
  bool paging_ = false;
  std::uint32_t cr0_ = 0, cr3_ = 0, cr4_ = 0;
  std::uint64_t efer_ = 0;
  mem::PagingControls controls_{};
  std::uint64_t fills_ = 0, resets_ = 0;
};

}  // namespace hvlab::lab01
