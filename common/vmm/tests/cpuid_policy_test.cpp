// The CPUID policy: the table's shape and what a guest sees through it.

#include "common/vmm/cpuid_policy.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "common/arch/x86.hpp"

namespace hvlab::vmm {
namespace {

constexpr x86::CpuidResult kOnes{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};

std::uint32_t reg(const x86::CpuidResult& r, CpuidReg which) {
  switch (which) {
    case CpuidReg::eax: return r.eax;
    case CpuidReg::ebx: return r.ebx;
    case CpuidReg::ecx: return r.ecx;
    default: return r.edx;
  }
}

TEST(CpuidTable, RowsAreOrderedExplainedAndNeverFightOverABit) {
  std::span<const CpuidPolicyEntry> t = cpuid_policy_table();
  ASSERT_FALSE(t.empty());
  for (std::size_t i = 0; i < t.size(); ++i) {
    const CpuidPolicyEntry& e = t[i];
    SCOPED_TRACE(e.name);
    EXPECT_LE(e.leaf_first, e.leaf_last);
    EXPECT_NE(e.mask, 0u);
    ASSERT_NE(e.why, nullptr);
    EXPECT_GT(std::string(e.why).size(), 3u);
    if (i > 0) EXPECT_LE(t[i - 1].leaf_first, e.leaf_first);
    for (std::size_t j = 0; j < i; ++j) {
      const CpuidPolicyEntry& o = t[j];
      const bool leaves = o.leaf_first <= e.leaf_last && e.leaf_first <= o.leaf_last;
      const bool subleaves = o.subleaf == kAnySubleaf || e.subleaf == kAnySubleaf || o.subleaf == e.subleaf;
      if (leaves && subleaves && o.reg == e.reg) EXPECT_EQ(o.mask & e.mask, 0u) << "overlaps " << o.name;
    }
  }
}

TEST(CpuidPolicy, HidesWhatNoMonitorEmulatesFromLeaf1) {
  const x86::CpuidResult r = apply_cpuid_policy(1, 0, kOnes, CpuidContext{});
  EXPECT_EQ(r.ecx & (1u << 5), 0u);   // VMX
  EXPECT_EQ(r.ecx & (1u << 21), 0u);  // x2APIC: the Bochs case that ends in #GP at RDMSR 0x802
  EXPECT_EQ(r.ecx & (1u << 24), 0u);  // TSC-deadline
  EXPECT_EQ(r.ecx & (1u << 15), 0u);  // PDCM
  EXPECT_EQ(r.ecx & (1u << 3), 0u);   // MONITOR
  EXPECT_EQ(r.edx & (1u << 14), 0u);  // MCA
  EXPECT_EQ(r.edx & (1u << 28), 0u);  // HTT
  // What the monitors do emulate stays.
  EXPECT_NE(r.edx & x86::cpuid::EDX_TSC, 0u);
  EXPECT_NE(r.edx & x86::cpuid::EDX_MSR, 0u);
  EXPECT_NE(r.edx & x86::cpuid::EDX_APIC, 0u);
  EXPECT_NE(r.edx & x86::cpuid::EDX_SEP, 0u);
  EXPECT_NE(r.edx & (1u << 12), 0u);  // MTRR (IA32_MTRRCAP is answered)
  EXPECT_NE(r.edx & (1u << 16), 0u);  // PAT
  EXPECT_EQ(r.eax, 0xffffffffu);      // the signature is the processor's
}

TEST(CpuidPolicy, ApicIdAndProcessorCountMatchTheVirtualPlatform) {
  CpuidContext ctx;
  ctx.apic_id = 0x2a;
  const x86::CpuidResult r = apply_cpuid_policy(1, 0, x86::CpuidResult{0, 0x07100800, 0, 0}, ctx);
  EXPECT_EQ(r.ebx >> 24, 0x2au);
  EXPECT_EQ((r.ebx >> 16) & 0xff, 1u);
  EXPECT_EQ(r.ebx & 0xffff, 0x0800u);  // CLFLUSH size and brand index are kept
}

TEST(CpuidPolicy, ApicBitFollowsApicBaseEnable) {
  CpuidContext ctx;
  ctx.apic_enabled = false;
  EXPECT_EQ(apply_cpuid_policy(1, 0, kOnes, ctx).edx & x86::cpuid::EDX_APIC, 0u);
  ctx.apic_enabled = true;
  EXPECT_NE(apply_cpuid_policy(1, 0, x86::CpuidResult{}, ctx).edx & x86::cpuid::EDX_APIC, 0u);
}

TEST(CpuidPolicy, OsxsaveMirrorsTheGuestsCr4) {
  CpuidContext ctx;
  ctx.guest_cr4 = 0;
  EXPECT_EQ(apply_cpuid_policy(1, 0, kOnes, ctx).ecx & (1u << 27), 0u);
  ctx.guest_cr4 = x86::cr4::OSXSAVE;
  EXPECT_NE(apply_cpuid_policy(1, 0, x86::CpuidResult{}, ctx).ecx & (1u << 27), 0u);
}

TEST(CpuidPolicy, HypervisorBitAndSignatureLeaf) {
  CpuidContext ctx;
  EXPECT_NE(apply_cpuid_policy(1, 0, x86::CpuidResult{}, ctx).ecx & x86::cpuid::ECX_HYPERVISOR, 0u);
  ctx.hypervisor_present = false;
  EXPECT_EQ(apply_cpuid_policy(1, 0, kOnes, ctx).ecx & x86::cpuid::ECX_HYPERVISOR, 0u);
  const x86::CpuidResult sig = apply_cpuid_policy(0x40000000, 0, kOnes, CpuidContext{});
  EXPECT_EQ(sig.eax, 0x40000000u);  // no leaves beyond it
  char name[13] = {};
  std::memcpy(name, &sig.ebx, 4);
  std::memcpy(name + 4, &sig.ecx, 4);
  std::memcpy(name + 8, &sig.edx, 4);
  EXPECT_STREQ(name, "hvlabhvlab");
  const x86::CpuidResult next = apply_cpuid_policy(0x40000001, 0, kOnes, CpuidContext{});
  EXPECT_EQ(next.eax | next.ebx | next.ecx | next.edx, 0u);
}

TEST(CpuidPolicy, PerfmonAndX2ApicTopologyLeavesAreEmpty) {
  for (std::uint32_t leaf : {0xau, 0xbu, 0x1fu}) {
    for (std::uint32_t sub : {0u, 1u, 2u}) {
      const x86::CpuidResult r = apply_cpuid_policy(leaf, sub, kOnes, CpuidContext{});
      EXPECT_EQ(r.eax | r.ebx | r.ecx | r.edx, 0u) << std::hex << leaf << " " << sub;
    }
  }
}

TEST(CpuidPolicy, CacheLeafSaysOneCoreOnEverySubleaf) {
  for (std::uint32_t sub : {0u, 1u, 3u}) {
    const x86::CpuidResult r = apply_cpuid_policy(4, sub, kOnes, CpuidContext{});
    EXPECT_EQ(r.eax >> 14, 0u) << sub;
    EXPECT_EQ(r.eax & 0x3fff, 0x3fffu) << sub;  // cache type, level, associativity kept
  }
}

TEST(CpuidPolicy, Leaf7EditsApplyToSubleaf0Only) {
  const x86::CpuidResult s0 = apply_cpuid_policy(7, 0, kOnes, CpuidContext{});
  EXPECT_EQ(s0.ebx & (1u << 1), 0u);  // TSC_ADJUST
  EXPECT_EQ(s0.edx & (1u << 29), 0u);  // ARCH_CAPABILITIES
  EXPECT_NE(s0.ecx & (1u << 2), 0u);   // UMIP is an instruction-level feature: kept
  const x86::CpuidResult s1 = apply_cpuid_policy(7, 1, kOnes, CpuidContext{});
  EXPECT_EQ(s1.ebx, 0xffffffffu);
  EXPECT_EQ(s1.edx, 0xffffffffu);
}

TEST(CpuidPolicy, ExtendedLeavesHideSvmAndLongModeButKeepRdtscpAndNx) {
  const x86::CpuidResult r = apply_cpuid_policy(0x80000001, 0, kOnes, CpuidContext{});
  EXPECT_EQ(r.ecx & x86::cpuid::X_ECX_SVM, 0u);
  EXPECT_EQ(r.edx & x86::cpuid::X_EDX_LM, 0u);
  EXPECT_EQ(r.edx & (1u << 11), 0u);  // SYSCALL
  EXPECT_NE(r.edx & (1u << 27), 0u);  // RDTSCP: IA32_TSC_AUX is emulated
  EXPECT_NE(r.edx & x86::cpuid::X_EDX_NX, 0u);
}

TEST(CpuidPolicy, LeavesWithoutRowsPassThrough) {
  const x86::CpuidResult vendor{0x16, 0x756e6547, 0x6c65746e, 0x49656e69};  // "GenuineIntel"
  const x86::CpuidResult r = apply_cpuid_policy(0, 0, vendor, CpuidContext{});
  EXPECT_EQ(r.eax, vendor.eax);
  EXPECT_EQ(r.ebx, vendor.ebx);
  EXPECT_EQ(r.ecx, vendor.ecx);
  EXPECT_EQ(r.edx, vendor.edx);
  const x86::CpuidResult brand = apply_cpuid_policy(0x80000002, 0, kOnes, CpuidContext{});
  EXPECT_EQ(brand.eax & brand.ebx & brand.ecx & brand.edx, 0xffffffffu);
}

TEST(CpuidPolicy, EveryClearRowClearsItsBitsFromAllOnes) {
  for (const CpuidPolicyEntry& e : cpuid_policy_table()) {
    if (e.op != CpuidOp::clear) continue;
    const std::uint32_t sub = e.subleaf == kAnySubleaf ? 0 : e.subleaf;
    const x86::CpuidResult r = apply_cpuid_policy(e.leaf_first, sub, kOnes, CpuidContext{});
    EXPECT_EQ(reg(r, e.reg) & e.mask, 0u) << e.name;
  }
}

}  // namespace
}  // namespace hvlab::vmm
