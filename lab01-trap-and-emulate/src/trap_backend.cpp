// The trap back end (trap_backend.hpp): everything of lab01's monitor that happens around
// the switch into the guest and back, with the real machine behind TrapHardware.

#include "lab01-trap-and-emulate/src/trap_backend.hpp"

#include "common/arch/x86.hpp"
#include "common/devices/pit8254.hpp"
#include "common/runtime/exercise.hpp"
#include "common/runtime/format.hpp"
#include "common/runtime/string.hpp"
#include "common/vmm/trace.hpp"
#include "lab01-trap-and-emulate/src/idt.hpp"
#include "lab01-trap-and-emulate/src/operands.hpp"
#include "lab01-trap-and-emulate/src/trap_event.hpp"

namespace hvlab::lab01 {

namespace fl = x86::eflags;
namespace vec = x86::vector;
using vmm::ExceptionInfo;

TrapBackend::TrapBackend(vmm::Board& board, const Config& c)
    : Backend(board), hw_(*c.hw), tables_{}, descriptors_(tables_) {
  mmu_.init({c.host, &board.memory(), c.directory, c.pool, c.pool_frames});
}

// ---- the guest's memory, as the monitor reaches it ------------------------------------------

void TrapBackend::soft_tlb_flush() {
  for (auto& e : soft_tlb_) e = SoftTlbEntry{};
}

void TrapBackend::sync_paging(vmm::VCpu& v) {
  if (mmu_.matches(v)) return;
  mmu_.reset(v);
  soft_tlb_flush();
}

void TrapBackend::control_register_written(vmm::VCpu& v, unsigned cr, std::uint32_t old) {
  constexpr std::uint32_t cr0_paging = x86::cr0::PG | x86::cr0::WP | x86::cr0::PE;
  constexpr std::uint32_t cr4_paging = x86::cr4::PSE | x86::cr4::PGE | x86::cr4::PAE;
  // SDM 4.10.4.1: MOV to CR3 flushes the (non-global) TLB, even with the same value; the
  // guest's TLB is the shadow tables and the soft TLB.
  bool reset = (cr == 0 && ((old ^ v.cr0) & cr0_paging)) || (cr == 4 && ((old ^ v.cr4) & cr4_paging)) ||
               (cr == 3 && (v.cr0 & x86::cr0::PG));
  if (reset) {
    mmu_.reset(v);
    soft_tlb_flush();
  }
}

void TrapBackend::invalidate_page(std::uint32_t la) {
  mmu_.invalidate(la);
  soft_tlb_flush();  // a 4 MiB guest page covers many of its 4 KiB entries
}

unsigned char* TrapBackend::guest_page(vmm::VCpu& v, std::uint32_t la, bool user, bool write, ExceptionInfo* fault) {
  (void)v;
  const std::uint8_t right = static_cast<std::uint8_t>(1u << ((user ? 2 : 0) + (write ? 1 : 0)));
  SoftTlbEntry& t = soft_tlb_[(la >> 12) % kSoftTlbSize];
  if (t.page != la >> 12 || !(t.rights & right)) {
    mem::Access acc{write ? mem::Access::Op::write : mem::Access::Op::read, user, false};
    auto w = mmu_.walk(la, acc);
    if (w.kind == ShadowMmu::WalkKind::page_fault) {
      *fault = {vec::PF, true, w.error_code, la};
      return nullptr;
    }
    auto host = w.kind == ShadowMmu::WalkKind::ok ? board_.memory().host_ptr(w.gpa.align_down(kPageSize), kPageSize)
                                                  : Result<void*>(Error::fault);
    if (!host.ok()) {
      board_.contain("the guest made the monitor touch guest-physical %08llx, outside its memory",
                     static_cast<unsigned long long>(w.gpa.value()));
      *fault = {vec::GP, true, 0, 0};
      return nullptr;
    }
    auto* h = static_cast<unsigned char*>(host.value());
    if (t.page != la >> 12 || t.host != h) t = SoftTlbEntry{la >> 12, 0, h};
    t.rights |= right;
  }
  return t.host + (la & 0xfff);
}

bool TrapBackend::guest_copy(vmm::VCpu& v, std::uint32_t la, void* buf, std::size_t n, bool user, bool write,
                             ExceptionInfo* fault) {
  auto* p = static_cast<unsigned char*>(buf);
  while (n > 0) {
    std::size_t chunk = kPageSize - (la & 0xfff);
    if (chunk > n) chunk = n;
    unsigned char* h = guest_page(v, la, user, write, fault);
    if (!h) return false;
    if (write) {
      rt::mem_copy(h, p, chunk);
      guest_memory_written(h, chunk);
    } else {
      rt::mem_copy(p, h, chunk);
    }
    la += static_cast<std::uint32_t>(chunk);
    p += chunk;
    n -= chunk;
  }
  return true;
}

bool TrapBackend::read_linear(vmm::VCpu& v, GuestVirtAddr la, void* dst, std::size_t n, bool user,
                              ExceptionInfo* fault) {
  sync_paging(v);
  return guest_copy(v, la.low32(), dst, n, user, false, fault);
}

bool TrapBackend::write_linear(vmm::VCpu& v, GuestVirtAddr la, const void* src, std::size_t n, bool user,
                               ExceptionInfo* fault) {
  sync_paging(v);
  return guest_copy(v, la.low32(), const_cast<void*>(src), n, user, true, fault);
}

bool TrapBackend::read_guest(std::uint32_t la, void* dst, std::size_t n) {
  ExceptionInfo f;
  return vcpu_ && guest_copy(*vcpu_, la, dst, n, false, false, &f);
}

const void* TrapBackend::view_guest(std::uint32_t la, std::size_t n) {
  if (!vcpu_ || (la & 0xfff) + n > kPageSize) return nullptr;
  ExceptionInfo f;
  return guest_page(*vcpu_, la, false, false, &f);
}

const decoder::Instruction* TrapBackend::fetch_decoded(vmm::VCpu& v) {
  // The bytes in place when the longest instruction fits in the page; otherwise the bytes
  // up to the end of the page, and the rest from the next page only if that page is there
  // (an instruction may end on this one).
  std::uint8_t copy[15];
  const std::uint8_t* bytes = copy;
  std::uint32_t la = segment_base(v.cs) + v.eip;
  std::size_t n = kPageSize - (la & 0xfff);
  if (n > sizeof copy) n = sizeof copy;
  const bool user = v.cpl == 3;
  ExceptionInfo f;
  if (n == sizeof copy) {
    bytes = guest_page(v, la, user, false, &f);
    if (!bytes) return nullptr;
  } else {
    if (!guest_copy(v, la, copy, n, user, false, &f)) return nullptr;
    if (guest_copy(v, la + static_cast<std::uint32_t>(n), copy + n, sizeof copy - n, user, false, &f)) n = sizeof copy;
  }
  DecodedSlot& slot = decoded_[(la ^ (la >> 7)) % kDecodeSlots];
  if (slot.length && slot.length <= n && rt::mem_compare(slot.bytes, bytes, slot.length) == 0) {
    ++counters_.decode_hits;
    return &slot.insn;
  }
  ++counters_.decode_misses;
  slot.length = 0;
  if (!decoder_.decode_into(bytes, n, slot.insn).ok()) return nullptr;
  slot.length = slot.insn.length();
  rt::mem_copy(slot.bytes, bytes, slot.length);
  return &slot.insn;
}

// ---- vCPU <-> trap frame ---------------------------------------------------------------------

void TrapBackend::load_vcpu(vmm::VCpu& v, const TrapFrame& f) {
  v.regs = {f.eax, f.ecx, f.edx, f.ebx, f.user_esp, f.ebp, f.esi, f.edi};
  v.eip = f.eip;
  v.cpl = (f.cs & 3) == 3 ? 3 : 0;
  v.cs = to_virtual_selector(static_cast<std::uint16_t>(f.cs));
  v.ss = to_virtual_selector(static_cast<std::uint16_t>(f.user_ss));
  v.ds = static_cast<std::uint16_t>(f.ds);
  v.es = static_cast<std::uint16_t>(f.es);
  v.fs = static_cast<std::uint16_t>(f.fs);
  v.gs = static_cast<std::uint16_t>(f.gs);
  // Arithmetic flags, DF, TF, AC... are the hardware's; IF and IOPL are virtual. TF is the
  // guest's own, not the monitor's single step.
  std::uint32_t real = f.eflags;
  if (step_) real = (real & ~fl::TF) | (step_guest_tf_ ? fl::TF : 0);
  constexpr std::uint32_t virt = fl::IF | fl::IOPL;
  v.eflags = (real & ~virt) | (v.eflags & virt) | fl::FIXED1;
  guest_state_loaded(v, f);
}

bool TrapBackend::store_vcpu(const vmm::VCpu& v, TrapFrame& f) {
  f.eax = v.regs.eax, f.ecx = v.regs.ecx, f.edx = v.regs.edx, f.ebx = v.regs.ebx;
  f.ebp = v.regs.ebp, f.esi = v.regs.esi, f.edi = v.regs.edi;
  f.user_esp = v.regs.esp;
  f.eip = v.eip;
  std::uint16_t cs = v.cs, ss = v.ss;
  if (v.cpl == 0) {
    cs = static_cast<std::uint16_t>((cs & ~3) | 1);
    ss = static_cast<std::uint16_t>((ss & ~3) | 1);
  }
  if (!descriptors_.selector_usable(cs, true, false) || !descriptors_.selector_usable(ss, false, true)) return false;
  f.cs = cs;
  f.user_ss = ss;
  std::uint16_t data[4] = {v.ds, v.es, v.fs, v.gs};
  for (auto& s : data) {
    if (!descriptors_.selector_usable(s, false, false)) s = 0;
  }
  f.ds = data[0], f.es = data[1], f.fs = data[2], f.gs = data[3];
  // Real IF is always 1 (the monitor's timer), IOPL 0 (every port traps), no NT (a real
  // IRET must never attempt a task return), TF when the monitor single-steps.
  f.eflags = (v.eflags & ~(fl::IOPL | fl::NT | fl::VM | fl::TF)) | fl::IF | fl::FIXED1 |
             ((step_ || (v.eflags & fl::TF)) ? fl::TF : 0);
  guest_state_stored(v, f);
  return true;
}

// ---- entering the guest ---------------------------------------------------------------------

void TrapBackend::request_interrupt_window(vmm::VCpu&, bool on) { window_wanted_ = on; }

void TrapBackend::arm_timer(std::uint64_t deadline, std::uint64_t watchdog) {
  timer_deadline_ = deadline;
  timer_watchdog_ = watchdog;
}

std::uint16_t TrapBackend::timer_ticks() {
  // The real PIT, one-shot, for the guest's next timer edge (or the watchdog), in PIT ticks
  // from now. At most 10 ms: the monitor looks in at least that often; at least 0.25 ms: the
  // guest always gets to run (on Bochs, whose time is its instruction count, a shorter slice
  // can expire on the way into the guest, over and over).
  constexpr std::uint64_t kMax = dev::Pit8254::kInputHz / 100, kMin = 300;
  std::uint64_t target =
      timer_deadline_ && (timer_deadline_ < timer_watchdog_ || !timer_watchdog_) ? timer_deadline_ : timer_watchdog_;
  std::uint64_t now_guest = board_.guest_time(now());
  std::uint64_t rem = 0;
  std::uint64_t ticks = vmm::convert_ticks(target > now_guest ? target - now_guest : 0, board_.tsc_hz(),
                                           dev::Pit8254::kInputHz, &rem);
  if (ticks > kMax || target == 0) ticks = kMax;
  if (ticks < kMin) ticks = kMin;
  return static_cast<std::uint16_t>(ticks);
}

vmm::Event TrapBackend::enter(vmm::VCpu& v) {
  vcpu_ = &v;
  sync_paging(v);
  step_ = false;
  // User mode with a virtual IOPL above 0 is stepped by the monitor (lab01-e10); an STI
  // shadow (or an exception just delivered) with an interrupt waiting is single-stepped to
  // the end of its one instruction, where the interrupt can be taken.
  if (v.cpl == 3 && v.iopl() != 0) step_user_with_iopl(v);
  if (window_wanted_ && (v.interrupt_shadow || v.interrupts_enabled())) step_ = true;
  step_guest_tf_ = (v.eflags & fl::TF) != 0;
  descriptors_.sync(v, *this);
  // RDTSC runs natively only while the guest's TSC is the host's (clock=host, before any
  // idle skip or TSC write) and the guest's own CR4.TSD allows it; otherwise it traps and
  // the handler answers from the guest's clock.
  bool traps = (v.cr4 & x86::cr4::TSD) || board_.tsc_offset() != 0;
  if (!rdtsc_traps_known_ || traps != rdtsc_traps_) {
    hw_.set_rdtsc_traps(traps);
    rdtsc_traps_ = traps;
    rdtsc_traps_known_ = true;
  }
  TrapFrame& f = hw_.frame();
  vmm::Event stop;
  stop.reason = vmm::Reason::other;
  stop.guest_eip = v.eip;
  entry_time_ = exit_time_ = now();  // if it never runs: no time of the guest's
  if (!board_.running()) return stop;
  if (!store_vcpu(v, f)) {
    board_.contain("the guest's CS or SS names no usable descriptor (cs=%04x ss=%04x)", v.cs, v.ss);
    return stop;
  }
  const bool had_shadow = v.interrupt_shadow;
  shadow_eip_ = v.eip;

  // Last: the real timer, so that all the work above is not taken from the guest's slice.
  hw_.arm_timer(timer_ticks());
  ++counters_.timer_arms;
  hw_.run_guest();
  // The switch itself, both ways, is the guest's time; everything else here the monitor's.
  entry_time_ = hw_.entered_at();
  exit_time_ = hw_.exited_at();

  load_vcpu(v, f);
  const unsigned vector = f.vector & 0xff;
  // The STI shadow ends when the guest's next instruction completes. A real IRQ that arrives
  // before that instruction ran (same EIP) must not end it, or a virtual interrupt would be
  // delivered inside the shadow (`sti; hlt` would be interrupted at the HLT).
  v.interrupt_shadow = had_shadow && vector >= kIrqBase && vector < kIrqBase + 16 && v.eip == shadow_eip_;
  const bool monitor_step = step_;
  vmm::Event e = build_event(v, f, monitor_step);
  step_ = false;
  return e;
}

vmm::Event TrapBackend::build_event(vmm::VCpu& v, const TrapFrame& f, bool monitor_step) {
  const unsigned vector = f.vector & 0xff;
  if (vector >= kIrqBase && vector < kIrqBase + 16) {
    ++counters_.irqs;
    if (!hw_.end_of_interrupt(vector - kIrqBase)) ++counters_.spurious_irqs;
    return make_trap_event(v, vector, 0, 0, nullptr, *this);
  }
  if (hypercall_vectors_[vector / 8] & (1u << (vector % 8))) {
    vmm::Event e;
    e.source = vmm::Source::hypercall;
    e.reason = vmm::Reason::hypercall;
    e.guest_eip = v.eip;
    e.guest_cpl = v.cpl;
    e.raw_reason = vector;
    e.hypercall = v.regs.eax;
    return e;
  }
  const decoder::Instruction* insn = nullptr;
  if (vector == vec::GP || vector == vec::NP || vector == vec::SS) insn = fetch_decoded(v);
  vmm::Event e = make_trap_event(v, vector, f.error_code, hw_.trap_cr2(), insn, *this);
  if (vector == vec::DB) {
    std::uint32_t dr6 = hw_.take_dr6();
    if (monitor_step && !step_guest_tf_) {
      e.reason = vmm::Reason::interrupt_window;  // the monitor's own single step
      ++counters_.monitor_steps;
    } else {
      v.dr[6] = (dr6 & 0x0000e00fu) | 0xffff0ff0u;  // what the guest's MOV from DR6 sees
    }
  }
  if (e.reason == vmm::Reason::cr_access && e.cr.type == vmm::CrAccess::Type::lmsw &&
      insn->operands[0].type == ZYDIS_OPERAND_TYPE_MEMORY) {
    // LMSW m16: the operand is read here; if that faults, the fault is the guest's.
    std::uint16_t w = 0;
    ExceptionInfo fault;
    if (guest_copy(v, operand_linear_address(v, insn->operands[0], *this), &w, 2, v.cpl == 3, false, &fault)) {
      e.cr.lmsw_source = w;
    } else {
      e.reason = vmm::Reason::exception;
      e.exception = {fault.vector, fault.has_error_code, fault.error_code, 0};
      e.memory.linear = GuestVirtAddr(fault.address);
      e.memory.has_linear = fault.vector == vec::PF;
    }
  }
  return e;
}

// ---- events for the guest -------------------------------------------------------------------

bool TrapBackend::inject(vmm::VCpu& v, const vmm::PendingEvent& e) {
  sync_paging(v);
  // BEGIN SOLUTION lab01-e6
  // SDM 6.8.3 and 6.12: the run loop has already decided that the guest can take `e` (an
  // interrupt only with the virtual IF set and no STI shadow); deliver it through the
  // guest's own IDT. An INT n resumes after the instruction, a fault at it.
  using Type = vmm::PendingEvent::Type;
  Delivery kind = Delivery::exception;
  std::uint32_t return_eip = v.eip;
  switch (e.type) {
    case Type::external_interrupt: kind = Delivery::external; break;
    case Type::software_interrupt:
    case Type::software_exception:
    case Type::privileged_software_exception:
      kind = Delivery::software;
      return_eip += e.insn_length;
      break;
    default: break;
  }
  bool delivered = deliver_interrupt(v, *this, *this, e.vector, kind, e.has_error_code, e.error_code, return_eip);
  v.interrupt_shadow = false;
  return delivered;
  // STUB: return false;
  // END SOLUTION
}

bool TrapBackend::add_hypercall_vector(std::uint8_t vector) {
  if (vector < kIrqBase + 16 || (direct_gates_[vector / 8] & (1u << (vector % 8)))) return false;
  hypercall_vectors_[vector / 8] |= static_cast<std::uint8_t>(1u << (vector % 8));
  tables_.idt[vector].dpl = 1;
  return true;
}

namespace {
/// A selector of the guest's part of the real GDT (never one of the monitor's five slots).
bool guest_gdt_selector(std::uint16_t sel) { return !(sel & 4) && (sel >> 3) != 0 && (sel >> 3) < kGuestSlots; }
}  // namespace

bool TrapBackend::set_direct_gate(std::uint8_t vector, std::uint16_t cs, std::uint32_t eip) {
  const std::uint8_t bit = static_cast<std::uint8_t>(1u << (vector % 8));
  if (vector < kIrqBase + 16 || (hypercall_vectors_[vector / 8] & bit) || !guest_gdt_selector(cs) ||
      eip >= kMonitorBase)
    return false;
  if (!(direct_gates_[vector / 8] & bit)) monitor_gates_[vector] = tables_.idt[vector];
  direct_gates_[vector / 8] |= bit;
  // The guest's kernel code segment as the CPU holds it (RPL 1, its mirror has DPL 1): a gate
  // can never lead to ring 0 or into the monitor's segments.
  tables_.idt[vector] = x86::GateDescriptor::make(eip, to_real_selector(cs), x86::desc_type::kTrapGate32, 3);
  return true;
}

void TrapBackend::clear_direct_gate(std::uint8_t vector) {
  const std::uint8_t bit = static_cast<std::uint8_t>(1u << (vector % 8));
  if (!(direct_gates_[vector / 8] & bit)) return;
  tables_.idt[vector] = monitor_gates_[vector];
  direct_gates_[vector / 8] &= static_cast<std::uint8_t>(~bit);
}

bool TrapBackend::set_ring1_stack(std::uint16_t ss, std::uint32_t esp) {
  if (!guest_gdt_selector(ss)) return false;
  tables_.tss.ss1 = to_real_selector(ss);
  tables_.tss.esp1 = esp;
  return true;
}

// ---- user mode with IOPL > 0 ----------------------------------------------------------------

/// User mode with a virtual IOPL above 0 (the real one is always 0): CLI, STI and port I/O
/// still trap and are allowed by the virtual IOPL, but PUSHF and POPF would show or ignore
/// the real IF and IOPL without trapping. So the monitor single-steps such a process and
/// runs every PUSHF and POPF itself (exercise lab01-e10): a small interpreter for exactly the
/// instructions that are sensitive in this state (Popek and Goldberg's theorem 3).
void TrapBackend::step_user_with_iopl(vmm::VCpu& v) {
  // BEGIN SOLUTION lab01-e10
  for (unsigned guard = 0; guard < 64; ++guard) {
    const decoder::Instruction* insn = fetch_decoded(v);
    if (!insn) break;
    ExceptionInfo fault;
    std::uint32_t sp = segment_base(v.ss) + v.regs.esp;
    if (insn->mnemonic() == ZYDIS_MNEMONIC_PUSHFD) {
      std::uint32_t image = v.eflags & ~(fl::RF | fl::VM);
      if (!guest_copy(v, sp - 4, &image, 4, true, true, &fault)) break;  // the CPU will fault it itself
      v.regs.esp -= 4;
    } else if (insn->mnemonic() == ZYDIS_MNEMONIC_POPFD) {
      std::uint32_t image = 0;
      if (!guest_copy(v, sp, &image, 4, true, false, &fault)) break;
      // SDM vol. 2 POPF at CPL 3: IOPL never changes, IF only when CPL <= IOPL.
      std::uint32_t mask = kEflagsGuestMask & ~(fl::VM | fl::IOPL | fl::VIF | fl::VIP);
      if (v.cpl > v.iopl()) mask &= ~fl::IF;
      v.eflags = (v.eflags & ~mask) | (image & mask) | fl::FIXED1;
      v.regs.esp += 4;
    } else {
      break;
    }
    v.eip += insn->length();
    ++v.instructions_emulated;
    ++counters_.user_iopl_emulated;
  }
  step_ = true;  // the next instruction runs alone; its #DB brings the guest back here
  // STUB: return;
  // END SOLUTION
}

// ---- the end of the run ---------------------------------------------------------------------

void TrapBackend::finish(vmm::TraceWriter& trace) {
  auto u = [](std::uint64_t x) { return static_cast<unsigned long long>(x); };
  const Counters& c = counters_;
  format_to(trace.sink(),
            "{\"kind\":\"trap_backend\",\"shadow_fills\":%llu,\"shadow_resets\":%llu,\"decode_hits\":%llu,"
            "\"decode_misses\":%llu,\"monitor_steps\":%llu,\"user_iopl_emulated\":%llu,\"irqs\":%llu,"
            "\"spurious_irqs\":%llu,\"timer_arms\":%llu}\n",
            u(mmu_.fills()), u(mmu_.resets()), u(c.decode_hits), u(c.decode_misses), u(c.monitor_steps),
            u(c.user_iopl_emulated), u(c.irqs), u(c.spurious_irqs), u(c.timer_arms));
}

}  // namespace hvlab::lab01
