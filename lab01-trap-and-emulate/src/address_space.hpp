#pragma once
// The monitor's window and the trap back end's two address spaces (labs/lab01.md, "Address
// spaces"). The monitor lives in the top 256 MiB of every linear address space, the window
// 0xF0000000-0xFFFFFFFF, which guest segments never reach (they are cut off below it). Two
// page directories share that window's layout:
//
//   the monitor's (CR3 while the monitor runs)     the guest's (CR3 while the guest runs)
//   0x00000000 +------------------------------+    +------------------------------+
//              | nothing                      |    | guest-virtual, shadowed      |
//   0xF0000000 +------------------------------+    +------------------------------+
//              | host RAM at +0xF0000000,     |    | nothing: a guest probing     |
//              | 4 MiB pages (252 MiB reach)  |    | upward faults here first     |
//   0xFFC00000 +------------------------------+    +------------------------------+
//              | the trap pages (below)       |    | the same trap pages          |
//   0xFFFFFFFF +------------------------------+    +------------------------------+
//
// The trap pages are what the CPU itself touches to take a trap and what runs before the
// switch to the monitor's directory (and after the switch back): the stubs and their words,
// the trap stack, the IDT, LDT and TSS, the GDT. All but the trap stack are read-only; the
// descriptors' accessed bits are preset so the CPU never needs to write them.

#include <cstdint>
#include <span>

#include "common/memory/address.hpp"
#include "common/memory/page_table.hpp"
#include "common/runtime/result.hpp"

namespace hvlab::lab01 {

/// Where the monitor lives in every linear address space: guest segments end below it.
inline constexpr std::uint32_t kMonitorBase = 0xF0000000u;
/// The last linear address a guest segment may reach.
inline constexpr std::uint32_t kGuestLinearLimit = kMonitorBase - 1;
/// The window's last 4 MiB (one PDE): the trap pages, mapped in both directories.
inline constexpr std::uint32_t kTrapWindow = 0xFFC00000u;
/// Host RAM the monitor maps while it runs (at kMonitorBase + physical), below kTrapWindow.
inline constexpr std::uint64_t kHostReach = kTrapWindow - kMonitorBase;
/// The limit of the monitor's segments (base kMonitorBase): the whole window, trap pages too.
inline constexpr std::uint32_t kMonitorSegmentLimit = 0xFFFFFFFFu - kMonitorBase;

/// A run of host pages the trap path needs mapped while the guest runs.
struct TrapPages {
  const char* what = "";     ///< for messages and tests: "GDT", "trap stack", ...
  HostPhysAddr phys;         ///< the first page (page aligned)
  std::uint32_t count = 0;   ///< pages
  bool writable = false;     ///< only what the CPU writes while the guest runs: the trap stack
};

/// Linear addresses for `runs`, packed from the top of the window down in the order given
/// (the first run ends at 0xFFFFFFFF), into `linear` (one per run). False if they do not fit
/// in kTrapWindow's 4 MiB or a run is empty or not page aligned.
bool place_trap_pages(std::span<const TrapPages> runs, std::span<std::uint32_t> linear);

/// Maps each run at its place in `pd`: supervisor, read-only unless writable, accessed (and
/// dirty, if writable) preset so the CPU never writes those page-table entries either.
Status map_trap_pages(mem::HostPageTable32& pd, std::span<const TrapPages> runs, std::span<const std::uint32_t> linear);

/// The monitor's own mapping of host RAM [0, ram_bytes) (capped at kHostReach, rounded up to
/// 4 MiB): at kMonitorBase with 4 MiB pages, supervisor, writable, and with `identity` at
/// linear 0 as well (only for the instant paging is turned on).
Status map_host_ram(mem::HostPageTable32& pd, std::uint64_t ram_bytes, bool identity);

}  // namespace hvlab::lab01
