#pragma once
// The operands of a decoded instruction, read and written on the virtual CPU: registers by
// their Zydis names, memory operands through the guest's segments and its MMU.

#include <cstdint>

#include "common/decoder/decoder.hpp"
#include "common/vmm/vcpu.hpp"
#include "lab01-trap-and-emulate/src/descriptors.hpp"

namespace hvlab::vmm {
class Machine;
}

namespace hvlab::lab01 {

/// A general register (8, 16 or 32 bits) or a segment register of the vCPU, by Zydis name.
std::uint32_t read_register(const vmm::VCpu& v, ZydisRegister r);
void write_register(vmm::VCpu& v, ZydisRegister r, std::uint32_t value);
/// The guest's selector in segment register `r` (ZYDIS_REGISTER_CS ... GS; DS otherwise).
std::uint16_t segment_selector(const vmm::VCpu& v, ZydisRegister r);
/// Offset of a memory operand in its segment (base + index * scale + displacement).
std::uint32_t operand_offset(const vmm::VCpu& v, const ZydisDecodedOperand& op);
/// Linear address of a memory operand (segment base + offset).
std::uint32_t operand_linear_address(const vmm::VCpu& v, const ZydisDecodedOperand& op, const SegmentBases& seg);
/// Reads a register, immediate or memory operand (at most 4 bytes of it). A memory operand
/// the guest's MMU refuses raises the fault in the guest (m.read_linear) and gives false.
bool read_operand(vmm::Machine& m, const vmm::VCpu& v, const ZydisDecodedOperand& op, const SegmentBases& seg,
                  std::uint32_t* value);

constexpr std::uint32_t mask_of(unsigned bytes) { return bytes >= 4 ? 0xffffffffu : (1u << (8 * bytes)) - 1; }

}  // namespace hvlab::lab01
