#include "lab01-trap-and-emulate/src/trap_event.hpp"

#include "common/arch/x86.hpp"
#include "common/runtime/exercise.hpp"
#include "lab01-trap-and-emulate/src/operands.hpp"

namespace hvlab::lab01 {

namespace vec = x86::vector;

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

vmm::IoAccess io_access(const VCpu& v, const Instruction& insn, const SegmentBases& seg) {
  // BEGIN SOLUTION lab01-e3
  // SDM vol. 2 IN/OUT/INS/OUTS: the port is an immediate or DX; INS writes ES:EDI (no
  // override), OUTS reads DS:ESI or the segment its prefix names.
  vmm::IoAccess io;
  const ZydisMnemonic m = insn.mnemonic();
  io.in = m == ZYDIS_MNEMONIC_IN || m == ZYDIS_MNEMONIC_INSB || m == ZYDIS_MNEMONIC_INSW || m == ZYDIS_MNEMONIC_INSD;
  io.string = m != ZYDIS_MNEMONIC_IN && m != ZYDIS_MNEMONIC_OUT;
  io.rep = (insn.info.attributes & ZYDIS_ATTRIB_HAS_REP) != 0;
  const auto& port_op = insn.operands[io.in ? 1 : 0];
  io.port = port_op.type == ZYDIS_OPERAND_TYPE_IMMEDIATE ? static_cast<std::uint16_t>(port_op.imm.value.u)
                                                         : static_cast<std::uint16_t>(v.regs.edx);
  io.size = static_cast<std::uint8_t>(io.string ? insn.info.operand_width / 8 : insn.operands[io.in ? 0 : 1].size / 8);
  if (m == ZYDIS_MNEMONIC_INSB || m == ZYDIS_MNEMONIC_OUTSB) io.size = 1;
  if (io.string) {
    std::uint16_t sel = io.in ? v.es : v.ds;
    for (unsigned i = 0; i < insn.info.operand_count && !io.in; ++i) {
      if (insn.operands[i].type == ZYDIS_OPERAND_TYPE_MEMORY) sel = segment_selector(v, insn.operands[i].mem.segment);
    }
    io.linear = GuestVirtAddr(seg.segment_base(sel) + (io.in ? v.regs.edi : v.regs.esi));
  }
  return io;
  // STUB: return vmm::IoAccess{};
  // END SOLUTION
}

vmm::CrAccess cr_access(const VCpu& v, const Instruction& insn) {
  using Type = vmm::CrAccess::Type;
  vmm::CrAccess cr;
  switch (insn.mnemonic()) {
    case ZYDIS_MNEMONIC_CLTS: cr.type = Type::clts; return cr;
    case ZYDIS_MNEMONIC_LMSW:
      cr.type = Type::lmsw;
      if (insn.operands[0].type == ZYDIS_OPERAND_TYPE_REGISTER)
        cr.lmsw_source = static_cast<std::uint16_t>(read_register(v, insn.operands[0].reg.value));
      return cr;
    default: break;
  }
  const auto& dst = insn.operands[0];
  const auto& src = insn.operands[1];
  bool to_cr = ZydisRegisterGetClass(dst.reg.value) == ZYDIS_REGCLASS_CONTROL;
  cr.type = to_cr ? Type::mov_to : Type::mov_from;
  cr.cr = static_cast<std::uint8_t>(ZydisRegisterGetId(to_cr ? dst.reg.value : src.reg.value));
  cr.gpr = static_cast<std::uint8_t>(ZydisRegisterGetId(to_cr ? src.reg.value : dst.reg.value) & 7);
  return cr;
}

Event make_trap_event(const VCpu& v, unsigned vector, std::uint32_t error_code, std::uint32_t cr2,
                      const Instruction* insn, const SegmentBases& seg) {
  Event e;
  e.source = vmm::Source::trap;
  e.raw_reason = vector;
  e.raw_qualification = error_code;
  e.guest_eip = v.eip;
  e.guest_cpl = v.cpl;
  e.exception.vector = static_cast<std::uint8_t>(vector);
  e.exception.has_error_code = vector < 32 && vec::has_error_code(vector);
  e.exception.error_code = e.exception.has_error_code ? error_code : 0;
  if (vector >= 32) {
    e.reason = Reason::external_interrupt;
    return e;
  }
  if (vector == vec::PF) {
    e.reason = Reason::page_fault;
    e.memory.linear = GuestVirtAddr(cr2);
    e.memory.has_linear = true;
    e.memory.write = (error_code & x86::pf_error::W) != 0;
    e.memory.fetch = (error_code & x86::pf_error::I) != 0;
    e.memory.read = !e.memory.write && !e.memory.fetch;
    return e;
  }
  e.reason = Reason::exception;
  if (insn == nullptr) return e;
  e.insn = insn;
  // Only #GP means "a sensitive instruction the deprivileged ring was refused": every other
  // exception is the guest's own and goes back to it.
  if (vector != vec::GP && vector != vec::NP) return e;
  e.insn_length = insn->length();
  e.reason = classify_instruction(*insn);
  // #NP is ours only for a return to guest user code, whose descriptors the monitor keeps
  // not present while the guest kernel runs (so that return traps and IF/IOPL are seen).
  if (vector == vec::NP && !(insn->mnemonic() == ZYDIS_MNEMONIC_IRETD ||
                             (insn->mnemonic() == ZYDIS_MNEMONIC_RET && e.reason == Reason::privileged_instruction))) {
    e.reason = Reason::exception;
  }
  switch (e.reason) {
    case Reason::io_instruction: e.io = io_access(v, *insn, seg); break;
    case Reason::msr_read:
    case Reason::msr_write: e.msr.index = v.regs.ecx; break;
    case Reason::cr_access: e.cr = cr_access(v, *insn); break;
    case Reason::invlpg:
      e.memory.linear = GuestVirtAddr(operand_linear_address(v, insn->operands[0], seg));
      e.memory.has_linear = true;
      break;
    case Reason::software_interrupt:
      // The vector of INT n (3 for INT3, 4 for INTO): what the guest's IDT is asked for.
      e.exception.vector = insn->mnemonic() == ZYDIS_MNEMONIC_INT3   ? 3
                           : insn->mnemonic() == ZYDIS_MNEMONIC_INTO ? 4
                                                                     : static_cast<std::uint8_t>(insn->operands[0].imm.value.u);
      e.exception.has_error_code = false;
      e.exception.error_code = 0;
      break;
    default: break;
  }
  return e;
}

}  // namespace hvlab::lab01
