#pragma once
// VT-x names and numbers, as in the Intel SDM vol. 3C: VMCS field encodings (appendix B),
// control bits (chapter 25), basic exit reasons (appendix C), exit-qualification layouts
// (27.2.1) and event-injection formats (25.8.3). Nothing here touches hardware, so the
// same header serves the kernel and the host unit tests.

#include <cstdint>

namespace hvlab::vmx {

/// The VMCS fields this monitor uses (SDM appendix B), each named once, by width: the
/// generic Field enum, the typed constants in namespace `field` (vmcs.read(field::GUEST_RIP)
/// returns a 32-bit value, vmcs.read(field::TSC_OFFSET) a 64-bit one) and the names for
/// diagnostics all come from these lists. Encoding bits 14:13 give the width (SDM 25.11.2);
/// a static_assert below checks each entry against its list.
#define HVLAB_VMCS_FIELDS_16(X) \
  X(VIRTUAL_PROCESSOR_ID, 0x0000) X(GUEST_ES_SELECTOR, 0x0800) X(GUEST_CS_SELECTOR, 0x0802) \
  X(GUEST_SS_SELECTOR, 0x0804) X(GUEST_DS_SELECTOR, 0x0806) X(GUEST_FS_SELECTOR, 0x0808) \
  X(GUEST_GS_SELECTOR, 0x080a) X(GUEST_LDTR_SELECTOR, 0x080c) X(GUEST_TR_SELECTOR, 0x080e) \
  X(HOST_ES_SELECTOR, 0x0c00) X(HOST_CS_SELECTOR, 0x0c02) X(HOST_SS_SELECTOR, 0x0c04) \
  X(HOST_DS_SELECTOR, 0x0c06) X(HOST_FS_SELECTOR, 0x0c08) X(HOST_GS_SELECTOR, 0x0c0a) \
  X(HOST_TR_SELECTOR, 0x0c0c)

#define HVLAB_VMCS_FIELDS_64(X) \
  X(IO_BITMAP_A, 0x2000) X(IO_BITMAP_B, 0x2002) X(MSR_BITMAP, 0x2004) \
  X(VM_EXIT_MSR_STORE_ADDR, 0x2006) X(VM_EXIT_MSR_LOAD_ADDR, 0x2008) \
  X(VM_ENTRY_MSR_LOAD_ADDR, 0x200a) X(TSC_OFFSET, 0x2010) X(VIRTUAL_APIC_PAGE_ADDR, 0x2012) \
  X(APIC_ACCESS_ADDR, 0x2014) X(EPT_POINTER, 0x201a) X(GUEST_PHYSICAL_ADDRESS, 0x2400) \
  X(VMCS_LINK_POINTER, 0x2800) X(GUEST_IA32_DEBUGCTL, 0x2802) X(GUEST_IA32_PAT, 0x2804) \
  X(GUEST_IA32_EFER, 0x2806) X(GUEST_PDPTE0, 0x280a) X(GUEST_PDPTE1, 0x280c) \
  X(GUEST_PDPTE2, 0x280e) X(GUEST_PDPTE3, 0x2810) X(HOST_IA32_PAT, 0x2c00) \
  X(HOST_IA32_EFER, 0x2c02)

#define HVLAB_VMCS_FIELDS_32(X) \
  X(PIN_BASED_VM_EXEC_CONTROL, 0x4000) X(CPU_BASED_VM_EXEC_CONTROL, 0x4002) \
  X(EXCEPTION_BITMAP, 0x4004) X(PAGE_FAULT_ERROR_CODE_MASK, 0x4006) \
  X(PAGE_FAULT_ERROR_CODE_MATCH, 0x4008) X(CR3_TARGET_COUNT, 0x400a) X(VM_EXIT_CONTROLS, 0x400c) \
  X(VM_EXIT_MSR_STORE_COUNT, 0x400e) X(VM_EXIT_MSR_LOAD_COUNT, 0x4010) X(VM_ENTRY_CONTROLS, 0x4012) \
  X(VM_ENTRY_MSR_LOAD_COUNT, 0x4014) X(VM_ENTRY_INTR_INFO_FIELD, 0x4016) \
  X(VM_ENTRY_EXCEPTION_ERROR_CODE, 0x4018) X(VM_ENTRY_INSTRUCTION_LEN, 0x401a) \
  X(TPR_THRESHOLD, 0x401c) X(SECONDARY_VM_EXEC_CONTROL, 0x401e) X(VM_INSTRUCTION_ERROR, 0x4400) \
  X(VM_EXIT_REASON, 0x4402) X(VM_EXIT_INTR_INFO, 0x4404) X(VM_EXIT_INTR_ERROR_CODE, 0x4406) \
  X(IDT_VECTORING_INFO_FIELD, 0x4408) X(IDT_VECTORING_ERROR_CODE, 0x440a) \
  X(VM_EXIT_INSTRUCTION_LEN, 0x440c) X(VMX_INSTRUCTION_INFO, 0x440e) X(GUEST_ES_LIMIT, 0x4800) \
  X(GUEST_CS_LIMIT, 0x4802) X(GUEST_SS_LIMIT, 0x4804) X(GUEST_DS_LIMIT, 0x4806) \
  X(GUEST_FS_LIMIT, 0x4808) X(GUEST_GS_LIMIT, 0x480a) X(GUEST_LDTR_LIMIT, 0x480c) \
  X(GUEST_TR_LIMIT, 0x480e) X(GUEST_GDTR_LIMIT, 0x4810) X(GUEST_IDTR_LIMIT, 0x4812) \
  X(GUEST_ES_AR_BYTES, 0x4814) X(GUEST_CS_AR_BYTES, 0x4816) X(GUEST_SS_AR_BYTES, 0x4818) \
  X(GUEST_DS_AR_BYTES, 0x481a) X(GUEST_FS_AR_BYTES, 0x481c) X(GUEST_GS_AR_BYTES, 0x481e) \
  X(GUEST_LDTR_AR_BYTES, 0x4820) X(GUEST_TR_AR_BYTES, 0x4822) \
  X(GUEST_INTERRUPTIBILITY_INFO, 0x4824) X(GUEST_ACTIVITY_STATE, 0x4826) X(GUEST_SMBASE, 0x4828) \
  X(GUEST_SYSENTER_CS, 0x482a) X(VMX_PREEMPTION_TIMER_VALUE, 0x482e) \
  X(HOST_IA32_SYSENTER_CS, 0x4c00)

/// Natural-width fields: 32 bits in this monitor's 32-bit host.
#define HVLAB_VMCS_FIELDS_NATURAL(X) \
  X(CR0_GUEST_HOST_MASK, 0x6000) X(CR4_GUEST_HOST_MASK, 0x6002) X(CR0_READ_SHADOW, 0x6004) \
  X(CR4_READ_SHADOW, 0x6006) X(EXIT_QUALIFICATION, 0x6400) X(GUEST_LINEAR_ADDRESS, 0x640a) \
  X(GUEST_CR0, 0x6800) X(GUEST_CR3, 0x6802) X(GUEST_CR4, 0x6804) X(GUEST_ES_BASE, 0x6806) \
  X(GUEST_CS_BASE, 0x6808) X(GUEST_SS_BASE, 0x680a) X(GUEST_DS_BASE, 0x680c) \
  X(GUEST_FS_BASE, 0x680e) X(GUEST_GS_BASE, 0x6810) X(GUEST_LDTR_BASE, 0x6812) \
  X(GUEST_TR_BASE, 0x6814) X(GUEST_GDTR_BASE, 0x6816) X(GUEST_IDTR_BASE, 0x6818) \
  X(GUEST_DR7, 0x681a) X(GUEST_RSP, 0x681c) X(GUEST_RIP, 0x681e) X(GUEST_RFLAGS, 0x6820) \
  X(GUEST_PENDING_DBG_EXCEPTIONS, 0x6822) X(GUEST_SYSENTER_ESP, 0x6824) \
  X(GUEST_SYSENTER_EIP, 0x6826) X(HOST_CR0, 0x6c00) X(HOST_CR3, 0x6c02) X(HOST_CR4, 0x6c04) \
  X(HOST_FS_BASE, 0x6c06) X(HOST_GS_BASE, 0x6c08) X(HOST_TR_BASE, 0x6c0a) X(HOST_GDTR_BASE, 0x6c0c) \
  X(HOST_IDTR_BASE, 0x6c0e) X(HOST_IA32_SYSENTER_ESP, 0x6c10) X(HOST_IA32_SYSENTER_EIP, 0x6c12) \
  X(HOST_RSP, 0x6c14) X(HOST_RIP, 0x6c16)

#define HVLAB_VMCS_FIELDS(X)  \
  HVLAB_VMCS_FIELDS_16(X)     \
  HVLAB_VMCS_FIELDS_64(X)     \
  HVLAB_VMCS_FIELDS_32(X)     \
  HVLAB_VMCS_FIELDS_NATURAL(X)

/// A VMCS field encoding. Bit 0 of a 64-bit field's encoding selects its high half
/// ("field + 1"), which a 32-bit host needs.
enum class Field : std::uint32_t {
#define HVLAB_X(name, enc) name = enc,
  HVLAB_VMCS_FIELDS(HVLAB_X)
#undef HVLAB_X
};

/// Field widths from encoding bits 14:13 (SDM 25.11.2).
enum class Width : std::uint8_t { w16 = 0, w64 = 1, w32 = 2, natural = 3 };
constexpr Width width(Field f) { return static_cast<Width>((static_cast<std::uint32_t>(f) >> 13) & 3); }
constexpr std::uint32_t encoding(Field f) { return static_cast<std::uint32_t>(f); }
/// The printable name of a field ("GUEST_TR_AR_BYTES"), or "?" for one not listed.
const char* field_name(Field f);

/// A field with the type of its value.
template <typename T>
struct TypedField {
  Field field;
};

/// The fields, typed: read(field::X) gives the field's own width.
namespace field {
#define HVLAB_X(name, enc) inline constexpr TypedField<std::uint16_t> name{Field::name};
HVLAB_VMCS_FIELDS_16(HVLAB_X)
#undef HVLAB_X
#define HVLAB_X(name, enc) inline constexpr TypedField<std::uint64_t> name{Field::name};
HVLAB_VMCS_FIELDS_64(HVLAB_X)
#undef HVLAB_X
#define HVLAB_X(name, enc) inline constexpr TypedField<std::uint32_t> name{Field::name};
HVLAB_VMCS_FIELDS_32(HVLAB_X)
HVLAB_VMCS_FIELDS_NATURAL(HVLAB_X)
#undef HVLAB_X
}  // namespace field

// Each list holds only fields of its width.
#define HVLAB_X(name, enc) static_assert(width(Field::name) == Width::w16, #name);
HVLAB_VMCS_FIELDS_16(HVLAB_X)
#undef HVLAB_X
#define HVLAB_X(name, enc) static_assert(width(Field::name) == Width::w64, #name);
HVLAB_VMCS_FIELDS_64(HVLAB_X)
#undef HVLAB_X
#define HVLAB_X(name, enc) static_assert(width(Field::name) == Width::w32, #name);
HVLAB_VMCS_FIELDS_32(HVLAB_X)
#undef HVLAB_X
#define HVLAB_X(name, enc) static_assert(width(Field::name) == Width::natural, #name);
HVLAB_VMCS_FIELDS_NATURAL(HVLAB_X)
#undef HVLAB_X

/// Pin-based VM-execution controls (SDM 25.6.1, table 25-5).
namespace pin {
inline constexpr std::uint32_t EXTERNAL_INTERRUPT_EXITING = 1u << 0, NMI_EXITING = 1u << 3,
                               VIRTUAL_NMIS = 1u << 5, ACTIVATE_PREEMPTION_TIMER = 1u << 6;
}
/// Primary processor-based VM-execution controls (SDM 25.6.2, table 25-6).
namespace proc {
inline constexpr std::uint32_t INTERRUPT_WINDOW_EXITING = 1u << 2, USE_TSC_OFFSETTING = 1u << 3,
                               HLT_EXITING = 1u << 7, INVLPG_EXITING = 1u << 9, MWAIT_EXITING = 1u << 10,
                               RDPMC_EXITING = 1u << 11, RDTSC_EXITING = 1u << 12,
                               CR3_LOAD_EXITING = 1u << 15, CR3_STORE_EXITING = 1u << 16,
                               CR8_LOAD_EXITING = 1u << 19, CR8_STORE_EXITING = 1u << 20,
                               USE_TPR_SHADOW = 1u << 21, NMI_WINDOW_EXITING = 1u << 22,
                               MOV_DR_EXITING = 1u << 23, UNCONDITIONAL_IO_EXITING = 1u << 24,
                               USE_IO_BITMAPS = 1u << 25, MONITOR_TRAP_FLAG = 1u << 27,
                               USE_MSR_BITMAPS = 1u << 28, MONITOR_EXITING = 1u << 29,
                               PAUSE_EXITING = 1u << 30, ACTIVATE_SECONDARY_CONTROLS = 1u << 31;
}
/// Secondary processor-based VM-execution controls (SDM 25.6.2, table 25-7).
namespace proc2 {
inline constexpr std::uint32_t VIRTUALIZE_APIC_ACCESSES = 1u << 0, ENABLE_EPT = 1u << 1,
                               DESCRIPTOR_TABLE_EXITING = 1u << 2, ENABLE_RDTSCP = 1u << 3,
                               ENABLE_VPID = 1u << 5, WBINVD_EXITING = 1u << 6,
                               UNRESTRICTED_GUEST = 1u << 7, APIC_REGISTER_VIRTUALIZATION = 1u << 8,
                               ENABLE_INVPCID = 1u << 12,
                               ENABLE_XSAVES = 1u << 20;
}
/// VM-exit controls (SDM 25.7.1, table 25-13).
namespace exit_ctl {
inline constexpr std::uint32_t SAVE_DEBUG_CONTROLS = 1u << 2, HOST_ADDRESS_SPACE_SIZE = 1u << 9,
                               ACKNOWLEDGE_INTERRUPT_ON_EXIT = 1u << 15, SAVE_IA32_PAT = 1u << 18,
                               LOAD_IA32_PAT = 1u << 19, SAVE_IA32_EFER = 1u << 20,
                               LOAD_IA32_EFER = 1u << 21, SAVE_PREEMPTION_TIMER = 1u << 22;
}
/// VM-entry controls (SDM 25.8.1, table 25-15).
namespace entry_ctl {
inline constexpr std::uint32_t LOAD_DEBUG_CONTROLS = 1u << 2, IA32E_MODE_GUEST = 1u << 9,
                               ENTRY_TO_SMM = 1u << 10, LOAD_IA32_PAT = 1u << 14, LOAD_IA32_EFER = 1u << 15;
}

/// VM-entry interruption-information and exit interruption-information (SDM 25.8.3, 25.9.2).
namespace intr_info {
inline constexpr std::uint32_t VECTOR_MASK = 0xff, TYPE_SHIFT = 8, TYPE_MASK = 7u << 8,
                               DELIVER_ERROR_CODE = 1u << 11, NMI_UNBLOCKING = 1u << 12, VALID = 1u << 31;
enum Type : std::uint32_t {
  EXTERNAL_INTERRUPT = 0, NMI = 2, HARDWARE_EXCEPTION = 3, SOFTWARE_INTERRUPT = 4,
  PRIVILEGED_SOFTWARE_EXCEPTION = 5, SOFTWARE_EXCEPTION = 6, OTHER_EVENT = 7,
};
constexpr std::uint32_t make(unsigned vector, Type type, bool error_code = false) {
  return VALID | (static_cast<std::uint32_t>(type) << TYPE_SHIFT) | (vector & VECTOR_MASK) |
         (error_code ? DELIVER_ERROR_CODE : 0);
}
constexpr unsigned type(std::uint32_t info) { return (info & TYPE_MASK) >> TYPE_SHIFT; }
}  // namespace intr_info

/// Guest interruptibility state (SDM 25.4.2, table 25-3).
namespace interruptibility {
inline constexpr std::uint32_t BLOCKING_BY_STI = 1u << 0, BLOCKING_BY_MOV_SS = 1u << 1,
                               BLOCKING_BY_SMI = 1u << 2, BLOCKING_BY_NMI = 1u << 3;
}
/// Guest activity states (SDM 25.4.2).
namespace activity {
inline constexpr std::uint32_t ACTIVE = 0, HLT = 1, SHUTDOWN = 2, WAIT_FOR_SIPI = 3;
}

/// Basic exit reasons (SDM appendix C). X-macro: the names come from the same list.
#define HVLAB_VMX_EXIT_REASONS(X)                                                             \
  X(0, EXCEPTION_OR_NMI) X(1, EXTERNAL_INTERRUPT) X(2, TRIPLE_FAULT) X(3, INIT_SIGNAL)            \
  X(4, STARTUP_IPI) X(5, IO_SMI) X(6, OTHER_SMI) X(7, INTERRUPT_WINDOW) X(8, NMI_WINDOW)          \
  X(9, TASK_SWITCH) X(10, CPUID) X(11, GETSEC) X(12, HLT) X(13, INVD) X(14, INVLPG) X(15, RDPMC)  \
  X(16, RDTSC) X(17, RSM) X(18, VMCALL) X(19, VMCLEAR) X(20, VMLAUNCH) X(21, VMPTRLD)             \
  X(22, VMPTRST) X(23, VMREAD) X(24, VMRESUME) X(25, VMWRITE) X(26, VMXOFF) X(27, VMXON)          \
  X(28, CR_ACCESS) X(29, DR_ACCESS) X(30, IO_INSTRUCTION) X(31, RDMSR) X(32, WRMSR)               \
  X(33, ENTRY_FAILURE_GUEST_STATE) X(34, ENTRY_FAILURE_MSR_LOADING) X(36, MWAIT)                  \
  X(37, MONITOR_TRAP_FLAG) X(39, MONITOR) X(40, PAUSE) X(41, ENTRY_FAILURE_MACHINE_CHECK)          \
  X(43, TPR_BELOW_THRESHOLD) X(44, APIC_ACCESS) X(45, VIRTUALIZED_EOI) X(46, GDTR_IDTR_ACCESS)    \
  X(47, LDTR_TR_ACCESS) X(48, EPT_VIOLATION) X(49, EPT_MISCONFIG) X(50, INVEPT) X(51, RDTSCP)     \
  X(52, PREEMPTION_TIMER) X(53, INVVPID) X(54, WBINVD) X(55, XSETBV) X(56, APIC_WRITE)            \
  X(57, RDRAND) X(58, INVPCID) X(59, VMFUNC) X(60, ENCLS) X(61, RDSEED) X(62, PML_FULL)           \
  X(63, XSAVES) X(64, XRSTORS)

namespace exit_reason {
#define HVLAB_X(n, name) inline constexpr std::uint32_t name = n;
HVLAB_VMX_EXIT_REASONS(HVLAB_X)
#undef HVLAB_X
/// Bit 31 of the exit-reason field: the VM entry failed (SDM 25.9.1).
inline constexpr std::uint32_t ENTRY_FAILURE_BIT = 1u << 31;
}  // namespace exit_reason
/// "CPUID", "IO_INSTRUCTION"...; "?" for a reason not in the list.
const char* exit_reason_name(std::uint32_t basic_reason);

/// Exit qualification for control-register accesses (SDM 27.2.1, table 27-3).
namespace cr_qual {
constexpr unsigned cr(std::uint64_t q) { return q & 0xf; }
enum AccessType : unsigned { MOV_TO_CR = 0, MOV_FROM_CR = 1, CLTS = 2, LMSW = 3 };
constexpr unsigned access_type(std::uint64_t q) { return (q >> 4) & 3; }
constexpr unsigned gpr(std::uint64_t q) { return (q >> 8) & 0xf; }  ///< 0 EAX, 1 ECX, ... 7 EDI
constexpr std::uint16_t lmsw_source(std::uint64_t q) { return static_cast<std::uint16_t>(q >> 16); }
constexpr std::uint64_t make(unsigned cr, unsigned type, unsigned gpr) { return cr | (type << 4) | (gpr << 8); }
}  // namespace cr_qual

/// Exit qualification for I/O instructions (SDM 27.2.1, table 27-5).
namespace io_qual {
constexpr unsigned size(std::uint64_t q) { return static_cast<unsigned>(q & 7) + 1; }
constexpr bool in(std::uint64_t q) { return (q >> 3) & 1; }
constexpr bool string(std::uint64_t q) { return (q >> 4) & 1; }
constexpr bool rep(std::uint64_t q) { return (q >> 5) & 1; }
constexpr std::uint16_t port(std::uint64_t q) { return static_cast<std::uint16_t>(q >> 16); }
constexpr std::uint64_t make(std::uint16_t port, unsigned size, bool in, bool string = false, bool rep = false) {
  return (size - 1) | (in ? 8u : 0u) | (string ? 16u : 0u) | (rep ? 32u : 0u) | (std::uint64_t{port} << 16);
}
}  // namespace io_qual

/// Exit qualification for EPT violations (SDM 27.2.1, table 27-7).
namespace ept_qual {
inline constexpr std::uint64_t READ = 1u << 0, WRITE = 1u << 1, FETCH = 1u << 2, READABLE = 1u << 3,
                               WRITABLE = 1u << 4, EXECUTABLE = 1u << 5, LINEAR_VALID = 1u << 7;
}

/// The VM-instruction error numbers (SDM 31.4, table 31-1) with the manual's text.
const char* instruction_error_text(std::uint32_t error);

}  // namespace hvlab::vmx
