#include "lab04-vtx/src/vmx_defs.hpp"

namespace hvlab::vmx {

const char* field_name(Field f) {
  switch (f) {
#define HVLAB_X(name, enc) \
  case Field::name:        \
    return #name;
    HVLAB_VMCS_FIELDS(HVLAB_X)
#undef HVLAB_X
  }
  return "?";
}
const char* exit_reason_name(std::uint32_t basic_reason) {
  switch (basic_reason) {
#define HVLAB_X(n, name) \
  case n:                \
    return #name;
    HVLAB_VMX_EXIT_REASONS(HVLAB_X)
#undef HVLAB_X
  }
  return "?";
}

const char* instruction_error_text(std::uint32_t error) {
  // SDM 31.4, table 31-1 "VM-Instruction Error Numbers".
  switch (error) {
    case 1: return "VMCALL executed in VMX root operation";
    case 2: return "VMCLEAR with invalid physical address";
    case 3: return "VMCLEAR with VMXON pointer";
    case 4: return "VMLAUNCH with non-clear VMCS";
    case 5: return "VMRESUME with non-launched VMCS";
    case 6: return "VMRESUME after VMXOFF (VMXOFF and VMXON between VMLAUNCH and VMRESUME)";
    case 7: return "VM entry with invalid control field(s)";
    case 8: return "VM entry with invalid host-state field(s)";
    case 9: return "VMPTRLD with invalid physical address";
    case 10: return "VMPTRLD with VMXON pointer";
    case 11: return "VMPTRLD with incorrect VMCS revision identifier";
    case 12: return "VMREAD/VMWRITE from/to unsupported VMCS component";
    case 13: return "VMWRITE to read-only VMCS component";
    case 15: return "VMXON executed in VMX root operation";
    case 16: return "VM entry with invalid executive-VMCS pointer";
    case 17: return "VM entry with non-launched executive VMCS";
    case 18: return "VM entry with executive-VMCS pointer not VMXON pointer";
    case 19: return "VMCALL with non-clear VMCS";
    case 20: return "VMCALL with invalid VM-exit control fields";
    case 22: return "VMCALL with incorrect MSEG revision identifier";
    case 23: return "VMXOFF under dual-monitor treatment of SMIs and SMM";
    case 24: return "VMCALL with invalid SMM-monitor features";
    case 25: return "VM entry with invalid VM-execution control fields in executive VMCS";
    case 26: return "VM entry with events blocked by MOV SS";
    case 28: return "Invalid operand to INVEPT/INVVPID";
  }
  return "unknown VM-instruction error";
}

}  // namespace hvlab::vmx
