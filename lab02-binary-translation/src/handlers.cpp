#include "lab02-binary-translation/src/handlers.hpp"

#include "common/runtime/exercise.hpp"
#include "lab01-trap-and-emulate/src/handlers.hpp"
#include "lab01-trap-and-emulate/src/operands.hpp"
#include "lab01-trap-and-emulate/src/trap_backend.hpp"
#include "lab02-binary-translation/src/bt_backend.hpp"

namespace hvlab::lab02 {

using vmm::Action;
using vmm::Machine;
using vmm::VCpu;
namespace fl = x86::eflags;

namespace {

std::uint32_t stack_linear(Machine& m, const VCpu& v, std::int32_t delta) {
  return lab01::trap_backend(m).segment_base(v.ss) + v.regs.esp + static_cast<std::uint32_t>(delta);
}

bool push32(Machine& m, VCpu& v, std::uint32_t value) {
  if (!m.write_linear(GuestVirtAddr(stack_linear(m, v, -4)), &value, 4, false)) return false;
  v.regs.esp -= 4;
  return true;
}

bool pop32(Machine& m, VCpu& v, std::uint32_t* value) {
  if (!m.read_linear(GuestVirtAddr(stack_linear(m, v, 0)), value, 4, false)) return false;
  v.regs.esp += 4;
  return true;
}

/// A selector (or a word of the virtual CPU) into a register (zero-extended) or memory (16 bits).
bool store_word(Machine& m, VCpu& v, const ZydisDecodedOperand& op, std::uint32_t value) {
  if (op.type == ZYDIS_OPERAND_TYPE_REGISTER) {
    lab01::write_register(v, op.reg.value, value);
    return true;
  }
  const std::uint16_t w = static_cast<std::uint16_t>(value);
  return m.write_linear(GuestVirtAddr(lab01::operand_linear_address(v, op, lab01::trap_backend(m))), &w, 2, false);
}

/// The guest's own descriptor for `sel` (its GDT; LDT selectors are not looked up here).
bool guest_descriptor(Machine& m, VCpu& v, std::uint16_t sel, std::uint64_t* d) {
  if ((sel & 0xfffc) == 0 || (sel & 4) || (sel | 7u) > v.gdtr.limit) return false;
  vmm::ExceptionInfo f;
  return m.backend().read_linear(v, GuestVirtAddr(v.gdtr.base + (sel & 0xfff8u)), d, 8, false, &f);
}

void set_zf(VCpu& v, bool on) { v.eflags = on ? (v.eflags | fl::ZF) : (v.eflags & ~fl::ZF); }

/// LAR, LSL, VERR, VERW as the guest kernel sees them at CPL 0: from its own descriptor, not
/// the deprivileged mirror.
Action descriptor_query(Machine& m, VCpu& v, const decoder::Instruction& insn) {
  const bool verify = insn.mnemonic() == ZYDIS_MNEMONIC_VERR || insn.mnemonic() == ZYDIS_MNEMONIC_VERW;
  std::uint32_t sel = 0;
  if (!lab01::read_operand(m, v, insn.operands[verify ? 0 : 1], lab01::trap_backend(m), &sel)) return Action::resume;
  std::uint64_t d = 0;
  const bool found = guest_descriptor(m, v, static_cast<std::uint16_t>(sel), &d);
  const auto hi = static_cast<std::uint32_t>(d >> 32), lo = static_cast<std::uint32_t>(d);
  const bool s = (hi >> 12) & 1, code = (hi >> 11) & 1, rw = (hi >> 9) & 1;
  bool ok = found && s;
  switch (insn.mnemonic()) {
    case ZYDIS_MNEMONIC_VERR:
      ok = ok && (!code || rw);
      break;
    case ZYDIS_MNEMONIC_VERW:
      ok = ok && !code && rw;
      break;
    case ZYDIS_MNEMONIC_LAR:
      if (ok) lab01::write_register(v, insn.operands[0].reg.value, hi & 0x00f0ff00u);
      break;
    default: {  // LSL
      std::uint32_t limit = (lo & 0xffffu) | (hi & 0x000f0000u);
      if (hi & (1u << 23)) limit = (limit << 12) | 0xfffu;
      if (ok) lab01::write_register(v, insn.operands[0].reg.value, limit);
      break;
    }
  }
  set_zf(v, ok);
  return Action::advance;
}

/// Far JMP and CALL: ptr16:32 or m16:32, to a code segment of the guest's GDT.
Action far_transfer(Machine& m, VCpu& v, const decoder::Instruction& insn) {
  const auto& op = insn.operands[0];
  std::uint32_t offset = 0;
  std::uint16_t sel = 0;
  if (op.type == ZYDIS_OPERAND_TYPE_POINTER) {
    offset = op.ptr.offset;
    sel = op.ptr.segment;
  } else if (op.type == ZYDIS_OPERAND_TYPE_MEMORY) {
    std::uint8_t p[6];
    if (!m.read_linear(GuestVirtAddr(lab01::operand_linear_address(v, op, lab01::trap_backend(m))), p, 6, false))
      return Action::resume;
    offset = p[0] | p[1] << 8 | p[2] << 16 | static_cast<std::uint32_t>(p[3]) << 24;
    sel = static_cast<std::uint16_t>(p[4] | p[5] << 8);
  } else {
    return m.raise_ud();
  }
  std::uint64_t d = 0;
  if (!guest_descriptor(m, v, sel, &d) || !((d >> 43) & 1)) return m.raise_gp(sel & 0xfffc);
  if (insn.mnemonic() == ZYDIS_MNEMONIC_CALL) {
    const std::uint32_t esp = v.regs.esp;
    if (!push32(m, v, v.cs) || !push32(m, v, v.eip + insn.length())) {
      v.regs.esp = esp;
      return Action::resume;
    }
  }
  v.cs = static_cast<std::uint16_t>((sel & ~3u) | (v.cpl & 3u));
  v.eip = offset;
  return Action::resume;
}

/// Without lab02-e4: the translator copies this instruction as the guest wrote it from now on,
/// and the guest goes on at it. It runs at ring 1 and shows the guest the real machine (the
/// real IF, the monitor's descriptors, RPL 1), as under lab01.
[[maybe_unused]] Action run_as_written(Machine& m, VCpu& v) {
  if (bt_backend(m).translator().copy_as_written(v.eip)) return Action::resume;
  m.board().fail("lab02: too many sensitive instructions copied as written (lab02-e4 is not done)");
  return Action::stop;
}

/// PUSHF, POPF, reads of CS and SS, SGDT/SIDT/SLDT/STR/SMSW, LAR/LSL/VERR/VERW: what the
/// guest kernel would see at CPL 0, from the virtual CPU (exercise lab02-e4).
Action emulate_virtual_cpu(Machine& m, VCpu& v, const decoder::Instruction& insn, Rule r) {
  // BEGIN SOLUTION lab02-e4 degraded
  const auto& ops = insn.operands;
  lab01::TrapBackend& tb = lab01::trap_backend(m);
  switch (r) {
    case Rule::pushf:
      // The virtual IF and IOPL; VM and RF read as 0 (SDM vol. 2 PUSHF).
      return push32(m, v, (v.eflags & ~(fl::VM | fl::RF)) | fl::FIXED1) ? Action::advance : Action::resume;
    case Rule::popf: {
      std::uint32_t popped = 0;
      if (!pop32(m, v, &popped)) return Action::resume;
      // At virtual CPL 0 IF and IOPL change too: what POPF at ring 1 silently drops.
      const std::uint32_t mask = lab01::kEflagsGuestMask & ~fl::VM;
      v.eflags = (v.eflags & ~mask) | (popped & mask) | fl::FIXED1;
      return Action::advance;
    }
    case Rule::cs_read:
    case Rule::vcpu:
      switch (insn.mnemonic()) {
        case ZYDIS_MNEMONIC_MOV:
          return store_word(m, v, ops[0], lab01::segment_selector(v, ops[1].reg.value)) ? Action::advance
                                                                                        : Action::resume;
        case ZYDIS_MNEMONIC_PUSH:
          return push32(m, v, lab01::segment_selector(v, ops[0].reg.value)) ? Action::advance : Action::resume;
        case ZYDIS_MNEMONIC_SGDT:
        case ZYDIS_MNEMONIC_SIDT: {
          const auto& r6 = insn.mnemonic() == ZYDIS_MNEMONIC_SGDT ? v.gdtr : v.idtr;
          std::uint8_t buf[6] = {static_cast<std::uint8_t>(r6.limit),      static_cast<std::uint8_t>(r6.limit >> 8),
                                 static_cast<std::uint8_t>(r6.base),       static_cast<std::uint8_t>(r6.base >> 8),
                                 static_cast<std::uint8_t>(r6.base >> 16), static_cast<std::uint8_t>(r6.base >> 24)};
          return m.write_linear(GuestVirtAddr(lab01::operand_linear_address(v, ops[0], tb)), buf, 6, false)
                     ? Action::advance
                     : Action::resume;
        }
        case ZYDIS_MNEMONIC_SLDT:
          return store_word(m, v, ops[0], v.ldtr) ? Action::advance : Action::resume;
        case ZYDIS_MNEMONIC_STR:
          return store_word(m, v, ops[0], v.tr) ? Action::advance : Action::resume;
        case ZYDIS_MNEMONIC_SMSW:
          // A 32-bit register gets CR0 whole (its high half is undefined by the SDM).
          return store_word(m, v, ops[0],
                            ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[0].size == 32 ? v.cr0 : (v.cr0 & 0xffffu))
                     ? Action::advance
                     : Action::resume;
        case ZYDIS_MNEMONIC_LAR:
        case ZYDIS_MNEMONIC_LSL:
        case ZYDIS_MNEMONIC_VERR:
        case ZYDIS_MNEMONIC_VERW:
          return descriptor_query(m, v, insn);
        default:
          break;
      }
      break;
    default:
      break;
  }
  return Action::stop;
  // STUB: (void)insn; (void)r;
  // STUB: return run_as_written(m, v);
  // END SOLUTION
}

}  // namespace

Action emulate(Machine& m, VCpu& v, const decoder::Instruction& insn, Rule r) {
  const auto& ops = insn.operands;
  const std::uint32_t next = v.eip + insn.length();
  lab01::TrapBackend& tb = lab01::trap_backend(m);
  switch (r) {
    case Rule::pushf:
    case Rule::popf:
    case Rule::cs_read:
    case Rule::vcpu:
      return emulate_virtual_cpu(m, v, insn, r);
    case Rule::ret: {
      std::uint32_t to = 0;
      if (!pop32(m, v, &to)) return Action::resume;
      if (insn.info.operand_count_visible > 0) v.regs.esp += static_cast<std::uint32_t>(ops[0].imm.value.u);
      v.eip = to;
      return Action::resume;
    }
    case Rule::jump_indirect:
    case Rule::call_indirect: {
      std::uint32_t to = 0;
      if (!lab01::read_operand(m, v, ops[0], tb, &to)) return Action::resume;
      if (r == Rule::call_indirect && !push32(m, v, next)) return Action::resume;
      v.eip = to;
      return Action::resume;
    }
    case Rule::far:
      return far_transfer(m, v, insn);
    case Rule::cs_memory: {
      std::uint32_t value = 0;
      if (!lab01::read_operand(m, v, ops[1], tb, &value)) return Action::resume;
      lab01::write_register(v, ops[0].reg.value, value);
      return Action::advance;
    }
    default:
      break;
  }
  char text[96] = "?";
  (void)tb.decoder().format(insn, v.eip, text, sizeof text);
  m.board().fail("lab02: the guest kernel's instruction at %08x (%s) has no translation here (rule %s)", v.eip, text,
                 rule_name(r));
  return Action::stop;
}

Action on_translation(Machine& m, VCpu& v, const vmm::Event& e) {
  switch (static_cast<CalloutKind>(e.raw_reason)) {
    case CalloutKind::exit:
      return Action::resume;
    case CalloutKind::fetch_fault:
      return Action::reflect;
    case CalloutKind::emulate:
      if (!e.insn) break;
      return emulate(m, v, *e.insn, static_cast<Rule>(e.raw_qualification));
  }
  m.board().fail("lab02: a callout of an unknown kind (%u)", e.raw_reason);
  return Action::stop;
}

Action on_page_fault(Machine& m, VCpu& v, const vmm::Event& e) {
  BtBackend& bt = bt_backend(m);
  const std::uint32_t la = e.memory.linear.low32();
  // BEGIN SOLUTION lab02-e7 degraded
  // A write to a page the shadow keeps read-only for the translator's sake (present, write).
  if ((e.exception.error_code & 3u) == 3u) bt.code_written(v, la);
  // STUB: if ((e.exception.error_code & 3u) == 3u) bt.let_write(v, la);
  // END SOLUTION
  Action a = lab01::on_page_fault(m, v, e);
  bt.mmu().protect_watched(la);
  return a;
}

void install_handlers(vmm::Dispatcher& d) {
  lab01::install_handlers(d);
  d.set(vmm::Reason::translation, on_translation);
  d.set(vmm::Reason::page_fault, on_page_fault);
}

}  // namespace hvlab::lab02
