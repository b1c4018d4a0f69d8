// lab01's monitor kernel: runs the guest kernel from the first multiboot module deprivileged
// (its kernel at ring 1, its user code at ring 3) through the kit's one run loop (vmm::run)
// with the trap back end (src/trap_backend.hpp) and lab01's handlers (src/handlers.hpp).
// See labs/lab01.md for the design.
//
// Command line: the options of every monitor of the kit (common/vmm/options.hpp): events=N,
// seconds=N, spin_seconds=N, output_kib=N, guest_mib=N, trace=all|quiet|off, trace_cap=N,
// clock=host, debugger=on.

#include "common/boot/console.hpp"
#include "common/boot/kernel.hpp"
#include "common/vmm/machine.hpp"
#include "common/vmm/debug.hpp"
#include "common/vmm/options.hpp"
#include "common/vmm/run.hpp"
#include "common/vmm/trace.hpp"
#include "lab01-trap-and-emulate/kernel/hardware.hpp"
#include "lab01-trap-and-emulate/kernel/start.hpp"
#include "lab01-trap-and-emulate/src/handlers.hpp"
#include "lab01-trap-and-emulate/src/trap_backend.hpp"

using namespace hvlab;
using namespace hvlab::lab01;

int kernel_main(const BootInfo& boot) {
  dprintf("lab01: trap-and-emulate monitor\n");
  vmm::MonitorOptions opt;
  opt.budgets.events = 1'000'000;
  // The trace crawls out of a serial port (on Bochs about 15 ms of its time per record):
  // the first two events of each kind per guest test show what each test did.
  opt.run.trace_cap = 2;
  MonitorStart s = start_monitor(boot, "lab01", opt);

  // The back end, its hardware side, and the machine the handlers act on.
  static KernelTrapHardware hw;
  static TrapBackend backend(*s.board, {&hw, s.host, s.directory, s.pool, s.pool_frames});
  static vmm::Dispatcher dispatcher;
  install_handlers(dispatcher);
  static vmm::TraceWriter trace(trace_port());
  static vmm::Machine m("lab01", *s.board, backend, dispatcher, trace, debugcon());
  start_guest(s, hw, backend, m.vcpu());

  trace.note("start", s.cmdline);
  opt.run.decoder = &backend.decoder();
  return vmm::run(m, opt.run);
}
