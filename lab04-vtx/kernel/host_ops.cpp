// Kernel build of host_ops.hpp: the risky instruction runs at a known address; a #GP there
// is caught by the monitor's own #GP handler, which skips it and flags the fault.

#include "common/boot/console.hpp"
#include "common/boot/trap.hpp"
#include "lab04-vtx/kernel/vmx_hw.hpp"
#include "lab04-vtx/src/host_ops.hpp"

namespace hvlab::lab04 {

namespace {
TrapHandler g_previous_gp = nullptr;

void on_host_gp(TrapFrame& f) {
  const auto eip = f.eip;
  if (eip == reinterpret_cast<std::uint32_t>(hvlab_safe_wrmsr_insn)) {
    hvlab_safe_fault = 1;
    f.eip += 2;
    return;
  }
  if (eip == reinterpret_cast<std::uint32_t>(hvlab_safe_xsetbv_insn)) {
    hvlab_safe_fault = 1;
    f.eip += 3;
    return;
  }
  // Not ours: a real #GP in the monitor. Report it as the default handler would.
  if (g_previous_gp) return g_previous_gp(f);
  dump_frame(f);
  dprintf("lab04: #GP in the monitor at eip=%08x error=0x%x\n", f.eip, f.error_code);
  machine_exit(exit_status::kUnexpectedTrap);
}

void ensure_hook() {
  static bool installed = false;
  if (!installed) {
    g_previous_gp = set_trap_handler(13, on_host_gp);
    installed = true;
  }
}
}  // namespace

Status safe_wrmsr(std::uint32_t msr, std::uint64_t value) {
  ensure_hook();
  if (hvlab_safe_wrmsr(msr, static_cast<std::uint32_t>(value), static_cast<std::uint32_t>(value >> 32)))
    return Error::fault;
  return {};
}

Status safe_xsetbv(std::uint32_t xcr, std::uint64_t value) {
  ensure_hook();
  if (hvlab_safe_xsetbv(xcr, static_cast<std::uint32_t>(value), static_cast<std::uint32_t>(value >> 32)))
    return Error::fault;
  return {};
}

}  // namespace hvlab::lab04
