// lab03's monitor kernel: runs a paravirtual guest kernel (one built against abi/hvlab_pv.h,
// which names its hypercall, shared info and start info pages in an hvlab_pv_header) on
// lab01's trap back end, through the kit's one run loop (vmm::run), with the hypercalls and
// delivery through the guest's trap table added (src/pv_backend.hpp). See labs/lab03.md.
//
// Command line: the options of every monitor of the kit (common/vmm/options.hpp): events=N,
// seconds=N, spin_seconds=N, output_kib=N, guest_mib=N, trace=all|quiet|off, trace_cap=N,
// clock=host.

#include "common/boot/console.hpp"
#include "common/boot/kernel.hpp"
#include "common/runtime/format.hpp"
#include "common/vmm/options.hpp"
#include "common/vmm/run.hpp"
#include "common/vmm/trace.hpp"
#include "lab01-trap-and-emulate/kernel/hardware.hpp"
#include "lab01-trap-and-emulate/kernel/start.hpp"
#include "lab03-paravirt/src/domain.hpp"
#include "lab03-paravirt/src/pv_backend.hpp"

using namespace hvlab;
using namespace hvlab::lab03;

namespace {

/// Shadow page tables that outlive a CR3 switch: 2 GiB of guest-virtual reach in all.
constexpr std::uint32_t kShadowFrames = 512;

/// `bytes` of zeroed host memory from the monitor's frames (the monitor reaches host RAM
/// at its physical addresses).
void* host_array(lab01::MonitorStart& s, std::uint64_t bytes, const char* what) {
  const std::uint64_t pages = (bytes + kPageSize - 1) / kPageSize;
  auto run = s.frames->alloc_contiguous(pages);
  if (!run.ok()) lab01::refuse(s.name, what);
  for (std::uint64_t i = 0; i < pages; ++i) (void)s.host->zero_frame(run.value() + i * kPageSize);
  return reinterpret_cast<void*>(run.value().low32());
}

}  // namespace

int kernel_main(const BootInfo& boot) {
  dprintf("lab03: paravirtual monitor\n");
  vmm::MonitorOptions opt;
  opt.budgets.events = 1'000'000;
  opt.run.trace_cap = 2;
  lab01::MonitorStart s = lab01::start_monitor(boot, "lab03", opt);

  // The paravirtual state: one FrameInfo per guest frame, the shadows' bookkeeping.
  const auto nr_pages = static_cast<std::uint32_t>(s.guest_bytes / kPageSize);
  auto* frame_info = static_cast<FrameInfo*>(host_array(s, nr_pages * sizeof(FrameInfo), "no memory for the frame table"));
  static Domain domain(s.board->memory(), frame_info, nr_pages);
  PvBackend::Config c;
  static lab01::KernelTrapHardware hw;
  c.trap = {&hw, s.host, s.directory, s.pool, s.pool_frames};
  auto shadow_pool = s.frames->alloc_contiguous(kShadowFrames);
  if (!shadow_pool.ok()) lab01::refuse(s.name, "not enough host memory for the shadow page tables");
  c.shadow.pool = shadow_pool.value();
  c.shadow.frames = kShadowFrames;
  c.shadow.slots = static_cast<std::uint16_t*>(host_array(s, nr_pages * sizeof(std::uint16_t), "no memory for the shadow map"));
  c.shadow.owners = static_cast<std::uint32_t*>(host_array(s, kShadowFrames * sizeof(std::uint32_t), "no memory for the shadow map"));

  static PvBackend backend(*s.board, c, domain);
  static vmm::Dispatcher dispatcher;
  install_pv_handlers(dispatcher);
  static vmm::TraceWriter trace(lab01::trace_port());
  static PvMachine m("lab03", *s.board, backend, dispatcher, trace, debugcon(), domain);
  backend.attach(m);
  lab01::start_guest(s, hw, backend, m.vcpu());

  // Start of day (Xen's start_info): the guest's header found and checked, the hypercall
  // stubs written, the shared info and start info pages filled in, before it runs at all.
  if (const char* why = start_domain(m, GuestPhysAddr(s.image.lowest), static_cast<std::uint32_t>(s.board->tsc_hz() / 1000)))
    lab01::refuse(s.name, why);
  trace.note("start", s.cmdline);
  opt.run.decoder = &backend.decoder();
  return vmm::run(m, opt.run);
}
