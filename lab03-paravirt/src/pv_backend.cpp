#include "lab03-paravirt/src/pv_backend.hpp"

#include "common/arch/x86.hpp"
#include "common/runtime/format.hpp"
#include "common/vmm/emulate.hpp"
#include "common/vmm/trace.hpp"
#include "lab01-trap-and-emulate/src/handlers.hpp"
#include "lab03-paravirt/src/errors.hpp"
#include "lab03-paravirt/src/hypercalls.hpp"

namespace hvlab::lab03 {

namespace fl = x86::eflags;

namespace {

PvShadow::Config shadow_config(vmm::Board& board, const PvBackend::Config& c) {
  PvShadow::Config s = c.shadow;
  s.host = c.trap.host;
  s.guest = &board.memory();
  s.directory = c.trap.directory;
  return s;
}

}  // namespace

PvBackend::PvBackend(vmm::Board& board, const Config& c, Domain& domain)
    : TrapBackend(board, c.trap), domain_(domain), shadow_(*this, domain.mmu, shadow_config(board, c)) {
  add_hypercall_vector(HVLAB_PV_TRAP_VECTOR);
  descriptors().set_hide_user_code(false);
  domain.mmu.set_observer(&shadow_);
  domain.trap_observer = this;
}

bool PvBackend::inject(vmm::VCpu& v, const vmm::PendingEvent& e) {
  // Through the guest's trap table: a paravirtual guest has no IDT the monitor reads.
  v.interrupt_shadow = false;
  return machine_ && deliver(*machine_, e);
}

vmm::Event PvBackend::enter(vmm::VCpu& v) {
  vmm::Board& b = board();
  Domain& d = domain_;
  d.publish_time(b, now());
  // User mode runs with events enabled (the ABI): the guest kernel's IRET to ring 3 cannot
  // load IF, so a return made with the mask set unmasks here, at the first entry from user
  // mode, and what waits is taken in user mode, as after a native IRET that sets IF.
  if (d.shared.attached() && v.cpl == 3) v.eflags |= fl::IF;
  // The vCPU's IF and the event mask are one flag: a handler may have changed either (an
  // emulated CLI or IRET the IF, a hypercall or a delivery both).
  if (d.shared.attached()) d.shared.set_upcall_mask(v.interrupts_enabled() ? 0 : 1);
  if (machine_ && d.shared.attached() && d.shared.upcall_pending() && !d.shared.upcall_mask()) deliver_upcall(*machine_);
  if (v.halted && d.blocked && b.wake_due()) {
    // The one-shot timer fired and woke nothing (no port bound to it): the guest stays
    // blocked, and the Board decides at the next plan whether anything else can wake it.
    b.set_wake_deadline(0);
  }
  if (v.halted) {
    // Blocked: the guest does not run. Back to the loop, which skips to the next wake-up.
    vmm::Event e;
    e.reason = vmm::Reason::interrupt_window;
    e.guest_eip = v.eip;
    e.guest_cpl = v.cpl;
    entry_time_ = exit_time_ = now();
    return e;
  }
  shadow_.sync(v);
  vmm::Event e = TrapBackend::enter(v);
  if (d.shared.attached()) {
    if (v.cpl == 3) d.shared.set_upcall_mask(0);  // an exit from user mode: events enabled
    if (d.shared.upcall_mask())
      v.eflags &= ~fl::IF;
    else
      v.eflags |= fl::IF;
  }
  return e;
}

void PvBackend::finish(vmm::TraceWriter& trace) {
  TrapBackend::finish(trace);
  domain_.write_stats(trace.sink());
  const PvShadow::Stats& s = shadow_.stats();
  auto u = [](std::uint64_t x) { return static_cast<unsigned long long>(x); };
  format_to(trace.sink(),
            "{\"kind\":\"pv_shadow\",\"installs\":%llu,\"eager_fills\":%llu,\"tables\":%llu,\"pool_resets\":%llu,"
            "\"direct_gates\":%u}\n",
            u(s.installs), u(s.eager_fills), u(s.tables), u(s.pool_resets), direct_count_);
}

void PvBackend::trap_table_changed(const Domain& d) {
  // A vector user mode may raise (DPL 3) whose entry does not mask events goes straight to
  // the guest kernel: the CPU does all a delivery would (stack switch, frame, handler), and
  // the guest's IF needs no change. Xen allows the same for INT 0x80.
  for (unsigned vec = 0; vec < 256; ++vec) {
    const TrapEntry& t = d.traps[vec];
    const std::uint8_t bit = static_cast<std::uint8_t>(1u << (vec % 8));
    const bool want = t.valid() && (t.flags & HVLAB_PV_TI_DPL_MASK) == 3 && !(t.flags & HVLAB_PV_TI_MASK_EVENTS) &&
                      d.kernel_stack_set && ring1_stack_;
    const bool has = (direct_[vec / 8] & bit) != 0;
    if (want && set_direct_gate(static_cast<std::uint8_t>(vec), t.cs, t.address)) {
      if (!has) ++direct_count_;
      direct_[vec / 8] |= bit;
    } else if (has) {
      clear_direct_gate(static_cast<std::uint8_t>(vec));
      direct_[vec / 8] &= static_cast<std::uint8_t>(~bit);
      --direct_count_;
    }
  }
}

void PvBackend::kernel_stack_changed(const Domain& d) {
  // A stack selector the CPU could not switch to: no direct gates then (the monitor delivers).
  ring1_stack_ = set_ring1_stack(d.kernel_ss, d.kernel_esp);
  trap_table_changed(d);
}

// ---- Control registers ----------------------------------------------------------------------

namespace {

void refuse(vmm::Machine& m, const char* what, int rc) {
  char text[160];
  format(text, sizeof text, "%s at eip %08x: %s (%s)", what, m.vcpu().eip, error_name(rc), error_text(rc));
  m.trace().note("refused", text);
}

}  // namespace

vmm::Action on_cr_access_pv(vmm::Machine& m, vmm::VCpu& v, const vmm::Event& e) {
  if (e.cr.type != vmm::CrAccess::Type::mov_to || v.cpl != 0 || (e.cr.cr != 0 && e.cr.cr != 3))
    return lab01::on_cr_access(m, v, e);
  PvMmu& mmu = PvMachine::of(m).domain().mmu;
  const std::uint32_t value = vmm::gpr(v, e.cr.gpr);
  if (e.cr.cr == 3) {
    // The hardware will walk this directory: it must be a validated one (Xen's new_baseptr).
    if (int rc = mmu.extended(HVLAB_PV_MMUEXT_new_baseptr, value & ~0xfffu); rc < 0) {
      refuse(m, "MOV to CR3", rc);
      return m.raise_gp(0);
    }
    return lab01::on_cr_access(m, v, e);
  }
  if (vmm::cr0_write_faults(value)) return lab01::on_cr_access(m, v, e);
  const bool was_on = (v.cr0 & x86::cr0::PG) != 0, on = (value & x86::cr0::PG) != 0;
  if (on && !(value & x86::cr0::WP)) {
    refuse(m, "MOV to CR0 clearing WP with paging on", err(HVLAB_PV_EPERM));
    return m.raise_gp(0);
  }
  if (on && !was_on) {
    if (int rc = mmu.enable_paging(); rc < 0) {
      refuse(m, "MOV to CR0 turning paging on (the pinned tables and the base pointer)", rc);
      return m.raise_gp(0);
    }
  }
  const vmm::Action a = lab01::on_cr_access(m, v, e);
  if (was_on && !(v.cr0 & x86::cr0::PG)) mmu.disable_paging();
  if (!was_on && on && !(v.cr0 & x86::cr0::PG)) mmu.disable_paging();  // lab01 refused the write after all
  return a;
}

void install_pv_handlers(vmm::Dispatcher& d) {
  lab01::install_handlers(d);
  install_hypercall_handler(d);
  d.set(vmm::Reason::cr_access, on_cr_access_pv);
}

}  // namespace hvlab::lab03
