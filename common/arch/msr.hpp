#pragma once
// Model-specific register numbers (SDM vol. 4), each a constant carrying its own number.

#include <cstdint>

namespace hvlab::x86::msr {

inline constexpr std::uint32_t IA32_TIME_STAMP_COUNTER = 0x10;
inline constexpr std::uint32_t IA32_APIC_BASE = 0x1b;
inline constexpr std::uint32_t IA32_FEATURE_CONTROL = 0x3a;
inline constexpr std::uint32_t IA32_SYSENTER_CS = 0x174;
inline constexpr std::uint32_t IA32_SYSENTER_ESP = 0x175;
inline constexpr std::uint32_t IA32_SYSENTER_EIP = 0x176;
inline constexpr std::uint32_t IA32_PAT = 0x277;
inline constexpr std::uint32_t IA32_VMX_BASIC = 0x480;
inline constexpr std::uint32_t IA32_VMX_PINBASED_CTLS = 0x481;
inline constexpr std::uint32_t IA32_VMX_PROCBASED_CTLS = 0x482;
inline constexpr std::uint32_t IA32_VMX_EXIT_CTLS = 0x483;
inline constexpr std::uint32_t IA32_VMX_ENTRY_CTLS = 0x484;
inline constexpr std::uint32_t IA32_VMX_MISC = 0x485;
inline constexpr std::uint32_t IA32_VMX_CR0_FIXED0 = 0x486;
inline constexpr std::uint32_t IA32_VMX_CR0_FIXED1 = 0x487;
inline constexpr std::uint32_t IA32_VMX_CR4_FIXED0 = 0x488;
inline constexpr std::uint32_t IA32_VMX_CR4_FIXED1 = 0x489;
inline constexpr std::uint32_t IA32_VMX_VMCS_ENUM = 0x48a;
inline constexpr std::uint32_t IA32_VMX_PROCBASED_CTLS2 = 0x48b;
inline constexpr std::uint32_t IA32_VMX_EPT_VPID_CAP = 0x48c;
inline constexpr std::uint32_t IA32_VMX_TRUE_PINBASED_CTLS = 0x48d;
inline constexpr std::uint32_t IA32_VMX_TRUE_PROCBASED_CTLS = 0x48e;
inline constexpr std::uint32_t IA32_VMX_TRUE_EXIT_CTLS = 0x48f;
inline constexpr std::uint32_t IA32_VMX_TRUE_ENTRY_CTLS = 0x490;
inline constexpr std::uint32_t IA32_EFER = 0xc0000080;
inline constexpr std::uint32_t IA32_TSC_AUX = 0xc0000103;  // RDTSCP's ECX
inline constexpr std::uint32_t VM_CR = 0xc0010114;      // AMD
inline constexpr std::uint32_t VM_HSAVE_PA = 0xc0010117;  // AMD

namespace feature_control {
inline constexpr std::uint64_t LOCK = 1u << 0, VMX_INSIDE_SMX = 1u << 1, VMX_OUTSIDE_SMX = 1u << 2;
}
namespace efer {
inline constexpr std::uint64_t SCE = 1u << 0, LME = 1u << 8, LMA = 1u << 10, NXE = 1u << 11, SVME = 1u << 12;
}

}  // namespace hvlab::x86::msr
