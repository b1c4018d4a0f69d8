#include "lab04-vtx/kernel/monitor.hpp"

#include "common/boot/console.hpp"

namespace hvlab::lab04 {

void trace_exit(vmm::TraceWriter& trace, const MonitorOptions& opt, const vmm::Event& e, vmm::Action a) {
  static std::uint32_t per_reason[static_cast<unsigned>(vmm::Reason::count)];
  bool on = !opt.trace_off;
  if (on && !opt.trace_all) {
    if (e.reason == vmm::Reason::io_instruction && e.io.port >= 0x3f8 && e.io.port <= 0x3ff) {
      on = false;
    } else {
      std::uint32_t& n = per_reason[static_cast<unsigned>(e.reason) % static_cast<unsigned>(vmm::Reason::count)];
      on = n < opt.trace_cap || a == vmm::Action::stop;
      ++n;
    }
  }
  trace.set_events_enabled(on);
  trace.event(e, a);
}

int finish_run(MonitorContext& ctx, vmm::TraceWriter& trace, const vmm::Dispatcher& d, const vmm::VCpu& vcpu,
               const char* backend, std::uint64_t cycles) {
  Platform& p = ctx.platform;
  char note[160];
  format(note, sizeof note,
         "backend=%s exits=%llu emulated=%llu interrupts_injected=%llu idle_skips=%llu host_tsc_cycles=%llu",
         backend, static_cast<unsigned long long>(d.total()), static_cast<unsigned long long>(vcpu.instructions_emulated),
         static_cast<unsigned long long>(p.interrupts_injected()), static_cast<unsigned long long>(p.idle_skips()),
         static_cast<unsigned long long>(cycles));
  trace.note("stats", note);
  trace.summary(d, vcpu.instructions_emulated, p.stop_reason());
  dprintf("lab04: %s; %s\n", p.stop_reason(), note);
  if (p.guest_exited()) return p.guest_status();
  format_to(ctx.diag, "stopped: %s\n", p.stop_reason());
  return exit_status::kPanic;
}

}  // namespace hvlab::lab04
