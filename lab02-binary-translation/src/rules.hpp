#pragma once
// The translator's rules: what becomes of each guest kernel instruction (labs/lab02.md, "The
// rules"). One row per rule: the name the listings and the trace use, and what its
// translation is. rule_for() picks the rule; the translator (translator.hpp) applies it, the
// EFLAGS rules (cli, sti, pushf, popf) on the virtual IF of the block's mode.

#include <cstdint>

#include "common/decoder/decoder.hpp"

namespace hvlab::lab02 {

#define HVLAB_BT_RULES(X)                                                                         \
  X(ident, "copied unchanged: innocuous at ring 1, or it traps there by itself")                  \
  X(jump, "JMP rel: re-targeted, through an exit")                                                \
  X(jcc, "Jcc rel: two exits, taken and not taken")                                               \
  X(jcxz_loop, "JECXZ/LOOPcc rel8: kept, aimed at two exits")                                     \
  X(call, "CALL rel: pushes the guest's return address, then an exit")                            \
  X(ret, "RET: the inline lookup of the return address")                                          \
  X(jump_indirect, "JMP r/m: pushes the target, then the inline lookup")                          \
  X(call_indirect, "CALL r/m: pushes the target and the guest's return address, then the lookup") \
  X(cli, "CLI: IF 1: an exit to the code after it, translated for IF = 0 (IF 0: a NOP)")          \
  X(sti, "STI: IF 0: a look for a waiting interrupt, then an exit for IF = 1 (IF 1: a NOP)")      \
  X(pushf, "PUSHF: the real flags with the block's IF put in (a callout in a slow mode)")         \
  X(popf, "POPF: POPFD, then an exit for the popped IF; a callout for IOPL, TF, NT...")           \
  X(cs_read, "MOV r/m, CS and PUSH CS: the guest's own CS")                                       \
  X(callout, "privileged: a callout to lab01's emulation")                                        \
  X(vcpu, "sensitive, unprivileged: a callout, answered from the virtual CPU")                    \
  X(far, "far JMP, CALL and RET: a callout")                                                      \
  X(cs_memory, "MOV r, CS:m: a callout (translated code runs in a code segment of its own)")      \
  X(unsupported, "not translatable here: a callout that stops the guest with the reason")         \
  X(undefined, "not an instruction: UD2, so the guest gets its #UD")                              \
  X(untranslated, "no translation yet (its exercise is not done): run as under lab01")

enum class Rule : std::uint8_t {
#define HVLAB_X(name, what) name,
  HVLAB_BT_RULES(HVLAB_X)
#undef HVLAB_X
      count
};

const char* rule_name(Rule r);
const char* rule_description(Rule r);

/// The rule for a guest kernel instruction (32-bit code). Operand-size overrides on the
/// flag and branch instructions, and memory operands through CS (the translated code runs in
/// a code segment of its own), get `unsupported`; instructions that only fault at ring 1
/// without being sensitive (CPUID aside, which lab01 runs natively too) get `callout`.
Rule rule_for(const decoder::Instruction& insn);

/// Whether a rule ends a block (a control transfer, or POPF, whose IF picks the code that
/// follows). Instructions that end a block by themselves (Instruction::ends_block) do too.
bool rule_ends_block(Rule r);

}  // namespace hvlab::lab02
