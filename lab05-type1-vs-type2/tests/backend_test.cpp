// The KVM back end against FakeKvm: lab05-e3 (KVM_RUN and the exits as Events), lab05-e4
// (port I/O through the Board's bus), lab05-e5 (injection from the user-space PIC), and
// the whole run loop with made-up exits.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/arch/x86.hpp"
#include "common/vmm/run.hpp"
#include "common/vmm/testing/fake_machine.hpp"
#include "lab05-type1-vs-type2/src/entry_state.hpp"
#include "lab05-type1-vs-type2/src/handlers.hpp"
#include "lab05-type1-vs-type2/src/kvm_backend.hpp"
#include "lab05-type1-vs-type2/tests/fake_kvm.hpp"

namespace hvlab::lab05 {
namespace {

using fake::FakeKvm;

struct KvmFixture : ::testing::Test {
  void SetUp() override {
    std::string why;
    ASSERT_TRUE(vm.create(FakeKvm::kKvmFd, 4 << 20, &why).ok()) << why;
    ASSERT_TRUE(vm.create_vcpu(&why).ok()) << why;
    ASSERT_TRUE(board.add_ram(vm.ram_bytes(), vm.ram()).ok());
    kvm.sregs.cr0 = 0x11;
    multiboot_entry_state({0x100000, 0x2badb002, 0x1000}, &kvm.regs, &kvm.sregs);
    backend = std::make_unique<KvmBackend>(board, vm, timer);
    machine = std::make_unique<vmm::Machine>("test", board, *backend, dispatcher, trace, diag);
    ASSERT_TRUE(backend->start(machine->vcpu(), &why)) << why;
    backend->set_trace(&trace);
    install_handlers(dispatcher);
  }
  vmm::VCpu& vcpu() { return machine->vcpu(); }

  FakeKvm kvm;
  Vm vm{kvm};
  fake::RecordingTimer timer;
  vmm::fake::RecordingSink console, debug;
  vmm::fake::StringSink trace_out, diag;
  vmm::Board board{&console, &debug};
  vmm::Dispatcher dispatcher;
  vmm::TraceWriter trace{trace_out};
  std::unique_ptr<KvmBackend> backend;
  std::unique_ptr<vmm::Machine> machine;
};

// ---- lab05-e3: KVM_RUN, and the exits as the kit's Events -----------------------------

using Lab05E3Run = KvmFixture;

TEST_F(Lab05E3Run, RunVcpuIsOneKvmRunAndRecordsTheExitTime) {
  kvm.script.push_back(FakeKvm::exit(KVM_EXIT_HLT));
  const unsigned before = kvm.runs;
  EXPECT_EQ(backend->run_vcpu(), 0);
  EXPECT_EQ(kvm.runs, before + 1);
  EXPECT_EQ(kvm.run()->exit_reason, static_cast<std::uint32_t>(KVM_EXIT_HLT));
  EXPECT_NE(backend->exit_time(), 0u);
}

TEST_F(Lab05E3Run, ASignalIsAnInterruptExitAndClearsImmediateExit) {
  kvm.run()->immediate_exit = 1;  // the timer fired while the VMM was in user space
  EXPECT_EQ(backend->run_vcpu(), -EINTR);
  EXPECT_EQ(kvm.run()->exit_reason, static_cast<std::uint32_t>(KVM_EXIT_INTR));
  EXPECT_EQ(kvm.run()->immediate_exit, 0);
}

TEST_F(Lab05E3Run, EachExitReasonBecomesItsEvent) {
  kvm_run& run = *kvm.run();
  auto decode = [&](std::uint32_t reason) {
    run.exit_reason = reason;
    return decode_exit(run, vcpu());
  };
  EXPECT_EQ(decode(KVM_EXIT_HLT).reason, vmm::Reason::hlt);
  EXPECT_EQ(decode(KVM_EXIT_IRQ_WINDOW_OPEN).reason, vmm::Reason::interrupt_window);
  EXPECT_EQ(decode(KVM_EXIT_INTR).reason, vmm::Reason::external_interrupt);
  EXPECT_EQ(decode(KVM_EXIT_SHUTDOWN).reason, vmm::Reason::triple_fault);
  EXPECT_EQ(decode(KVM_EXIT_FAIL_ENTRY).reason, vmm::Reason::entry_failure);
  EXPECT_EQ(decode(KVM_EXIT_INTERNAL_ERROR).reason, vmm::Reason::other);
  run.debug.arch.exception = 1;
  vmm::Event dbg = decode(KVM_EXIT_DEBUG);
  EXPECT_EQ(dbg.reason, vmm::Reason::exception);
  EXPECT_EQ(dbg.exception.vector, 1);
  run.mmio.phys_addr = 0xfee00030;
  run.mmio.len = 4;
  run.mmio.is_write = 1;
  vmm::Event m = decode(KVM_EXIT_MMIO);
  EXPECT_EQ(m.reason, vmm::Reason::mmio);
  EXPECT_EQ(m.memory.physical, GuestPhysAddr(0xfee00030));
  EXPECT_TRUE(m.memory.has_physical);
  EXPECT_TRUE(m.memory.write);
  EXPECT_EQ(m.memory.size, 4);
  EXPECT_EQ(m.memory.data, run.mmio.data);
  // Every Event from KVM: a VM exit, the raw reason kept, and no instruction left to skip.
  EXPECT_EQ(m.source, vmm::Source::vm_exit);
  EXPECT_EQ(m.raw_reason, static_cast<std::uint32_t>(KVM_EXIT_MMIO));
  EXPECT_EQ(m.insn_length, 0);
}

TEST_F(Lab05E3Run, TheFirstShutdownAtTheEntryPointIsRetriedOnce) {
  kvm.script.push_back(FakeKvm::exit(KVM_EXIT_SHUTDOWN));  // RIP still at the entry point
  kvm.script.push_back(FakeKvm::exit(KVM_EXIT_HLT));
  vmm::Event e = backend->enter(vcpu());
  EXPECT_EQ(e.reason, vmm::Reason::hlt);
  EXPECT_EQ(backend->shutdown_quirks(), 1u);
  EXPECT_NE(trace_out.text.find("after one KVM_EXIT_SHUTDOWN at the entry point"), std::string::npos);
  // Any later shutdown is the guest's triple fault.
  kvm.script.push_back(FakeKvm::exit(KVM_EXIT_SHUTDOWN));
  EXPECT_EQ(backend->enter(vcpu()).reason, vmm::Reason::triple_fault);
}

TEST_F(Lab05E3Run, ATripleFaultAfterTheGuestRanIsContained) {
  kvm.script.push_back([](kvm_run& r, FakeKvm& k) {
    k.regs.rip = 0x100040;  // the guest ran
    r.exit_reason = KVM_EXIT_SHUTDOWN;
    return 0L;
  });
  EXPECT_EQ(vmm::run(*machine, {}), vmm::kStatusContained);
  EXPECT_NE(std::string(board.stop_reason()).find("triple-faulted"), std::string::npos);
  EXPECT_EQ(backend->shutdown_quirks(), 0u);
}

TEST_F(Lab05E3Run, RegistersAHandlerChangedGoBackThroughTheRunPage) {
  kvm.script.push_back(FakeKvm::exit(KVM_EXIT_HLT));
  backend->enter(vcpu());
  vcpu().regs.ecx = 0x1234;
  kvm.script.push_back(FakeKvm::exit(KVM_EXIT_HLT));
  backend->enter(vcpu());
  EXPECT_EQ(kvm.regs.rcx, 0x1234u);
}

// ---- lab05-e4: port I/O through the Board's bus --------------------------------------

using Lab05E4Io = KvmFixture;

TEST_F(Lab05E4Io, AnIoExitSaysPortSizeDirectionAndWhereTheDataIs) {
  kvm_run& run = *kvm.run();
  run.io.direction = KVM_EXIT_IO_OUT;
  run.io.port = 0x3f8;
  run.io.size = 1;
  run.io.count = 1;
  run.io.data_offset = 4096;
  vmm::IoAccess io = decode_io(run);
  EXPECT_EQ(io.port, 0x3f8);
  EXPECT_EQ(io.size, 1);
  EXPECT_FALSE(io.in);
  EXPECT_EQ(io.count, 1u);
  EXPECT_EQ(io.data, kvm.run_page.data() + 4096);
  EXPECT_FALSE(io.string);
  run.io.direction = KVM_EXIT_IO_IN;
  run.io.size = 2;
  run.io.count = 3;  // REP INSW of three words, already taken apart by KVM
  io = decode_io(run);
  EXPECT_TRUE(io.in);
  EXPECT_EQ(io.size, 2);
  EXPECT_EQ(io.count, 3u);
  EXPECT_TRUE(io.string);
}

TEST_F(Lab05E4Io, TheGuestsOutputReachesTheConsoleAndItsExitIsTheStatus) {
  kvm.script.push_back(FakeKvm::out(0x3f8, {'o', 'k', ' ', '1', '\n'}));  // a REP OUTSB
  kvm.script.push_back(FakeKvm::out(0xf4, {7, 0, 0, 0}, 4));
  EXPECT_EQ(vmm::run(*machine, {}), 7);
  EXPECT_EQ(console.bytes, "ok 1\n");
  EXPECT_NE(trace_out.text.find("\"kind\":\"first_exit\""), std::string::npos);
  EXPECT_NE(trace_out.text.find("\"kind\":\"exit\",\"reason\":\"io_instruction\",\"exit_reason\":2"), std::string::npos);
}

TEST_F(Lab05E4Io, TheInHandlerFillsThePageBeforeTheNextEntry) {
  kvm.script.push_back([](kvm_run& run, FakeKvm& k) {
    run.exit_reason = KVM_EXIT_IO;
    run.io.direction = KVM_EXIT_IO_IN;
    run.io.port = 0x3fd;
    run.io.size = 1;
    run.io.count = 1;
    run.io.data_offset = 4096;
    k.run_page[4096] = 0;
    return 0L;
  });
  vmm::Event e = backend->enter(vcpu());
  EXPECT_EQ(dispatcher.dispatch(*machine, vcpu(), e), vmm::Action::advance);
  EXPECT_TRUE(kvm.run_page[4096] & 0x20);
}

TEST_F(Lab05E4Io, AnAccessWhereThereIsNeitherRamNorADeviceIsContained) {
  kvm.script.push_back([](kvm_run& run, FakeKvm&) {
    run.exit_reason = KVM_EXIT_MMIO;
    run.mmio.phys_addr = 0x30000000;
    run.mmio.len = 4;
    run.mmio.is_write = 1;
    return 0L;
  });
  EXPECT_EQ(vmm::run(*machine, {}), vmm::kStatusContained);
  EXPECT_NE(std::string(board.stop_reason()).find("0x30000000, which is neither its RAM nor a device"),
            std::string::npos);
}

// ---- lab05-e5: interrupts from the user-space PIC ------------------------------------

using Lab05E5Inject = KvmFixture;

TEST_F(Lab05E5Inject, AnExternalInterruptIsKvmInterruptWithItsVector) {
  vmm::PendingEvent e;
  e.valid = true;
  e.type = vmm::PendingEvent::Type::external_interrupt;
  e.vector = 0x24;
  EXPECT_TRUE(backend->inject(vcpu(), e));
  ASSERT_EQ(kvm.interrupts.size(), 1u);
  EXPECT_EQ(kvm.interrupts[0], 0x24u);
}

TEST_F(Lab05E5Inject, AnExceptionIsQueuedInTheVcpuEvents) {
  vmm::PendingEvent e;
  e.valid = true;
  e.type = vmm::PendingEvent::Type::hardware_exception;
  e.vector = 13;
  e.has_error_code = true;
  e.error_code = 0x18;
  EXPECT_TRUE(backend->inject(vcpu(), e));
  EXPECT_EQ(kvm.events.exception.injected, 1);
  EXPECT_EQ(kvm.events.exception.nr, 13);
  EXPECT_EQ(kvm.events.exception.error_code, 0x18u);
  EXPECT_TRUE(kvm.interrupts.empty());
}

TEST_F(Lab05E5Inject, TheUartsInterruptReachesTheGuestThroughThePic) {
  auto out = [](std::uint16_t port, std::uint8_t v) { return FakeKvm::out(port, {v}); };
  // The guest sets up the PICs (vectors 0x20 and 0x28), unmasks IRQ 4, enables COM1's
  // transmitter-empty interrupt, and turns interrupts on.
  for (auto [port, v] : std::initializer_list<std::pair<std::uint16_t, std::uint8_t>>{
           {0x20, 0x11}, {0x21, 0x20}, {0x21, 0x04}, {0x21, 0x01}, {0xa0, 0x11}, {0xa1, 0x28}, {0xa1, 0x02},
           {0xa1, 0x01}, {0x21, 0xef}, {0xa1, 0xff}})
    kvm.script.push_back(out(port, v));
  kvm.script.push_back([](kvm_run& run, FakeKvm& k) {
    k.regs.rflags |= x86::eflags::IF;
    run.ready_for_interrupt_injection = 1;
    return FakeKvm::out(0x3f9, {0x02})(run, k);
  });
  kvm.script.push_back(FakeKvm::exit(KVM_EXIT_HLT));
  vmm::run(*machine, {});
  ASSERT_FALSE(kvm.interrupts.empty());
  EXPECT_EQ(kvm.interrupts[0], 0x24u);
  EXPECT_EQ(board.interrupts_injected(), 1u);
}

TEST_F(Lab05E5Inject, WithInterruptsOffTheBoardAsksForAWindowInstead) {
  kvm.script.push_back([](kvm_run& run, FakeKvm& k) {
    k.regs.rflags &= ~x86::eflags::IF;
    run.ready_for_interrupt_injection = 0;
    return FakeKvm::out(0x21, {0x00})(run, k);  // unmask everything; the BIOS-initialized PIT... no timer
  });
  kvm.script.push_back([](kvm_run& run, FakeKvm& k) {
    EXPECT_EQ(run.request_interrupt_window, 0);
    return FakeKvm::out(0x3f9, {0x02})(run, k);  // COM1 raises IRQ 4 while IF = 0
  });
  kvm.script.push_back([](kvm_run& run, FakeKvm&) {
    EXPECT_EQ(run.request_interrupt_window, 1);
    run.exit_reason = KVM_EXIT_HLT;
    return 0L;
  });
  vmm::run(*machine, {});
  EXPECT_TRUE(kvm.interrupts.empty());
}

}  // namespace
}  // namespace hvlab::lab05
