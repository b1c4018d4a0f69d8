// The CPUID policy table. Bit positions are Intel SDM vol. 2A's CPUID tables (AMD APM vol. 3
// for SVM and the AMD-only bits).

#include "common/vmm/cpuid_policy.hpp"

#include "common/arch/x86.hpp"

namespace hvlab::vmm {

namespace {

using R = CpuidReg;
using O = CpuidOp;

constexpr std::uint32_t bit(unsigned n) { return 1u << n; }

constexpr CpuidPolicyEntry hide(std::uint32_t leaf, std::uint32_t subleaf, CpuidReg reg, std::uint32_t mask,
                                const char* name, const char* why) {
  return {leaf, leaf, subleaf, reg, O::clear, mask, 0, name, why};
}

// "hvlabhvlab\0\0" as leaf 0x40000000 returns it in EBX, ECX, EDX.
constexpr std::uint32_t kSigEbx = 'h' | 'v' << 8 | 'l' << 16 | 'a' << 24;
constexpr std::uint32_t kSigEcx = 'b' | 'h' << 8 | 'v' << 16 | 'l' << 24;
constexpr std::uint32_t kSigEdx = 'a' | 'b' << 8;

constexpr CpuidPolicyEntry kTable[] = {
    // Leaf 1: features and the APIC ID.
    {1, 1, kAnySubleaf, R::ebx, O::apic_id, 0xff000000u, 0, "initial APIC ID", "the local APIC's ID, as on hardware"},
    {1, 1, kAnySubleaf, R::ebx, O::replace, 0x00ff0000u, 0x00010000u, "logical processors per package",
     "one processor"},
    hide(1, kAnySubleaf, R::ecx, bit(2), "DTES64", "the debug store is not emulated"),
    hide(1, kAnySubleaf, R::ecx, bit(3), "MONITOR/MWAIT", "MWAIT would idle the real processor"),
    hide(1, kAnySubleaf, R::ecx, bit(4), "DS-CPL", "the debug store is not emulated"),
    hide(1, kAnySubleaf, R::ecx, bit(5), "VMX", "no nested virtualization: IA32_VMX_* are hidden"),
    hide(1, kAnySubleaf, R::ecx, bit(6), "SMX", "no safer mode (GETSEC)"),
    hide(1, kAnySubleaf, R::ecx, bit(7), "EIST", "no SpeedStep MSRs"),
    hide(1, kAnySubleaf, R::ecx, bit(8), "TM2", "no thermal monitor MSRs"),
    hide(1, kAnySubleaf, R::ecx, bit(14), "xTPR update control", "no IA32_MISC_ENABLE control of it"),
    hide(1, kAnySubleaf, R::ecx, bit(15), "PDCM", "IA32_PERF_CAPABILITIES is hidden"),
    hide(1, kAnySubleaf, R::ecx, bit(18), "DCA", "no direct cache access"),
    hide(1, kAnySubleaf, R::ecx, bit(21), "x2APIC", "the local APIC is an xAPIC: MSRs 0x800-0x8FF are hidden"),
    hide(1, kAnySubleaf, R::ecx, bit(24), "TSC-deadline", "the LAPIC timer has one-shot and periodic modes only"),
    {1, 1, kAnySubleaf, R::ecx, O::osxsave, bit(27), 0, "OSXSAVE", "mirrors the guest's CR4.OSXSAVE, not the monitor's"},
    {1, 1, kAnySubleaf, R::ecx, O::hypervisor, bit(31), 0, "hypervisor present",
     "set: the guest runs on a virtual machine (see leaf 0x40000000)"},
    hide(1, kAnySubleaf, R::edx, bit(7), "MCE", "machine checks are not emulated"),
    {1, 1, kAnySubleaf, R::edx, O::apic_enable, bit(9), 0, "APIC", "follows IA32_APIC_BASE.EN (SDM 10.4.3)"},
    hide(1, kAnySubleaf, R::edx, bit(14), "MCA", "IA32_MCG_* are hidden"),
    hide(1, kAnySubleaf, R::edx, bit(21), "DS", "the debug store is not emulated"),
    hide(1, kAnySubleaf, R::edx, bit(22), "ACPI thermal monitor", "no thermal MSRs"),
    hide(1, kAnySubleaf, R::edx, bit(28), "HTT", "one logical processor per package"),
    hide(1, kAnySubleaf, R::edx, bit(29), "TM", "no thermal monitor"),
    hide(1, kAnySubleaf, R::edx, bit(31), "PBE", "no pending-break enable"),
    // Leaf 4: deterministic cache parameters, for every cache level.
    hide(4, kAnySubleaf, R::eax, 0xfc000000u, "cores per package - 1", "one processor"),
    hide(4, kAnySubleaf, R::eax, 0x03ffc000u, "logical processors sharing the cache - 1", "one processor"),
    // Leaf 6: thermal and power management.
    {6, 6, kAnySubleaf, R::eax, O::replace, 0xffffffffu, bit(2), "thermal and power features",
     "only ARAT: the LAPIC timer runs in every C-state; no thermal sensors or HWP"},
    hide(6, kAnySubleaf, R::ecx, bit(0) | bit(3), "APERF/MPERF, energy-performance bias", "their MSRs are hidden"),
    // Leaf 7, subleaf 0: structured extended features.
    hide(7, 0, R::ebx, bit(1), "IA32_TSC_ADJUST", "the MSR is hidden"),
    hide(7, 0, R::ebx, bit(2), "SGX", "no enclaves"),
    hide(7, 0, R::ebx, bit(12) | bit(15), "RDT monitoring and allocation", "their MSRs are hidden"),
    hide(7, 0, R::ebx, bit(14), "MPX", "IA32_BNDCFGS is hidden"),
    hide(7, 0, R::ebx, bit(25), "Intel PT", "no processor trace"),
    hide(7, 0, R::ecx, bit(5), "WAITPKG", "UMWAIT would idle the real processor"),
    hide(7, 0, R::ecx, bit(30), "SGX launch control", "no enclaves"),
    hide(7, 0, R::edx, bit(26) | bit(27) | bit(28) | bit(29) | bit(30) | bit(31),
         "IBRS/IBPB, STIBP, L1D_FLUSH, ARCH_CAPABILITIES, CORE_CAPABILITIES, SSBD",
         "the speculation-control MSRs are hidden"),
    // Leaf 0xA: architectural performance monitoring.
    hide(0xa, kAnySubleaf, R::eax, 0xffffffffu, "perfmon version and counters", "no performance counters"),
    hide(0xa, kAnySubleaf, R::ebx, 0xffffffffu, "perfmon events", "no performance counters"),
    hide(0xa, kAnySubleaf, R::ecx, 0xffffffffu, "perfmon (reserved)", "no performance counters"),
    hide(0xa, kAnySubleaf, R::edx, 0xffffffffu, "fixed counters", "no performance counters"),
    // Leaf 0xB (and 0x1F): x2APIC topology.
    {0xb, 0xb, kAnySubleaf, R::eax, O::clear, 0xffffffffu, 0, "x2APIC topology", "x2APIC is hidden"},
    {0xb, 0xb, kAnySubleaf, R::ebx, O::clear, 0xffffffffu, 0, "x2APIC topology", "x2APIC is hidden"},
    {0xb, 0xb, kAnySubleaf, R::ecx, O::clear, 0xffffffffu, 0, "x2APIC topology", "x2APIC is hidden"},
    {0xb, 0xb, kAnySubleaf, R::edx, O::clear, 0xffffffffu, 0, "x2APIC ID", "x2APIC is hidden"},
    {0x1f, 0x1f, kAnySubleaf, R::eax, O::clear, 0xffffffffu, 0, "V2 extended topology", "x2APIC is hidden"},
    {0x1f, 0x1f, kAnySubleaf, R::ebx, O::clear, 0xffffffffu, 0, "V2 extended topology", "x2APIC is hidden"},
    {0x1f, 0x1f, kAnySubleaf, R::ecx, O::clear, 0xffffffffu, 0, "V2 extended topology", "x2APIC is hidden"},
    {0x1f, 0x1f, kAnySubleaf, R::edx, O::clear, 0xffffffffu, 0, "x2APIC ID", "x2APIC is hidden"},
    // Hypervisor leaves.
    {0x40000000, 0x40000000, kAnySubleaf, R::eax, O::replace, 0xffffffffu, 0x40000000u, "maximum hypervisor leaf",
     "no hypervisor leaves beyond the signature"},
    {0x40000000, 0x40000000, kAnySubleaf, R::ebx, O::replace, 0xffffffffu, kSigEbx, "hypervisor signature", "hvlab"},
    {0x40000000, 0x40000000, kAnySubleaf, R::ecx, O::replace, 0xffffffffu, kSigEcx, "hypervisor signature", "hvlab"},
    {0x40000000, 0x40000000, kAnySubleaf, R::edx, O::replace, 0xffffffffu, kSigEdx, "hypervisor signature", "hvlab"},
    {0x40000001, 0x400000ff, kAnySubleaf, R::eax, O::clear, 0xffffffffu, 0, "hypervisor leaves", "none offered"},
    {0x40000001, 0x400000ff, kAnySubleaf, R::ebx, O::clear, 0xffffffffu, 0, "hypervisor leaves", "none offered"},
    {0x40000001, 0x400000ff, kAnySubleaf, R::ecx, O::clear, 0xffffffffu, 0, "hypervisor leaves", "none offered"},
    {0x40000001, 0x400000ff, kAnySubleaf, R::edx, O::clear, 0xffffffffu, 0, "hypervisor leaves", "none offered"},
    // Extended leaves.
    hide(0x80000001, kAnySubleaf, R::ecx, bit(2), "SVM", "no nested virtualization: VM_CR and VM_HSAVE_PA are hidden"),
    hide(0x80000001, kAnySubleaf, R::ecx, bit(23), "PERFCTR_CORE (AMD)", "no extended performance counters"),
    hide(0x80000001, kAnySubleaf, R::edx, bit(11), "SYSCALL/SYSRET", "EFER.SCE is refused"),
    hide(0x80000001, kAnySubleaf, R::edx, bit(29), "long mode", "EFER.LME is refused: the guests are 32-bit"),
    hide(0x80000008, kAnySubleaf, R::ecx, 0xffu, "cores per package - 1 (AMD)", "one processor"),
};

std::uint32_t& reg_of(x86::CpuidResult& r, CpuidReg reg) {
  switch (reg) {
    case R::eax: return r.eax;
    case R::ebx: return r.ebx;
    case R::ecx: return r.ecx;
    default: return r.edx;
  }
}

void set_bits(std::uint32_t& v, std::uint32_t mask, bool on) { v = on ? (v | mask) : (v & ~mask); }

}  // namespace

std::span<const CpuidPolicyEntry> cpuid_policy_table() { return kTable; }

x86::CpuidResult apply_cpuid_policy(std::uint32_t leaf, std::uint32_t subleaf, x86::CpuidResult r,
                                    const CpuidContext& ctx) {
  for (const CpuidPolicyEntry& e : kTable) {
    if (leaf < e.leaf_first || leaf > e.leaf_last) continue;
    if (e.subleaf != kAnySubleaf && e.subleaf != subleaf) continue;
    std::uint32_t& v = reg_of(r, e.reg);
    switch (e.op) {
      case O::clear: v &= ~e.mask; break;
      case O::replace: v = (v & ~e.mask) | (e.value & e.mask); break;
      case O::apic_id: v = (v & ~e.mask) | (std::uint32_t{ctx.apic_id} << 24 & e.mask); break;
      case O::apic_enable: set_bits(v, e.mask, ctx.apic_enabled); break;
      case O::osxsave: set_bits(v, e.mask, (ctx.guest_cr4 & x86::cr4::OSXSAVE) != 0); break;
      case O::hypervisor: set_bits(v, e.mask, ctx.hypervisor_present); break;
    }
  }
  return r;
}

}  // namespace hvlab::vmm
