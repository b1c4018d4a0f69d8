// The MSR policy: the table's shape, and each kind of row behaving as the SDM says the
// processor (or the processor the guest is shown) behaves.

#include "common/vmm/msr_policy.hpp"

#include <gtest/gtest.h>

#include <string>

#include "common/arch/msr.hpp"
#include "common/devices/local_apic.hpp"

namespace hvlab::vmm {
namespace {

struct FakeTsc final : MsrHost {
  std::uint64_t tsc = 1000;
  unsigned sets = 0;
  std::uint64_t guest_tsc() override { return tsc; }
  void set_guest_tsc(std::uint64_t v) override {
    tsc = v;
    ++sets;
  }
};

struct MsrTest : ::testing::Test {
  VCpu vcpu;
  FakeTsc tsc;
  dev::LocalApic lapic;
  MsrPolicy policy{vcpu, &tsc, &lapic};

  MsrVerdict wr(std::uint32_t msr, std::uint64_t v) { return policy.write(msr, v).verdict; }
  std::uint64_t rd(std::uint32_t msr) {
    MsrResult r = policy.read(msr);
    EXPECT_EQ(r.verdict, MsrVerdict::done) << std::hex << msr;
    return r.value;
  }
};

TEST(MsrTable, IsSortedDisjointAndEveryRowExplainsItself) {
  std::span<const MsrPolicyEntry> t = msr_policy_table();
  ASSERT_FALSE(t.empty());
  for (std::size_t i = 0; i < t.size(); ++i) {
    const MsrPolicyEntry& e = t[i];
    SCOPED_TRACE(e.name);
    EXPECT_LE(e.first, e.last);
    if (i > 0) EXPECT_LT(t[i - 1].last, e.first);
    ASSERT_NE(e.name, nullptr);
    ASSERT_NE(e.why, nullptr);
    EXPECT_GT(std::string(e.why).size(), 5u);
    EXPECT_EQ(e.action == MsrAction::emulated, e.store != MsrStore::none);
    if (e.store == MsrStore::policy) EXPECT_LT(e.slot, MsrPolicy::kSlots);
    if (e.action == MsrAction::emulated) EXPECT_EQ(e.first, e.last);  // one value each
    EXPECT_EQ(&msr_policy_entry(e.first), &e);
    EXPECT_EQ(&msr_policy_entry(e.last), &e);
  }
}

TEST(MsrTable, CoversWhatThirdPartyKernelsAskFor) {
  struct Want {
    std::uint32_t first, last;
    MsrAction action;
  };
  const Want wants[] = {
      {0x10, 0x10, MsrAction::emulated},                  // TSC
      {0x1b, 0x1b, MsrAction::emulated},                  // IA32_APIC_BASE
      {0x174, 0x176, MsrAction::emulated},                // SYSENTER
      {0x277, 0x277, MsrAction::emulated},                // PAT
      {0xc0000080, 0xc0000080, MsrAction::emulated},      // EFER
      {0xfe, 0xfe, MsrAction::emulated},                  // MTRRCAP (a constant)
      {0xc0000103, 0xc0000103, MsrAction::emulated},      // TSC_AUX
      {0x186, 0x18d, MsrAction::ignored},                 // IA32_PERFEVTSEL0-7
      {0xc1, 0xc8, MsrAction::ignored},                   // IA32_PMC0-7
      {0xc0010000, 0xc0010007, MsrAction::ignored},       // AMD PERF_CTL/CTR0-3
      {0x800, 0x8ff, MsrAction::hidden},                  // x2APIC
      {0x480, 0x491, MsrAction::hidden},                  // VMX capabilities
      {0x6e0, 0x6e0, MsrAction::hidden},                  // TSC deadline
  };
  for (const Want& w : wants) {
    for (std::uint32_t msr = w.first;; ++msr) {
      EXPECT_EQ(msr_policy_entry(msr).action, w.action) << std::hex << msr;
      if (msr == w.last) break;
    }
  }
}

TEST_F(MsrTest, MsrsNotInTheTableAreHidden) {
  for (std::uint32_t msr : {0x1u, 0x3au + 0x1000u, 0x12345678u, 0xc0000090u}) {
    MsrResult r = policy.read(msr);
    EXPECT_EQ(r.verdict, MsrVerdict::gp) << std::hex << msr;
    ASSERT_NE(r.entry, nullptr);
    EXPECT_EQ(r.entry->action, MsrAction::hidden);
    EXPECT_EQ(wr(msr, 0), MsrVerdict::gp);
  }
}

TEST_F(MsrTest, X2ApicAndVmxMsrsAreHiddenAsOnAProcessorWithoutThem) {
  EXPECT_EQ(policy.read(0x802).verdict, MsrVerdict::gp);  // the x2APIC ID register
  EXPECT_EQ(wr(0x80b, 0), MsrVerdict::gp);                // x2APIC EOI
  EXPECT_EQ(policy.read(x86::msr::IA32_VMX_BASIC).verdict, MsrVerdict::gp);
  EXPECT_EQ(policy.read(x86::msr::VM_CR).verdict, MsrVerdict::gp);
}

TEST_F(MsrTest, ApicBaseIsTheLocalApicsAndRefusesX2Apic) {
  EXPECT_EQ(rd(x86::msr::IA32_APIC_BASE), 0xfee00900u);
  EXPECT_EQ(wr(x86::msr::IA32_APIC_BASE, 0xfee00900u), MsrVerdict::done);  // what Linux writes back
  MsrResult r = policy.write(x86::msr::IA32_APIC_BASE, 0xfee00d00u);       // EXTD: x2APIC
  EXPECT_EQ(r.verdict, MsrVerdict::refused);
  ASSERT_NE(r.why, nullptr);
  EXPECT_NE(std::string(r.why).find("x2APIC"), std::string::npos);
  EXPECT_EQ(wr(x86::msr::IA32_APIC_BASE, 0xfee00901u), MsrVerdict::gp);  // a reserved bit
  EXPECT_EQ(rd(x86::msr::IA32_APIC_BASE), 0xfee00900u);
  EXPECT_EQ(wr(x86::msr::IA32_APIC_BASE, 0xfee00100u), MsrVerdict::done);  // global disable
  EXPECT_FALSE(lapic.globally_enabled());
  VCpu v;
  MsrPolicy no_apic(v);
  EXPECT_EQ(no_apic.read(x86::msr::IA32_APIC_BASE).verdict, MsrVerdict::gp);
}

TEST_F(MsrTest, PerformanceCountersAcceptWritesAndReadZero) {
  for (std::uint32_t msr = 0x186; msr <= 0x18d; ++msr) {
    EXPECT_EQ(wr(msr, 0x43003c), MsrVerdict::done);  // enable, count unhalted cycles
    EXPECT_EQ(rd(msr), 0u);
  }
  for (std::uint32_t msr = 0xc1; msr <= 0xc8; ++msr) {
    EXPECT_EQ(wr(msr, 123), MsrVerdict::done);
    EXPECT_EQ(rd(msr), 0u);
  }
  for (std::uint32_t msr = 0xc0010000; msr <= 0xc0010007; ++msr) {
    EXPECT_EQ(wr(msr, 0x430076), MsrVerdict::done);
    EXPECT_EQ(rd(msr), 0u);
  }
}

TEST_F(MsrTest, TscAuxKeeps32BitsAndResetsToZero) {
  EXPECT_EQ(rd(0xc0000103), 0u);
  EXPECT_EQ(wr(0xc0000103, 0x12345678), MsrVerdict::done);
  EXPECT_EQ(rd(0xc0000103), 0x12345678u);
  EXPECT_EQ(policy.stored(MsrPolicy::kSlotTscAux), 0x12345678u);
  EXPECT_EQ(wr(0xc0000103, 0x100000000ull), MsrVerdict::gp);  // bits 63:32 reserved
  EXPECT_EQ(rd(0xc0000103), 0x12345678u);
  policy.reset();
  EXPECT_EQ(rd(0xc0000103), 0u);
}

TEST_F(MsrTest, TheTscGoesThroughTheMonitorsOffset) {
  EXPECT_EQ(rd(x86::msr::IA32_TIME_STAMP_COUNTER), 1000u);
  tsc.tsc = 5000;
  EXPECT_EQ(rd(x86::msr::IA32_TIME_STAMP_COUNTER), 5000u);
  EXPECT_EQ(wr(x86::msr::IA32_TIME_STAMP_COUNTER, 0), MsrVerdict::done);  // written backwards
  EXPECT_EQ(tsc.sets, 1u);
  EXPECT_EQ(tsc.tsc, 0u);
  VCpu v;
  MsrPolicy no_tsc(v);
  MsrResult r = no_tsc.read(x86::msr::IA32_TIME_STAMP_COUNTER);
  EXPECT_EQ(r.verdict, MsrVerdict::refused);
  EXPECT_NE(r.why, nullptr);
}

TEST_F(MsrTest, SysenterMsrsLiveInTheVcpuAndAddressesMustBeCanonical) {
  EXPECT_EQ(wr(x86::msr::IA32_SYSENTER_CS, 0x0008), MsrVerdict::done);
  EXPECT_EQ(vcpu.msr_sysenter_cs, 0x0008u);
  EXPECT_EQ(wr(x86::msr::IA32_SYSENTER_ESP, 0xc0001000), MsrVerdict::done);
  EXPECT_EQ(vcpu.msr_sysenter_esp, 0xc0001000u);
  EXPECT_EQ(wr(x86::msr::IA32_SYSENTER_EIP, 0xffff800000000000ull), MsrVerdict::done);
  EXPECT_EQ(wr(x86::msr::IA32_SYSENTER_EIP, 0x0000800000000000ull), MsrVerdict::gp);
  EXPECT_EQ(vcpu.msr_sysenter_eip, 0xffff800000000000ull);
  vcpu.msr_sysenter_cs = 0x23;
  EXPECT_EQ(rd(x86::msr::IA32_SYSENTER_CS), 0x23u);
}

TEST_F(MsrTest, PatTakesOnlyValidMemoryTypes) {
  EXPECT_EQ(wr(x86::msr::IA32_PAT, 0x0007010600070106ull), MsrVerdict::done);
  EXPECT_EQ(vcpu.msr_pat, 0x0007010600070106ull);
  EXPECT_EQ(wr(x86::msr::IA32_PAT, 0x0007010600070102ull), MsrVerdict::gp);  // type 2 is reserved
  EXPECT_EQ(wr(x86::msr::IA32_PAT, 0x0807010600070106ull), MsrVerdict::gp);  // 8 is not a type
  EXPECT_EQ(vcpu.msr_pat, 0x0007010600070106ull);
}

TEST_F(MsrTest, EferTakesNxeRefusesLongModeAndRejectsReservedBits) {
  EXPECT_EQ(wr(x86::msr::IA32_EFER, x86::msr::efer::NXE), MsrVerdict::done);
  EXPECT_EQ(vcpu.msr_efer, x86::msr::efer::NXE);
  MsrResult r = policy.write(x86::msr::IA32_EFER, x86::msr::efer::LME);
  EXPECT_EQ(r.verdict, MsrVerdict::refused);
  EXPECT_NE(std::string(r.why).find("long mode"), std::string::npos);
  EXPECT_EQ(wr(x86::msr::IA32_EFER, x86::msr::efer::SCE), MsrVerdict::refused);
  EXPECT_EQ(wr(x86::msr::IA32_EFER, 1u << 3), MsrVerdict::gp);  // reserved
  EXPECT_EQ(vcpu.msr_efer, x86::msr::efer::NXE);
}

TEST_F(MsrTest, MtrrCapabilitiesReportNoRangesAndTheDefaultTypeIsWriteBack) {
  EXPECT_EQ(rd(0xfe), 0u);  // VCNT 0, no fixed ranges, no WC
  EXPECT_EQ(wr(0xfe, 0), MsrVerdict::gp);  // read-only
  EXPECT_EQ(rd(0x2ff), 0x806u);  // enabled, write-back
  EXPECT_EQ(wr(0x2ff, 0x800), MsrVerdict::done);
  EXPECT_EQ(rd(0x2ff), 0x800u);
  EXPECT_EQ(wr(0x2ff, 0x802), MsrVerdict::gp);  // type 2 is reserved
  EXPECT_EQ(wr(0x2ff, 0xc06), MsrVerdict::gp);  // FE without fixed-range MTRRs
  EXPECT_EQ(policy.read(0x200).verdict, MsrVerdict::gp);  // IA32_MTRR_PHYSBASE0 does not exist
  EXPECT_EQ(policy.read(0x250).verdict, MsrVerdict::gp);
}

TEST_F(MsrTest, FeatureControlIsLockedWithVmxOff) {
  EXPECT_EQ(rd(x86::msr::IA32_FEATURE_CONTROL), x86::msr::feature_control::LOCK);
  EXPECT_EQ(wr(x86::msr::IA32_FEATURE_CONTROL, 5), MsrVerdict::gp);
}

TEST_F(MsrTest, RefusedMsrsGiveAReason) {
  MsrResult r = policy.write(0x79, 0x1000);  // IA32_BIOS_UPDT_TRIG
  EXPECT_EQ(r.verdict, MsrVerdict::refused);
  EXPECT_NE(std::string(r.why).find("microcode"), std::string::npos);
  EXPECT_EQ(policy.read(0x79).verdict, MsrVerdict::refused);
  EXPECT_EQ(wr(0x1d9, 0), MsrVerdict::done);  // IA32_DEBUGCTL: 0 is fine...
  EXPECT_EQ(wr(0x1d9, 1), MsrVerdict::refused);  // ...LBR is not emulated
  EXPECT_EQ(wr(0x1d9, 1u << 2), MsrVerdict::gp);  // reserved
  EXPECT_EQ(rd(0x1d9), 0u);
}

TEST_F(MsrTest, IgnoredMsrsReadTheirFixedValueWhateverWasWritten) {
  EXPECT_EQ(rd(0x1a0), 0x1801u);  // IA32_MISC_ENABLE: fast strings, no BTS, no PEBS
  EXPECT_EQ(wr(0x1a0, 0), MsrVerdict::done);
  EXPECT_EQ(rd(0x1a0), 0x1801u);
  EXPECT_EQ(wr(0x8b, 0), MsrVerdict::done);  // the microcode revision request
  EXPECT_EQ(rd(0x8b), 0u);
}

TEST_F(MsrTest, InstructionFormsUseEcxAndEdxEax) {
  vcpu.regs.ecx = 0xc0000103;
  vcpu.regs.edx = 0;
  vcpu.regs.eax = 0xabcd;
  EXPECT_EQ(policy.wrmsr().verdict, MsrVerdict::done);
  vcpu.regs.eax = vcpu.regs.edx = 0xffffffff;
  EXPECT_EQ(policy.rdmsr().verdict, MsrVerdict::done);
  EXPECT_EQ(vcpu.regs.eax, 0xabcdu);
  EXPECT_EQ(vcpu.regs.edx, 0u);
  vcpu.regs.ecx = x86::msr::IA32_APIC_BASE;
  EXPECT_EQ(policy.rdmsr().verdict, MsrVerdict::done);
  EXPECT_EQ(vcpu.regs.eax, 0xfee00900u);
  vcpu.regs.ecx = 0x802;  // hidden: the registers are left alone
  vcpu.regs.eax = 7;
  EXPECT_EQ(policy.rdmsr().verdict, MsrVerdict::gp);
  EXPECT_EQ(vcpu.regs.eax, 7u);
}

}  // namespace
}  // namespace hvlab::vmm
