#pragma once
// A thin wrapper over Zydis, the same on the host (Debian's libzydis) and in kernels
// (Zydis compiled freestanding from Debian's source package). Callers own the output;
// nothing allocates.

#include <Zydis/Zydis.h>

#include <cstddef>
#include <cstdint>

#include "common/runtime/result.hpp"

namespace hvlab::decoder {

enum class Mode : std::uint8_t { k16, k32, k64 };

/// One decoded instruction with its operands.
struct Instruction {
  ZydisDecodedInstruction info;
  ZydisDecodedOperand operands[ZYDIS_MAX_OPERAND_COUNT];

  std::uint8_t length() const { return info.length; }
  ZydisMnemonic mnemonic() const { return info.mnemonic; }
  const char* mnemonic_name() const;
  /// True for instructions that fault at CPL > 0 on their own (Zydis' privilege attribute).
  bool is_cpl0_only() const;
  /// True for instructions that end a basic block (branches, calls, returns, INT, IRET...).
  bool ends_block() const;
};

class Decoder {
 public:
  explicit Decoder(Mode mode = Mode::k32);

  /// Decodes the instruction at `bytes` (at most `size` bytes available). Errors:
  /// invalid_argument for an undecodable or truncated instruction.
  Result<Instruction> decode(const std::uint8_t* bytes, std::size_t size) const;
  /// Decodes into `out` without copying the result (kernels with small stacks).
  Status decode_into(const std::uint8_t* bytes, std::size_t size, Instruction& out) const;

  /// Intel-syntax text of `insn` located at `address`; returns false if it did not fit.
  bool format(const Instruction& insn, std::uint64_t address, char* buf, std::size_t size) const;

  Mode mode() const { return mode_; }

 private:
  Mode mode_;
  ZydisDecoder decoder_;
  ZydisFormatter formatter_;
};

}  // namespace hvlab::decoder
