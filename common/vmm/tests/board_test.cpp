// The Board (devices, time, interrupt decisions, stopping) and the shared emulation of
// port I/O, driven through the handlers as a back end would drive them.

#include "common/vmm/board.hpp"

#include <gtest/gtest.h>

#include <string>

#include "common/arch/paging.hpp"
#include "common/arch/x86.hpp"
#include "common/vmm/emulate.hpp"
#include "common/vmm/testing/fake_machine.hpp"

namespace hvlab::vmm {
namespace {

struct BoardTest : ::testing::Test {
  void SetUp() override {
    d.set(Reason::io_instruction, emulate_io);
    d.set(Reason::hlt, emulate_hlt);
  }
  static Event io(std::uint16_t port, unsigned size, bool in) {
    Event e;
    e.reason = Reason::io_instruction;
    e.io.port = port;
    e.io.size = static_cast<std::uint8_t>(size);
    e.io.in = in;
    e.insn_length = 1;
    return e;
  }
  Action out(std::uint16_t port, std::uint32_t v, unsigned size = 1) {
    vcpu.regs.eax = v;
    return d.dispatch(fm.machine, vcpu, io(port, size, false));
  }
  std::uint32_t in(std::uint16_t port, unsigned size = 1) {
    vcpu.regs.eax = 0;
    d.dispatch(fm.machine, vcpu, io(port, size, true));
    return vcpu.regs.eax;
  }
  void program_pic_and_pit(std::uint16_t pit_count) {
    out(0x20, 0x11); out(0x21, 0x20); out(0x21, 0x04); out(0x21, 0x01);
    out(0xa0, 0x11); out(0xa1, 0x28); out(0xa1, 0x02); out(0xa1, 0x01);
    out(0x21, 0xfe);  // only IRQ0
    out(0xa1, 0xff);
    out(0x43, 0x34);  // counter 0, lobyte/hibyte, mode 2
    out(0x40, pit_count & 0xff);
    out(0x40, pit_count >> 8);
  }

  fake::FakeMachine fm;
  Board& board = fm.board;
  Dispatcher& d = fm.dispatcher;
  VCpu& vcpu = fm.vcpu();
};

TEST_F(BoardTest, EveryDeviceIsOnItsPorts) {
  ASSERT_TRUE(board.wiring().ok());
  for (std::uint16_t port : {0x20, 0xa0, 0x40, 0x43, 0x70, 0x3f8, 0x2f8, 0xe9, 0xf4, 0x8900, 0x80})
    EXPECT_NE(board.ports().device_at(port), nullptr) << std::hex << port;
  EXPECT_EQ(board.ports().device_at(0x170), nullptr);  // no secondary ATA channel
}

TEST_F(BoardTest, RamIsRecordedInTheCmos) {
  out(0x70, 0x34);  // extended memory above 16 MiB, in 64 KiB units (low byte)
  EXPECT_EQ(in(0x71), 0u);  // 4 MiB of RAM: nothing above 16 MiB
  out(0x70, 0x17);  // extended memory above 1 MiB, in KiB (low byte): 3072 = 0x0c00
  EXPECT_EQ(in(0x71), 0x00u);
  out(0x70, 0x18);
  EXPECT_EQ(in(0x71), 0x0cu);
}

TEST_F(BoardTest, UartOutputReachesTheConsoleAndInMergesIntoAl) {
  for (char c : std::string("ok 1 x\n")) out(0x3f8, static_cast<std::uint8_t>(c));
  EXPECT_EQ(fm.console.bytes, "ok 1 x\n");
  vcpu.regs.eax = 0xdeadbe00;
  d.dispatch(fm.machine, vcpu, io(0x3fd, 1, true));  // LSR: transmitter empty
  EXPECT_EQ(vcpu.regs.eax & 0xffffff00u, 0xdeadbe00u);  // only AL changes
  EXPECT_TRUE(vcpu.regs.eax & 0x20);
}

TEST_F(BoardTest, KtapResultLinesBecomeTraceNotes) {
  for (char c : std::string("# a comment\nok 1 first\nnot ok 2 second\n")) out(0x3f8, static_cast<std::uint8_t>(c));
  EXPECT_EQ(fm.trace.ktap_notes(), 0u);  // no trace attached yet
  board.set_trace(&fm.trace);
  for (char c : std::string("# a comment\nok 1 first\nnot ok 2 second\n")) out(0x3f8, static_cast<std::uint8_t>(c));
  EXPECT_EQ(fm.trace.ktap_notes(), 2u);
  EXPECT_NE(fm.trace_out.text.find("\"what\":\"not ok 2 second\""), std::string::npos);
}

TEST_F(BoardTest, UnmappedPortsFloatAndDropWrites) {
  EXPECT_EQ(in(0x1234, 2), 0xffffu);
  EXPECT_EQ(out(0x1234, 5), Action::advance);
}

TEST_F(BoardTest, GuestDebugOutputIsPrefixedAndItsExitIsTheStatus) {
  for (char c : std::string("hvlab-exit: 5\n")) out(0xe9, static_cast<std::uint8_t>(c));
  EXPECT_EQ(fm.debug.bytes, "guest: hvlab-exit: 5\n");  // never a line starting with the marker
  EXPECT_EQ(out(0xf4, 5), Action::stop);
  EXPECT_TRUE(board.guest_exited());
  EXPECT_EQ(board.guest_status(), 5);
  EXPECT_EQ(board.exit_status(), 5);
  EXPECT_STREQ(board.stop_reason(), "guest exited with status 5");
}

TEST_F(BoardTest, BochsShutdownPortUsesTheGuestsMarkerWhateverTheWidth) {
  for (char c : std::string("hvlab-exit: 7\n")) out(0xe9, static_cast<std::uint8_t>(c));
  for (char c : std::string("Shutdown")) out(0x8900 & 0xff, static_cast<std::uint8_t>(c));  // wrong port: nothing
  EXPECT_FALSE(board.guest_exited());
  // "Shut" and "down" as two 32-bit OUTs: the bytes count, not the accesses.
  EXPECT_EQ(out(0x8900, 'S' | 'h' << 8 | 'u' << 16 | 't' << 24, 4), Action::advance);
  EXPECT_EQ(out(0x8900, 'd' | 'o' << 8 | 'w' << 16 | static_cast<std::uint32_t>('n') << 24, 4), Action::stop);
  EXPECT_EQ(board.guest_status(), 7);
}

TEST_F(BoardTest, ShutdownWithoutAMarkerIsStatusZero) {
  for (char c : std::string("Shutdown")) out(0x8900, static_cast<std::uint8_t>(c));
  EXPECT_TRUE(board.guest_exited());
  EXPECT_EQ(board.exit_status(), 0);
}

TEST_F(BoardTest, StringOutputReadsGuestMemoryAndCountsDown) {
  const char msg[] = "hey";
  ASSERT_TRUE(board.memory().copy_in(GuestPhysAddr(0x5000), msg, 3).ok());
  Event e = io(0x3f8, 1, false);
  e.io.string = e.io.rep = true;
  e.io.linear = GuestVirtAddr(0x5000);
  vcpu.regs.esi = 0x5000;
  vcpu.regs.ecx = 3;
  EXPECT_EQ(d.dispatch(fm.machine, vcpu, e), Action::advance);
  EXPECT_EQ(fm.console.bytes, "hey");
  EXPECT_EQ(vcpu.regs.ecx, 0u);
  EXPECT_EQ(vcpu.regs.esi, 0x5003u);
}

TEST_F(BoardTest, StringInputWritesGuestMemoryBackwardsWithDf) {
  out(0x70, 0x0e);  // CMOS register 0x0e (0 after power-on)
  Event e = io(0x71, 1, true);
  e.io.string = true;
  e.io.linear = GuestVirtAddr(0x6001);
  vcpu.regs.edi = 0x6001;
  vcpu.eflags |= x86::eflags::DF;
  std::uint8_t canary = 0x5a;
  ASSERT_TRUE(board.memory().copy_in(GuestPhysAddr(0x6001), &canary, 1).ok());
  EXPECT_EQ(d.dispatch(fm.machine, vcpu, e), Action::advance);
  std::uint8_t got = 0xff;
  ASSERT_TRUE(board.memory().copy_out(&got, GuestPhysAddr(0x6001), 1).ok());
  EXPECT_EQ(got, 0u);
  EXPECT_EQ(vcpu.regs.edi, 0x6000u);
}

TEST_F(BoardTest, LongRepResumesForTheRest) {
  Event e = io(0x80, 1, false);
  e.io.string = e.io.rep = true;
  vcpu.regs.ecx = kMaxStringElementsPerEvent + 10;
  vcpu.eip = 0x1000;
  EXPECT_EQ(d.dispatch(fm.machine, vcpu, e), Action::resume);
  EXPECT_EQ(vcpu.regs.ecx, 10u);
  EXPECT_EQ(vcpu.eip, 0x1000u);  // the instruction runs again for the rest
}

TEST_F(BoardTest, StringIoPageFaultIsTheGuests) {
  // Paging on with an empty page directory at 0x10000: every linear address faults.
  vcpu.cr0 |= x86::cr0::PG;
  vcpu.cr3 = 0x10000;
  Event e = io(0x3f8, 1, false);
  e.io.string = true;
  e.io.linear = GuestVirtAddr(0x400000);
  EXPECT_EQ(d.dispatch(fm.machine, vcpu, e), Action::resume);
  ASSERT_TRUE(board.has_pending_event());
  EXPECT_EQ(board.pending_event().vector, 14u);
  EXPECT_EQ(board.pending_event().error_code, 0u);  // a supervisor read of a missing page
  EXPECT_EQ(vcpu.cr2, 0x400000u);
  EXPECT_TRUE(fm.console.bytes.empty());
}

TEST_F(BoardTest, AMonitorReadAcrossPagesPutsTheFaultingPageInCr2) {
  // The guest's directory at 0x10000 maps linear 0x3000 through the table at 0x11000; 0x4000
  // is not mapped. An 8-byte read at 0x3ffc faults on its second page.
  namespace pg = x86::page;
  ASSERT_TRUE(board.memory().write(GuestPhysAddr(0x10000), std::uint32_t{0x11000 | pg::P | pg::RW}).ok());
  ASSERT_TRUE(board.memory().write(GuestPhysAddr(0x11000 + 3 * 4), std::uint32_t{0x3000 | pg::P | pg::RW}).ok());
  vcpu.cr0 |= x86::cr0::PG;
  vcpu.cr3 = 0x10000;
  std::uint64_t v = 0;
  EXPECT_FALSE(fm.machine.read_linear(GuestVirtAddr(0x3ffc), &v, 8, false));
  ASSERT_TRUE(board.has_pending_event());
  EXPECT_EQ(board.pending_event().vector, 14u);
  EXPECT_EQ(vcpu.cr2, 0x4000u);
  EXPECT_TRUE(fm.machine.read_linear(GuestVirtAddr(0x3ff8), &v, 8, false));
}

TEST_F(BoardTest, HltHalts) {
  Event e;
  e.reason = Reason::hlt;
  e.insn_length = 1;
  EXPECT_EQ(d.dispatch(fm.machine, vcpu, e), Action::advance);
  EXPECT_TRUE(vcpu.halted);
}

TEST(ConvertTicks, CarriesRemainders) {
  std::uint64_t rem = 0, total = 0;
  for (int i = 0; i < 1000; ++i) total += convert_ticks(3, 1000, 7, &rem);  // 3000 ticks at 1 kHz = 3 s
  EXPECT_EQ(total, 21u);
  rem = 0;
  EXPECT_EQ(convert_ticks(10'000'000'000ull, 4'000'000'000ull, dev::Pit8254::kInputHz, &rem), 2982955u);
}

TEST_F(BoardTest, TimerInterruptIsInjectedWhenTheGuestCanTakeIt) {
  board.set_tsc_hz(dev::Pit8254::kInputHz);  // one TSC tick per PIT tick, to keep numbers simple
  program_pic_and_pit(1000);
  std::uint64_t host = 0;
  vcpu.eflags = x86::eflags::FIXED1;  // IF = 0
  EntryPlan p = board.prepare_entry(vcpu, host);
  EXPECT_FALSE(p.inject.valid);
  EXPECT_NE(p.timer_deadline, 0u);

  host += 1500;  // past the first edge
  p = board.prepare_entry(vcpu, host);
  EXPECT_FALSE(p.inject.valid);
  EXPECT_TRUE(p.interrupt_window);  // IF = 0: wait for the window

  vcpu.eflags |= x86::eflags::IF;
  vcpu.interrupt_shadow = true;  // just after STI
  p = board.prepare_entry(vcpu, host);
  EXPECT_TRUE(p.interrupt_window);

  vcpu.interrupt_shadow = false;
  p = board.prepare_entry(vcpu, host);
  ASSERT_TRUE(p.inject.valid);
  EXPECT_EQ(p.inject.type, PendingEvent::Type::external_interrupt);
  EXPECT_EQ(p.inject.vector, 0x20);
  EXPECT_EQ(board.interrupts_injected(), 1u);
  // In service now: nothing more until the guest's EOI.
  p = board.prepare_entry(vcpu, host + 5000);
  EXPECT_FALSE(p.inject.valid);
  out(0x20, 0x20);  // EOI
  p = board.prepare_entry(vcpu, host + 5000);
  EXPECT_TRUE(p.inject.valid);
}

TEST_F(BoardTest, HaltedGuestSkipsAheadToTheNextTick) {
  board.set_tsc_hz(dev::Pit8254::kInputHz);
  program_pic_and_pit(50000);
  std::uint64_t host = 0;
  vcpu.eflags |= x86::eflags::IF;
  // Programming mode 2 raises OUT at once: that edge is the first interrupt. Take it.
  if (board.prepare_entry(vcpu, host).inject.valid) out(0x20, 0x20);
  vcpu.halted = true;
  EntryPlan p = board.prepare_entry(vcpu, host + 10);
  ASSERT_TRUE(p.inject.valid);
  EXPECT_EQ(p.inject.vector, 0x20);
  EXPECT_FALSE(vcpu.halted);
  EXPECT_GE(board.tsc_offset(), 49000u);  // the guest's clock moved, not the host's
  EXPECT_EQ(board.idle_skips(), 1u);
}

TEST_F(BoardTest, HaltedWithInterruptsOffIsContained) {
  vcpu.halted = true;
  EXPECT_TRUE(board.prepare_entry(vcpu, 0).stop);
  EXPECT_EQ(board.state(), RunState::contained);
  EXPECT_NE(std::string(board.stop_reason()).find("interrupts disabled"), std::string::npos);
  EXPECT_EQ(board.exit_status(), kStatusContained);
}

TEST_F(BoardTest, HaltedWithNoTimerIsContained) {
  vcpu.halted = true;
  vcpu.eflags |= x86::eflags::IF;
  EXPECT_TRUE(board.prepare_entry(vcpu, 0).stop);
  EXPECT_NE(std::string(board.stop_reason()).find("no timer running"), std::string::npos);
}

TEST_F(BoardTest, AGuestThatFloodsItsConsoleIsContained) {
  board.budgets().output_bytes = 1000;
  Action a = Action::advance;
  std::uint64_t n = 0;
  for (; n < 2000 && a == Action::advance; ++n) a = out(0x3f8, 'x');
  EXPECT_EQ(a, Action::stop);
  EXPECT_EQ(n, 1001u);
  EXPECT_EQ(fm.console.bytes.size(), 1000u);
  EXPECT_STREQ(board.stop_reason(), "output flood: the guest wrote more than its output budget to COM1");
  EXPECT_EQ(board.state(), RunState::contained);
}

TEST_F(BoardTest, AGuestThatFloodsItsDebugPortIsContained) {
  board.budgets().output_bytes = 100;
  for (int i = 0; i < 200; ++i) out(0xe9, 'y');
  EXPECT_STREQ(board.stop_reason(), "output flood: the guest wrote more than its output budget to port 0xE9");
}

TEST_F(BoardTest, TheFirstStopReasonIsKept) {
  board.contain("first %d", 1);
  board.fail("second");
  board.note_exit_request(0);
  EXPECT_STREQ(board.stop_reason(), "first 1");
  EXPECT_EQ(board.state(), RunState::contained);
}

TEST_F(BoardTest, SpinningWithInterruptsOffIsNoticed) {
  board.set_tsc_hz(1000);
  board.on_exit(0);
  board.note_progress();
  board.prepare_entry(vcpu, 0);
  board.on_exit(1500);  // 1.5 s of guest time, IF = 0, no progress
  EXPECT_FALSE(board.spinning_with_interrupts_off(vcpu));
  board.prepare_entry(vcpu, 1500);
  board.on_exit(2600);
  EXPECT_TRUE(board.spinning_with_interrupts_off(vcpu));
  vcpu.eflags |= x86::eflags::IF;  // with interrupts on, a timer can still come
  EXPECT_FALSE(board.spinning_with_interrupts_off(vcpu));
}

TEST_F(BoardTest, MonitorTimeIsHiddenFromTheGuest) {
  board.set_tsc_hz(1000);
  board.prepare_entry(vcpu, 100);  // the guest enters at host 100
  board.on_exit(150);              // and runs 50 ticks
  board.prepare_entry(vcpu, 400);  // the monitor took 250
  EXPECT_EQ(board.guest_tsc(400), 150u);  // the guest's clock resumes where it stopped
}

TEST_F(BoardTest, TheWorkBetweenPreparingAndEnteringIsHiddenToo) {
  board.set_tsc_hz(1000);
  board.prepare_entry(vcpu, 100);
  board.on_entry(130);             // the back end switched to the guest 30 ticks later
  board.on_exit(180);              // the guest ran 50 ticks
  board.prepare_entry(vcpu, 400);
  EXPECT_EQ(board.guest_tsc(400), 150u);
  board.on_entry(410);
  EXPECT_EQ(board.guest_tsc(410), 150u);
}

TEST_F(BoardTest, EmulatedRdtscReadsTheMomentTheGuestStopped) {
  board.set_tsc_hz(1000);
  board.prepare_entry(vcpu, 100);
  board.on_entry(100);
  board.on_exit(150);
  // However long the handler takes, the guest's TSC stands where the guest left it, so its
  // next native reading (after the monitor's time is hidden) is never smaller.
  EXPECT_EQ(board.read_guest_tsc(300), 150u);
  EXPECT_EQ(board.read_guest_tsc(900), 150u);
  board.write_guest_tsc(1000, 900);  // WRMSR of the TSC, in the same handler
  board.prepare_entry(vcpu, 950);
  EXPECT_EQ(board.guest_tsc(950), 1000u);
  EXPECT_EQ(board.read_guest_tsc(960), 1010u);  // the guest runs again: its TSC moves
}

TEST_F(BoardTest, MonitorTimeCountsWhenNotHidden) {
  board.set_tsc_hz(1000);
  board.set_hide_monitor_time(false);
  board.prepare_entry(vcpu, 100);
  board.on_exit(150);
  EXPECT_EQ(board.read_guest_tsc(300), 300u);
  board.prepare_entry(vcpu, 400);
  board.on_entry(420);
  EXPECT_EQ(board.guest_tsc(420), 420u);
}

TEST_F(BoardTest, AGuestTscWrittenBackwardsLeavesItsTimersRunning) {
  board.set_tsc_hz(dev::Pit8254::kInputHz);
  program_pic_and_pit(1000);
  vcpu.eflags |= x86::eflags::IF;
  if (board.prepare_entry(vcpu, 0).inject.valid) out(0x20, 0x20);  // the edge of programming
  board.on_exit(500);
  board.set_guest_tsc(0, 500);  // WRMSR IA32_TIME_STAMP_COUNTER, 0
  EXPECT_EQ(board.guest_tsc(500), 0u);
  EntryPlan p = board.prepare_entry(vcpu, 500);
  // The next tick is still 500 ticks of guest time away, not 500 + the TSC's old value.
  EXPECT_GE(p.timer_deadline - board.guest_time(500), 500u);
  EXPECT_LE(p.timer_deadline - board.guest_time(500), 502u);
  board.on_exit(1200);
  EXPECT_EQ(board.guest_tsc(1200), 700u);
  p = board.prepare_entry(vcpu, 1200);
  EXPECT_TRUE(p.inject.valid);  // the tick came on time
}

TEST_F(BoardTest, PendingExceptionGoesFirst) {
  board.inject_exception(x86::vector::GP, true, 0);
  EntryPlan p = board.prepare_entry(vcpu, 0);
  ASSERT_TRUE(p.inject.valid);
  EXPECT_EQ(p.inject.vector, x86::vector::GP);
  EXPECT_FALSE(board.has_pending_event());
}

}  // namespace
}  // namespace hvlab::vmm
