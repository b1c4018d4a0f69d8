#pragma once
// CPUID leaves and feature bits used by the kit (SDM vol. 2A, CPUID).

#include <cstdint>

namespace hvlab::x86 {

struct CpuidResult {
  std::uint32_t eax, ebx, ecx, edx;
};

namespace cpuid {
inline constexpr std::uint32_t kVendor = 0, kFeatures = 1, kExtendedFeatures = 7, kExtendedMax = 0x80000000,
                               kExtendedInfo = 0x80000001;
// Leaf 1.
inline constexpr std::uint32_t ECX_VMX = 1u << 5, ECX_HYPERVISOR = 1u << 31;
inline constexpr std::uint32_t EDX_TSC = 1u << 4, EDX_MSR = 1u << 5, EDX_PAE = 1u << 6, EDX_PSE = 1u << 3,
                               EDX_APIC = 1u << 9, EDX_SEP = 1u << 11, EDX_PGE = 1u << 13;
// Leaf 7, subleaf 0.
inline constexpr std::uint32_t L7_ECX_UMIP = 1u << 2;
// Leaf 0x80000001.
inline constexpr std::uint32_t X_ECX_SVM = 1u << 2, X_EDX_LM = 1u << 29, X_EDX_NX = 1u << 20;
}  // namespace cpuid

}  // namespace hvlab::x86
