#include "lab04-vtx/src/vmx_defs.hpp"

namespace hvlab::vmx {

const char* field_name(Field f) {
  switch (f) {
    case Field::VIRTUAL_PROCESSOR_ID: return "VIRTUAL_PROCESSOR_ID";
    case Field::GUEST_ES_SELECTOR: return "GUEST_ES_SELECTOR";
    case Field::GUEST_CS_SELECTOR: return "GUEST_CS_SELECTOR";
    case Field::GUEST_SS_SELECTOR: return "GUEST_SS_SELECTOR";
    case Field::GUEST_DS_SELECTOR: return "GUEST_DS_SELECTOR";
    case Field::GUEST_FS_SELECTOR: return "GUEST_FS_SELECTOR";
    case Field::GUEST_GS_SELECTOR: return "GUEST_GS_SELECTOR";
    case Field::GUEST_LDTR_SELECTOR: return "GUEST_LDTR_SELECTOR";
    case Field::GUEST_TR_SELECTOR: return "GUEST_TR_SELECTOR";
    case Field::HOST_ES_SELECTOR: return "HOST_ES_SELECTOR";
    case Field::HOST_CS_SELECTOR: return "HOST_CS_SELECTOR";
    case Field::HOST_SS_SELECTOR: return "HOST_SS_SELECTOR";
    case Field::HOST_DS_SELECTOR: return "HOST_DS_SELECTOR";
    case Field::HOST_FS_SELECTOR: return "HOST_FS_SELECTOR";
    case Field::HOST_GS_SELECTOR: return "HOST_GS_SELECTOR";
    case Field::HOST_TR_SELECTOR: return "HOST_TR_SELECTOR";
    case Field::IO_BITMAP_A: return "IO_BITMAP_A";
    case Field::IO_BITMAP_B: return "IO_BITMAP_B";
    case Field::MSR_BITMAP: return "MSR_BITMAP";
    case Field::VM_EXIT_MSR_STORE_ADDR: return "VM_EXIT_MSR_STORE_ADDR";
    case Field::VM_EXIT_MSR_LOAD_ADDR: return "VM_EXIT_MSR_LOAD_ADDR";
    case Field::VM_ENTRY_MSR_LOAD_ADDR: return "VM_ENTRY_MSR_LOAD_ADDR";
    case Field::TSC_OFFSET: return "TSC_OFFSET";
    case Field::VIRTUAL_APIC_PAGE_ADDR: return "VIRTUAL_APIC_PAGE_ADDR";
    case Field::APIC_ACCESS_ADDR: return "APIC_ACCESS_ADDR";
    case Field::EPT_POINTER: return "EPT_POINTER";
    case Field::GUEST_PHYSICAL_ADDRESS: return "GUEST_PHYSICAL_ADDRESS";
    case Field::VMCS_LINK_POINTER: return "VMCS_LINK_POINTER";
    case Field::GUEST_IA32_DEBUGCTL: return "GUEST_IA32_DEBUGCTL";
    case Field::GUEST_IA32_PAT: return "GUEST_IA32_PAT";
    case Field::GUEST_IA32_EFER: return "GUEST_IA32_EFER";
    case Field::GUEST_PDPTE0: return "GUEST_PDPTE0";
    case Field::GUEST_PDPTE1: return "GUEST_PDPTE1";
    case Field::GUEST_PDPTE2: return "GUEST_PDPTE2";
    case Field::GUEST_PDPTE3: return "GUEST_PDPTE3";
    case Field::HOST_IA32_PAT: return "HOST_IA32_PAT";
    case Field::HOST_IA32_EFER: return "HOST_IA32_EFER";
    case Field::PIN_BASED_VM_EXEC_CONTROL: return "PIN_BASED_VM_EXEC_CONTROL";
    case Field::CPU_BASED_VM_EXEC_CONTROL: return "CPU_BASED_VM_EXEC_CONTROL";
    case Field::EXCEPTION_BITMAP: return "EXCEPTION_BITMAP";
    case Field::PAGE_FAULT_ERROR_CODE_MASK: return "PAGE_FAULT_ERROR_CODE_MASK";
    case Field::PAGE_FAULT_ERROR_CODE_MATCH: return "PAGE_FAULT_ERROR_CODE_MATCH";
    case Field::CR3_TARGET_COUNT: return "CR3_TARGET_COUNT";
    case Field::VM_EXIT_CONTROLS: return "VM_EXIT_CONTROLS";
    case Field::VM_EXIT_MSR_STORE_COUNT: return "VM_EXIT_MSR_STORE_COUNT";
    case Field::VM_EXIT_MSR_LOAD_COUNT: return "VM_EXIT_MSR_LOAD_COUNT";
    case Field::VM_ENTRY_CONTROLS: return "VM_ENTRY_CONTROLS";
    case Field::VM_ENTRY_MSR_LOAD_COUNT: return "VM_ENTRY_MSR_LOAD_COUNT";
    case Field::VM_ENTRY_INTR_INFO_FIELD: return "VM_ENTRY_INTR_INFO_FIELD";
    case Field::VM_ENTRY_EXCEPTION_ERROR_CODE: return "VM_ENTRY_EXCEPTION_ERROR_CODE";
    case Field::VM_ENTRY_INSTRUCTION_LEN: return "VM_ENTRY_INSTRUCTION_LEN";
    case Field::TPR_THRESHOLD: return "TPR_THRESHOLD";
    case Field::SECONDARY_VM_EXEC_CONTROL: return "SECONDARY_VM_EXEC_CONTROL";
    case Field::VM_INSTRUCTION_ERROR: return "VM_INSTRUCTION_ERROR";
    case Field::VM_EXIT_REASON: return "VM_EXIT_REASON";
    case Field::VM_EXIT_INTR_INFO: return "VM_EXIT_INTR_INFO";
    case Field::VM_EXIT_INTR_ERROR_CODE: return "VM_EXIT_INTR_ERROR_CODE";
    case Field::IDT_VECTORING_INFO_FIELD: return "IDT_VECTORING_INFO_FIELD";
    case Field::IDT_VECTORING_ERROR_CODE: return "IDT_VECTORING_ERROR_CODE";
    case Field::VM_EXIT_INSTRUCTION_LEN: return "VM_EXIT_INSTRUCTION_LEN";
    case Field::VMX_INSTRUCTION_INFO: return "VMX_INSTRUCTION_INFO";
    case Field::GUEST_ES_LIMIT: return "GUEST_ES_LIMIT";
    case Field::GUEST_CS_LIMIT: return "GUEST_CS_LIMIT";
    case Field::GUEST_SS_LIMIT: return "GUEST_SS_LIMIT";
    case Field::GUEST_DS_LIMIT: return "GUEST_DS_LIMIT";
    case Field::GUEST_FS_LIMIT: return "GUEST_FS_LIMIT";
    case Field::GUEST_GS_LIMIT: return "GUEST_GS_LIMIT";
    case Field::GUEST_LDTR_LIMIT: return "GUEST_LDTR_LIMIT";
    case Field::GUEST_TR_LIMIT: return "GUEST_TR_LIMIT";
    case Field::GUEST_GDTR_LIMIT: return "GUEST_GDTR_LIMIT";
    case Field::GUEST_IDTR_LIMIT: return "GUEST_IDTR_LIMIT";
    case Field::GUEST_ES_AR_BYTES: return "GUEST_ES_AR_BYTES";
    case Field::GUEST_CS_AR_BYTES: return "GUEST_CS_AR_BYTES";
    case Field::GUEST_SS_AR_BYTES: return "GUEST_SS_AR_BYTES";
    case Field::GUEST_DS_AR_BYTES: return "GUEST_DS_AR_BYTES";
    case Field::GUEST_FS_AR_BYTES: return "GUEST_FS_AR_BYTES";
    case Field::GUEST_GS_AR_BYTES: return "GUEST_GS_AR_BYTES";
    case Field::GUEST_LDTR_AR_BYTES: return "GUEST_LDTR_AR_BYTES";
    case Field::GUEST_TR_AR_BYTES: return "GUEST_TR_AR_BYTES";
    case Field::GUEST_INTERRUPTIBILITY_INFO: return "GUEST_INTERRUPTIBILITY_INFO";
    case Field::GUEST_ACTIVITY_STATE: return "GUEST_ACTIVITY_STATE";
    case Field::GUEST_SMBASE: return "GUEST_SMBASE";
    case Field::GUEST_SYSENTER_CS: return "GUEST_SYSENTER_CS";
    case Field::VMX_PREEMPTION_TIMER_VALUE: return "VMX_PREEMPTION_TIMER_VALUE";
    case Field::HOST_IA32_SYSENTER_CS: return "HOST_IA32_SYSENTER_CS";
    case Field::CR0_GUEST_HOST_MASK: return "CR0_GUEST_HOST_MASK";
    case Field::CR4_GUEST_HOST_MASK: return "CR4_GUEST_HOST_MASK";
    case Field::CR0_READ_SHADOW: return "CR0_READ_SHADOW";
    case Field::CR4_READ_SHADOW: return "CR4_READ_SHADOW";
    case Field::EXIT_QUALIFICATION: return "EXIT_QUALIFICATION";
    case Field::GUEST_LINEAR_ADDRESS: return "GUEST_LINEAR_ADDRESS";
    case Field::GUEST_CR0: return "GUEST_CR0";
    case Field::GUEST_CR3: return "GUEST_CR3";
    case Field::GUEST_CR4: return "GUEST_CR4";
    case Field::GUEST_ES_BASE: return "GUEST_ES_BASE";
    case Field::GUEST_CS_BASE: return "GUEST_CS_BASE";
    case Field::GUEST_SS_BASE: return "GUEST_SS_BASE";
    case Field::GUEST_DS_BASE: return "GUEST_DS_BASE";
    case Field::GUEST_FS_BASE: return "GUEST_FS_BASE";
    case Field::GUEST_GS_BASE: return "GUEST_GS_BASE";
    case Field::GUEST_LDTR_BASE: return "GUEST_LDTR_BASE";
    case Field::GUEST_TR_BASE: return "GUEST_TR_BASE";
    case Field::GUEST_GDTR_BASE: return "GUEST_GDTR_BASE";
    case Field::GUEST_IDTR_BASE: return "GUEST_IDTR_BASE";
    case Field::GUEST_DR7: return "GUEST_DR7";
    case Field::GUEST_RSP: return "GUEST_RSP";
    case Field::GUEST_RIP: return "GUEST_RIP";
    case Field::GUEST_RFLAGS: return "GUEST_RFLAGS";
    case Field::GUEST_PENDING_DBG_EXCEPTIONS: return "GUEST_PENDING_DBG_EXCEPTIONS";
    case Field::GUEST_SYSENTER_ESP: return "GUEST_SYSENTER_ESP";
    case Field::GUEST_SYSENTER_EIP: return "GUEST_SYSENTER_EIP";
    case Field::HOST_CR0: return "HOST_CR0";
    case Field::HOST_CR3: return "HOST_CR3";
    case Field::HOST_CR4: return "HOST_CR4";
    case Field::HOST_FS_BASE: return "HOST_FS_BASE";
    case Field::HOST_GS_BASE: return "HOST_GS_BASE";
    case Field::HOST_TR_BASE: return "HOST_TR_BASE";
    case Field::HOST_GDTR_BASE: return "HOST_GDTR_BASE";
    case Field::HOST_IDTR_BASE: return "HOST_IDTR_BASE";
    case Field::HOST_IA32_SYSENTER_ESP: return "HOST_IA32_SYSENTER_ESP";
    case Field::HOST_IA32_SYSENTER_EIP: return "HOST_IA32_SYSENTER_EIP";
    case Field::HOST_RSP: return "HOST_RSP";
    case Field::HOST_RIP: return "HOST_RIP";
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
