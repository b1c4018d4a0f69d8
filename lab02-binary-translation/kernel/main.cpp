// lab02's monitor kernel: the binary translator (labs/lab02.md). Boots by multiboot with the
// guest kernel as its first module, builds the guest's PC as lab01 does (the shared start of
// day), and runs the guest on BtBackend: its kernel from the translation cache, its user
// code directly. The same command-line options as lab01.

#include "common/boot/console.hpp"
#include "common/boot/kernel.hpp"
#include "common/memory/page_table.hpp"
#include "common/vmm/machine.hpp"
#include "common/vmm/options.hpp"
#include "common/vmm/run.hpp"
#include "common/vmm/trace.hpp"
#include "lab01-trap-and-emulate/kernel/hardware.hpp"
#include "lab01-trap-and-emulate/kernel/start.hpp"
#include "lab01-trap-and-emulate/src/address_space.hpp"
#include "lab02-binary-translation/src/bt_backend.hpp"
#include "lab02-binary-translation/src/handlers.hpp"

using namespace hvlab;
using namespace hvlab::lab02;

namespace {

alignas(4096) std::uint8_t g_cache[kCacheBytes];

/// The cache in the guest's address space at kCacheLinear (read-only, supervisor), and the
/// code segment that runs it at ring 1; the callout gate reachable from ring 1.
void install_cache(lab01::MonitorStart& s, lab01::TrapBackend& backend) {
  namespace dt = x86::desc_type;
  const lab01::TrapPages run{"translation cache", HostPhysAddr(reinterpret_cast<std::uint32_t>(g_cache)),
                             kCacheBytes / kPageSize, false};
  const std::uint32_t at = kCacheLinear;
  mem::HostPageTable32 guests(*s.host, s.directory, s.frames);
  if (!lab01::map_trap_pages(guests, {&run, 1}, {&at, 1}).ok())
    lab01::refuse(s.name, "the translation cache could not be mapped");
  lab01::CpuTables& t = backend.tables();
  t.gdt[lab01::kExtensionCodeSlot] =
      x86::SegmentDescriptor::make(kCacheLinear, kCacheBytes - 1, dt::kCodeRXAccessed, 1);
  t.idt[kCalloutVector].dpl = 1;
}

}  // namespace

int kernel_main(const BootInfo& boot) {
  dprintf("lab02: binary translation monitor\n");
  vmm::MonitorOptions opt;
  // Every unchained exit and every emulated instruction is an event: more than lab01's.
  opt.budgets.events = 20'000'000;
  opt.run.trace_cap = 2;
  lab01::MonitorStart s = lab01::start_monitor(boot, "lab02", opt);

  static lab01::KernelTrapHardware hw;
  static Translator translator(g_cache, kCacheBytes);
  static BtBackend backend(*s.board, {{&hw, s.host, s.directory, s.pool, s.pool_frames},
                                      &translator,
                                      reinterpret_cast<std::uint8_t*>(s.ram.low32()),
                                      s.guest_bytes});
  static vmm::Dispatcher dispatcher;
  install_handlers(dispatcher);
  static vmm::TraceWriter trace(lab01::trace_port());
  static vmm::Machine m("lab02", *s.board, backend, dispatcher, trace, debugcon());
  lab01::start_guest(s, hw, backend, m.vcpu());
  install_cache(s, backend);

  trace.note("start", s.cmdline);
  opt.run.decoder = &backend.decoder();
  return vmm::run(m, opt.run);
}
