#pragma once
// What every monitor on the trap back end does before its guest runs (lab01's kernel, and the
// labs built on its back end: lab02, lab03): the host's frames, the guest's RAM and Board,
// the guest image from the first multiboot module with its multiboot information, the
// hardware side installed, and the vCPU in the state a multiboot loader leaves. Each step
// that cannot be done stops the machine with the reason (refuse()).

#include <cstdint>

#include "common/boot/kernel.hpp"
#include "common/memory/frame_allocator.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/format.hpp"
#include "common/vmm/board.hpp"
#include "common/vmm/guest_loader.hpp"
#include "common/vmm/options.hpp"
#include "common/vmm/vcpu.hpp"
#include "lab01-trap-and-emulate/kernel/hardware.hpp"
#include "lab01-trap-and-emulate/src/trap_backend.hpp"

namespace hvlab::lab01 {

struct MonitorStart {
  const char* name = "lab01";  ///< prefixes the monitor's messages
  mem::FrameAllocator* frames = nullptr;
  mem::IdentityPhysicalMemory* host = nullptr;
  std::uint64_t ram_top = 0;  ///< the end of host RAM
  vmm::Board* board = nullptr;
  std::uint64_t guest_bytes = 0;
  HostPhysAddr ram;  ///< the guest's RAM on the host (one run, 4 MiB aligned)
  vmm::LoadedImage image;
  std::uint32_t multiboot_info = 0;  ///< guest-physical
  const char* cmdline = "";          ///< the guest's command line (the module's string), copied
  HostPhysAddr directory;            ///< the guest's page directory (the shadow's)
  HostPhysAddr pool;                 ///< frames for lab01's shadow page tables
  std::uint32_t pool_frames = 0;
  bool debugger = false;             ///< debugger=on: the window mirrored at 0 (kernel/hardware.hpp)
};

/// Stops the machine: "<name>: cannot start the guest: <why>" on the debug console and COM1.
[[noreturn]] void refuse(const char* name, const char* why);

/// Parses the monitor's command line into `opt` (with the monitor's defaults in it) and does
/// everything up to the back end: host frames, the guest's RAM, its Board (the options'
/// budgets and clock applied, the RTC at a fixed date), the ELF image of the first module and
/// its multiboot information, the frames for lab01's shadow tables. Refuses on failure.
MonitorStart start_monitor(const BootInfo& boot, const char* name, vmm::MonitorOptions& opt);

/// COM2, where the monitor's trace goes (a 16550 written with its FIFO in use).
FormatSink& trace_port();

/// Installs the hardware side for `backend` (measures the TSC first) and puts the vCPU in
/// the multiboot entry state. Refuses on failure.
void start_guest(MonitorStart& s, KernelTrapHardware& hw, TrapBackend& backend, vmm::VCpu& v);

}  // namespace hvlab::lab01
