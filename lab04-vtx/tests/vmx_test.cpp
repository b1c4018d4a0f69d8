// The VMCS logic on the host: controls from capability MSRs, the initial VMCS, exit
// decoding, VCpu synchronisation, event injection and the VM-entry checks, all against a
// FakeVmcs.

#include <gtest/gtest.h>

#include "common/arch/fake_intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "lab04-vtx/src/vmcs.hpp"
#include "lab04-vtx/tests/fake_vmcs.hpp"

namespace hvlab::lab04 {
namespace {

using testing::bochs_capabilities;
using testing::FakeVmcs;
using testing::sample_host_state;
using testing::StringSink;
using vmx::Field;

TEST(Controls, AdjustAddsMustBeOneAndDropsNotAllowed) {
  // Low half: bits 1 and 2 must be 1; high half: only bits 0-7 may be 1.
  const std::uint64_t cap = (0xffull << 32) | 0x6;
  std::uint32_t missing = 0;
  EXPECT_EQ(vmx::adjust_controls(cap, 0x101, 0, &missing), 0x7u);  // bit 8 dropped
  EXPECT_EQ(missing, 0u);
  vmx::adjust_controls(cap, 0, 0x300, &missing);
  EXPECT_EQ(missing, 0x300u);  // required but not allowed
}

TEST(Controls, ChooseForBochs) {
  char why[96] = "";
  auto c = vmx::choose_controls(bochs_capabilities(), why, sizeof why);
  ASSERT_TRUE(c.ok()) << why;
  EXPECT_TRUE(c.value().proc & vmx::proc::HLT_EXITING);
  EXPECT_TRUE(c.value().proc & vmx::proc::UNCONDITIONAL_IO_EXITING);
  EXPECT_FALSE(c.value().proc & vmx::proc::CR3_LOAD_EXITING);
  EXPECT_FALSE(c.value().proc & vmx::proc::USE_MSR_BITMAPS);
  EXPECT_EQ(c.value().proc2 & 0xa2u, 0xa2u);  // EPT, VPID, unrestricted guest
  EXPECT_TRUE(c.value().proc2 & vmx::proc2::ENABLE_RDTSCP);  // or the guest's RDTSCP is #UD
  EXPECT_TRUE(c.value().preemption_timer());
  EXPECT_FALSE(c.value().exit & vmx::exit_ctl::HOST_ADDRESS_SPACE_SIZE);
  EXPECT_EQ(c.value().proc, 0x852061fau);  // what the monitor printed under Bochs
  EXPECT_TRUE(c.value().apic_virtualization());  // Bochs has TPR shadow and APIC-register virtualization
}

TEST(Controls, RdtscpIsWantedNotRequired) {
  auto caps = bochs_capabilities();
  caps.procbased2 &= ~(std::uint64_t{vmx::proc2::ENABLE_RDTSCP} << 32);  // a processor without RDTSCP
  char why[96] = "";
  auto c = vmx::choose_controls(caps, why, sizeof why);
  ASSERT_TRUE(c.ok()) << why;
  EXPECT_FALSE(c.value().proc2 & vmx::proc2::ENABLE_RDTSCP);
}

TEST(Controls, ApicVirtualizationIsAllOrNothing) {
  auto caps = bochs_capabilities();
  caps.procbased2 &= ~(std::uint64_t{vmx::proc2::APIC_REGISTER_VIRTUALIZATION} << 32);
  char why[96] = "";
  auto c = vmx::choose_controls(caps, why, sizeof why);
  ASSERT_TRUE(c.ok()) << why;
  EXPECT_FALSE(c.value().apic_virtualization());
  EXPECT_FALSE(c.value().proc & vmx::proc::USE_TPR_SHADOW);  // the APIC is plain MMIO then
  EXPECT_FALSE(c.value().proc2 & vmx::proc2::VIRTUALIZE_APIC_ACCESSES);
}

TEST(ApicVirtualization, TheTprThresholdHoldsBackWhatTheTprBlocks) {
  std::uint32_t page[1024] = {};
  EXPECT_EQ(vmx::tpr_threshold(page), 0u);
  page[0x80 / 4] = 0x50;            // VTPR class 5
  page[(0x200 + 0x20) / 4] = 1u;    // IRR: vector 0x40, class 4, blocked by the TPR
  EXPECT_EQ(vmx::tpr_threshold(page), 4u);
  page[(0x200 + 0x60) / 4] = 1u << 2;  // vector 0xc2, class 12: deliverable, no exit needed
  EXPECT_EQ(vmx::tpr_threshold(page), 0u);
}

TEST(Controls, MissingEptIsReported) {
  auto caps = bochs_capabilities();
  caps.procbased2 &= ~(std::uint64_t{vmx::proc2::ENABLE_EPT} << 32);
  char why[96] = "";
  auto c = vmx::choose_controls(caps, why, sizeof why);
  EXPECT_EQ(c.error(), Error::unsupported);
  EXPECT_NE(std::string(why).find("secondary"), std::string::npos) << why;
}

TEST(Controls, ReadCapabilitiesUsesTrueMsrs) {
  x86::fake::reset();
  auto& m = x86::fake::machine();
  m.msrs[x86::msr::IA32_VMX_BASIC] = 1ull << 55;
  m.msrs[x86::msr::IA32_VMX_TRUE_PINBASED_CTLS] = 0x1234;
  m.msrs[x86::msr::IA32_VMX_PINBASED_CTLS] = 0x9999;
  EXPECT_EQ(vmx::read_capabilities().pinbased, 0x1234u);
  m.msrs[x86::msr::IA32_VMX_BASIC] = 0;
  EXPECT_EQ(vmx::read_capabilities().pinbased, 0x9999u);
}

struct VmcsFixture : ::testing::Test {
  void SetUp() override {
    char why[96];
    ctls = vmx::choose_controls(caps, why, sizeof why).value();
    vmx::GuestStart start;
    start.eip = 0x10000c;
    start.eptp = 0x501e;
    vmx::setup_vmcs(vmcs, caps, ctls, sample_host_state(), start);
  }
  vmx::Capabilities caps = bochs_capabilities();
  vmx::Controls ctls;
  FakeVmcs vmcs;
  StringSink out;
};

TEST_F(VmcsFixture, InitialStatePassesEveryCheck) {
  EXPECT_EQ(vmx::check_controls(vmcs, caps, out), 0u) << out.text;
  EXPECT_EQ(vmx::check_host_state(vmcs, caps, out), 0u) << out.text;
  EXPECT_EQ(vmx::check_guest_state(vmcs, caps, out), 0u) << out.text;
  // The multiboot entry state: flat protected mode, paging off, but CR0.NE owned and set.
  EXPECT_EQ(vmcs[Field::GUEST_CR0] & 0x80000021u, 0x21u);
  EXPECT_EQ(vmcs[Field::CR0_READ_SHADOW], 0x11u);
  EXPECT_EQ(vmcs[Field::GUEST_RIP], 0x10000cu);
  EXPECT_EQ(vmcs[Field::VMCS_LINK_POINTER], ~0ull);
  EXPECT_EQ(vmcs[Field::EPT_POINTER], 0x501eu);
}

TEST_F(VmcsFixture, BrokenTrIsNamed) {
  vmcs[Field::GUEST_TR_AR_BYTES] = 0x89;
  EXPECT_EQ(vmx::check_guest_state(vmcs, caps, out), 1u);
  EXPECT_NE(out.text.find("guest TR type"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("27.3.1.2"), std::string::npos);
}

TEST_F(VmcsFixture, EntryFailureExitIsExplained) {
  vmcs[Field::GUEST_TR_AR_BYTES] = 0x89;
  vmcs[Field::VM_EXIT_REASON] = vmx::exit_reason::ENTRY_FAILURE_BIT | 33;
  vmx::explain_entry_failure(vmcs, caps, false, out);
  EXPECT_NE(out.text.find("exit reason 33 (ENTRY_FAILURE_GUEST_STATE)"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("guest TR type"), std::string::npos);
  EXPECT_NE(out.text.find("GUEST_TR_AR_BYTES            = 0x89"), std::string::npos) << out.text;
}

TEST_F(VmcsFixture, InstructionErrorsAreNamed) {
  vmcs[Field::VM_INSTRUCTION_ERROR] = 7;
  vmcs[Field::PIN_BASED_VM_EXEC_CONTROL] = 0;
  vmx::explain_entry_failure(vmcs, caps, false, out);
  EXPECT_NE(out.text.find("VM entry with invalid control field(s)"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("PIN_BASED_VM_EXEC_CONTROL"), std::string::npos) << out.text;
  out.text.clear();
  vmcs[Field::VM_INSTRUCTION_ERROR] = 8;
  vmcs[Field::HOST_TR_SELECTOR] = 0;
  vmx::explain_entry_failure(vmcs, caps, false, out);
  EXPECT_NE(out.text.find("HOST_TR_SELECTOR is 0"), std::string::npos) << out.text;
  out.text.clear();
  vmx::explain_entry_failure(vmcs, caps, true, out);
  EXPECT_NE(out.text.find("VMfailInvalid"), std::string::npos);
  EXPECT_STREQ(vmx::instruction_error_text(5), "VMRESUME with non-launched VMCS");
}

TEST_F(VmcsFixture, GuestChecksCatchCommonMistakes) {
  vmcs[Field::GUEST_CR0] &= ~0x20ull;  // NE
  vmcs[Field::GUEST_RFLAGS] = 0;       // bit 1 clear
  vmcs[Field::GUEST_INTERRUPTIBILITY_INFO] = 1;  // STI blocking with IF = 0
  EXPECT_EQ(vmx::check_guest_state(vmcs, caps, out), 3u) << out.text;
}

TEST(DecodeExit, IoInstruction) {
  FakeVmcs v;
  v[Field::VM_EXIT_REASON] = vmx::exit_reason::IO_INSTRUCTION;
  v[Field::EXIT_QUALIFICATION] = vmx::io_qual::make(0x3f8, 1, false);
  v[Field::GUEST_RIP] = 0x101000;
  v[Field::VM_EXIT_INSTRUCTION_LEN] = 1;
  v[Field::GUEST_SS_AR_BYTES] = 0xc0f3;  // DPL 3
  vmm::GeneralRegisters regs{};
  vmm::Event e = vmx::decode_exit(v, regs);
  EXPECT_EQ(e.source, vmm::Source::vm_exit);
  EXPECT_EQ(e.reason, vmm::Reason::io_instruction);
  EXPECT_EQ(e.raw_reason, 30u);
  EXPECT_EQ(e.io.port, 0x3f8);
  EXPECT_EQ(e.io.size, 1);
  EXPECT_FALSE(e.io.in);
  EXPECT_EQ(e.guest_eip, 0x101000u);
  EXPECT_EQ(e.guest_cpl, 3);
  EXPECT_EQ(e.insn_length, 1);
}

TEST(DecodeExit, StringInCarriesTheLinearAddress) {
  FakeVmcs v;
  v[Field::VM_EXIT_REASON] = vmx::exit_reason::IO_INSTRUCTION;
  v[Field::EXIT_QUALIFICATION] = vmx::io_qual::make(0x60, 2, true, true, true);
  v[Field::GUEST_LINEAR_ADDRESS] = 0x5000;
  vmm::Event e = vmx::decode_exit(v, vmm::GeneralRegisters{});
  EXPECT_TRUE(e.io.in && e.io.string && e.io.rep);
  EXPECT_EQ(e.io.size, 2);
  EXPECT_EQ(e.io.linear.value(), 0x5000u);
}

TEST(DecodeExit, PayloadsAreTyped) {
  FakeVmcs v;
  vmm::GeneralRegisters regs{};
  regs.ecx = 0x1b;
  v[Field::VM_EXIT_REASON] = vmx::exit_reason::WRMSR;
  EXPECT_EQ(vmx::decode_exit(v, regs).msr.index, 0x1bu);
  v[Field::VM_EXIT_REASON] = vmx::exit_reason::CR_ACCESS;
  v[Field::EXIT_QUALIFICATION] = vmx::cr_qual::make(4, vmx::cr_qual::MOV_TO_CR, 3);
  vmm::Event cr = vmx::decode_exit(v, regs);
  EXPECT_EQ(cr.cr.type, vmm::CrAccess::Type::mov_to);
  EXPECT_EQ(cr.cr.cr, 4);
  EXPECT_EQ(cr.cr.gpr, 3);
  EXPECT_EQ(cr.number(), 4u);
  v[Field::EXIT_QUALIFICATION] = vmx::cr_qual::make(0, vmx::cr_qual::LMSW, 0) | (0x1234ull << 16);
  cr = vmx::decode_exit(v, regs);
  EXPECT_EQ(cr.cr.type, vmm::CrAccess::Type::lmsw);
  EXPECT_EQ(cr.cr.lmsw_source, 0x1234);
  v[Field::VM_EXIT_REASON] = vmx::exit_reason::EPT_VIOLATION;
  v[Field::EXIT_QUALIFICATION] = vmx::ept_qual::WRITE;
  v[Field::GUEST_PHYSICAL_ADDRESS] = 0xfee00020;
  vmm::Event ept = vmx::decode_exit(v, regs);
  EXPECT_TRUE(ept.memory.has_physical);
  EXPECT_EQ(ept.memory.physical.value(), 0xfee00020u);
  EXPECT_TRUE(ept.memory.write);
  EXPECT_FALSE(ept.memory.has_linear);
  v[Field::VM_EXIT_REASON] = vmx::exit_reason::WBINVD;
  EXPECT_EQ(vmx::decode_exit(v, regs).op, vmm::PrivilegedOp::wbinvd);
  v[Field::VM_EXIT_REASON] = vmx::exit_reason::EXCEPTION_OR_NMI;
  v[Field::VM_EXIT_INTR_INFO] = vmx::intr_info::make(14, vmx::intr_info::HARDWARE_EXCEPTION, true);
  v[Field::VM_EXIT_INTR_ERROR_CODE] = 6;
  v[Field::EXIT_QUALIFICATION] = 0xc0001000;
  vmm::Event pf = vmx::decode_exit(v, regs);
  EXPECT_EQ(pf.reason, vmm::Reason::page_fault);
  EXPECT_EQ(pf.exception.vector, 14);
  EXPECT_EQ(pf.exception.error_code, 6u);
  EXPECT_EQ(pf.memory.linear.value(), 0xc0001000u);
}

TEST(DecodeExit, ReasonsMapToKitReasons) {
  using vmm::Reason;
  namespace r = vmx::exit_reason;
  EXPECT_EQ(vmx::reason_for(r::CPUID, 0), Reason::cpuid);
  EXPECT_EQ(vmx::reason_for(r::HLT, 0), Reason::hlt);
  EXPECT_EQ(vmx::reason_for(r::EPT_VIOLATION, 0), Reason::ept_violation);
  EXPECT_EQ(vmx::reason_for(r::PREEMPTION_TIMER, 0), Reason::external_interrupt);
  EXPECT_EQ(vmx::reason_for(r::VMXON, 0), Reason::privileged_instruction);
  EXPECT_EQ(vmx::reason_for(r::EXCEPTION_OR_NMI, vmx::intr_info::make(14, vmx::intr_info::HARDWARE_EXCEPTION)),
            Reason::page_fault);
  EXPECT_EQ(vmx::reason_for(r::EXCEPTION_OR_NMI, vmx::intr_info::make(13, vmx::intr_info::HARDWARE_EXCEPTION)),
            Reason::exception);
  EXPECT_EQ(vmx::reason_for(r::MWAIT, 0), Reason::other);
  EXPECT_STREQ(vmx::exit_reason_name(48), "EPT_VIOLATION");
  EXPECT_STREQ(vmx::field_name(Field::GUEST_TR_AR_BYTES), "GUEST_TR_AR_BYTES");
}

TEST(DecodeExit, EntryFailureBit) {
  FakeVmcs v;
  v[Field::VM_EXIT_REASON] = vmx::exit_reason::ENTRY_FAILURE_BIT | 33;
  vmm::Event e = vmx::decode_exit(v, vmm::GeneralRegisters{});
  EXPECT_EQ(e.reason, vmm::Reason::entry_failure);
  EXPECT_EQ(e.raw_reason, 33u);
}

TEST(VcpuSync, LoadShowsTheGuestsOwnCr0AndStoreWritesOnlyChanges) {
  const auto caps = bochs_capabilities();
  FakeVmcs v;
  v[Field::GUEST_CR0] = 0x80000031;  // NE set by the monitor
  v[Field::CR0_READ_SHADOW] = 0x80000011;
  v[Field::GUEST_CR4] = 0x2010;
  v[Field::CR4_READ_SHADOW] = 0x0010;
  v[Field::GUEST_RIP] = 0x1000;
  v[Field::GUEST_INTERRUPTIBILITY_INFO] = vmx::interruptibility::BLOCKING_BY_STI;
  vmm::VCpu c;
  vmx::load_vcpu(v, c);
  EXPECT_EQ(c.cr0, 0x80000011u);
  EXPECT_EQ(c.cr4, 0x10u);
  EXPECT_TRUE(c.interrupt_shadow);

  vmm::VCpu before = c;
  v.writes = 0;
  vmx::store_vcpu(v, caps, before, c, true);
  EXPECT_EQ(v.writes, 0u);

  c.eip += 1;          // an emulated HLT after STI: the shadow is over
  c.cr4 |= 0x80;       // PGE
  vmx::store_vcpu(v, caps, before, c, true);
  EXPECT_EQ(v[Field::GUEST_RIP], 0x1001u);
  EXPECT_EQ(v[Field::GUEST_INTERRUPTIBILITY_INFO], 0u);
  EXPECT_EQ(v[Field::GUEST_CR4], 0x2090u);
  EXPECT_EQ(v[Field::CR4_READ_SHADOW], 0x90u);
}

TEST(Injection, EventsWindowAndTimer) {
  const auto caps = bochs_capabilities();
  char why[96];
  const auto ctls = vmx::choose_controls(caps, why, sizeof why).value();
  FakeVmcs v;
  vmm::PendingEvent irq;
  irq.valid = true;
  irq.type = vmm::PendingEvent::Type::external_interrupt;
  irq.vector = 0x20;
  vmx::inject_event(v, irq);
  EXPECT_EQ(v[Field::VM_ENTRY_INTR_INFO_FIELD], 0x80000020u);
  vmx::set_interrupt_window(v, ctls, false);
  EXPECT_FALSE(v[Field::CPU_BASED_VM_EXEC_CONTROL] & vmx::proc::INTERRUPT_WINDOW_EXITING);

  vmm::PendingEvent gp;
  gp.valid = true;
  gp.vector = 13;
  gp.has_error_code = true;
  gp.error_code = 0x18;
  vmx::inject_event(v, gp);
  EXPECT_EQ(v[Field::VM_ENTRY_INTR_INFO_FIELD], 0x80000b0du);  // hardware exception with error code
  EXPECT_EQ(v[Field::VM_ENTRY_EXCEPTION_ERROR_CODE], 0x18u);
  vmm::PendingEvent sw;
  sw.valid = true;
  sw.type = vmm::PendingEvent::Type::software_interrupt;
  sw.vector = 0x80;
  sw.insn_length = 2;
  vmx::inject_event(v, sw);
  EXPECT_EQ(v[Field::VM_ENTRY_INTR_INFO_FIELD], 0x80000480u);
  EXPECT_EQ(v[Field::VM_ENTRY_INSTRUCTION_LEN], 2u);
  vmx::set_interrupt_window(v, ctls, true);
  EXPECT_TRUE(v[Field::CPU_BASED_VM_EXEC_CONTROL] & vmx::proc::INTERRUPT_WINDOW_EXITING);
  vmx::arm_preemption_timer(v, caps, ctls, 64);
  EXPECT_EQ(v[Field::VMX_PREEMPTION_TIMER_VALUE], 64u >> caps.preemption_timer_rate());
  vmx::arm_preemption_timer(v, caps, ctls, 0);
  EXPECT_EQ(v[Field::VMX_PREEMPTION_TIMER_VALUE], 0xffffffffu);
}

TEST(EntryPlan, InterruptedEventIsReinjected) {
  FakeVmcs v;
  v[Field::IDT_VECTORING_INFO_FIELD] = vmx::intr_info::make(14, vmx::intr_info::HARDWARE_EXCEPTION, true);
  v[Field::IDT_VECTORING_ERROR_CODE] = 2;
  vmm::PendingEvent e = vmx::interrupted_event(v);
  EXPECT_TRUE(e.valid);
  EXPECT_EQ(e.vector, 14);
  EXPECT_TRUE(e.has_error_code);
  EXPECT_EQ(e.error_code, 2u);
  v[Field::IDT_VECTORING_INFO_FIELD] = 0;
  EXPECT_FALSE(vmx::interrupted_event(v).valid);
}

}  // namespace
}  // namespace hvlab::lab04
