// The trap back end on fake hardware: what it gives the guest at each entry (the frame),
// what it makes of each trap (the Event), injection (lab01-e6, with deliver_interrupt), single steps, the timer, user
// mode with IOPL > 0 (lab01-e10), and a whole run through the kit's loop.
#include "lab01-trap-and-emulate/src/trap_backend.hpp"

#include <gtest/gtest.h>

#include <string>

#include "common/vmm/run.hpp"
#include "lab01-trap-and-emulate/tests/trap_machine.hpp"

namespace hvlab::lab01 {
namespace {

namespace fl = x86::eflags;
using vmm::PendingEvent;

struct TrapBackendTest : ::testing::Test {
  testing::TrapMachine tm;
  VCpu& v = tm.vcpu();
  TrapBackend& be = *tm.backend;
  const TrapFrame& given() const { return tm.hw.given.back(); }
};

TEST_F(TrapBackendTest, TheGuestKernelRunsAtRingOneWithTheRealIfOnAndIoplZero) {
  v.eflags = fl::FIXED1 | (3u << fl::kIoplShift) | fl::CF;  // virtual IF 0, IOPL 3
  v.regs = {1, 2, 3, 4, 0x9000, 6, 7, 8};
  tm.trap(0x20);
  const TrapFrame& f = given();
  EXPECT_EQ(f.cs, 0x09u);
  EXPECT_EQ(f.user_ss, 0x11u);
  EXPECT_EQ(f.ds, 0x10u);  // data selectors as written
  EXPECT_EQ(f.eax, 1u);
  EXPECT_EQ(f.user_esp, 0x9000u);
  EXPECT_EQ(f.eip, 0xa000u);
  EXPECT_TRUE(f.eflags & fl::IF);
  EXPECT_EQ(f.eflags & fl::IOPL, 0u);
  EXPECT_TRUE(f.eflags & fl::CF);
  // And back: the virtual IF and IOPL survive what the hardware held.
  EXPECT_FALSE(v.interrupts_enabled());
  EXPECT_EQ(v.iopl(), 3u);
  EXPECT_EQ(v.cs, 0x08);
}

TEST_F(TrapBackendTest, AGuestCsWithoutADescriptorIsContained) {
  v.cs = 0x40;  // beyond the boot segments
  vmm::Event e = be.enter(v);
  EXPECT_EQ(e.reason, Reason::other);
  EXPECT_EQ(tm.board.state(), vmm::RunState::contained);
  EXPECT_TRUE(tm.hw.given.empty());  // never entered
}

TEST_F(TrapBackendTest, AGpIsDecodedAndTheDecodingIsCached) {
  tm.put(0xa000, {0x0f, 0x01, 0x10});  // lgdt [eax]
  vmm::Event e = tm.trap(x86::vector::GP);
  EXPECT_EQ(e.reason, Reason::privileged_instruction);
  ASSERT_NE(e.insn, nullptr);
  EXPECT_EQ(e.insn->mnemonic(), ZYDIS_MNEMONIC_LGDT);
  EXPECT_EQ(be.counters().decode_misses, 1u);
  tm.trap(x86::vector::GP);
  EXPECT_EQ(be.counters().decode_hits, 1u);
  // Code rewritten at the same place is decoded afresh.
  tm.put(0xa000, {0x0f, 0x01, 0x18});  // lidt [eax]
  EXPECT_EQ(tm.trap(x86::vector::GP).insn->mnemonic(), ZYDIS_MNEMONIC_LIDT);
}

TEST_F(TrapBackendTest, RealIrqsAreEndedAndSpuriousOnesAreNot) {
  EXPECT_EQ(tm.trap(0x20).reason, Reason::external_interrupt);
  tm.hw.spurious_7 = true;
  EXPECT_EQ(tm.trap(0x27).reason, Reason::external_interrupt);
  EXPECT_EQ(be.counters().irqs, 2u);
  EXPECT_EQ(be.counters().spurious_irqs, 1u);
  EXPECT_EQ(tm.hw.eois.size(), 2u);
}

TEST_F(TrapBackendTest, TheStiShadowSurvivesARealIrqAtTheSameEipOnly) {
  v.interrupt_shadow = true;
  tm.trap(0x20);  // the IRQ came before the instruction after STI ran
  EXPECT_TRUE(v.interrupt_shadow);
  tm.put(0xa000, {0xf4});
  tm.trap(x86::vector::GP);  // that instruction (HLT) trapped: it ran
  EXPECT_FALSE(v.interrupt_shadow);
  v.interrupt_shadow = true;
  tm.hw.script.push_back([](TrapFrame& f) {
    f.vector = 0x20;
    f.eip += 1;  // the IRQ came after the instruction
  });
  be.enter(v);
  EXPECT_FALSE(v.interrupt_shadow);
}

TEST_F(TrapBackendTest, AnInterruptWindowIsOneSingleStepOfTheShadowedInstruction) {
  v.interrupt_shadow = true;
  v.eflags |= fl::IF;
  be.request_interrupt_window(v, true);
  vmm::Event e = tm.trap(x86::vector::DB);
  EXPECT_TRUE(given().eflags & fl::TF);
  EXPECT_EQ(e.reason, Reason::interrupt_window);
  EXPECT_FALSE(v.eflags & fl::TF);  // the monitor's TF is not the guest's
  EXPECT_EQ(be.counters().monitor_steps, 1u);
  be.request_interrupt_window(v, false);
  tm.trap(0x20);
  EXPECT_FALSE(given().eflags & fl::TF);
}

TEST_F(TrapBackendTest, TheGuestsOwnSingleStepIsItsOwnDebugException) {
  v.eflags |= fl::TF;
  tm.hw.dr6 = 0xffff4ff0u;  // BS
  vmm::Event e = tm.trap(x86::vector::DB);
  EXPECT_EQ(e.reason, Reason::exception);
  EXPECT_TRUE(given().eflags & fl::TF);
  EXPECT_EQ(v.dr[6], 0xffff4ff0u);
  // Both at once: the guest still gets its #DB.
  v.interrupt_shadow = true;
  v.eflags |= fl::IF;
  be.request_interrupt_window(v, true);
  EXPECT_EQ(tm.trap(x86::vector::DB).reason, Reason::exception);
  EXPECT_TRUE(v.eflags & fl::TF);
}

TEST_F(TrapBackendTest, InjectDeliversThroughTheGuestsIdt) {
  tm.guest_tables();
  v.eip = 0x1234;
  v.eflags |= fl::IF;
  v.interrupt_shadow = true;
  PendingEvent irq;
  irq.valid = true;
  irq.type = PendingEvent::Type::external_interrupt;
  irq.vector = 0x20;
  ASSERT_TRUE(be.inject(v, irq));
  EXPECT_EQ(v.eip, 0x5000u);
  EXPECT_FALSE(v.interrupts_enabled());
  EXPECT_FALSE(v.interrupt_shadow);
  EXPECT_EQ(tm.u32(v.regs.esp), 0x1234u);
  PendingEvent gp;
  gp.valid = true;
  gp.vector = x86::vector::GP;
  gp.has_error_code = true;
  gp.error_code = 0x18;
  ASSERT_TRUE(be.inject(v, gp));
  EXPECT_EQ(v.eip, 0x500du);
  EXPECT_EQ(tm.u32(v.regs.esp), 0x18u);
  EXPECT_EQ(tm.u32(v.regs.esp + 4), 0x5000u);  // at the instruction it faulted on
}

TEST_F(TrapBackendTest, InjectFailsWhenEvenTheDoubleFaultCannotBeDelivered) {
  v.idtr = {0, 0};
  PendingEvent gp;
  gp.valid = true;
  gp.vector = x86::vector::GP;
  gp.has_error_code = true;
  EXPECT_FALSE(be.inject(v, gp));
}

TEST_F(TrapBackendTest, TheRealTimerIsArmedForTheGuestsDeadlineWithinBounds) {
  tm.board.set_tsc_hz(dev::Pit8254::kInputHz);  // one TSC tick per PIT tick
  tm.board.prepare_entry(v, tm.hw.clock);
  const std::uint64_t now = tm.board.guest_time(tm.hw.clock);
  be.arm_timer(now + 5000, now + 100000);
  tm.trap(0x20);
  EXPECT_EQ(tm.hw.armed.back(), 5000u);
  be.arm_timer(0, now + 100000);  // no timer: the watchdog, at most 10 ms
  tm.trap(0x20);
  EXPECT_EQ(tm.hw.armed.back(), dev::Pit8254::kInputHz / 100);
  be.arm_timer(now, now + 100000);  // due already: the guest still gets 0.25 ms
  tm.trap(0x20);
  EXPECT_EQ(tm.hw.armed.back(), 300u);
}

TEST_F(TrapBackendTest, RdtscTrapsWheneverTheGuestsTscIsNotTheHosts) {
  tm.board.set_hide_monitor_time(false);
  tm.trap(0x20);
  EXPECT_FALSE(tm.hw.rdtsc_traps);  // clock=host, nothing moved the guest's TSC: native
  v.cr4 |= x86::cr4::TSD;
  tm.trap(0x20);
  EXPECT_TRUE(tm.hw.rdtsc_traps);  // the guest's own TSD
  v.cr4 &= ~x86::cr4::TSD;
  tm.board.set_guest_tsc(0, tm.hw.clock);
  tm.trap(0x20);
  EXPECT_TRUE(tm.hw.rdtsc_traps);  // its TSC was written
  const unsigned writes = tm.hw.tsd_writes;
  tm.trap(0x20);
  EXPECT_EQ(tm.hw.tsd_writes, writes);  // CR4 is written only when it changes
}

TEST_F(TrapBackendTest, UserModeWithIoplRunsPushfAndPopfInTheMonitor) {
  tm.guest_tables();
  v.cpl = 3;
  v.cs = 0x1b;
  v.ss = v.ds = v.es = 0x23;
  v.eflags = fl::FIXED1 | fl::IF | (3u << fl::kIoplShift);
  v.eip = 0xa000;
  v.regs.esp = 0x7000;
  tm.put32(0x7000 - 4, 0);
  tm.put(0xa000, {0x9c, 0x9d, 0x90});  // pushfd; popfd; nop
  tm.trap(x86::vector::DB);            // the nop, stepped
  EXPECT_EQ(given().eip, 0xa002u);     // PUSHF and POPF were the monitor's
  EXPECT_TRUE(given().eflags & fl::TF);
  EXPECT_EQ(be.counters().user_iopl_emulated, 2u);
  EXPECT_EQ(tm.u32(0x7000 - 4) & (fl::IF | fl::IOPL), fl::IF | fl::IOPL);  // the virtual flags
  EXPECT_EQ(v.regs.esp, 0x7000u);
  // A POPF that clears IF at CPL 3 with IOPL 3 does clear the virtual IF.
  tm.put32(0x7000 - 4, fl::FIXED1 | (3u << fl::kIoplShift));
  v.regs.esp = 0x7000 - 4;
  v.eip = 0xa001;
  tm.trap(x86::vector::DB);
  EXPECT_FALSE(v.interrupts_enabled());
}

TEST_F(TrapBackendTest, AHypercallVectorArrivesAsAHypercall) {
  EXPECT_FALSE(be.add_hypercall_vector(0x21));  // an IRQ's
  ASSERT_TRUE(be.add_hypercall_vector(0x82));
  EXPECT_EQ(be.tables().idt[0x82].dpl, 1u);
  v.regs.eax = 7;
  vmm::Event e = tm.trap(0x82);
  EXPECT_EQ(e.reason, Reason::hypercall);
  EXPECT_EQ(e.source, vmm::Source::hypercall);
  EXPECT_EQ(e.hypercall, 7u);
}

TEST_F(TrapBackendTest, TheSwitchItselfIsTheGuestsTimeInTheAccounting) {
  tm.trap(0x20);
  EXPECT_EQ(be.entry_time(), tm.hw.entered);
  EXPECT_EQ(be.exit_time(), tm.hw.exited);
}

TEST_F(TrapBackendTest, MonitorReadsGoThroughTheGuestsTablesAndPutThePageInCr2) {
  namespace pg = x86::page;
  tm.put32(0x10000, 0x11000 | pg::P | pg::RW);
  tm.put32(0x11000 + 3 * 4, 0x5000 | pg::P | pg::RW);
  tm.put32(0x5ffc, 0xcafe);
  v.cr0 |= x86::cr0::PG;
  v.cr3 = 0x10000;
  std::uint32_t w = 0;
  vmm::ExceptionInfo f;
  ASSERT_TRUE(be.read_linear(v, GuestVirtAddr(0x3ffc), &w, 4, false, &f));
  EXPECT_EQ(w, 0xcafeu);
  std::uint64_t q = 0;
  EXPECT_FALSE(be.read_linear(v, GuestVirtAddr(0x3ffc), &q, 8, false, &f));
  EXPECT_EQ(f.vector, x86::vector::PF);
  EXPECT_EQ(f.address, 0x4000u);
  // The guest's A bit was set by the walk, as the CPU would.
  EXPECT_TRUE(tm.u32(0x11000 + 3 * 4) & pg::A);
}

// The whole loop: vmm::run with this back end, lab01's handlers and a made-up guest.
TEST_F(TrapBackendTest, AGuestRunsThroughTheKitsLoopToItsExit) {
  tm.guest_tables();
  // out 0xe9, al ('k'), a timer tick, cli, then out 0xf4, al (status 3)
  tm.put(0xa000, {0xe6, 0xe9, 0xfa, 0xe6, 0xf4});
  v.regs.eax = 'k';
  auto gp_at = [](std::uint32_t eip) {
    return [eip](TrapFrame& f) {
      f.vector = x86::vector::GP;
      f.error_code = 0;
      f.eip = eip;
    };
  };
  tm.hw.script.push_back(gp_at(0xa000));
  tm.hw.script.push_back([](TrapFrame& f) { f.vector = 0x20; });
  tm.hw.script.push_back(gp_at(0xa002));
  tm.hw.script.push_back([](TrapFrame& f) {
    f.vector = x86::vector::GP;
    f.error_code = 0;
    f.eip = 0xa003;
    f.eax = 3;
  });
  vmm::RunOptions o;
  o.trace = vmm::TraceMode::all;
  o.decoder = &be.decoder();
  vmm::RunStats stats;
  EXPECT_EQ(vmm::run(tm.machine, o, &stats), 3);
  EXPECT_EQ(tm.debug.bytes, "guest: k");
  EXPECT_EQ(stats.entries, 4u);
  EXPECT_NE(tm.trace_out.text.find("\"insn\":\"cli\""), std::string::npos);
  EXPECT_NE(tm.trace_out.text.find("\"kind\":\"trap_backend\""), std::string::npos);
  EXPECT_NE(tm.diag.text.find("lab01: guest stopped: guest exited with status 3"), std::string::npos);
}

}  // namespace
}  // namespace hvlab::lab01
