// The MSR policy table. MSR numbers and names are Intel SDM vol. 4's (AMD APM vol. 2 for the
// C001xxxx ones).

#include "common/vmm/msr_policy.hpp"

#include "common/arch/msr.hpp"
#include "common/devices/local_apic.hpp"

namespace hvlab::vmm {

namespace {

using A = MsrAction;
using S = MsrStore;
using C = MsrCheck;

constexpr std::uint64_t kAll = ~std::uint64_t{0};

// Shorthands for the four kinds of row.
constexpr MsrPolicyEntry hidden(std::uint32_t first, std::uint32_t last, const char* name, const char* why) {
  return {first, last, name, A::hidden, S::none, 0, 0, 0, 0, C::none, why};
}
constexpr MsrPolicyEntry ignored(std::uint32_t first, std::uint32_t last, const char* name, std::uint64_t reads,
                                 const char* why) {
  return {first, last, name, A::ignored, S::none, 0, reads, 0, 0, C::none, why};
}
constexpr MsrPolicyEntry refused(std::uint32_t msr, const char* name, const char* why) {
  return {msr, msr, name, A::refused, S::none, 0, 0, 0, 0, C::none, why};
}
constexpr MsrPolicyEntry emulated(std::uint32_t msr, const char* name, MsrStore store, std::uint64_t writable,
                                  const char* why, MsrCheck check = C::none, std::uint64_t refused_bits = 0,
                                  std::uint8_t slot = 0, std::uint64_t value = 0) {
  return {msr, msr, name, A::emulated, store, slot, value, writable, refused_bits, check, why};
}
constexpr MsrPolicyEntry constant(std::uint32_t msr, const char* name, std::uint64_t value, const char* why) {
  return {msr, msr, name, A::emulated, S::constant, 0, value, 0, 0, C::none, why};
}

namespace m = x86::msr;
namespace efer = x86::msr::efer;

constexpr std::uint64_t kMiscEnableFastStrings = 1u << 0;
constexpr std::uint64_t kMiscEnableBtsUnavailable = 1u << 11;
constexpr std::uint64_t kMiscEnablePebsUnavailable = 1u << 12;
// IA32_DEBUGCTL's defined bits: LBR, BTF, TR, BTS, BTINT, BTS_OFF_OS/USR, the freezes,
// uncore PMI, RTM debug (SDM vol. 4, table 2-2).
constexpr std::uint64_t kDebugCtlDefined = 0xffc3;

constexpr MsrPolicyEntry kTable[] = {
    emulated(m::IA32_TIME_STAMP_COUNTER, "IA32_TIME_STAMP_COUNTER", S::tsc, kAll,
             "the guest's TSC: the host's plus the monitor's TSC offset; a write moves the offset"),
    ignored(0x17, 0x17, "IA32_PLATFORM_ID", 0, "no platform ID for microcode selection"),
    emulated(m::IA32_APIC_BASE, "IA32_APIC_BASE", S::apic_base, kAll,
             "the local APIC's base and enable: xAPIC at 0xFEE00000, BSP; x2APIC and moving it are refused"),
    constant(m::IA32_FEATURE_CONTROL, "IA32_FEATURE_CONTROL", m::feature_control::LOCK,
             "locked with VMX off, as a BIOS that disabled VMX leaves it; writes to a locked MSR #GP"),
    hidden(0x3b, 0x3b, "IA32_TSC_ADJUST", "CPUID.7:EBX.TSC_ADJUST is clear"),
    hidden(0x48, 0x49, "IA32_SPEC_CTRL, IA32_PRED_CMD", "CPUID.7:EDX speculation controls are clear"),
    refused(0x79, "IA32_BIOS_UPDT_TRIG", "microcode updates are not passed to the processor"),
    ignored(0x8b, 0x8b, "IA32_BIOS_SIGN_ID", 0, "microcode revision 0; the write that requests it is dropped"),
    ignored(0xc1, 0xc8, "IA32_PMC0-7", 0, "performance counters accept programming and never count"),
    constant(0xfe, "IA32_MTRRCAP", 0, "no variable or fixed-range MTRRs, no write-combining"),
    hidden(0x10a, 0x10a, "IA32_ARCH_CAPABILITIES", "CPUID.7:EDX.ARCH_CAPABILITIES is clear"),
    emulated(m::IA32_SYSENTER_CS, "IA32_SYSENTER_CS", S::sysenter_cs, kAll, "kept in the vCPU"),
    emulated(m::IA32_SYSENTER_ESP, "IA32_SYSENTER_ESP", S::sysenter_esp, kAll, "kept in the vCPU",
             C::canonical),
    emulated(m::IA32_SYSENTER_EIP, "IA32_SYSENTER_EIP", S::sysenter_eip, kAll, "kept in the vCPU",
             C::canonical),
    hidden(0x179, 0x17b, "IA32_MCG_CAP, IA32_MCG_STATUS, IA32_MCG_CTL",
           "machine-check architecture is hidden (CPUID.1:EDX.MCA clear)"),
    ignored(0x186, 0x18d, "IA32_PERFEVTSEL0-7", 0, "performance counters accept programming and never count"),
    ignored(0x1a0, 0x1a0, "IA32_MISC_ENABLE", kMiscEnableFastStrings | kMiscEnableBtsUnavailable | kMiscEnablePebsUnavailable,
            "fast strings on, BTS and PEBS unavailable; writes change nothing"),
    emulated(0x1d9, "IA32_DEBUGCTL", S::policy, 0, "branch tracing, last-branch records and the debug store are not emulated",
             C::none, kDebugCtlDefined, MsrPolicy::kSlotDebugCtl, 0),
    hidden(0x200, 0x20f, "IA32_MTRR_PHYSBASE0-PHYSMASK7", "IA32_MTRRCAP.VCNT is 0"),
    hidden(0x250, 0x250, "IA32_MTRR_FIX64K_00000", "IA32_MTRRCAP.FIX is 0"),
    hidden(0x258, 0x259, "IA32_MTRR_FIX16K_80000, _A0000", "IA32_MTRRCAP.FIX is 0"),
    hidden(0x268, 0x26f, "IA32_MTRR_FIX4K_C0000-F8000", "IA32_MTRRCAP.FIX is 0"),
    emulated(m::IA32_PAT, "IA32_PAT", S::pat, kAll, "kept in the vCPU", C::pat_memory_types),
    emulated(0x2ff, "IA32_MTRR_DEF_TYPE", S::policy, 0x8ff,
             "enable and default type (write-back at reset): with no ranges it is the type of all memory",
             C::mtrr_def_type, 0, MsrPolicy::kSlotMtrrDefType, 0x806),
    hidden(0x309, 0x30b, "IA32_FIXED_CTR0-2", "architectural performance monitoring is hidden (CPUID leaf 0xA)"),
    hidden(0x345, 0x345, "IA32_PERF_CAPABILITIES", "CPUID.1:ECX.PDCM is clear"),
    hidden(0x38d, 0x390, "IA32_FIXED_CTR_CTRL, IA32_PERF_GLOBAL_*",
           "architectural performance monitoring is hidden (CPUID leaf 0xA)"),
    hidden(0x480, 0x491, "IA32_VMX_*", "VMX is hidden (CPUID.1:ECX.VMX clear): no nested virtualization"),
    hidden(0x6e0, 0x6e0, "IA32_TSC_DEADLINE", "the LAPIC timer's TSC-deadline mode is hidden (CPUID.1:ECX[24] clear)"),
    hidden(0x800, 0x8ff, "x2APIC registers", "x2APIC is hidden (CPUID.1:ECX.x2APIC clear): the APIC is an xAPIC"),
    emulated(m::IA32_EFER, "IA32_EFER", S::efer, efer::NXE, "long mode, SYSCALL and SVM are not offered to 32-bit guests",
             C::none, efer::SCE | efer::LME | efer::SVME),
    hidden(0xc0000081, 0xc0000084, "IA32_STAR, IA32_LSTAR, IA32_CSTAR, IA32_FMASK",
           "SYSCALL and long mode are hidden (CPUID.80000001:EDX)"),
    hidden(0xc0000100, 0xc0000102, "IA32_FS_BASE, IA32_GS_BASE, IA32_KERNEL_GS_BASE", "long mode is hidden"),
    emulated(0xc0000103, "IA32_TSC_AUX", S::policy, 0xffffffffu, "RDTSCP's ECX; bits 63:32 are reserved",
             C::none, 0, MsrPolicy::kSlotTscAux, 0),
    ignored(0xc0010000, 0xc0010003, "PERF_CTL0-3 (AMD)", 0, "performance counters accept programming and never count"),
    ignored(0xc0010004, 0xc0010007, "PERF_CTR0-3 (AMD)", 0, "performance counters accept programming and never count"),
    hidden(m::VM_CR, m::VM_CR, "VM_CR (AMD)", "SVM is hidden (CPUID.80000001:ECX.SVM clear)"),
    hidden(m::VM_HSAVE_PA, m::VM_HSAVE_PA, "VM_HSAVE_PA (AMD)", "SVM is hidden (CPUID.80000001:ECX.SVM clear)"),
};

constexpr MsrPolicyEntry kDefault = hidden(0, 0xffffffffu, "(not in the table)", "no such MSR on the guest's processor");

bool valid_memory_type(std::uint64_t t, bool pat) {
  // 0 UC, 1 WC, 4 WT, 5 WP, 6 WB; PAT also has 7, UC-.
  return t == 0 || t == 1 || t == 4 || t == 5 || t == 6 || (pat && t == 7);
}

bool passes(MsrCheck check, std::uint64_t v) {
  switch (check) {
    case C::canonical: {
      const std::uint64_t top = v >> 47;  // bits 63:47 must all equal bit 47
      return top == 0 || top == (kAll >> 47);
    }
    case C::pat_memory_types:
      for (unsigned i = 0; i < 8; ++i) {
        if (!valid_memory_type((v >> (8 * i)) & 0xff, true)) return false;
      }
      return true;
    case C::mtrr_def_type: return valid_memory_type(v & 0xff, false);
    default: return true;
  }
}

}  // namespace

std::span<const MsrPolicyEntry> msr_policy_table() { return kTable; }

const MsrPolicyEntry& msr_policy_entry(std::uint32_t msr) {
  for (const MsrPolicyEntry& e : kTable) {
    if (msr >= e.first && msr <= e.last) return e;
  }
  return kDefault;
}

MsrPolicy::MsrPolicy(VCpu& vcpu, MsrHost* host, dev::LocalApic* lapic) : vcpu_(vcpu), host_(host), lapic_(lapic) {
  reset();
}

void MsrPolicy::reset() {
  for (const MsrPolicyEntry& e : kTable) {
    if (e.store == S::policy) slots_[e.slot] = e.value;
  }
}

std::uint64_t* MsrPolicy::vcpu_field(MsrStore store) {
  switch (store) {
    case S::sysenter_cs: return &vcpu_.msr_sysenter_cs;
    case S::sysenter_esp: return &vcpu_.msr_sysenter_esp;
    case S::sysenter_eip: return &vcpu_.msr_sysenter_eip;
    case S::pat: return &vcpu_.msr_pat;
    case S::efer: return &vcpu_.msr_efer;
    default: return nullptr;
  }
}

MsrResult MsrPolicy::read(std::uint32_t msr) {
  const MsrPolicyEntry& e = msr_policy_entry(msr);
  switch (e.action) {
    case A::hidden: return {MsrVerdict::gp, 0, &e, e.why};
    case A::ignored: return {MsrVerdict::done, e.value, &e, nullptr};
    case A::refused: return {MsrVerdict::refused, 0, &e, e.why};
    case A::emulated: break;
  }
  switch (e.store) {
    case S::constant: return {MsrVerdict::done, e.value, &e, nullptr};
    case S::tsc:
      if (!host_) return {MsrVerdict::refused, 0, &e, "this monitor has no TSC for the guest"};
      return {MsrVerdict::done, host_->guest_tsc(), &e, nullptr};
    case S::apic_base:
      if (!lapic_) return {MsrVerdict::gp, 0, &e, "no local APIC"};
      return {MsrVerdict::done, lapic_->apic_base(), &e, nullptr};
    case S::policy: return {MsrVerdict::done, slots_[e.slot], &e, nullptr};
    default: {
      std::uint64_t* field = vcpu_field(e.store);
      return {MsrVerdict::done, field ? *field : 0, &e, nullptr};
    }
  }
}

MsrResult MsrPolicy::write(std::uint32_t msr, std::uint64_t value) {
  const MsrPolicyEntry& e = msr_policy_entry(msr);
  switch (e.action) {
    case A::hidden: return {MsrVerdict::gp, 0, &e, e.why};
    case A::ignored: return {MsrVerdict::done, 0, &e, nullptr};
    case A::refused: return {MsrVerdict::refused, 0, &e, e.why};
    case A::emulated: break;
  }
  if (e.store == S::constant) return {MsrVerdict::gp, 0, &e, "a read-only MSR"};
  if (value & e.refused_bits) return {MsrVerdict::refused, 0, &e, e.why};
  if ((value & ~e.writable) || !passes(e.check, value)) return {MsrVerdict::gp, 0, &e, "reserved bits or an invalid value"};
  switch (e.store) {
    case S::tsc:
      if (!host_) return {MsrVerdict::refused, 0, &e, "this monitor has no TSC for the guest"};
      host_->set_guest_tsc(value);
      break;
    case S::apic_base: {
      if (!lapic_) return {MsrVerdict::gp, 0, &e, "no local APIC"};
      const char* why = nullptr;
      Status s = lapic_->write_apic_base(value, &why);
      if (s.error() == Error::unsupported) return {MsrVerdict::refused, 0, &e, why};
      if (!s.ok()) return {MsrVerdict::gp, 0, &e, why};
      break;
    }
    case S::policy: slots_[e.slot] = value; break;
    default: {
      std::uint64_t* field = vcpu_field(e.store);
      if (field) *field = value;
      break;
    }
  }
  return {MsrVerdict::done, 0, &e, nullptr};
}

MsrResult MsrPolicy::rdmsr() {
  MsrResult r = read(vcpu_.regs.ecx);
  if (r.verdict == MsrVerdict::done) {
    vcpu_.regs.eax = static_cast<std::uint32_t>(r.value);
    vcpu_.regs.edx = static_cast<std::uint32_t>(r.value >> 32);
  }
  return r;
}

MsrResult MsrPolicy::wrmsr() {
  return write(vcpu_.regs.ecx, (std::uint64_t{vcpu_.regs.edx} << 32) | vcpu_.regs.eax);
}

}  // namespace hvlab::vmm
