#include "lab02-binary-translation/src/rules.hpp"

#include "common/runtime/exercise.hpp"
#include "lab01-trap-and-emulate/src/trap_event.hpp"

namespace hvlab::lab02 {

namespace {

const char* const kNames[] = {
#define HVLAB_X(name, what) #name,
    HVLAB_BT_RULES(HVLAB_X)
#undef HVLAB_X
};
const char* const kDescriptions[] = {
#define HVLAB_X(name, what) what,
    HVLAB_BT_RULES(HVLAB_X)
#undef HVLAB_X
};

bool is_segment(const ZydisDecodedOperand& op, ZydisRegister r) {
  return op.type == ZYDIS_OPERAND_TYPE_REGISTER && op.reg.value == r;
}

/// A memory access through CS: translated code runs in its own code segment, so the guest's
/// CS base is not what CS holds there.
bool reads_through_cs(const decoder::Instruction& insn) {
  for (unsigned i = 0; i < insn.info.operand_count; ++i) {
    const auto& op = insn.operands[i];
    if (op.type == ZYDIS_OPERAND_TYPE_MEMORY && op.mem.type == ZYDIS_MEMOP_TYPE_MEM &&
        op.mem.segment == ZYDIS_REGISTER_CS)
      return true;
  }
  return false;
}

bool relative(const decoder::Instruction& insn) {
  return insn.info.operand_count_visible > 0 && insn.operands[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
         insn.operands[0].imm.is_relative;
}

}  // namespace

const char* rule_name(Rule r) {
  auto i = static_cast<unsigned>(r);
  return i < static_cast<unsigned>(Rule::count) ? kNames[i] : "?";
}

const char* rule_description(Rule r) {
  auto i = static_cast<unsigned>(r);
  return i < static_cast<unsigned>(Rule::count) ? kDescriptions[i] : "?";
}

Rule rule_for(const decoder::Instruction& insn) {
  // BEGIN SOLUTION lab02-e1 degraded
  const auto& ops = insn.operands;
  const bool wide = insn.info.operand_width == 32;
  const bool far = insn.info.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR;
  switch (insn.mnemonic()) {
    case ZYDIS_MNEMONIC_JMP:
      if (far) return Rule::far;
      if (!wide) return Rule::unsupported;  // a 16-bit EIP
      return relative(insn) ? Rule::jump : Rule::jump_indirect;
    case ZYDIS_MNEMONIC_CALL:
      if (far) return Rule::far;
      if (!wide) return Rule::unsupported;
      return relative(insn) ? Rule::call : Rule::call_indirect;
    case ZYDIS_MNEMONIC_RET:
      if (far) return Rule::far;
      return wide ? Rule::ret : Rule::unsupported;
    case ZYDIS_MNEMONIC_JCXZ:
    case ZYDIS_MNEMONIC_JECXZ:
    case ZYDIS_MNEMONIC_LOOP:
    case ZYDIS_MNEMONIC_LOOPE:
    case ZYDIS_MNEMONIC_LOOPNE:
      return wide ? Rule::jcxz_loop : Rule::unsupported;
    case ZYDIS_MNEMONIC_CLI:
      return Rule::cli;
    case ZYDIS_MNEMONIC_STI:
      return Rule::sti;
    case ZYDIS_MNEMONIC_PUSHFD:
      return Rule::pushf;
    case ZYDIS_MNEMONIC_POPFD:
      return Rule::popf;
    case ZYDIS_MNEMONIC_PUSHF:  // 16-bit forms: rare, emulated by the monitor
    case ZYDIS_MNEMONIC_POPF:
      return Rule::callout;
    case ZYDIS_MNEMONIC_SGDT:
    case ZYDIS_MNEMONIC_SIDT:
    case ZYDIS_MNEMONIC_SLDT:
    case ZYDIS_MNEMONIC_STR:
    case ZYDIS_MNEMONIC_SMSW:
    case ZYDIS_MNEMONIC_LAR:
    case ZYDIS_MNEMONIC_LSL:
    case ZYDIS_MNEMONIC_VERR:
    case ZYDIS_MNEMONIC_VERW:
      return Rule::vcpu;
    case ZYDIS_MNEMONIC_MOV:
      if (is_segment(ops[1], ZYDIS_REGISTER_CS)) return Rule::cs_read;
      if (is_segment(ops[1], ZYDIS_REGISTER_SS)) return Rule::vcpu;
      break;
    case ZYDIS_MNEMONIC_PUSH:
      if (is_segment(ops[0], ZYDIS_REGISTER_CS)) return Rule::cs_read;
      if (is_segment(ops[0], ZYDIS_REGISTER_SS)) return Rule::vcpu;
      break;
    case ZYDIS_MNEMONIC_CPUID:
      return Rule::ident;  // runs at ring 1 as under lab01
    default:
      break;
  }
  if (reads_through_cs(insn)) {
    const bool load = insn.mnemonic() == ZYDIS_MNEMONIC_MOV && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER;
    return load ? Rule::cs_memory : Rule::unsupported;
  }
  if (insn.info.meta.category == ZYDIS_CATEGORY_COND_BR) return wide && relative(insn) ? Rule::jcc : Rule::unsupported;
  if (lab01::classify_instruction(insn) != vmm::Reason::exception || insn.is_cpl0_only()) return Rule::callout;
  return Rule::ident;
  // STUB: (void)insn;
  // STUB: return Rule::untranslated;
  // END SOLUTION
}

bool rule_ends_block(Rule r) {
  switch (r) {
    case Rule::jump:
    case Rule::jcc:
    case Rule::jcxz_loop:
    case Rule::call:
    case Rule::ret:
    case Rule::jump_indirect:
    case Rule::call_indirect:
    case Rule::popf:
    case Rule::far:
    case Rule::undefined:
      return true;
    default:
      return false;
  }
}

}  // namespace hvlab::lab02
