#pragma once
// What every monitor changes in CPUID's answer: one table of edits applied to what the
// processor (or KVM, or Bochs) reports. A guest must only be told about features the monitor
// emulates: a kernel that sees x2APIC uses it and takes #GP at RDMSR 0x802; one that sees VMX
// tries VMXON. Each row names a leaf (range), a subleaf, a register and the bits it touches.
//
// Hidden: VMX, SMX, SVM; x2APIC and the TSC-deadline timer (the local APIC is an xAPIC with
// one-shot and periodic modes); architectural performance monitoring (leaf 0xA) and the
// debug store, PEBS/PDCM, machine checks, thermal and power management MSRs; MONITOR/MWAIT;
// the speculation-control MSRs; long mode and SYSCALL (the guests are 32-bit); the x2APIC
// topology leaves; SGX, Intel PT, MPX, WAITPKG. Rewritten: one logical processor per package,
// the APIC ID (CPUID.1:EBX[31:24]) is the local APIC's, CPUID.1:EDX.APIC follows
// IA32_APIC_BASE.EN and CPUID.1:ECX.OSXSAVE the guest's CR4.OSXSAVE, as on hardware.
//
// The hypervisor-present bit (CPUID.1:ECX[31]) is set unless the monitor asks otherwise
// (CpuidContext::hypervisor_present): a guest is told it runs on a virtual machine, as every
// production VMM does, and leaf 0x40000000 names the monitor ("hvlabhvlab") with no further
// hypervisor leaves, so a guest looking for a paravirtual interface finds none and uses the
// emulated PC. RDTSCP stays visible: IA32_TSC_AUX is emulated (a VT-x monitor must also set
// "enable RDTSCP" in its secondary controls, or the guest's RDTSCP is #UD).

#include <cstdint>
#include <span>

#include "common/arch/cpuid.hpp"

namespace hvlab::vmm {

/// Which output register a row edits.
enum class CpuidReg : std::uint8_t { eax, ebx, ecx, edx };

/// What a row does to the bits in its mask.
enum class CpuidOp : std::uint8_t {
  clear,       ///< clear them: a feature no monitor emulates
  replace,     ///< set them to the row's value
  apic_id,     ///< set them to CpuidContext::apic_id (bits 31:24)
  apic_enable, ///< set them if CpuidContext::apic_enabled, else clear
  osxsave,     ///< set them if the guest's CR4.OSXSAVE is set, else clear
  hypervisor,  ///< set them if CpuidContext::hypervisor_present, else clear
};

/// Any subleaf (the row applies whatever ECX was).
inline constexpr std::uint32_t kAnySubleaf = 0xffffffffu;

/// One row: leaves [leaf_first, leaf_last], subleaf (or kAnySubleaf), register, bits.
struct CpuidPolicyEntry {
  std::uint32_t leaf_first;
  std::uint32_t leaf_last;
  std::uint32_t subleaf;
  CpuidReg reg;
  CpuidOp op;
  std::uint32_t mask;
  std::uint32_t value;  ///< for replace
  const char* name;     ///< the feature, as the SDM (or APM) names it
  const char* why;
};

/// What the rows that depend on the virtual CPU need.
struct CpuidContext {
  std::uint8_t apic_id = 0;        ///< the local APIC's ID
  bool apic_enabled = true;        ///< IA32_APIC_BASE.EN
  std::uint32_t guest_cr4 = 0;     ///< for OSXSAVE
  bool hypervisor_present = true;  ///< CPUID.1:ECX[31]
};

/// The table, in leaf order.
std::span<const CpuidPolicyEntry> cpuid_policy_table();

/// `raw` (the processor's answer to leaf, subleaf) with every matching row applied.
x86::CpuidResult apply_cpuid_policy(std::uint32_t leaf, std::uint32_t subleaf, x86::CpuidResult raw,
                                    const CpuidContext& context);

}  // namespace hvlab::vmm
