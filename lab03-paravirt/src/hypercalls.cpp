#include "lab03-paravirt/src/hypercalls.hpp"

#include "common/arch/x86.hpp"
#include "common/runtime/exercise.hpp"
#include "common/runtime/format.hpp"
#include "common/vmm/debug.hpp"
#include "lab03-paravirt/src/domain.hpp"
#include "lab03-paravirt/src/errors.hpp"
#include "lab03-paravirt/src/guest_access.hpp"

namespace hvlab::lab03 {

namespace {

/// One call in progress: the machine, its domain and vCPU, and the arguments.
struct Call {
  PvMachine& m;
  Domain& d;
  vmm::VCpu& v;
  const std::uint32_t (&a)[6];
  bool in_multicall;
};
using HypercallFn = int (*)(Call&);

/// A selector the guest kernel may run or stack on: in the GDT, not null, RPL 0 or 1 (the
/// guest kernel's ring is 1).
bool kernel_selector(std::uint32_t sel) { return sel <= 0xffff && (sel & ~7u) != 0 && !(sel & 4u) && (sel & 3u) <= 1; }

int hc_version(Call&) { return static_cast<int>(HVLAB_PV_ABI_VERSION); }

int hc_console_write(Call& c) {
  const std::uint32_t buf = c.a[0], len = c.a[1];
  // BEGIN SOLUTION lab03-e2
  // The length is bounded and the whole buffer checked before a byte is printed, so a bad
  // pointer prints nothing; then it goes out in pieces through a small buffer of our own.
  if (len > kMaxConsoleWrite) return err(HVLAB_PV_E2BIG);
  if (int rc = probe_guest(c.m, buf, len, false); rc < 0) return rc;
  char piece[256];
  for (std::uint32_t done = 0; done < len;) {
    const std::uint32_t n = len - done < sizeof piece ? len - done : sizeof piece;
    if (int rc = copy_from_guest(c.m, piece, buf + done, n); rc < 0) return rc;
    c.m.board().console_output(piece, n);
    done += n;
  }
  return static_cast<int>(len);
  // STUB: (void)buf, (void)len;
  // STUB: return err(HVLAB_PV_ENOSYS);
  // END SOLUTION
}

int set_trap_table(Call& c) {
  const std::uint32_t table = c.a[0], count = c.a[1];
  // BEGIN SOLUTION lab03-e3
  // Xen's rules: a null table clears every entry; otherwise each named vector is replaced.
  // All entries are read and checked first, so a bad one leaves the table as it was.
  if (table == 0 && count == 0) {
    for (TrapEntry& t : c.d.traps) t = TrapEntry{};
    return 0;
  }
  if (count > 256) return err(HVLAB_PV_E2BIG);
  hvlab_pv_trap_info entries[256];
  if (int rc = copy_from_guest(c.m, entries, table, count * sizeof entries[0]); rc < 0) return rc;
  for (std::uint32_t i = 0; i < count; ++i) {
    const hvlab_pv_trap_info& e = entries[i];
    if (e.flags & ~(HVLAB_PV_TI_DPL_MASK | HVLAB_PV_TI_MASK_EVENTS)) return err(HVLAB_PV_EINVAL);
    if (e.address == 0) continue;
    if (e.address >= c.d.hypervisor_virt_start()) return err(HVLAB_PV_EPERM);
    if (!kernel_selector(e.cs)) return err(HVLAB_PV_EINVAL);
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    const hvlab_pv_trap_info& e = entries[i];
    c.d.traps[e.vector] = e.address ? TrapEntry{e.cs, e.flags, e.address} : TrapEntry{};
  }
  return 0;
  // STUB: (void)table, (void)count;
  // STUB: return err(HVLAB_PV_ENOSYS);
  // END SOLUTION
}

int hc_set_trap_table(Call& c) {
  const int rc = set_trap_table(c);
  if (rc >= 0 && c.d.trap_observer) c.d.trap_observer->trap_table_changed(c.d);
  return rc;
}

int hc_mmu_update(Call& c) {
  const std::uint32_t req = c.a[0], count = c.a[1], done_ptr = c.a[2];
  // Xen's batch: the requests run in order until one is refused, which changes nothing;
  // *done says how many were applied.
  if (count > HVLAB_PV_MAX_MMU_UPDATES) return err(HVLAB_PV_E2BIG);
  if (done_ptr != 0)
    if (int rc = probe_guest(c.m, done_ptr, 4, true); rc < 0) return rc;
  ++c.d.batches;
  std::uint32_t done = 0;
  int rc = 0;
  for (; done < count; ++done) {
    hvlab_pv_mmu_update u;
    if ((rc = copy_from_guest(c.m, &u, req + done * sizeof u, sizeof u)) < 0) break;
    if ((rc = c.d.mmu.update(u.ptr, u.val)) < 0) break;
  }
  if (done > c.d.largest_batch) c.d.largest_batch = done;
  if (done_ptr != 0) (void)copy_to_guest(c.m, done_ptr, &done, 4);
  return rc;
}

int hc_mmuext_op(Call& c) {
  const std::uint32_t ops = c.a[0], count = c.a[1], done_ptr = c.a[2];
  if (count > HVLAB_PV_MAX_MMUEXT_OPS) return err(HVLAB_PV_E2BIG);
  if (done_ptr != 0)
    if (int rc = probe_guest(c.m, done_ptr, 4, true); rc < 0) return rc;
  std::uint32_t done = 0;
  int rc = 0;
  for (; done < count; ++done) {
    hvlab_pv_mmuext_op op;
    if ((rc = copy_from_guest(c.m, &op, ops + done * sizeof op, sizeof op)) < 0) break;
    if ((rc = c.d.mmu.extended(op.cmd, op.arg)) < 0) break;
    if (op.cmd == HVLAB_PV_MMUEXT_new_baseptr) c.v.cr3 = op.arg;  // what the guest's CR3 reads
  }
  if (done_ptr != 0) (void)copy_to_guest(c.m, done_ptr, &done, 4);
  return rc;
}

int hc_update_va_mapping(Call& c) { return c.d.mmu.update_va(c.a[0], c.a[1], c.a[2]); }

int hc_stack_switch(Call& c) {
  const std::uint32_t ss = c.a[0], esp = c.a[1];
  if (!kernel_selector(ss)) return err(HVLAB_PV_EINVAL);
  if (esp > c.d.hypervisor_virt_start()) return err(HVLAB_PV_EPERM);
  c.d.kernel_ss = static_cast<std::uint16_t>(ss);
  c.d.kernel_esp = esp;
  c.d.kernel_stack_set = true;
  if (c.d.trap_observer) c.d.trap_observer->kernel_stack_changed(c.d);
  return 0;
}

int hc_set_callbacks(Call& c) {
  for (unsigned i = 0; i < 4; i += 2) {
    if (c.a[i + 1] == 0) continue;  // eip 0: no callback
    if (!kernel_selector(c.a[i])) return err(HVLAB_PV_EINVAL);
    if (c.a[i + 1] >= c.d.hypervisor_virt_start()) return err(HVLAB_PV_EPERM);
  }
  c.d.event_callback = {static_cast<std::uint16_t>(c.a[0]), c.a[1]};
  c.d.failsafe_callback = {static_cast<std::uint16_t>(c.a[2]), c.a[3]};
  return 0;
}

int hc_set_timer_op(Call& c) {
  c.d.timer_deadline_ns = std::uint64_t{c.a[1]} << 32 | c.a[0];
  // A deadline already past fires at once (as Xen's); a later one is where the Board wakes
  // a guest that blocks in the meantime.
  if (c.d.timer_deadline_ns) c.d.check_timer(c.d.now_ns());
  c.m.board().set_wake_deadline(c.d.timer_deadline_ns ? c.d.guest_time_at(c.d.timer_deadline_ns) : 0);
  return 0;
}

int hc_sched_op(Call& c) {
  switch (c.a[0]) {
    case HVLAB_PV_SCHEDOP_yield:
      return 0;
    case HVLAB_PV_SCHEDOP_block:
      // Blocking enables events (Xen's SCHEDOP_block), so whatever arrives wakes the guest;
      // one already pending returns at once.
      c.d.shared.set_upcall_mask(0);
      c.v.eflags |= x86::eflags::IF;
      if (c.d.shared.upcall_pending()) return 0;
      c.d.blocked = true;
      c.v.halted = true;
      return 0;
    case HVLAB_PV_SCHEDOP_shutdown:
      if (c.a[1] > 255) return err(HVLAB_PV_EINVAL);
      c.m.board().note_exit_request(static_cast<int>(c.a[1]));
      return 0;
    default:
      return err(HVLAB_PV_EINVAL);
  }
}

int hc_event_channel_op(Call& c) {
  const std::uint32_t cmd = c.a[0], arg = c.a[1];
  if (!c.d.shared.attached()) return err(HVLAB_PV_EINVAL);
  EventChannels& ev = c.d.events;
  int rc = 0;
  switch (cmd) {
    case HVLAB_PV_EVTCHNOP_bind_virq: {
      hvlab_pv_evtchn_bind_virq b;
      if ((rc = copy_from_guest(c.m, &b, arg, sizeof b)) < 0) return rc;
      if ((rc = probe_guest(c.m, arg, sizeof b, true)) < 0) return rc;
      if ((rc = ev.bind_virq(b.virq, &b.port)) < 0) return rc;
      return copy_to_guest(c.m, arg, &b, sizeof b);
    }
    case HVLAB_PV_EVTCHNOP_bind_ipi: {
      hvlab_pv_evtchn_port p;
      if ((rc = probe_guest(c.m, arg, sizeof p, true)) < 0) return rc;
      if ((rc = ev.bind_ipi(&p.port)) < 0) return rc;
      return copy_to_guest(c.m, arg, &p, sizeof p);
    }
    case HVLAB_PV_EVTCHNOP_send:
    case HVLAB_PV_EVTCHNOP_unmask:
    case HVLAB_PV_EVTCHNOP_close: {
      hvlab_pv_evtchn_port p;
      if ((rc = copy_from_guest(c.m, &p, arg, sizeof p)) < 0) return rc;
      if (cmd == HVLAB_PV_EVTCHNOP_send) return ev.send(p.port);
      if (cmd == HVLAB_PV_EVTCHNOP_unmask) return ev.unmask(p.port);
      return ev.close(p.port);
    }
    default:
      return err(HVLAB_PV_EINVAL);
  }
}

int hc_multicall(Call& c) {
  const std::uint32_t calls = c.a[0], count = c.a[1];
  // BEGIN SOLUTION lab03-e6
  // One entry into the monitor for a whole batch: each entry runs as if called alone and
  // gets its own result. A multicall inside a multicall is refused (its entry says so).
  if (c.in_multicall) return err(HVLAB_PV_EINVAL);
  if (count > HVLAB_PV_MAX_MULTICALLS) return err(HVLAB_PV_E2BIG);
  for (std::uint32_t i = 0; i < count && c.m.board().running(); ++i) {
    const std::uint32_t at = calls + i * sizeof(hvlab_pv_multicall_entry);
    hvlab_pv_multicall_entry e;
    if (int rc = copy_from_guest(c.m, &e, at, sizeof e); rc < 0) return rc;
    const std::uint32_t args[6] = {e.args[0], e.args[1], e.args[2], e.args[3], e.args[4], e.args[5]};
    const std::int32_t result = run_hypercall(c.m, e.op, args, true);
    if (int rc = copy_to_guest(c.m, at + offsetof(hvlab_pv_multicall_entry, result), &result, 4); rc < 0) return rc;
  }
  return 0;
  // STUB: (void)calls, (void)count;
  // STUB: return err(HVLAB_PV_ENOSYS);
  // END SOLUTION
}

int hc_port_io(Call& c) {
  const std::uint32_t port = c.a[0], flags = c.a[1], value = c.a[2], in_ptr = c.a[3];
  const unsigned size = flags & 0xffu;
  if ((flags & ~(0xffu | HVLAB_PV_PORT_IN)) || !dev::valid_access_size(size)) return err(HVLAB_PV_EINVAL);
  if (port > 0x10000u - size) return err(HVLAB_PV_EINVAL);
  const std::uint32_t mask = size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
  vmm::Board& b = c.m.board();
  if (flags & HVLAB_PV_PORT_IN) {
    // The destination is checked before the port is read: a read can have side effects.
    if (int rc = probe_guest(c.m, in_ptr, 4, true); rc < 0) return rc;
    const std::uint32_t v = b.ports().read_or_float(static_cast<std::uint16_t>(port), size) & mask;
    return copy_to_guest(c.m, in_ptr, &v, 4);
  }
  (void)b.ports().write(static_cast<std::uint16_t>(port), size, value & mask);  // unmapped ports drop writes
  return 0;
}

// The table, in the ABI's order: a call missing here fails to compile.
#define HVLAB_PV_X(nr, name, nargs, what) hc_##name,
constexpr HypercallFn kTable[] = {HVLAB_PV_HYPERCALLS(HVLAB_PV_X)};
#undef HVLAB_PV_X
#define HVLAB_PV_X(nr, name, nargs, what) static_assert(kTable[nr] == hc_##name, "the ABI numbers its calls 0..N-1 in order");
HVLAB_PV_HYPERCALLS(HVLAB_PV_X)
#undef HVLAB_PV_X

void note_refusal(PvMachine& m, std::uint32_t nr, int rc) {
  Domain& d = m.domain();
  if (d.refusal_notes >= kRefusalNotes) return;
  ++d.refusal_notes;
  char text[160];
  format(text, sizeof text, "%s at eip %08x: %s (%s)", hypercall_name(nr), m.vcpu().eip, error_name(rc), error_text(rc));
  m.trace().note("refused", text);
}

/// How many arguments call `nr` takes (the ABI's list), 0 for an unknown number.
unsigned hypercall_nargs(std::uint32_t nr) {
  switch (nr) {
#define HVLAB_PV_X(n, name, nargs, what) \
  case n: return nargs;
    HVLAB_PV_HYPERCALLS(HVLAB_PV_X)
#undef HVLAB_PV_X
  }
  return 0;
}

/// The dispatcher's entry: handle_hypercall, noted for a debugger (g_debug's hypercall ring,
/// GDB's hv-hcall) with its arguments before and its result after.
vmm::Action noted_hypercall(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e) {
  const std::uint32_t args[5] = {vcpu.regs.ebx, vcpu.regs.ecx, vcpu.regs.edx, vcpu.regs.esi, vcpu.regs.edi};
  vmm::DebugHypercall& h =
      vmm::g_debug.hypercall_begun(e.hypercall, hypercall_name(e.hypercall), hypercall_nargs(e.hypercall), args, e.guest_eip);
  const vmm::Action a = handle_hypercall(m, vcpu, e);
  const auto rc = static_cast<std::int32_t>(vcpu.regs.eax);
  vmm::DebugState::hypercall_done(h, a, rc, rc < 0 ? error_name(rc) : nullptr);
  return a;
}

}  // namespace

const char* hypercall_name(std::uint32_t nr) {
  switch (nr) {
#define HVLAB_PV_X(n, name, nargs, what) \
  case n: return #name;
    HVLAB_PV_HYPERCALLS(HVLAB_PV_X)
#undef HVLAB_PV_X
  }
  return "unknown";
}

int run_hypercall(PvMachine& m, std::uint32_t nr, const std::uint32_t (&args)[6], bool in_multicall) {
  Domain& d = m.domain();
  // BEGIN SOLUTION lab03-e1
  // The number indexes the table; anything beyond it is -ENOSYS, never a jump elsewhere.
  if (nr >= HVLAB_PV_NR_HYPERCALLS) {
    ++d.unknown;
    note_refusal(m, nr, err(HVLAB_PV_ENOSYS));
    return err(HVLAB_PV_ENOSYS);
  }
  ++d.calls[nr];
  Call call{m, d, m.vcpu(), args, in_multicall};
  const int rc = kTable[nr](call);
  if (rc < 0) {
    ++d.refused[nr];
    note_refusal(m, nr, rc);
  }
  return rc;
  // STUB: (void)d, (void)nr, (void)args, (void)in_multicall;
  // STUB: return err(HVLAB_PV_ENOSYS);
  // END SOLUTION
}

vmm::Action handle_hypercall(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e) {
  // BEGIN SOLUTION lab03-e1
  // The register convention of the ABI header: EBX, ECX, EDX, ESI, EDI are the arguments,
  // EAX the result. The trap's gate lets only the guest kernel in; a user-mode caller would
  // be a #GP naming the vector, as the CPU gives it.
  if (vcpu.cpl != 0) return m.raise_gp(HVLAB_PV_TRAP_VECTOR * 8 + 2);
  const std::uint32_t args[6] = {vcpu.regs.ebx, vcpu.regs.ecx, vcpu.regs.edx, vcpu.regs.esi, vcpu.regs.edi, 0};
  vcpu.regs.eax = static_cast<std::uint32_t>(run_hypercall(PvMachine::of(m), e.hypercall, args));
  return vmm::Action::advance;
  // STUB: (void)m, (void)vcpu, (void)e;
  // STUB: return vmm::Action::stop;
  // END SOLUTION
}

void install_hypercall_handler(vmm::Dispatcher& d) { d.set(vmm::Reason::hypercall, noted_hypercall); }

}  // namespace hvlab::lab03
