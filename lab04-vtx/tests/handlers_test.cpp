// The exit handlers and the two back ends, driven with made-up exits on the host: the
// handlers through the kit's Dispatcher on a fake machine, the VT-x back end over a fake
// VMCS with a fake VMLAUNCH, the AMD-V one over a VMCB in an array with a fake VMRUN.

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "common/arch/fake_intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/vmm/run.hpp"
#include "common/vmm/testing/fake_machine.hpp"
#include "lab04-vtx/src/handlers.hpp"
#include "lab04-vtx/src/svm.hpp"
#include "lab04-vtx/src/vmx_backend.hpp"
#include "lab04-vtx/src/vmx_defs.hpp"
#include "lab04-vtx/tests/fake_vmcs.hpp"

namespace hvlab::lab04 {
namespace {

using vmm::Action;
using vmm::Event;
using vmm::Reason;

struct HandlerTest : ::testing::Test {
  void SetUp() override {
    x86::fake::reset();
    install_handlers(d);
  }
  static Event exit(Reason r, std::uint32_t raw, std::uint8_t len = 2) {
    Event e;
    e.source = vmm::Source::vm_exit;
    e.reason = r;
    e.raw_reason = raw;
    e.insn_length = len;
    return e;
  }
  Event msr(Reason r, std::uint32_t index) {
    Event e = exit(r, r == Reason::msr_read ? vmx::exit_reason::RDMSR : vmx::exit_reason::WRMSR);
    e.msr.index = index;
    vcpu.regs.ecx = index;
    return e;
  }
  Action dispatch(const Event& e) { return d.dispatch(fm.machine, vcpu, e); }
  const vmm::PendingEvent& pending() { return fm.board.pending_event(); }

  vmm::fake::FakeMachine fm;
  vmm::Dispatcher& d = fm.dispatcher;
  vmm::VCpu& vcpu = fm.vcpu();
};

TEST_F(HandlerTest, CpuidIsTheProcessorsThroughThePolicy) {
  // What Bochs' corei7_skylake_x answers for leaf 1: VMX and x2APIC among its features.
  x86::fake::machine().cpuid_leaves[1] = {0x806e9, 0x05000800, 0xffffffff, 0xbfebfbff};
  vcpu.regs.eax = 1;
  vcpu.eip = 0x1000;
  EXPECT_EQ(dispatch(exit(Reason::cpuid, vmx::exit_reason::CPUID)), Action::advance);
  EXPECT_EQ(vcpu.regs.ecx & x86::cpuid::ECX_VMX, 0u);
  EXPECT_EQ(vcpu.regs.ecx & (1u << 21), 0u);  // x2APIC hidden: the local APIC is an xAPIC
  EXPECT_EQ(vcpu.regs.ecx & (1u << 27), 0u);  // OSXSAVE follows the guest's CR4 (clear)
  EXPECT_EQ(vcpu.regs.ebx >> 24, fm.board.lapic().id());  // the APIC ID is the virtual APIC's
  EXPECT_EQ(vcpu.regs.edx & 0x0f, 0x0fu);
  EXPECT_EQ(vcpu.eip, 0x1002u);  // RIP advanced in one place, by the dispatcher
}

TEST_F(HandlerTest, PortIoAndHltAreTheSharedEmulation) {
  Event out = exit(Reason::io_instruction, vmx::exit_reason::IO_INSTRUCTION, 1);
  out.io.port = 0x3f8;
  out.io.size = 1;
  vcpu.regs.eax = 'k';
  EXPECT_EQ(dispatch(out), Action::advance);
  EXPECT_EQ(fm.console.bytes, "k");
  EXPECT_EQ(dispatch(exit(Reason::hlt, vmx::exit_reason::HLT, 1)), Action::advance);
  EXPECT_TRUE(vcpu.halted);
}

TEST_F(HandlerTest, CrAccessKeepsVmxHidden) {
  Event e = exit(Reason::cr_access, vmx::exit_reason::CR_ACCESS, 3);
  e.cr.type = vmm::CrAccess::Type::mov_to;
  e.cr.cr = 4;
  e.cr.gpr = 0;
  vcpu.regs.eax = x86::cr4::VMXE | x86::cr4::PSE;
  EXPECT_EQ(dispatch(e), Action::resume);
  EXPECT_TRUE(fm.board.has_pending_event());
  EXPECT_EQ(pending().vector, x86::vector::GP);
  EXPECT_EQ(vcpu.cr4, 0u);

  e.cr.cr = 0;  // mov cr0, ebx
  e.cr.gpr = 3;
  vcpu.regs.ebx = x86::cr0::PE | x86::cr0::NE | x86::cr0::PG;
  EXPECT_EQ(dispatch(e), Action::advance);
  EXPECT_EQ(vcpu.cr0, vcpu.regs.ebx | x86::cr0::ET);

  e.cr.type = vmm::CrAccess::Type::mov_from;  // mov esi, cr0
  e.cr.gpr = 6;
  EXPECT_EQ(dispatch(e), Action::advance);
  EXPECT_EQ(vcpu.regs.esi, vcpu.cr0);
  e.cr.type = vmm::CrAccess::Type::lmsw;
  e.cr.lmsw_source = 0x8;  // TS; PE stays set
  EXPECT_EQ(dispatch(e), Action::advance);
  EXPECT_TRUE(vcpu.cr0 & x86::cr0::TS);
  EXPECT_TRUE(vcpu.cr0 & x86::cr0::PE);
  e.cr.type = vmm::CrAccess::Type::clts;
  EXPECT_EQ(dispatch(e), Action::advance);
  EXPECT_FALSE(vcpu.cr0 & x86::cr0::TS);
}

TEST_F(HandlerTest, MsrsGoThroughThePolicy) {
  EXPECT_EQ(dispatch(msr(Reason::msr_read, x86::msr::IA32_FEATURE_CONTROL)), Action::advance);
  EXPECT_EQ(vcpu.regs.eax, 1u);  // locked, VMX off

  EXPECT_EQ(dispatch(msr(Reason::msr_read, x86::msr::IA32_VMX_BASIC)), Action::resume);
  EXPECT_EQ(pending().vector, x86::vector::GP);
  fm.board.clear_pending_event();

  Event w = msr(Reason::msr_write, x86::msr::IA32_SYSENTER_EIP);
  vcpu.regs.eax = 0x401000;
  vcpu.regs.edx = 0;
  EXPECT_EQ(dispatch(w), Action::advance);
  EXPECT_EQ(vcpu.msr_sysenter_eip, 0x401000u);

  // What unmodified kernels write first: the APIC base (kept), a performance counter
  // (ignored), and an x2APIC register a guest that believed CPUID would read (#GP).
  w = msr(Reason::msr_write, x86::msr::IA32_APIC_BASE);
  vcpu.regs.eax = 0xfee00900;
  EXPECT_EQ(dispatch(w), Action::advance);
  w = msr(Reason::msr_write, 0x186);  // IA32_PERFEVTSEL0
  vcpu.regs.eax = 0x430076;
  EXPECT_EQ(dispatch(w), Action::advance);
  EXPECT_FALSE(fm.board.has_pending_event());
  EXPECT_EQ(dispatch(msr(Reason::msr_read, 0x802)), Action::resume);
  EXPECT_EQ(pending().vector, x86::vector::GP);
  fm.board.clear_pending_event();

  // x2APIC mode is refused: #GP, and the trace says why.
  fm.board.set_trace(&fm.trace);
  w = msr(Reason::msr_write, x86::msr::IA32_APIC_BASE);
  vcpu.regs.eax = 0xfee00d00;
  EXPECT_EQ(dispatch(w), Action::resume);
  EXPECT_EQ(pending().vector, x86::vector::GP);
  EXPECT_NE(fm.trace_out.text.find("x2APIC"), std::string::npos) << fm.trace_out.text;
}

TEST_F(HandlerTest, TscAuxIsTheGuestsAndReachesTheProcessorForRdtscp) {
  Event w = msr(Reason::msr_write, x86::msr::IA32_TSC_AUX);
  vcpu.regs.eax = 7;
  vcpu.regs.edx = 0;
  EXPECT_EQ(dispatch(w), Action::advance);
  EXPECT_EQ(x86::fake::machine().msrs[x86::msr::IA32_TSC_AUX], 7u);  // the real MSR RDTSCP reads
  vcpu.regs.eax = 0;
  EXPECT_EQ(dispatch(msr(Reason::msr_read, x86::msr::IA32_TSC_AUX)), Action::advance);
  EXPECT_EQ(vcpu.regs.eax, 7u);
  vcpu.regs.edx = 1;  // bits 63:32 are reserved
  EXPECT_EQ(dispatch(w), Action::resume);
  EXPECT_EQ(pending().vector, x86::vector::GP);
}

TEST_F(HandlerTest, AnAccessToADevicePageIsEmulatedFromItsInstruction) {
  // mov [eax], edx at EIP 0x1000, faulting on the local APIC's EOI register.
  ASSERT_TRUE(fm.board.memory().copy_in(GuestPhysAddr(0x1000), "\x89\x10", 2).ok());
  vcpu.eip = 0x1000;
  Event ev = exit(Reason::ept_violation, vmx::exit_reason::EPT_VIOLATION);
  ev.memory.physical = GuestPhysAddr(0xfee000f0);
  ev.memory.has_physical = true;
  ev.memory.write = true;
  vcpu.regs.edx = 0x1ff;
  EXPECT_EQ(dispatch(ev), Action::resume);
  EXPECT_EQ(vcpu.eip, 0x1002u);
  EXPECT_EQ(fm.board.lapic().read(0xf0, 4).value_or(0), 0x1ffu);  // SVR
}

TEST_F(HandlerTest, ATscWrittenBackwardsMovesTheGuestsTscOnly) {
  fm.backend.clock = 1'000'000;
  Event w = msr(Reason::msr_write, x86::msr::IA32_TIME_STAMP_COUNTER);
  vcpu.regs.eax = 5;
  vcpu.regs.edx = 0;
  EXPECT_EQ(dispatch(w), Action::advance);
  EXPECT_EQ(fm.board.guest_tsc(1'000'000), 5u);
  EXPECT_EQ(fm.board.guest_time(1'000'000), 1'000'000u);  // the devices' clock goes on
  EXPECT_EQ(dispatch(msr(Reason::msr_read, x86::msr::IA32_TIME_STAMP_COUNTER)), Action::advance);
  EXPECT_EQ(vcpu.regs.eax, 5u);
}

TEST_F(HandlerTest, VmxInstructionsAreInvalidOpcodes) {
  Event vmxon = exit(Reason::privileged_instruction, vmx::exit_reason::VMXON, 4);
  vmxon.op = vmm::PrivilegedOp::vmx_instruction;
  EXPECT_EQ(dispatch(vmxon), Action::resume);
  EXPECT_EQ(pending().vector, x86::vector::UD);
  EXPECT_EQ(dispatch(exit(Reason::hypercall, vmx::exit_reason::VMCALL, 3)), Action::resume);
  Event wbinvd = exit(Reason::privileged_instruction, vmx::exit_reason::WBINVD, 2);
  wbinvd.op = vmm::PrivilegedOp::wbinvd;
  fm.board.clear_pending_event();
  EXPECT_EQ(dispatch(wbinvd), Action::advance);
  EXPECT_FALSE(fm.board.has_pending_event());
}

TEST_F(HandlerTest, UnexpectedExitsFailAndSayWhy) {
  EXPECT_EQ(dispatch(exit(Reason::other, vmx::exit_reason::MWAIT)), Action::stop);
  EXPECT_NE(std::string(fm.board.stop_reason()).find("MWAIT"), std::string::npos) << fm.board.stop_reason();
  EXPECT_EQ(fm.board.state(), vmm::RunState::failed);
}

TEST_F(HandlerTest, AGuestTouchingWhatIsNotItsRamIsContained) {
  Event ev = exit(Reason::ept_violation, vmx::exit_reason::EPT_VIOLATION);
  ev.memory.physical = GuestPhysAddr(0xf0000000);
  ev.memory.has_physical = true;
  ev.memory.write = true;
  EXPECT_EQ(dispatch(ev), Action::stop);
  EXPECT_EQ(fm.board.state(), vmm::RunState::contained);
  EXPECT_NE(std::string(fm.board.stop_reason()).find("EPT violation: the guest touched guest-physical 0xf0000000"),
            std::string::npos)
      << fm.board.stop_reason();
  EXPECT_NE(std::string(fm.board.stop_reason()).find("write"), std::string::npos);
}

TEST_F(HandlerTest, ATripleFaultIsContained) {
  EXPECT_EQ(dispatch(exit(Reason::triple_fault, vmx::exit_reason::TRIPLE_FAULT)), Action::stop);
  EXPECT_EQ(fm.board.state(), vmm::RunState::contained);
  EXPECT_EQ(fm.board.exit_status(), vmm::kStatusContained);
}

// ---- The VT-x back end over a fake VMCS ------------------------------------------------------

testing::FakeVmcs* g_vmcs = nullptr;
std::vector<std::uint32_t> g_exits;  // the exit reasons the fake VMLAUNCH/VMRESUME produce, in order
unsigned g_runs = 0;
int g_launched_seen = -1;

int fake_vmx_run(vmm::GeneralRegisters* regs, int launched) {
  g_launched_seen = launched;
  auto& v = *g_vmcs;
  if (g_runs >= g_exits.size()) {  // the guest "writes" 0 to port 0xf4
    v[vmx::Field::VM_EXIT_REASON] = vmx::exit_reason::IO_INSTRUCTION;
    v[vmx::Field::EXIT_QUALIFICATION] = vmx::io_qual::make(0xf4, 1, false);
    regs->eax = 0;
  } else {
    v[vmx::Field::VM_EXIT_REASON] = g_exits[g_runs];
    v[vmx::Field::EXIT_QUALIFICATION] = 0;
  }
  ++g_runs;
  v[vmx::Field::VM_EXIT_INSTRUCTION_LEN] = 1;
  v[vmx::Field::GUEST_RIP] = v[vmx::Field::GUEST_RIP] + 1;
  return 0;
}

struct VmxBackendTest : ::testing::Test {
  void SetUp() override {
    x86::fake::reset();
    g_vmcs = &vmcs;
    g_exits.clear();
    g_runs = 0;
    char why[96];
    ctls = vmx::choose_controls(caps, why, sizeof why).value();
    vmx::GuestStart start;
    start.eip = 0x10000c;
    vmx::setup_vmcs(vmcs, caps, ctls, testing::sample_host_state(), start);
    install_handlers(fm.dispatcher);
  }
  vmx::Capabilities caps = testing::bochs_capabilities();
  vmx::Controls ctls;
  testing::FakeVmcs vmcs;
  testing::StringSink diag;
  vmm::fake::FakeMachine fm;
};

TEST_F(VmxBackendTest, ExitsRunThroughTheLoopUntilTheGuestExits) {
  VmxBackend backend(fm.board, vmcs, caps, ctls, fake_vmx_run, diag);
  vmm::Machine m("lab04", fm.board, backend, fm.dispatcher, fm.trace, fm.diag);
  backend.load_initial_state(m.vcpu());
  g_exits = {vmx::exit_reason::HLT};  // a HLT with interrupts off: contained
  EXPECT_EQ(vmm::run(m, vmm::RunOptions{}), vmm::kStatusContained);
  EXPECT_NE(std::string(fm.board.stop_reason()).find("halted with interrupts disabled"), std::string::npos)
      << fm.board.stop_reason();
  EXPECT_EQ(g_launched_seen, 0);  // the first and only entry was a VMLAUNCH
}

TEST_F(VmxBackendTest, TheSecondEntryIsAResumeAndTheGuestsStatusIsTheMonitors) {
  VmxBackend backend(fm.board, vmcs, caps, ctls, fake_vmx_run, diag);
  vmm::Machine m("lab04", fm.board, backend, fm.dispatcher, fm.trace, fm.diag);
  backend.load_initial_state(m.vcpu());
  g_exits = {vmx::exit_reason::WBINVD};
  EXPECT_EQ(vmm::run(m, vmm::RunOptions{}), 0);
  EXPECT_EQ(g_runs, 2u);
  EXPECT_EQ(g_launched_seen, 1);
  EXPECT_TRUE(backend.launched());
  // Each fake exit moved RIP by one, and the WBINVD the handler advanced over reached the VMCS.
  EXPECT_EQ(vmcs[vmx::Field::GUEST_RIP], 0x10000fu);
}

TEST_F(VmxBackendTest, InjectionWindowAndTscOffsetReachTheVmcs) {
  VmxBackend backend(fm.board, vmcs, caps, ctls, fake_vmx_run, diag);
  vmm::VCpu v;
  backend.load_initial_state(v);
  vmm::PendingEvent e;
  e.valid = true;
  e.type = vmm::PendingEvent::Type::external_interrupt;
  e.vector = 0x21;
  EXPECT_TRUE(backend.inject(v, e));
  backend.request_interrupt_window(v, true);
  fm.board.set_guest_tsc(12345, 0);
  (void)backend.enter(v);
  EXPECT_EQ(vmcs[vmx::Field::VM_ENTRY_INTR_INFO_FIELD], 0x80000021u);
  EXPECT_TRUE(vmcs[vmx::Field::CPU_BASED_VM_EXEC_CONTROL] & vmx::proc::INTERRUPT_WINDOW_EXITING);
  EXPECT_EQ(vmcs[vmx::Field::TSC_OFFSET], fm.board.tsc_offset());
}

// APIC virtualization: the guest's accesses to its APIC page, as the processor would report
// them. The first entry: the guest writes SVR (virtualized, then an APIC-write exit); the
// second: it lowers its TPR (no exit) and executes WBINVD; the third: it reads the APIC ID
// from the virtual-APIC page and writes 0 to port 0xf4.
std::uint32_t g_vapic[1024];
std::uint32_t g_id_seen = 0;

int apic_vmx_run(vmm::GeneralRegisters* regs, int) {
  auto& v = *g_vmcs;
  v[vmx::Field::VM_EXIT_INSTRUCTION_LEN] = 2;
  switch (g_runs++) {
    case 0:
      g_vapic[0xf0 / 4] = 0x1ff;
      v[vmx::Field::VM_EXIT_REASON] = vmx::exit_reason::APIC_WRITE;
      v[vmx::Field::EXIT_QUALIFICATION] = 0xf0;
      break;
    case 1:
      g_vapic[0x80 / 4] = 0x20;
      v[vmx::Field::VM_EXIT_REASON] = vmx::exit_reason::WBINVD;
      v[vmx::Field::EXIT_QUALIFICATION] = 0;
      break;
    default:
      g_id_seen = g_vapic[0x20 / 4];
      v[vmx::Field::VM_EXIT_REASON] = vmx::exit_reason::IO_INSTRUCTION;
      v[vmx::Field::EXIT_QUALIFICATION] = vmx::io_qual::make(0xf4, 1, false);
      regs->eax = 0;
  }
  return 0;
}

TEST_F(VmxBackendTest, WithApicVirtualizationThePageMirrorsTheApicAndWritesReachIt) {
  ASSERT_TRUE(ctls.apic_virtualization());
  std::fill(std::begin(g_vapic), std::end(g_vapic), 0u);
  VmxBackend backend(fm.board, vmcs, caps, ctls, apic_vmx_run, diag);
  backend.enable_apic_virtualization(g_vapic);
  vmm::Machine m("lab04", fm.board, backend, fm.dispatcher, fm.trace, fm.diag);
  backend.load_initial_state(m.vcpu());
  EXPECT_EQ(vmm::run(m, vmm::RunOptions{}), 0) << fm.board.stop_reason();
  EXPECT_EQ(fm.board.lapic().read(0xf0, 4).value_or(0), 0x1ffu);  // the APIC-write exit's value
  EXPECT_EQ(fm.board.lapic().tpr(), 0x20u);                        // the TPR write without an exit
  EXPECT_EQ(g_id_seen, std::uint32_t{fm.board.lapic().id()} << 24);
  EXPECT_EQ(fm.dispatcher.count(vmm::Reason::mmio), 1u);
}

int failing_vmx_run(vmm::GeneralRegisters*, int) { return 2; }

TEST_F(VmxBackendTest, AFailedEntryIsExplainedAndFailsTheRun) {
  vmcs[vmx::Field::VM_INSTRUCTION_ERROR] = 7;
  vmcs[vmx::Field::PIN_BASED_VM_EXEC_CONTROL] = 0;
  VmxBackend backend(fm.board, vmcs, caps, ctls, failing_vmx_run, diag);
  vmm::Machine m("lab04", fm.board, backend, fm.dispatcher, fm.trace, fm.diag);
  backend.load_initial_state(m.vcpu());
  EXPECT_EQ(vmm::run(m, vmm::RunOptions{}), vmm::kStatusFailed);
  EXPECT_NE(diag.text.find("VM entry with invalid control field(s)"), std::string::npos) << diag.text;
  EXPECT_NE(std::string(fm.board.stop_reason()).find("VM entry failed"), std::string::npos);
}

// ---- The AMD-V back end over a VMCB in an array ----------------------------------------------

std::vector<unsigned char>* g_vmcb = nullptr;
std::vector<std::uint32_t> g_svm_exits;
unsigned g_svm_runs = 0;

void fake_svm_run(vmm::GeneralRegisters* regs, std::uint32_t, std::uint32_t) {
  svm::Vmcb v{g_vmcb->data()};
  if (g_svm_runs >= g_svm_exits.size()) {  // OUT 0xf4 of 3: the guest exits with status 3
    v.set<std::uint64_t>(svm::vmcb::EXITCODE, svm::exit_code::kIoio);
    v.set<std::uint64_t>(svm::vmcb::EXITINFO1, (0xf4ull << 16) | 0x10);  // OUT, byte
    v.set<std::uint64_t>(svm::vmcb::EXITINFO2, v.get<std::uint64_t>(svm::vmcb::RIP) + 1);
    v.set<std::uint64_t>(svm::vmcb::RAX, 3);
  } else {
    v.set<std::uint64_t>(svm::vmcb::EXITCODE, g_svm_exits[g_svm_runs]);
    v.set<std::uint64_t>(svm::vmcb::EXITINFO1, 0);
    v.set<std::uint64_t>(svm::vmcb::EXITINFO2, 0xf0000000);
  }
  ++g_svm_runs;
  (void)regs;
}

struct SvmBackendTest : ::testing::Test {
  void SetUp() override {
    g_vmcb = &vmcb;
    g_svm_exits.clear();
    g_svm_runs = 0;
    svm::Setup s;
    s.eip = 0x10000c;
    s.ncr3 = 0x5000;
    svm::Vmcb v{vmcb.data()};
    svm::setup_vmcb(v, s);
    install_handlers(fm.dispatcher);
  }
  std::vector<unsigned char> vmcb = std::vector<unsigned char>(4096);
  testing::StringSink diag;
  vmm::fake::FakeMachine fm;
};

TEST_F(SvmBackendTest, NestedPagingIsOnAndAnIoExitCarriesItsPort) {
  svm::Vmcb v{vmcb.data()};
  EXPECT_EQ(v.get<std::uint64_t>(svm::vmcb::NP_ENABLE), 1u);
  EXPECT_EQ(v.get<std::uint64_t>(svm::vmcb::N_CR3), 0x5000u);
  svm::SvmBackend backend(fm.board, v, 0x1000, 0x2000, fake_svm_run, diag);
  vmm::Machine m("lab04", fm.board, backend, fm.dispatcher, fm.trace, fm.diag);
  backend.load_initial_state(m.vcpu(), 0x1000);
  EXPECT_EQ(m.vcpu().regs.ebx, 0x1000u);
  EXPECT_EQ(vmm::run(m, vmm::RunOptions{}), 3);
}

TEST_F(SvmBackendTest, ANestedPageFaultIsContainedWithItsAddress) {
  svm::Vmcb v{vmcb.data()};
  svm::SvmBackend backend(fm.board, v, 0x1000, 0x2000, fake_svm_run, diag);
  vmm::Machine m("lab04", fm.board, backend, fm.dispatcher, fm.trace, fm.diag);
  backend.load_initial_state(m.vcpu(), 0);
  g_svm_exits = {svm::exit_code::kNpf};
  EXPECT_EQ(vmm::run(m, vmm::RunOptions{}), vmm::kStatusContained);
  EXPECT_NE(std::string(fm.board.stop_reason()).find("nested page fault: the guest touched guest-physical 0xf0000000"),
            std::string::npos)
      << fm.board.stop_reason();
}

}  // namespace
}  // namespace hvlab::lab04
