#include "lab01-trap-and-emulate/src/operands.hpp"

#include "common/vmm/emulate.hpp"
#include "common/vmm/machine.hpp"

namespace hvlab::lab01 {

std::uint32_t read_register(const vmm::VCpu& v, ZydisRegister r) {
  auto& m = const_cast<vmm::VCpu&>(v);
  int id = ZydisRegisterGetId(r);
  switch (ZydisRegisterGetClass(r)) {
    case ZYDIS_REGCLASS_GPR32: return vmm::gpr(m, id);
    case ZYDIS_REGCLASS_GPR16: return vmm::gpr(m, id) & 0xffff;
    case ZYDIS_REGCLASS_GPR8:  // AL CL DL BL, then AH CH DH BH
      return id < 4 ? vmm::gpr(m, id) & 0xff : (vmm::gpr(m, id - 4) >> 8) & 0xff;
    case ZYDIS_REGCLASS_SEGMENT: return segment_selector(v, r);
    default: return 0;
  }
}

void write_register(vmm::VCpu& v, ZydisRegister r, std::uint32_t value) {
  int id = ZydisRegisterGetId(r);
  switch (ZydisRegisterGetClass(r)) {
    case ZYDIS_REGCLASS_GPR32: vmm::gpr(v, id) = value; break;
    case ZYDIS_REGCLASS_GPR16: vmm::gpr(v, id) = (vmm::gpr(v, id) & 0xffff0000u) | (value & 0xffff); break;
    case ZYDIS_REGCLASS_GPR8:
      if (id < 4) {
        vmm::gpr(v, id) = (vmm::gpr(v, id) & ~0xffu) | (value & 0xff);
      } else {
        vmm::gpr(v, id - 4) = (vmm::gpr(v, id - 4) & ~0xff00u) | ((value & 0xff) << 8);
      }
      break;
    default: break;
  }
}

std::uint16_t segment_selector(const vmm::VCpu& v, ZydisRegister r) {
  switch (r) {
    case ZYDIS_REGISTER_CS: return v.cs;
    case ZYDIS_REGISTER_SS: return v.ss;
    case ZYDIS_REGISTER_ES: return v.es;
    case ZYDIS_REGISTER_FS: return v.fs;
    case ZYDIS_REGISTER_GS: return v.gs;
    default: return v.ds;
  }
}

std::uint32_t operand_offset(const vmm::VCpu& v, const ZydisDecodedOperand& op) {
  std::uint32_t offset = 0;
  if (op.mem.base != ZYDIS_REGISTER_NONE) offset += read_register(v, op.mem.base);
  if (op.mem.index != ZYDIS_REGISTER_NONE) offset += read_register(v, op.mem.index) * op.mem.scale;
  if (op.mem.disp.has_displacement) offset += static_cast<std::uint32_t>(op.mem.disp.value);
  return offset;
}

std::uint32_t operand_linear_address(const vmm::VCpu& v, const ZydisDecodedOperand& op, const SegmentBases& seg) {
  return seg.segment_base(segment_selector(v, op.mem.segment)) + operand_offset(v, op);
}

bool read_operand(vmm::Machine& m, const vmm::VCpu& v, const ZydisDecodedOperand& op, const SegmentBases& seg,
                  std::uint32_t* value) {
  unsigned bytes = op.size / 8;
  switch (op.type) {
    case ZYDIS_OPERAND_TYPE_REGISTER: *value = read_register(v, op.reg.value) & mask_of(bytes); return true;
    case ZYDIS_OPERAND_TYPE_IMMEDIATE: *value = static_cast<std::uint32_t>(op.imm.value.u) & mask_of(bytes); return true;
    case ZYDIS_OPERAND_TYPE_MEMORY: {
      std::uint32_t w = 0;
      if (!m.read_linear(GuestVirtAddr(operand_linear_address(v, op, seg)), &w, bytes > 4 ? 4 : bytes, v.cpl == 3))
        return false;
      *value = w & mask_of(bytes);
      return true;
    }
    default: *value = 0; return true;
  }
}

}  // namespace hvlab::lab01
