#include "common/decoder/decoder.hpp"

namespace hvlab::decoder {

Decoder::Decoder(Mode mode) : mode_(mode) {
  switch (mode) {
    case Mode::k16:
      ZydisDecoderInit(&decoder_, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
      break;
    case Mode::k32:
      ZydisDecoderInit(&decoder_, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
      break;
    case Mode::k64:
      ZydisDecoderInit(&decoder_, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
      break;
  }
  ZydisFormatterInit(&formatter_, ZYDIS_FORMATTER_STYLE_INTEL);
}

Status Decoder::decode_into(const std::uint8_t* bytes, std::size_t size, Instruction& out) const {
  if (!bytes || size == 0) return Error::invalid_argument;
  ZyanStatus s = ZydisDecoderDecodeFull(&decoder_, bytes, size, &out.info, out.operands);
  if (!ZYAN_SUCCESS(s)) return Error::invalid_argument;
  return {};
}

Result<Instruction> Decoder::decode(const std::uint8_t* bytes, std::size_t size) const {
  Instruction insn{};
  HV_TRY(decode_into(bytes, size, insn));
  return insn;
}

bool Decoder::format(const Instruction& insn, std::uint64_t address, char* buf, std::size_t size) const {
  if (!buf || size == 0) return false;
  ZyanStatus s = ZydisFormatterFormatInstruction(&formatter_, &insn.info, insn.operands,
                                                 insn.info.operand_count_visible, buf, size, address,
                                                 ZYAN_NULL);
  if (!ZYAN_SUCCESS(s)) {
    buf[0] = '\0';
    return false;
  }
  return true;
}

const char* Instruction::mnemonic_name() const {
  const char* s = ZydisMnemonicGetString(info.mnemonic);
  return s ? s : "?";
}

bool Instruction::is_cpl0_only() const { return (info.attributes & ZYDIS_ATTRIB_IS_PRIVILEGED) != 0; }

bool Instruction::ends_block() const {
  switch (info.meta.category) {
    case ZYDIS_CATEGORY_COND_BR:
    case ZYDIS_CATEGORY_UNCOND_BR:
    case ZYDIS_CATEGORY_CALL:
    case ZYDIS_CATEGORY_RET:
    case ZYDIS_CATEGORY_INTERRUPT:
    case ZYDIS_CATEGORY_SYSCALL:
    case ZYDIS_CATEGORY_SYSRET:
      return true;
    default:
      return info.mnemonic == ZYDIS_MNEMONIC_HLT || info.mnemonic == ZYDIS_MNEMONIC_IRETD ||
             info.mnemonic == ZYDIS_MNEMONIC_IRET || info.mnemonic == ZYDIS_MNEMONIC_UD2;
  }
}

}  // namespace hvlab::decoder
