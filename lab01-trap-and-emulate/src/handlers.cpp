#include "lab01-trap-and-emulate/src/handlers.hpp"

#include "common/arch/msr.hpp"
#include "common/runtime/exercise.hpp"
#include "common/vmm/emulate.hpp"
#include "lab01-trap-and-emulate/src/address_space.hpp"
#include "lab01-trap-and-emulate/src/idt.hpp"
#include "lab01-trap-and-emulate/src/operands.hpp"
#include "lab01-trap-and-emulate/src/trap_backend.hpp"

namespace hvlab::lab01 {

namespace fl = x86::eflags;
namespace vec = x86::vector;
using vmm::ExceptionInfo;

namespace {

/// False (with #GP(0) raised) at virtual CPL 3: the instruction is the guest kernel's only.
bool privileged(Machine& m, const VCpu& v) {
  if (v.cpl == 0) return true;
  m.raise_gp(0);
  return false;
}

/// Raises a fault found by a read that did not raise it itself.
Action raise_fault(Machine& m, const ExceptionInfo& f) { return m.raise(f.vector, f.has_error_code, f.error_code, f.address); }

/// Reads the 32-bit word `index` words above the guest's stack pointer (raising its fault).
bool pop32(Machine& m, VCpu& v, unsigned index, std::uint32_t* value) {
  std::uint32_t la = trap_backend(m).segment_base(v.ss) + v.regs.esp + 4 * index;
  return m.read_linear(GuestVirtAddr(la), value, 4, v.cpl == 3);
}

std::uint32_t apply_guest_eflags(std::uint32_t old, std::uint32_t popped, unsigned cpl) {
  // At CPL 0 everything the guest may change changes; at CPL 3 IF and IOPL stay.
  std::uint32_t mask = kEflagsGuestMask & ~fl::VM;
  if (cpl > 0) mask &= ~(fl::IOPL | fl::IF);
  return ((old & ~mask) | (popped & mask)) | fl::FIXED1;
}

std::uint32_t guest_mib(vmm::Board& b) {
  std::uint64_t bytes = 0;
  for (const auto& r : b.memory().regions()) bytes += r.size;
  return static_cast<std::uint32_t>(bytes >> 20);
}

constexpr const char* kReservedAccess =
    "the guest accessed linear address %08x, in 0xF0000000-0xFFFFFFFF where the monitor lives";

// ---- what privileged_instruction dispatches to --------------------------------------------

Action emulate_debug_register(Machine& m, VCpu& v, const Instruction& insn) {
  if (!privileged(m, v)) return Action::resume;
  const auto& dst = insn.operands[0];
  const auto& src = insn.operands[1];
  bool to_dr = ZydisRegisterGetClass(dst.reg.value) == ZYDIS_REGCLASS_DEBUG;
  unsigned n = static_cast<unsigned>(ZydisRegisterGetId(to_dr ? dst.reg.value : src.reg.value)) & 7;
  // DR4/DR5 alias DR6/DR7 unless CR4.DE, where they are #UD (SDM 18.2.2).
  if (n == 4 || n == 5) {
    if (v.cr4 & x86::cr4::DE) return m.raise_ud();
    n += 2;
  }
  if (!to_dr) {
    write_register(v, dst.reg.value, v.dr[n]);
  } else {
    std::uint32_t value = read_register(v, src.reg.value);
    if (n == 6) value = (value & 0x0000e00fu) | 0xffff0ff0u;
    if (n == 7) value = (value & ~0x0000d800u) | 0x400u;  // bits 15, 14, 12, 11 read as 0; bit 10 as 1
    v.dr[n] = value;
  }
  return Action::advance;
}

Action emulate_descriptor_table(Machine& m, VCpu& v, const Instruction& insn) {
  if (!privileged(m, v)) return Action::resume;
  TrapBackend& tb = trap_backend(m);
  std::uint8_t buf[6] = {};
  if (!m.read_linear(GuestVirtAddr(operand_linear_address(v, insn.operands[0], tb)), buf, 6, false))
    return Action::resume;
  x86::DescriptorTableRegister r;
  r.limit = static_cast<std::uint16_t>(buf[0] | (buf[1] << 8));
  r.base = static_cast<std::uint32_t>(buf[2] | (buf[3] << 8) | (buf[4] << 16) | (buf[5] << 24));
  if (insn.info.operand_width == 16) r.base &= 0x00ffffffu;  // SDM vol. 2 LGDT: 24-bit base
  if (insn.mnemonic() == ZYDIS_MNEMONIC_LGDT) {
    v.gdtr = r;
    tb.descriptors().gdt_loaded();  // mirrored before the guest runs again
  } else {
    v.idtr = r;
  }
  return Action::advance;
}

/// The GDT descriptor LLDT or LTR names: a present system descriptor of `type`, or the fault
/// the CPU would raise (SDM vol. 2, LLDT and LTR), raised in the guest.
bool system_descriptor(Machine& m, VCpu& v, std::uint32_t sel, unsigned type, x86::SegmentDescriptor* d) {
  ExceptionInfo f;
  if (!guest_descriptor(v, m.backend(), static_cast<std::uint16_t>(sel), d, &f)) {
    raise_fault(m, f);
    return false;
  }
  if (d->s || d->type != type) {
    m.raise_gp(sel & 0xfffc);
    return false;
  }
  if (!d->p) {
    m.raise(vec::NP, true, sel & 0xfffcu);
    return false;
  }
  return true;
}

Action emulate_ltr_lldt(Machine& m, VCpu& v, const Instruction& insn) {
  if (!privileged(m, v)) return Action::resume;
  TrapBackend& tb = trap_backend(m);
  std::uint32_t sel = 0;
  if (!read_operand(m, v, insn.operands[0], tb, &sel)) return Action::resume;
  if (insn.mnemonic() == ZYDIS_MNEMONIC_LLDT) {
    // SDM vol. 2 LLDT: a null selector leaves no LDT; otherwise an LDT descriptor (type 2)
    // in the GDT. The monitor mirrors that LDT into its shadow LDT.
    if ((sel & ~3u) == 0) {
      v.ldtr = 0;
      tb.descriptors().ldt_loaded(0, 0);
      return Action::advance;
    }
    x86::SegmentDescriptor d{};
    if (!system_descriptor(m, v, sel, x86::desc_type::kLdt, &d)) return Action::resume;
    v.ldtr = static_cast<std::uint16_t>(sel);
    tb.descriptors().ldt_loaded(d.base(), d.limit());
    return Action::advance;
  }
  // LTR (SDM vol. 2): an available 32-bit TSS in the GDT, then marked busy in the guest's
  // own GDT, as the CPU would. The real TR keeps the monitor's TSS.
  x86::SegmentDescriptor d{};
  if (!system_descriptor(m, v, sel, x86::desc_type::kTss32Available, &d)) return Action::resume;
  d.type = x86::desc_type::kTss32Busy;
  std::uint64_t raw = d.raw();
  if (!m.write_linear(GuestVirtAddr(v.gdtr.base + (sel >> 3) * 8u), &raw, 8, false)) return Action::resume;
  v.tr = static_cast<std::uint16_t>(sel);
  return Action::advance;
}

/// MOV SS / POP SS / LSS with a ring-0 selector: the CPU at ring 1 refuses RPL 0.
Action emulate_stack_segment_load(Machine& m, VCpu& v, const Instruction& insn) {
  TrapBackend& tb = trap_backend(m);
  std::uint32_t sel = 0, new_esp = v.regs.esp;
  bool lss = insn.mnemonic() == ZYDIS_MNEMONIC_LSS;
  if (insn.mnemonic() == ZYDIS_MNEMONIC_POP) {
    if (!pop32(m, v, 0, &sel)) return Action::resume;
    new_esp += 4;
  } else if (lss) {
    std::uint32_t far[2] = {};
    if (!m.read_linear(GuestVirtAddr(operand_linear_address(v, insn.operands[1], tb)), far, 6, v.cpl == 3))
      return Action::resume;
    sel = far[1] & 0xffff;
    new_esp = far[0];
  } else if (!read_operand(m, v, insn.operands[1], tb, &sel)) {
    return Action::resume;
  }
  sel &= 0xffff;
  x86::SegmentDescriptor d{};
  ExceptionInfo f;
  // SDM vol. 2 MOV: SS needs RPL = CPL = DPL and a writable data segment.
  if ((sel & 3) != v.cpl || !guest_descriptor(v, m.backend(), static_cast<std::uint16_t>(sel), &d, &f) || !d.s ||
      (d.type & 0xa) != 0x2 || d.dpl != v.cpl) {
    return m.raise_gp(sel & 0xfffc);
  }
  if (!d.p) return m.raise(vec::SS, true, sel & 0xfffcu);
  v.ss = static_cast<std::uint16_t>(sel);
  if (lss) write_register(v, insn.operands[0].reg.value, new_esp);
  v.regs.esp = new_esp;
  v.interrupt_shadow = true;
  return Action::advance;
}

/// Far RET to the guest kernel: the CPU sees a return to a more privileged RPL.
Action emulate_far_ret(Machine& m, VCpu& v, const Instruction& insn) {
  std::uint32_t eip = 0, cs = 0;
  if (!pop32(m, v, 0, &eip) || !pop32(m, v, 1, &cs)) return Action::resume;
  std::uint32_t extra = insn.info.operand_count_visible > 0 ? static_cast<std::uint32_t>(insn.operands[0].imm.value.u) : 0;
  unsigned rpl = cs & 3;
  if (rpl < v.cpl || rpl == 1 || rpl == 2) return m.raise_gp(cs & 0xfffc);
  if (rpl > v.cpl) {
    std::uint32_t esp = 0, ss = 0;
    const std::uint32_t old_esp = v.regs.esp;
    v.regs.esp += 8 + extra;
    if (!pop32(m, v, 0, &esp) || !pop32(m, v, 1, &ss)) {
      v.regs.esp = old_esp;
      return Action::resume;
    }
    v.regs.esp = esp + extra;
    v.ss = static_cast<std::uint16_t>(ss);
    v.cpl = static_cast<std::uint8_t>(rpl);
  } else {
    v.regs.esp += 8 + extra;
  }
  v.eip = eip;
  v.cs = static_cast<std::uint16_t>(cs);
  return Action::resume;
}

Action emulate_msr(Machine& m, VCpu& v, const Event& e, bool write) {
  if (!privileged(m, v)) return Action::resume;
  namespace msr = x86::msr;
  std::uint64_t value = (std::uint64_t{v.regs.edx} << 32) | v.regs.eax;
  std::uint64_t* slot = nullptr;
  switch (e.msr.index) {
    case msr::IA32_SYSENTER_CS: slot = &v.msr_sysenter_cs; break;
    case msr::IA32_SYSENTER_ESP: slot = &v.msr_sysenter_esp; break;
    case msr::IA32_SYSENTER_EIP: slot = &v.msr_sysenter_eip; break;
    case msr::IA32_PAT: slot = &v.msr_pat; break;
    case msr::IA32_EFER:
      slot = &v.msr_efer;
      if (write && (value & ~msr::efer::NXE)) return m.raise_gp(0);  // no long mode, no SYSCALL here
      break;
    case msr::IA32_TIME_STAMP_COUNTER:
      // The guest's TSC is the Board's clock: a write moves it, and only it.
      if (write) {
        m.board().write_guest_tsc(value, m.backend().now());
      } else {
        value = m.board().read_guest_tsc(m.backend().now());
        v.regs.eax = static_cast<std::uint32_t>(value);
        v.regs.edx = static_cast<std::uint32_t>(value >> 32);
      }
      return Action::advance;
    case msr::IA32_APIC_BASE:
      if (!write) {
        v.regs.eax = 0xfee00900u;  // BSP, enabled, default base
        v.regs.edx = 0;
      }
      return Action::advance;
    default: return m.raise_gp(0);  // no such MSR (SDM vol. 2 RDMSR)
  }
  if (write) {
    *slot = value;
  } else {
    v.regs.eax = static_cast<std::uint32_t>(*slot);
    v.regs.edx = static_cast<std::uint32_t>(*slot >> 32);
  }
  return Action::advance;
}

}  // namespace

// ---- CLI / STI ---------------------------------------------------------------------------

Action emulate_cli_sti(Machine& m, VCpu& v, const Instruction& insn) {
  // BEGIN SOLUTION lab01-e2 degraded
  // SDM vol. 2 CLI/STI: allowed when CPL <= IOPL, else #GP(0). The check uses the guest's
  // virtual CPL and IOPL; the real IF stays 1 so the monitor keeps its timer.
  if (v.cpl > v.iopl()) return m.raise_gp(0);
  if (insn.mnemonic() == ZYDIS_MNEMONIC_CLI) {
    v.eflags &= ~fl::IF;
  } else {
    // STI's interrupt shadow: no interrupt before the next instruction has run.
    if (!v.interrupts_enabled()) v.interrupt_shadow = true;
    v.eflags |= fl::IF;
  }
  return Action::advance;
  // STUB: return Action::advance;  // the guest's CLI and STI do nothing: its IF stays as it was
  // END SOLUTION
}

// ---- IRET --------------------------------------------------------------------------------

Action emulate_iret(Machine& m, VCpu& v, const Instruction& insn) {
  // BEGIN SOLUTION lab01-e7
  // SDM vol. 2 IRET, protected mode: pop EIP, CS, EFLAGS; a return to an outer ring also
  // pops ESP and SS. The guest kernel's frames carry RPL 0, which the ring-1 CPU refuses as
  // "more privileged": that #GP is what brings every kernel IRET here.
  if (insn.info.operand_width != 32) {
    m.board().contain("16-bit IRET is not supported");
    return Action::stop;
  }
  std::uint32_t eip = 0, cs = 0, flags = 0;
  if (!pop32(m, v, 0, &eip) || !pop32(m, v, 1, &cs) || !pop32(m, v, 2, &flags)) return Action::resume;
  if (v.eflags & fl::NT) {
    m.board().contain("IRET with EFLAGS.NT (a task return) is not supported");
    return Action::stop;
  }
  if (flags & fl::VM) {
    m.board().contain("IRET to virtual-8086 mode is not supported");
    return Action::stop;
  }
  unsigned rpl = cs & 3;
  if (rpl < v.cpl || (cs & ~3u) == 0) return m.raise_gp(cs & 0xfffc);
  x86::SegmentDescriptor target{};
  ExceptionInfo f;
  if (!guest_descriptor(v, m.backend(), static_cast<std::uint16_t>(cs), &target, &f)) return raise_fault(m, f);
  if (!target.p) return m.raise(vec::NP, true, cs & 0xfffcu);
  std::uint32_t old_cpl = v.cpl;
  if (rpl == 3 && v.cpl == 0) {
    std::uint32_t esp = 0, ss = 0;
    if (!pop32(m, v, 3, &esp) || !pop32(m, v, 4, &ss)) return Action::resume;
    v.regs.esp = esp;
    v.ss = static_cast<std::uint16_t>(ss);
    v.cpl = 3;
  } else {
    v.regs.esp += 12;
    // A frame built with PUSH CS holds the real RPL 1: it means the guest kernel.
    if (rpl == 1) cs &= ~3u;
  }
  v.eflags = apply_guest_eflags(v.eflags, flags, old_cpl);
  v.eip = eip;
  v.cs = static_cast<std::uint16_t>(cs);
  return Action::resume;
  // STUB: return Action::stop;
  // END SOLUTION
}

// ---- one handler per reason ----------------------------------------------------------------

Action on_privileged_instruction(Machine& m, VCpu& v, const Event& e) {
  if (!e.insn) return Action::reflect;
  const Instruction& insn = *e.insn;
  switch (insn.mnemonic()) {
    case ZYDIS_MNEMONIC_CLI:
    case ZYDIS_MNEMONIC_STI: return emulate_cli_sti(m, v, insn);
    case ZYDIS_MNEMONIC_MOV:
      if (insn.operands[0].type == ZYDIS_OPERAND_TYPE_REGISTER && insn.operands[0].reg.value == ZYDIS_REGISTER_SS)
        return emulate_stack_segment_load(m, v, insn);
      return emulate_debug_register(m, v, insn);
    case ZYDIS_MNEMONIC_POP:
    case ZYDIS_MNEMONIC_LSS: return emulate_stack_segment_load(m, v, insn);
    case ZYDIS_MNEMONIC_LGDT:
    case ZYDIS_MNEMONIC_LIDT: return emulate_descriptor_table(m, v, insn);
    case ZYDIS_MNEMONIC_LLDT:
    case ZYDIS_MNEMONIC_LTR: return emulate_ltr_lldt(m, v, insn);
    case ZYDIS_MNEMONIC_WBINVD:
    case ZYDIS_MNEMONIC_INVD:
      // Caches are coherent in this machine: nothing to write back.
      return privileged(m, v) ? Action::advance : Action::resume;
    case ZYDIS_MNEMONIC_RDTSC:
    case ZYDIS_MNEMONIC_RDTSCP: {
      // The back end makes these trap whenever the guest's TSC is not the host's; the
      // guest's own CR4.TSD decides whether CPL 3 gets a #GP.
      if ((v.cr4 & x86::cr4::TSD) && !privileged(m, v)) return Action::resume;
      std::uint64_t t = m.board().read_guest_tsc(m.backend().now());
      v.regs.eax = static_cast<std::uint32_t>(t);
      v.regs.edx = static_cast<std::uint32_t>(t >> 32);
      if (insn.mnemonic() == ZYDIS_MNEMONIC_RDTSCP) v.regs.ecx = 0;  // IA32_TSC_AUX, not modelled: 0
      return Action::advance;
    }
    case ZYDIS_MNEMONIC_RDPMC:
      if (!privileged(m, v)) return Action::resume;
      v.regs.eax = v.regs.edx = 0;
      return Action::advance;
    case ZYDIS_MNEMONIC_IRETD: return emulate_iret(m, v, insn);
    case ZYDIS_MNEMONIC_RET: return emulate_far_ret(m, v, insn);
    default: break;
  }
  // Not ours to emulate: the #GP belongs to the guest.
  return Action::reflect;
}

Action on_io_instruction(Machine& m, VCpu& v, const Event& e) {
  // SDM vol. 1 18.5.1: I/O at CPL > IOPL faults unless the TSS bitmap allows the port; this
  // monitor gives the guest no bitmap, so the virtual CPL and IOPL decide.
  if (v.cpl > v.iopl()) return m.raise_gp(0);
  return vmm::emulate_io(m, v, e);
}

Action on_cr_access(Machine& m, VCpu& v, const Event& e) {
  if (!privileged(m, v)) return Action::resume;
  TrapBackend& tb = trap_backend(m);
  using Type = vmm::CrAccess::Type;
  auto set_cr0 = [&](std::uint32_t value) {
    std::uint32_t old = v.cr0;
    v.cr0 = value | x86::cr0::ET;
    tb.control_register_written(v, 0, old);
  };
  switch (e.cr.type) {
    case Type::clts: set_cr0(v.cr0 & ~x86::cr0::TS); return Action::advance;
    case Type::lmsw: set_cr0(vmm::cr0_after_lmsw(v.cr0, e.cr.lmsw_source)); return Action::advance;
    default: break;
  }
  // BEGIN SOLUTION lab01-e4
  std::uint32_t& reg = vmm::gpr(v, e.cr.gpr);
  if (e.cr.type == Type::mov_from) {
    switch (e.cr.cr) {
      case 0: reg = v.cr0; break;
      case 2: reg = v.cr2; break;
      case 3: reg = v.cr3; break;
      case 4: reg = v.cr4; break;
      default: return m.raise_ud();
    }
    return Action::advance;
  }
  const std::uint32_t value = reg;
  switch (e.cr.cr) {
    case 0:
      if (vmm::cr0_write_faults(value)) return m.raise_gp(0);
      set_cr0(value);
      break;
    case 2: v.cr2 = value; break;
    case 3: {
      // SDM 4.10.4.1: MOV to CR3 flushes the (non-global) TLB; our TLB is the shadow table.
      std::uint32_t old = v.cr3;
      v.cr3 = value;
      tb.control_register_written(v, 3, old);
      break;
    }
    case 4: {
      constexpr std::uint32_t known = x86::cr4::VME | x86::cr4::PVI | x86::cr4::TSD | x86::cr4::DE |
                                      x86::cr4::PSE | x86::cr4::PAE | x86::cr4::MCE | x86::cr4::PGE |
                                      x86::cr4::PCE | x86::cr4::OSFXSR | x86::cr4::OSXMMEXCPT;
      if (value & ~known) return m.raise_gp(0);
      if (value & x86::cr4::PAE) {
        m.board().contain("the guest enabled PAE paging, which this monitor does not shadow");
        return Action::stop;
      }
      std::uint32_t old = v.cr4;
      v.cr4 = value;
      tb.control_register_written(v, 4, old);
      break;
    }
    default: return m.raise_ud();
  }
  return Action::advance;
  // STUB: return Action::stop;
  // END SOLUTION
}

Action on_msr_read(Machine& m, VCpu& v, const Event& e) { return emulate_msr(m, v, e, false); }
Action on_msr_write(Machine& m, VCpu& v, const Event& e) { return emulate_msr(m, v, e, true); }

Action on_hlt(Machine& m, VCpu& v, const Event& e) {
  if (!privileged(m, v)) return Action::resume;
  return vmm::emulate_hlt(m, v, e);
}

Action on_invlpg(Machine& m, VCpu& v, const Event& e) {
  if (!privileged(m, v)) return Action::resume;
  trap_backend(m).invalidate_page(e.memory.linear.low32());
  return Action::advance;
}

Action on_page_fault(Machine& m, VCpu& v, const Event& e) {
  (void)v;
  std::uint32_t guest_error = 0;
  GuestPhysAddr bad;
  const std::uint32_t la = e.memory.linear.low32();
  switch (trap_backend(m).mmu().handle_fault(la, e.exception.error_code, &guest_error, &bad)) {
    case ShadowMmu::Fill::filled: return Action::resume;
    case ShadowMmu::Fill::reflect: return m.raise(vec::PF, true, guest_error, la);  // the guest's own error code
    case ShadowMmu::Fill::refused: break;
  }
  if (la >= kMonitorBase) {
    m.board().contain(kReservedAccess, la);
  } else {
    m.board().contain("the guest maps linear %08x to guest-physical %08llx, outside its %u MiB of memory", la,
                      static_cast<unsigned long long>(bad.value()), guest_mib(m.board()));
  }
  return Action::stop;
}

std::uint32_t reserved_access(Machine& m, const VCpu& v, const Event& e) {
  // The top of the linear address space belongs to the monitor: guest segments are cut off
  // below kMonitorBase. A #GP or #SS that only that cut explains (the access is inside the
  // guest's own segment limit but reaches kMonitorBase) is not the guest's fault to take:
  // the monitor cannot give it that memory, so it stops the guest.
  if (e.exception.vector != vec::GP && e.exception.vector != vec::SS) return 0;
  if (e.exception.error_code != 0) return 0;  // a selector in the error code: a descriptor problem
  TrapBackend& tb = trap_backend(m);
  std::uint32_t base = 0, limit = 0;
  // The fetch itself: EIP beyond the truncated CS.
  if (tb.descriptors().guest_segment(v.cs, &base, &limit) && v.eip <= limit && base + v.eip >= kMonitorBase)
    return base + v.eip;
  if (!e.insn) return 0;
  for (unsigned i = 0; i < e.insn->info.operand_count; ++i) {
    const auto& op = e.insn->operands[i];
    if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || op.mem.type != ZYDIS_MEMOP_TYPE_MEM) continue;
    std::uint16_t sel = segment_selector(v, op.mem.segment);
    if (!tb.descriptors().guest_segment(sel, &base, &limit)) continue;
    std::uint32_t offset = operand_offset(v, op);
    std::uint32_t size = op.size / 8 ? op.size / 8 : 1;
    // An implicit stack operand (PUSH, CALL) is written below ESP.
    if (op.mem.base == ZYDIS_REGISTER_ESP && !op.mem.disp.has_displacement &&
        op.visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN)
      offset -= size;
    std::uint32_t last = offset + size - 1;
    if (last < offset || last > limit) continue;  // the guest's own limit faults too
    if (base + last >= kMonitorBase || base + last < base)
      return base + offset < kMonitorBase ? kMonitorBase : base + offset;
  }
  return 0;
}

Action on_exception(Machine& m, VCpu& v, const Event& e) {
  if (std::uint32_t la = reserved_access(m, v, e)) {
    m.board().contain(kReservedAccess, la);
    return Action::stop;
  }
  return Action::reflect;
}

Action on_software_interrupt(Machine& m, VCpu& v, const Event& e) {
  // INT n reached the monitor as a #GP (every real gate has DPL 0): the guest's IDT decides
  // what it does, at the next entry, with the return address after the instruction.
  const bool into = e.insn && e.insn->mnemonic() == ZYDIS_MNEMONIC_INTO;
  if (into && !(v.eflags & fl::OF)) return Action::advance;
  vmm::PendingEvent p;
  p.valid = true;
  p.type = into || e.exception.vector == vec::BP ? vmm::PendingEvent::Type::software_exception
                                                 : vmm::PendingEvent::Type::software_interrupt;
  p.vector = e.exception.vector;
  p.insn_length = e.insn_length;
  m.board().inject(p);
  return Action::resume;
}

Action on_resume(Machine&, VCpu&, const Event&) { return Action::resume; }

void install_handlers(vmm::Dispatcher& d) {
  d.set(Reason::privileged_instruction, on_privileged_instruction);
  d.set(Reason::io_instruction, on_io_instruction);
  d.set(Reason::cr_access, on_cr_access);
  d.set(Reason::msr_read, on_msr_read);
  d.set(Reason::msr_write, on_msr_write);
  d.set(Reason::hlt, on_hlt);
  d.set(Reason::invlpg, on_invlpg);
  d.set(Reason::page_fault, on_page_fault);
  d.set(Reason::exception, on_exception);
  d.set(Reason::software_interrupt, on_software_interrupt);
  d.set(Reason::external_interrupt, on_resume);
  d.set(Reason::interrupt_window, on_resume);
}

}  // namespace hvlab::lab01
