#pragma once
// What kernel_main hands the back ends (VT-x: vmx_monitor.cpp, AMD-V: svm_monitor.cpp), and
// the part of the run loop they share: trace filtering and the closing summary.

#include <cstdint>

#include "common/boot/kernel.hpp"
#include "common/memory/frame_allocator.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/vmm/monitor.hpp"
#include "common/vmm/trace.hpp"
#include "lab04-vtx/src/platform.hpp"
#include "lab04-vtx/src/vmcs.hpp"

namespace hvlab::lab04 {

struct MonitorOptions {
  char backend[8] = "";
  char breakage[16] = "";
  bool trace_all = false;
  bool trace_off = false;
  std::uint32_t trace_cap = 100;  ///< records per exit reason in quiet mode (counts stay exact)
  std::uint32_t max_exits = 20'000'000;
};

struct MonitorContext {
  const BootInfo& boot;
  Platform& platform;
  FormatSink& diag;  ///< monitor messages (debug console and COM1 comments)
  mem::FrameAllocator& frames;
  mem::IdentityPhysicalMemory& phys;
  MonitorOptions options;
  vmx::GuestStart start;  ///< entry point and registers (eptp/vpid unused by AMD-V)
};

int run_vmx(MonitorContext& ctx);
int run_svm(MonitorContext& ctx);

/// Records one handled exit in the trace, unless the options leave it out. The trace channel
/// is a serial line (about 11 KB per emulated second), so by default ("quiet") the guest's
/// COM1 traffic is left out and each exit reason gets at most trace_cap records; the
/// summary's counts and the sequence numbers stay exact, so per-test exit counts can still
/// be read from the "ktap" notes.
void trace_exit(vmm::TraceWriter& trace, const MonitorOptions& opt, const vmm::Event& e, vmm::Action a);

/// Ends a run: the summary record on COM2, a line on the debug console, and the status the
/// monitor exits with (the guest's own when it asked to stop, else kPanic with the reason).
int finish_run(MonitorContext& ctx, vmm::TraceWriter& trace, const vmm::Dispatcher& d, const vmm::VCpu& vcpu,
               const char* backend, std::uint64_t cycles);

}  // namespace hvlab::lab04
