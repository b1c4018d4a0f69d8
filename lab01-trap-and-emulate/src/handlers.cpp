#include "lab01-trap-and-emulate/core.hpp"

#include "common/arch/msr.hpp"
#include "common/runtime/exercise.hpp"

namespace hvlab::lab01 {

namespace fl = x86::eflags;
namespace vec = x86::vector;

// ---- registers and operands -----------------------------------------------------------

namespace {

std::uint32_t* gpr32(VCpu& v, unsigned id) {
  std::uint32_t* r[] = {&v.regs.eax, &v.regs.ecx, &v.regs.edx, &v.regs.ebx,
                        &v.regs.esp, &v.regs.ebp, &v.regs.esi, &v.regs.edi};
  return r[id & 7];
}

std::uint32_t mask_of(unsigned bytes) { return bytes >= 4 ? 0xffffffffu : (1u << (8 * bytes)) - 1; }

}  // namespace

std::uint32_t read_register(const VCpu& v, ZydisRegister r) {
  auto& m = const_cast<VCpu&>(v);
  int id = ZydisRegisterGetId(r);
  switch (ZydisRegisterGetClass(r)) {
    case ZYDIS_REGCLASS_GPR32: return *gpr32(m, id);
    case ZYDIS_REGCLASS_GPR16: return *gpr32(m, id) & 0xffff;
    case ZYDIS_REGCLASS_GPR8:  // AL CL DL BL, then AH CH DH BH
      return id < 4 ? *gpr32(m, id) & 0xff : (*gpr32(m, id - 4) >> 8) & 0xff;
    case ZYDIS_REGCLASS_SEGMENT: return segment_selector(v, r);
    default: return 0;
  }
}

void write_register(VCpu& v, ZydisRegister r, std::uint32_t value) {
  int id = ZydisRegisterGetId(r);
  switch (ZydisRegisterGetClass(r)) {
    case ZYDIS_REGCLASS_GPR32: *gpr32(v, id) = value; break;
    case ZYDIS_REGCLASS_GPR16: *gpr32(v, id) = (*gpr32(v, id) & 0xffff0000u) | (value & 0xffff); break;
    case ZYDIS_REGCLASS_GPR8:
      if (id < 4) {
        *gpr32(v, id) = (*gpr32(v, id) & ~0xffu) | (value & 0xff);
      } else {
        *gpr32(v, id - 4) = (*gpr32(v, id - 4) & ~0xff00u) | ((value & 0xff) << 8);
      }
      break;
    default: break;
  }
}

std::uint16_t segment_selector(const VCpu& v, ZydisRegister r) {
  switch (r) {
    case ZYDIS_REGISTER_CS: return v.cs;
    case ZYDIS_REGISTER_SS: return v.ss;
    case ZYDIS_REGISTER_ES: return v.es;
    case ZYDIS_REGISTER_FS: return v.fs;
    case ZYDIS_REGISTER_GS: return v.gs;
    default: return v.ds;
  }
}

std::uint32_t operand_linear_address(const VCpu& v, const ZydisDecodedOperand& op, GuestEnv& env) {
  std::uint32_t offset = 0;
  if (op.mem.base != ZYDIS_REGISTER_NONE) offset += read_register(v, op.mem.base);
  if (op.mem.index != ZYDIS_REGISTER_NONE) offset += read_register(v, op.mem.index) * op.mem.scale;
  if (op.mem.disp.has_displacement) offset += static_cast<std::uint32_t>(op.mem.disp.value);
  return env.segment_base(segment_selector(v, op.mem.segment)) + offset;
}

bool read_operand(const VCpu& v, const ZydisDecodedOperand& op, GuestEnv& env, std::uint32_t* value) {
  unsigned bytes = op.size / 8;
  switch (op.type) {
    case ZYDIS_OPERAND_TYPE_REGISTER: *value = read_register(v, op.reg.value) & mask_of(bytes); return true;
    case ZYDIS_OPERAND_TYPE_IMMEDIATE: *value = static_cast<std::uint32_t>(op.imm.value.u) & mask_of(bytes); return true;
    case ZYDIS_OPERAND_TYPE_MEMORY: {
      std::uint32_t w = 0;
      Fault f;
      if (!env.read_linear(operand_linear_address(v, op, env), &w, bytes > 4 ? 4 : bytes, v.cpl == 3, &f)) {
        env.raise(f);
        return false;
      }
      *value = w & mask_of(bytes);
      return true;
    }
    default: *value = 0; return true;
  }
}

// ---- the trap -> event step -----------------------------------------------------------

Reason classify_instruction(const Instruction& insn) {
  // BEGIN SOLUTION lab01-e1
  const auto& ops = insn.operands;
  switch (insn.mnemonic()) {
    case ZYDIS_MNEMONIC_IN:
    case ZYDIS_MNEMONIC_OUT:
    case ZYDIS_MNEMONIC_INSB:
    case ZYDIS_MNEMONIC_INSW:
    case ZYDIS_MNEMONIC_INSD:
    case ZYDIS_MNEMONIC_OUTSB:
    case ZYDIS_MNEMONIC_OUTSW:
    case ZYDIS_MNEMONIC_OUTSD: return Reason::io_instruction;
    case ZYDIS_MNEMONIC_HLT: return Reason::hlt;
    case ZYDIS_MNEMONIC_INVLPG: return Reason::invlpg;
    case ZYDIS_MNEMONIC_RDMSR: return Reason::msr_read;
    case ZYDIS_MNEMONIC_WRMSR: return Reason::msr_write;
    case ZYDIS_MNEMONIC_CPUID: return Reason::cpuid;
    case ZYDIS_MNEMONIC_CLTS:
    case ZYDIS_MNEMONIC_LMSW: return Reason::cr_access;
    case ZYDIS_MNEMONIC_INT:
    case ZYDIS_MNEMONIC_INT3:
    case ZYDIS_MNEMONIC_INTO: return Reason::software_interrupt;
    case ZYDIS_MNEMONIC_MOV:
      for (unsigned i = 0; i < 2; ++i) {
        if (ops[i].type != ZYDIS_OPERAND_TYPE_REGISTER) continue;
        auto cls = ZydisRegisterGetClass(ops[i].reg.value);
        if (cls == ZYDIS_REGCLASS_CONTROL) return Reason::cr_access;
        if (cls == ZYDIS_REGCLASS_DEBUG) return Reason::privileged_instruction;
      }
      // MOV SS, r/m: the CPU refuses an RPL-0 stack selector at ring 1.
      if (ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[0].reg.value == ZYDIS_REGISTER_SS)
        return Reason::privileged_instruction;
      return Reason::exception;
    case ZYDIS_MNEMONIC_POP:
      return ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[0].reg.value == ZYDIS_REGISTER_SS
                 ? Reason::privileged_instruction
                 : Reason::exception;
    case ZYDIS_MNEMONIC_RET:
      return insn.info.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR ? Reason::privileged_instruction
                                                                  : Reason::exception;
    case ZYDIS_MNEMONIC_CLI:
    case ZYDIS_MNEMONIC_STI:
    case ZYDIS_MNEMONIC_LGDT:
    case ZYDIS_MNEMONIC_LIDT:
    case ZYDIS_MNEMONIC_LLDT:
    case ZYDIS_MNEMONIC_LTR:
    case ZYDIS_MNEMONIC_WBINVD:
    case ZYDIS_MNEMONIC_INVD:
    case ZYDIS_MNEMONIC_IRETD:
    case ZYDIS_MNEMONIC_LSS:
    case ZYDIS_MNEMONIC_RDTSC:
    case ZYDIS_MNEMONIC_RDTSCP:
    case ZYDIS_MNEMONIC_RDPMC: return Reason::privileged_instruction;
    default: return Reason::exception;
  }
  // STUB: return Reason::exception;
  // END SOLUTION
}

Event make_trap_event(const VCpu& v, unsigned vector, std::uint32_t error_code, std::uint32_t cr2,
                      const Instruction* insn) {
  Event e;
  e.source = vmm::Source::trap;
  e.vector = static_cast<std::uint8_t>(vector);
  e.guest_eip = v.eip;
  e.guest_cpl = v.cpl;
  e.has_error_code = vector < 32 && x86::vector::has_error_code(vector);
  e.error_code = e.has_error_code ? error_code : 0;
  if (vector >= 32) {
    e.reason = Reason::external_interrupt;
    return e;
  }
  if (vector == vec::PF) {
    e.reason = Reason::page_fault;
    e.address = cr2;
    return e;
  }
  e.reason = Reason::exception;
  // Only #GP means "a sensitive instruction the deprivileged ring was refused": every other
  // exception is the guest's own and goes back to it.
  if ((vector != vec::GP && vector != vec::NP) || insn == nullptr) return e;
  e.insn_length = insn->length();
  e.reason = classify_instruction(*insn);
  // #NP is ours only for a return to guest user code, whose descriptors the monitor keeps
  // not present while the guest kernel runs (so that return traps and IF/IOPL are seen).
  if (vector == vec::NP && !(insn->mnemonic() == ZYDIS_MNEMONIC_IRETD ||
                             (insn->mnemonic() == ZYDIS_MNEMONIC_RET && e.reason == Reason::privileged_instruction))) {
    e.reason = Reason::exception;
  }
  switch (e.reason) {
    case Reason::io_instruction: {
      const auto& i = insn->info;
      e.io.in = i.mnemonic == ZYDIS_MNEMONIC_IN || i.mnemonic == ZYDIS_MNEMONIC_INSB ||
                i.mnemonic == ZYDIS_MNEMONIC_INSW || i.mnemonic == ZYDIS_MNEMONIC_INSD;
      e.io.string = i.mnemonic != ZYDIS_MNEMONIC_IN && i.mnemonic != ZYDIS_MNEMONIC_OUT;
      e.io.rep = (i.attributes & ZYDIS_ATTRIB_HAS_REP) != 0;
      const auto& port_op = insn->operands[e.io.in ? 1 : 0];
      e.io.port = port_op.type == ZYDIS_OPERAND_TYPE_IMMEDIATE ? static_cast<std::uint16_t>(port_op.imm.value.u)
                                                               : static_cast<std::uint16_t>(v.regs.edx);
      e.io.size = static_cast<std::uint8_t>(e.io.string ? i.operand_width / 8 : insn->operands[e.io.in ? 0 : 1].size / 8);
      if (i.mnemonic == ZYDIS_MNEMONIC_INSB || i.mnemonic == ZYDIS_MNEMONIC_OUTSB) e.io.size = 1;
      break;
    }
    case Reason::msr_read:
    case Reason::msr_write: e.number = v.regs.ecx; break;
    case Reason::cr_access:
      for (unsigned i = 0; i < 2; ++i) {
        const auto& op = insn->operands[i];
        if (op.type == ZYDIS_OPERAND_TYPE_REGISTER && ZydisRegisterGetClass(op.reg.value) == ZYDIS_REGCLASS_CONTROL)
          e.number = static_cast<std::uint32_t>(ZydisRegisterGetId(op.reg.value));
      }
      break;
    case Reason::software_interrupt:
      e.number = insn->mnemonic() == ZYDIS_MNEMONIC_INT3   ? 3
                 : insn->mnemonic() == ZYDIS_MNEMONIC_INTO ? 4
                                                           : static_cast<std::uint32_t>(insn->operands[0].imm.value.u & 0xff);
      break;
    default: break;
  }
  return e;
}

// ---- guest stack and descriptor helpers ------------------------------------------------

namespace {

bool privileged(const VCpu& v, GuestEnv& env) {
  if (v.cpl == 0) return true;
  env.raise(Fault::gp(0));
  return false;
}

/// Reads the guest's GDT entry for `sel` (LDT selectors are not supported).
bool guest_descriptor(const VCpu& v, GuestEnv& env, std::uint16_t sel, x86::SegmentDescriptor* d, Fault* f) {
  unsigned index = sel >> 3;
  if ((sel & 4) || index == 0 || index * 8u + 7 > v.gdtr.limit) {
    *f = Fault::gp(sel & 0xfffc);
    return false;
  }
  std::uint64_t raw = 0;
  if (!env.read_linear(v.gdtr.base + index * 8u, &raw, 8, false, f)) return false;
  *d = x86::SegmentDescriptor::from(raw);
  return true;
}

bool pop32(VCpu& v, GuestEnv& env, unsigned index, std::uint32_t* value) {
  Fault f;
  std::uint32_t la = env.segment_base(v.ss) + v.regs.esp + 4 * index;
  if (!env.read_linear(la, value, 4, v.cpl == 3, &f)) {
    env.raise(f);
    return false;
  }
  return true;
}

std::uint32_t apply_guest_eflags(std::uint32_t old, std::uint32_t popped, unsigned cpl) {
  // At CPL 0 everything the guest may change changes; at CPL 3 IF and IOPL stay.
  std::uint32_t mask = kEflagsGuestMask & ~fl::VM;
  if (cpl > 0) mask &= ~(fl::IOPL | fl::IF);
  return ((old & ~mask) | (popped & mask)) | fl::FIXED1;
}

}  // namespace

// ---- CLI / STI ---------------------------------------------------------------------------

Action emulate_cli_sti(VCpu& v, const Instruction& insn, GuestEnv& env) {
  // BEGIN SOLUTION lab01-e2
  // SDM vol. 2 CLI/STI: allowed when CPL <= IOPL, else #GP(0). The check uses the guest's
  // virtual CPL and IOPL; the real IF stays 1 so the monitor keeps its timer.
  if (v.cpl > v.iopl()) {
    env.raise(Fault::gp(0));
    return Action::reflect;
  }
  if (insn.mnemonic() == ZYDIS_MNEMONIC_CLI) {
    v.eflags &= ~fl::IF;
  } else {
    // STI's interrupt shadow: no interrupt before the next instruction has run.
    if (!v.interrupts_enabled()) v.interrupt_shadow = true;
    v.eflags |= fl::IF;
  }
  return Action::advance;
  // STUB: return Action::stop;
  // END SOLUTION
}

// ---- port I/O ----------------------------------------------------------------------------

Action emulate_io(VCpu& v, const Instruction& insn, GuestEnv& env) {
  // BEGIN SOLUTION lab01-e3
  // SDM vol. 1 18.5.1: I/O at CPL > IOPL faults unless the TSS bitmap allows the port; this
  // monitor gives the guest no bitmap, so the virtual CPL and IOPL decide.
  if (v.cpl > v.iopl()) {
    env.raise(Fault::gp(0));
    return Action::reflect;
  }
  Event e = make_trap_event(v, vec::GP, 0, 0, &insn);
  unsigned size = e.io.size;
  if (!e.io.string) {
    if (e.io.in) {
      write_register(v, insn.operands[0].reg.value, env.io_read(e.io.port, size));
    } else {
      env.io_write(e.io.port, size, read_register(v, insn.operands[1].reg.value) & mask_of(size));
    }
    return Action::advance;
  }
  // INS writes ES:EDI, OUTS reads DS:ESI (or its override); REP counts ECX down.
  int step = (v.eflags & fl::DF) ? -static_cast<int>(size) : static_cast<int>(size);
  bool user = v.cpl == 3;
  std::uint16_t src_seg = v.ds;
  for (unsigned i = 0; i < insn.info.operand_count; ++i) {
    if (insn.operands[i].type == ZYDIS_OPERAND_TYPE_MEMORY && !e.io.in)
      src_seg = segment_selector(v, insn.operands[i].mem.segment);
  }
  for (std::uint32_t n = 0; !e.io.rep || v.regs.ecx != 0; ++n) {
    // A long REP stops here and runs again from the same EIP, as the CPU interrupts one
    // between iterations (SDM vol. 2 REP): the monitor's limits and interrupts still apply.
    if (n == kRepChunk) return Action::resume;
    Fault f;
    if (e.io.in) {
      std::uint32_t value = env.io_read(e.io.port, size);
      if (!env.write_linear(env.segment_base(v.es) + v.regs.edi, &value, size, user, &f)) {
        env.raise(f);
        return Action::reflect;
      }
      v.regs.edi += step;
    } else {
      std::uint32_t value = 0;
      if (!env.read_linear(env.segment_base(src_seg) + v.regs.esi, &value, size, user, &f)) {
        env.raise(f);
        return Action::reflect;
      }
      env.io_write(e.io.port, size, value);
      v.regs.esi += step;
    }
    if (!e.io.rep) break;
    --v.regs.ecx;
  }
  return Action::advance;
  // STUB: return Action::stop;
  // END SOLUTION
}

// ---- control and debug registers -----------------------------------------------------

Action emulate_control_register(VCpu& v, const Instruction& insn, GuestEnv& env) {
  if (!privileged(v, env)) return Action::reflect;
  namespace c0 = x86::cr0;
  auto set_cr0 = [&](std::uint32_t value) -> bool {
    if ((value & c0::PG) && !(value & c0::PE)) return false;
    std::uint32_t old = v.cr0;
    v.cr0 = value | c0::ET;
    env.control_register_written(0, old);
    return true;
  };
  switch (insn.mnemonic()) {
    case ZYDIS_MNEMONIC_CLTS:
      set_cr0(v.cr0 & ~c0::TS);
      return Action::advance;
    case ZYDIS_MNEMONIC_LMSW: {
      // LMSW loads MP, EM, TS and can set PE, never clear it (SDM vol. 2 LMSW).
      std::uint32_t src = 0;
      if (!read_operand(v, insn.operands[0], env, &src)) return Action::reflect;
      set_cr0((v.cr0 & ~0xeu) | (src & 0xf) | (v.cr0 & c0::PE));
      return Action::advance;
    }
    default: break;
  }
  // BEGIN SOLUTION lab01-e4
  const auto& dst = insn.operands[0];
  const auto& src = insn.operands[1];
  bool to_cr = ZydisRegisterGetClass(dst.reg.value) == ZYDIS_REGCLASS_CONTROL;
  unsigned n = static_cast<unsigned>(ZydisRegisterGetId(to_cr ? dst.reg.value : src.reg.value));
  if (!to_cr) {
    std::uint32_t value = n == 0 ? v.cr0 : n == 2 ? v.cr2 : n == 3 ? v.cr3 : n == 4 ? v.cr4 : 0;
    if (n == 1 || n > 4) {
      env.raise(Fault::ud());
      return Action::reflect;
    }
    write_register(v, dst.reg.value, value);
    return Action::advance;
  }
  std::uint32_t value = read_register(v, src.reg.value);
  switch (n) {
    case 0:
      if (!set_cr0(value)) {
        env.raise(Fault::gp(0));
        return Action::reflect;
      }
      break;
    case 2: v.cr2 = value; break;
    case 3: {
      // SDM 4.10.4.1: MOV to CR3 flushes the (non-global) TLB; our TLB is the shadow table.
      std::uint32_t old = v.cr3;
      v.cr3 = value;
      env.control_register_written(3, old);
      break;
    }
    case 4: {
      constexpr std::uint32_t known = x86::cr4::VME | x86::cr4::PVI | x86::cr4::TSD | x86::cr4::DE |
                                      x86::cr4::PSE | x86::cr4::PAE | x86::cr4::MCE | x86::cr4::PGE |
                                      x86::cr4::PCE | x86::cr4::OSFXSR | x86::cr4::OSXMMEXCPT;
      if (value & ~known) {
        env.raise(Fault::gp(0));
        return Action::reflect;
      }
      if (value & x86::cr4::PAE) {
        env.contain("the guest enabled PAE paging, which this monitor does not shadow");
        return Action::stop;
      }
      std::uint32_t old = v.cr4;
      v.cr4 = value;
      env.control_register_written(4, old);
      break;
    }
    default: env.raise(Fault::ud()); return Action::reflect;
  }
  return Action::advance;
  // STUB: return Action::stop;
  // END SOLUTION
}

namespace {

Action emulate_debug_register(VCpu& v, const Instruction& insn, GuestEnv& env) {
  if (!privileged(v, env)) return Action::reflect;
  const auto& dst = insn.operands[0];
  const auto& src = insn.operands[1];
  bool to_dr = ZydisRegisterGetClass(dst.reg.value) == ZYDIS_REGCLASS_DEBUG;
  unsigned n = static_cast<unsigned>(ZydisRegisterGetId(to_dr ? dst.reg.value : src.reg.value)) & 7;
  // DR4/DR5 alias DR6/DR7 unless CR4.DE, where they are #UD (SDM 18.2.2).
  if (n == 4 || n == 5) {
    if (v.cr4 & x86::cr4::DE) {
      env.raise(Fault::ud());
      return Action::reflect;
    }
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

Action emulate_msr(VCpu& v, bool write, GuestEnv& env) {
  if (!privileged(v, env)) return Action::reflect;
  namespace m = x86::msr;
  std::uint64_t value = (std::uint64_t{v.regs.edx} << 32) | v.regs.eax;
  std::uint64_t* slot = nullptr;
  switch (v.regs.ecx) {
    case m::IA32_SYSENTER_CS: slot = &v.msr_sysenter_cs; break;
    case m::IA32_SYSENTER_ESP: slot = &v.msr_sysenter_esp; break;
    case m::IA32_SYSENTER_EIP: slot = &v.msr_sysenter_eip; break;
    case m::IA32_PAT: slot = &v.msr_pat; break;
    case m::IA32_EFER:
      slot = &v.msr_efer;
      if (write && (value & ~m::efer::NXE)) {  // no long mode, no SYSCALL for a 32-bit guest
        env.raise(Fault::gp(0));
        return Action::reflect;
      }
      break;
    case m::IA32_TIME_STAMP_COUNTER:
      if (!write) {
        value = env.read_tsc();
        v.regs.eax = static_cast<std::uint32_t>(value);
        v.regs.edx = static_cast<std::uint32_t>(value >> 32);
      }
      return Action::advance;  // writes ignored: the TSC is the host's
    case m::IA32_APIC_BASE:
      if (!write) {
        v.regs.eax = 0xfee00900u;  // BSP, enabled, default base
        v.regs.edx = 0;
      }
      return Action::advance;
    default:
      env.raise(Fault::gp(0));  // no such MSR (SDM vol. 2 RDMSR)
      return Action::reflect;
  }
  if (write) {
    *slot = value;
  } else {
    v.regs.eax = static_cast<std::uint32_t>(*slot);
    v.regs.edx = static_cast<std::uint32_t>(*slot >> 32);
  }
  return Action::advance;
}

Action emulate_descriptor_table(VCpu& v, const Instruction& insn, GuestEnv& env) {
  if (!privileged(v, env)) return Action::reflect;
  const auto& op = insn.operands[0];
  std::uint8_t buf[6] = {};
  Fault f;
  if (!env.read_linear(operand_linear_address(v, op, env), buf, 6, false, &f)) {
    env.raise(f);
    return Action::reflect;
  }
  x86::DescriptorTableRegister r;
  r.limit = static_cast<std::uint16_t>(buf[0] | (buf[1] << 8));
  r.base = static_cast<std::uint32_t>(buf[2] | (buf[3] << 8) | (buf[4] << 16) | (buf[5] << 24));
  if (insn.info.operand_width == 16) r.base &= 0x00ffffffu;  // SDM vol. 2 LGDT: 24-bit base
  if (insn.mnemonic() == ZYDIS_MNEMONIC_LGDT) {
    v.gdtr = r;
    env.gdt_loaded();
  } else {
    v.idtr = r;
  }
  return Action::advance;
}

/// The GDT descriptor LLDT or LTR names: a present system descriptor of `type`, or the fault
/// the CPU would raise (SDM vol. 2, LLDT and LTR), raised in the guest.
bool system_descriptor(VCpu& v, GuestEnv& env, std::uint32_t sel, unsigned type, x86::SegmentDescriptor* d) {
  Fault f;
  if (!guest_descriptor(v, env, static_cast<std::uint16_t>(sel), d, &f)) {
    env.raise(f);
    return false;
  }
  if (d->s || d->type != type) {
    env.raise(Fault::gp(sel & 0xfffc));
    return false;
  }
  if (!d->p) {
    env.raise({vec::NP, true, sel & 0xfffcu, 0});
    return false;
  }
  return true;
}

Action emulate_ltr_lldt(VCpu& v, const Instruction& insn, GuestEnv& env) {
  if (!privileged(v, env)) return Action::reflect;
  std::uint32_t sel = 0;
  if (!read_operand(v, insn.operands[0], env, &sel)) return Action::reflect;
  if (insn.mnemonic() == ZYDIS_MNEMONIC_LLDT) {
    // SDM vol. 2 LLDT: a null selector leaves no LDT; otherwise an LDT descriptor (type 2)
    // in the GDT. The monitor copies it into its shadow LDT (env.ldt_loaded).
    if ((sel & ~3u) == 0) {
      v.ldtr = 0;
      env.ldt_loaded(0, 0);
      return Action::advance;
    }
    x86::SegmentDescriptor d{};
    if (!system_descriptor(v, env, sel, x86::desc_type::kLdt, &d)) return Action::reflect;
    v.ldtr = static_cast<std::uint16_t>(sel);
    env.ldt_loaded(d.base(), d.limit());
    return Action::advance;
  }
  // LTR (SDM vol. 2): an available 32-bit TSS in the GDT, then marked busy in the guest's
  // own GDT, as the CPU would. The real TR keeps the monitor's TSS.
  x86::SegmentDescriptor d{};
  if (!system_descriptor(v, env, sel, x86::desc_type::kTss32Available, &d)) return Action::reflect;
  d.type = x86::desc_type::kTss32Busy;
  std::uint64_t raw = d.raw();
  Fault f;
  if (!env.write_linear(v.gdtr.base + (sel >> 3) * 8u, &raw, 8, false, &f)) {
    env.raise(f);
    return Action::reflect;
  }
  v.tr = static_cast<std::uint16_t>(sel);
  return Action::advance;
}

/// MOV SS / POP SS / LSS with a ring-0 selector: the CPU at ring 1 refuses RPL 0.
Action emulate_stack_segment_load(VCpu& v, const Instruction& insn, GuestEnv& env) {
  std::uint32_t sel = 0, new_esp = v.regs.esp;
  bool lss = insn.mnemonic() == ZYDIS_MNEMONIC_LSS;
  if (insn.mnemonic() == ZYDIS_MNEMONIC_POP) {
    if (!pop32(v, env, 0, &sel)) return Action::reflect;
    new_esp += 4;
  } else if (lss) {
    std::uint32_t far[2] = {};
    Fault f;
    if (!env.read_linear(operand_linear_address(v, insn.operands[1], env), far, 6, v.cpl == 3, &f)) {
      env.raise(f);
      return Action::reflect;
    }
    sel = far[1] & 0xffff;
    new_esp = far[0];
  } else if (!read_operand(v, insn.operands[1], env, &sel)) {
    return Action::reflect;
  }
  sel &= 0xffff;
  x86::SegmentDescriptor d{};
  Fault f;
  // SDM vol. 2 MOV: SS needs RPL = CPL = DPL and a writable data segment.
  if ((sel & 3) != v.cpl || !guest_descriptor(v, env, static_cast<std::uint16_t>(sel), &d, &f) || !d.s ||
      (d.type & 0xa) != 0x2 || d.dpl != v.cpl) {
    env.raise(Fault::gp(sel & 0xfffc));
    return Action::reflect;
  }
  if (!d.p) {
    env.raise({vec::SS, true, sel & 0xfffcu, 0});
    return Action::reflect;
  }
  v.ss = static_cast<std::uint16_t>(sel);
  if (lss) write_register(v, insn.operands[0].reg.value, new_esp);
  v.regs.esp = new_esp;
  v.interrupt_shadow = true;
  return Action::advance;
}

/// Far RET to the guest kernel: the CPU sees a return to a more privileged RPL.
Action emulate_far_ret(VCpu& v, const Instruction& insn, GuestEnv& env) {
  std::uint32_t eip = 0, cs = 0;
  if (!pop32(v, env, 0, &eip) || !pop32(v, env, 1, &cs)) return Action::reflect;
  std::uint32_t extra = insn.info.operand_count_visible > 0 ? static_cast<std::uint32_t>(insn.operands[0].imm.value.u) : 0;
  unsigned rpl = cs & 3;
  if (rpl < v.cpl || rpl == 1 || rpl == 2) {
    env.raise(Fault::gp(cs & 0xfffc));
    return Action::reflect;
  }
  if (rpl > v.cpl) {
    std::uint32_t esp = 0, ss = 0;
    v.regs.esp += 8 + extra;
    if (!pop32(v, env, 0, &esp) || !pop32(v, env, 1, &ss)) return Action::reflect;
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

}  // namespace

// ---- IRET --------------------------------------------------------------------------------

Action emulate_iret(VCpu& v, const Instruction& insn, GuestEnv& env) {
  // BEGIN SOLUTION lab01-e7
  // SDM vol. 2 IRET, protected mode: pop EIP, CS, EFLAGS; a return to an outer ring also
  // pops ESP and SS. The guest kernel's frames carry RPL 0, which the ring-1 CPU refuses as
  // "more privileged": that #GP is what brings every kernel IRET here.
  if (insn.info.operand_width != 32) {
    env.contain("16-bit IRET is not supported");
    return Action::stop;
  }
  std::uint32_t eip = 0, cs = 0, flags = 0;
  if (!pop32(v, env, 0, &eip) || !pop32(v, env, 1, &cs) || !pop32(v, env, 2, &flags)) return Action::reflect;
  if (v.eflags & fl::NT) {
    env.contain("IRET with EFLAGS.NT (a task return) is not supported");
    return Action::stop;
  }
  if (flags & fl::VM) {
    env.contain("IRET to virtual-8086 mode is not supported");
    return Action::stop;
  }
  unsigned rpl = cs & 3;
  if (rpl < v.cpl || (cs & ~3u) == 0) {
    env.raise(Fault::gp(cs & 0xfffc));
    return Action::reflect;
  }
  x86::SegmentDescriptor target{};
  Fault f;
  if (!guest_descriptor(v, env, static_cast<std::uint16_t>(cs), &target, &f)) {
    env.raise(f);
    return Action::reflect;
  }
  if (!target.p) {
    env.raise({vec::NP, true, cs & 0xfffcu, 0});
    return Action::reflect;
  }
  std::uint32_t old_cpl = v.cpl;
  if (rpl == 3 && v.cpl == 0) {
    std::uint32_t esp = 0, ss = 0;
    if (!pop32(v, env, 3, &esp) || !pop32(v, env, 4, &ss)) return Action::reflect;
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

// ---- the virtual IDT ---------------------------------------------------------------------

namespace {

bool deliver_once(VCpu& v, GuestEnv& env, std::uint8_t vector, Delivery kind, bool has_error,
                  std::uint32_t error, std::uint32_t return_eip, Fault* nested) {
  // BEGIN SOLUTION lab01-e6
  // SDM 6.12.1: read the gate from the IDT, check it, pick the stack, push the frame.
  std::uint32_t idt_error = vector * 8u + 2 + (kind == Delivery::external ? 1 : 0);
  if (vector * 8u + 7 > v.idtr.limit) {
    *nested = Fault::gp(idt_error);
    return false;
  }
  std::uint64_t raw = 0;
  if (!env.read_linear(v.idtr.base + vector * 8u, &raw, 8, false, nested)) return false;
  auto gate = x86::GateDescriptor::from(raw);
  if (gate.type != x86::desc_type::kInterruptGate32 && gate.type != x86::desc_type::kTrapGate32) {
    *nested = Fault::gp(idt_error);
    return false;
  }
  if (kind == Delivery::software && gate.dpl < v.cpl) {
    *nested = Fault::gp(idt_error);
    return false;
  }
  if (!gate.p) {
    *nested = {vec::NP, true, idt_error, 0};
    return false;
  }
  x86::SegmentDescriptor code{};
  if (!guest_descriptor(v, env, static_cast<std::uint16_t>(gate.selector), &code, nested)) return false;
  if (!code.s || !(code.type & 0x8) || code.dpl > v.cpl) {
    *nested = Fault::gp(gate.selector & 0xfffcu);
    return false;
  }
  bool conforming = (code.type & 0x4) != 0;
  unsigned new_cpl = conforming ? v.cpl : code.dpl;

  std::uint32_t frame[7];
  unsigned n = 0;
  std::uint32_t new_esp = v.regs.esp;
  std::uint16_t new_ss = v.ss;
  if (new_cpl < v.cpl) {
    // An inner ring: the stack comes from the guest's TSS (SDM 6.12.1, 8.2.1).
    x86::SegmentDescriptor tss{};
    if (!guest_descriptor(v, env, v.tr, &tss, nested)) {
      *nested = {vec::TS, true, static_cast<std::uint32_t>(v.tr & 0xfffc), 0};
      return false;
    }
    std::uint32_t esp0 = 0, ss0 = 0;
    if (!env.read_linear(tss.base() + 4, &esp0, 4, false, nested) ||
        !env.read_linear(tss.base() + 8, &ss0, 4, false, nested)) {
      return false;
    }
    new_esp = esp0;
    new_ss = static_cast<std::uint16_t>(ss0);
    frame[n++] = v.ss;
    frame[n++] = v.regs.esp;
  }
  frame[n++] = v.eflags;
  frame[n++] = v.cs;
  frame[n++] = return_eip;
  if (has_error) frame[n++] = error;
  // The frame's lowest address holds the last push.
  std::uint32_t bytes[7];
  for (unsigned i = 0; i < n; ++i) bytes[i] = frame[n - 1 - i];
  new_esp -= n * 4;
  if (!env.write_linear(env.segment_base(new_ss) + new_esp, bytes, n * 4, new_cpl == 3, nested)) return false;

  v.regs.esp = new_esp;
  v.ss = new_ss;
  v.cs = static_cast<std::uint16_t>((gate.selector & ~3u) | new_cpl);
  v.eip = gate.offset();
  v.cpl = static_cast<std::uint8_t>(new_cpl);
  v.eflags &= ~(fl::TF | fl::NT | fl::RF | fl::VM);
  if (gate.type == x86::desc_type::kInterruptGate32) v.eflags &= ~fl::IF;
  v.halted = false;
  return true;
  // STUB: return false;
  // END SOLUTION
}

bool contributory(unsigned v) { return v == vec::DE || v == vec::TS || v == vec::NP || v == vec::SS || v == vec::GP; }

}  // namespace

bool deliver_interrupt(VCpu& v, GuestEnv& env, std::uint8_t vector, Delivery kind, bool has_error,
                       std::uint32_t error, std::uint32_t return_eip) {
  Fault nested;
  if (deliver_once(v, env, vector, kind, has_error, error, return_eip, &nested)) return true;
  if (vector == vec::DF) return false;  // a fault while delivering #DF: triple fault
  if (nested.vector == vec::PF) v.cr2 = nested.cr2;
  // SDM 6.15 table 6-5: a contributory fault or #PF while delivering one of those is #DF.
  bool first_bad = kind == Delivery::exception && (contributory(vector) || vector == vec::PF);
  if (first_bad && (contributory(nested.vector) || nested.vector == vec::PF)) {
    return deliver_once(v, env, vec::DF, Delivery::exception, true, 0, v.eip, &nested);
  }
  // Otherwise the nested fault is delivered in its place, at the instruction that caused it.
  Fault second;
  if (deliver_once(v, env, nested.vector, Delivery::exception, nested.has_error, nested.error, v.eip, &second))
    return true;
  if (second.vector == vec::PF) v.cr2 = second.cr2;
  return deliver_once(v, env, vec::DF, Delivery::exception, true, 0, v.eip, &second);
}

// ---- dispatch of one emulated instruction ------------------------------------------------

Action emulate_instruction(VCpu& v, const Event& e, const Instruction& insn, GuestEnv& env) {
  switch (insn.mnemonic()) {
    case ZYDIS_MNEMONIC_CLI:
    case ZYDIS_MNEMONIC_STI: return emulate_cli_sti(v, insn, env);
    case ZYDIS_MNEMONIC_HLT:
      if (!privileged(v, env)) return Action::reflect;
      v.halted = true;
      return Action::advance;
    case ZYDIS_MNEMONIC_IN:
    case ZYDIS_MNEMONIC_OUT:
    case ZYDIS_MNEMONIC_INSB:
    case ZYDIS_MNEMONIC_INSW:
    case ZYDIS_MNEMONIC_INSD:
    case ZYDIS_MNEMONIC_OUTSB:
    case ZYDIS_MNEMONIC_OUTSW:
    case ZYDIS_MNEMONIC_OUTSD: return emulate_io(v, insn, env);
    case ZYDIS_MNEMONIC_CLTS:
    case ZYDIS_MNEMONIC_LMSW: return emulate_control_register(v, insn, env);
    case ZYDIS_MNEMONIC_MOV:
      if (e.reason == Reason::cr_access) return emulate_control_register(v, insn, env);
      if (e.reason == Reason::privileged_instruction) {
        if (insn.operands[0].reg.value == ZYDIS_REGISTER_SS) return emulate_stack_segment_load(v, insn, env);
        return emulate_debug_register(v, insn, env);
      }
      break;
    case ZYDIS_MNEMONIC_POP:
    case ZYDIS_MNEMONIC_LSS: return emulate_stack_segment_load(v, insn, env);
    case ZYDIS_MNEMONIC_LGDT:
    case ZYDIS_MNEMONIC_LIDT: return emulate_descriptor_table(v, insn, env);
    case ZYDIS_MNEMONIC_LLDT:
    case ZYDIS_MNEMONIC_LTR: return emulate_ltr_lldt(v, insn, env);
    case ZYDIS_MNEMONIC_INVLPG: {
      if (!privileged(v, env)) return Action::reflect;
      env.invalidate_page(operand_linear_address(v, insn.operands[0], env));
      return Action::advance;
    }
    case ZYDIS_MNEMONIC_WBINVD:
    case ZYDIS_MNEMONIC_INVD:
      // Caches are coherent in this machine: nothing to write back.
      return privileged(v, env) ? Action::advance : Action::reflect;
    case ZYDIS_MNEMONIC_RDMSR: return emulate_msr(v, false, env);
    case ZYDIS_MNEMONIC_WRMSR: return emulate_msr(v, true, env);
    case ZYDIS_MNEMONIC_RDTSC:
    case ZYDIS_MNEMONIC_RDTSCP: {
      // The monitor keeps the real CR4.TSD set, so these always trap and read the guest's
      // clock (env.read_tsc); the guest's own CR4.TSD decides whether CPL 3 gets a #GP.
      if ((v.cr4 & x86::cr4::TSD) && !privileged(v, env)) return Action::reflect;
      std::uint64_t t = env.read_tsc();
      v.regs.eax = static_cast<std::uint32_t>(t);
      v.regs.edx = static_cast<std::uint32_t>(t >> 32);
      if (insn.mnemonic() == ZYDIS_MNEMONIC_RDTSCP) v.regs.ecx = 0;  // IA32_TSC_AUX, not modelled: 0
      return Action::advance;
    }
    case ZYDIS_MNEMONIC_RDPMC:
      if (!privileged(v, env)) return Action::reflect;
      v.regs.eax = v.regs.edx = 0;
      return Action::advance;
    case ZYDIS_MNEMONIC_IRETD: return emulate_iret(v, insn, env);
    case ZYDIS_MNEMONIC_RET: return emulate_far_ret(v, insn, env);
    case ZYDIS_MNEMONIC_INT:
    case ZYDIS_MNEMONIC_INT3:
    case ZYDIS_MNEMONIC_INTO: {
      if (insn.mnemonic() == ZYDIS_MNEMONIC_INTO && !(v.eflags & fl::OF)) return Action::advance;
      std::uint32_t next = v.eip + insn.length();
      if (!deliver_interrupt(v, env, static_cast<std::uint8_t>(e.number), Delivery::software, false, 0, next)) {
        env.contain("triple fault while delivering a software interrupt");
        return Action::stop;
      }
      return Action::resume;
    }
    default: break;
  }
  // Not ours to emulate: the #GP belongs to the guest.
  env.raise({e.vector, e.has_error_code, e.error_code, 0});
  return Action::reflect;
}

// ---- segments ----------------------------------------------------------------------------

x86::SegmentDescriptor deprivilege_descriptor(x86::SegmentDescriptor d) {
  // BEGIN SOLUTION lab01-e8
  if (!d.s) return x86::SegmentDescriptor{};  // TSS, LDT, gates: the monitor emulates them
  bool code = (d.type & 0x8) != 0;
  bool expand_down = !code && (d.type & 0x4) != 0;
  std::uint32_t base = d.base();
  if (expand_down || base > kGuestLinearLimit) return x86::SegmentDescriptor{};
  // The segment must end below the monitor (the Xen/VMware IA-32 trick: the monitor sits
  // above every guest segment limit, so ring 1 cannot address it).
  std::uint32_t max_limit = kGuestLinearLimit - base;
  if (d.limit() > max_limit) {
    std::uint32_t l = d.g ? ((max_limit + 1) >> 12) - 1 : max_limit;
    if (!d.g && l > 0xfffff) {  // byte granularity cannot express it: switch to pages
      d.g = 1;
      l = ((max_limit + 1) >> 12) - 1;
    }
    d.limit_low = l & 0xffff;
    d.limit_high = (l >> 16) & 0xf;
  }
  if (d.dpl == 0) d.dpl = 1;
  d.type |= 1;  // accessed already: the CPU need not write the shadow copy
  return d;
  // STUB: return d;
  // END SOLUTION
}

}  // namespace hvlab::lab01
