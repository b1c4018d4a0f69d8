#pragma once
// Shadow page tables: the tables the real MMU walks while the guest runs. They map
// guest-virtual to host-physical and act as a software TLB filled on demand from the
// guest's own tables (guest-virtual -> guest-physical) and the guest's memory map
// (guest-physical -> host-physical). The monitor's own region (kMonitorBase and up) is a
// fixed, supervisor-only part of the one shadow page directory and is never touched here.
//
// Host-testable: the tables are reached through PhysicalMemory, new page tables come from a
// fixed pool of frames, and the TLB flush is a callback.

#include <cstdint>

#include "common/memory/guest_memory.hpp"
#include "common/memory/page_table.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/vmm/vcpu.hpp"
#include "lab01-trap-and-emulate/core.hpp"

namespace hvlab::lab01 {

class ShadowMmu {
 public:
  static constexpr unsigned kGuestPdes = kMonitorBase >> 22;  ///< PDEs below the monitor (960)

  struct Config {
    mem::PhysicalMemory* host = nullptr;  ///< where the shadow tables live
    mem::GuestMemory* guest = nullptr;    ///< the guest's physical memory
    HostPhysAddr directory;               ///< the shadow page directory (CR3 while the guest runs)
    const HostPhysAddr* pool = nullptr;   ///< frames for shadow page tables
    unsigned pool_size = 0;
    void (*flush_tlb)() = nullptr;        ///< after entries were removed or downgraded
  };

  void init(const Config& c) { cfg_ = c; }

  /// The guest's paging mode changed (CR0.PG/WP, CR3, CR4.PSE/PGE): drop every shadow entry.
  void reset(const vmm::VCpu& v);
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
  Fill handle_fault(std::uint32_t la, std::uint32_t hw_error, std::uint32_t* guest_error, GuestPhysAddr* bad);

  unsigned tables_in_use() const { return pool_used_; }
  std::uint64_t fills() const { return fills_; }
  std::uint64_t resets() const { return resets_; }

 private:
  std::uint32_t* directory() const;
  std::uint32_t* new_table();
  void clear_guest_part();

  Config cfg_{};
  bool paging_ = false;
  std::uint32_t cr3_ = 0;
  mem::PagingControls controls_{};
  unsigned pool_used_ = 0;
  std::uint64_t fills_ = 0, resets_ = 0;
};

}  // namespace hvlab::lab01
