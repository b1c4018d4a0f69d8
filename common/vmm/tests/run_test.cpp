// The run loop, with a scripted back end: limits, the reflect path, the trace and the end.

#include "common/vmm/run.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "common/arch/x86.hpp"
#include "common/vmm/debug.hpp"
#include "common/vmm/emulate.hpp"
#include "common/vmm/testing/fake_machine.hpp"

namespace hvlab::vmm {
namespace {

std::vector<nlohmann::json> records(const std::string& s) {
  std::vector<nlohmann::json> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
  return out;
}

Event ev(Reason r, std::uint8_t len = 1) {
  Event e;
  e.reason = r;
  e.insn_length = len;
  return e;
}

Action advance(Machine&, VCpu&, const Event&) { return Action::advance; }
Action reflect_it(Machine&, VCpu&, const Event&) { return Action::reflect; }
Action resume(Machine&, VCpu&, const Event&) { return Action::resume; }
Action stop_silently(Machine&, VCpu&, const Event&) { return Action::stop; }

struct RunTest : ::testing::Test {
  fake::FakeMachine fm;
  fake::FakeBackend& be = fm.backend;
  RunOptions opt;
  void script(Event e, int times = 1) {
    for (int i = 0; i < times; ++i) be.script.push_back([e](VCpu&) { return e; });
  }
  int go() { return run(fm.machine, opt, &stats); }
  RunStats stats;
};

TEST_F(RunTest, TheGuestsExitEndsTheRunWithItsStatusAndTheClosingRecords) {
  fm.dispatcher.set(Reason::privileged_instruction, advance);
  fm.vcpu().eip = 0x1000;
  script(ev(Reason::privileged_instruction, 2), 3);
  be.script.push_back([this](VCpu&) {
    fm.board.note_exit_request(4);
    return ev(Reason::io_instruction);
  });
  fm.dispatcher.set(Reason::io_instruction, resume);
  EXPECT_EQ(go(), 4);
  EXPECT_EQ(fm.vcpu().eip, 0x1006u);
  EXPECT_EQ(stats.entries, 4u);
  auto r = records(fm.trace_out.text);
  ASSERT_GE(r.size(), 4u);
  EXPECT_EQ(r[0]["reason"], "privileged_instruction");
  EXPECT_EQ(r[0]["outcome"], "emulated");
  EXPECT_EQ(r[r.size() - 3]["kind"], "stop");
  EXPECT_EQ(r[r.size() - 3]["what"], "guest exited with status 4");
  EXPECT_EQ(r[r.size() - 2]["kind"], "accounting");
  EXPECT_EQ(r[r.size() - 2]["entries"], 4);
  EXPECT_EQ(r.back()["kind"], "summary");
  EXPECT_EQ(r.back()["counts"]["privileged_instruction"], 3);
  EXPECT_NE(fm.diag.text.find("test: guest stopped: guest exited with status 4"), std::string::npos);
}

TEST_F(RunTest, AReflectedExceptionIsInjectedAtTheNextEntry) {
  fm.dispatcher.set(Reason::page_fault, reflect_it);
  Event pf = ev(Reason::page_fault);
  pf.exception = {14, true, 2};
  pf.memory.linear = GuestVirtAddr(0xdead000);
  pf.memory.has_linear = true;
  script(pf);
  EXPECT_EQ(go(), 0);
  ASSERT_EQ(be.injected.size(), 1u);
  EXPECT_EQ(be.injected[0].vector, 14u);
  EXPECT_EQ(be.injected[0].error_code, 2u);
  EXPECT_TRUE(be.injected[0].has_error_code);
  EXPECT_EQ(fm.vcpu().cr2, 0xdead000u);
  EXPECT_EQ(stats.reflected, 1u);
}

TEST_F(RunTest, AnExceptionTheGuestCannotTakeIsATripleFault) {
  fm.dispatcher.set(Reason::exception, reflect_it);
  Event gp = ev(Reason::exception);
  gp.exception = {13, true, 0};
  script(gp);
  be.accept_injection = false;
  EXPECT_EQ(go(), kStatusContained);
  EXPECT_NE(std::string(fm.board.stop_reason()).find("triple-faulted"), std::string::npos);
  EXPECT_NE(fm.diag.text.find("test: contained the guest: the guest triple-faulted"), std::string::npos);
  auto r = records(fm.trace_out.text);
  bool contained = false;
  for (auto& j : r) contained |= j.value("kind", "") == "contained";
  EXPECT_TRUE(contained);
}

TEST_F(RunTest, TheEventBudgetStopsALivelock) {
  fm.dispatcher.set(Reason::privileged_instruction, resume);
  fm.board.budgets().events = 50;
  script(ev(Reason::privileged_instruction), 100);
  EXPECT_EQ(go(), kStatusContained);
  EXPECT_EQ(be.entries, 50u);
  EXPECT_NE(std::string(fm.board.stop_reason()).find("event budget exhausted after 50 events"), std::string::npos);
}

TEST_F(RunTest, AGuestSpinningWithInterruptsOffIsContained) {
  fm.dispatcher.set(Reason::external_interrupt, resume);
  be.step_tsc = 500'000;  // half a second of guest time per entry at 1 MHz
  script(ev(Reason::external_interrupt), 20);
  EXPECT_EQ(go(), kStatusContained);
  EXPECT_LE(be.entries, 7u);
  EXPECT_NE(std::string(fm.board.stop_reason()).find("spins with interrupts disabled"), std::string::npos);
}

TEST_F(RunTest, TimerEventsWithInterruptsOnAreNotASpin) {
  fm.dispatcher.set(Reason::external_interrupt, resume);
  fm.vcpu().eflags |= x86::eflags::IF;
  be.step_tsc = 500'000;
  script(ev(Reason::external_interrupt), 20);
  EXPECT_EQ(go(), 0);
}

TEST_F(RunTest, TheGuestTimeLimitStopsTheRun) {
  fm.dispatcher.set(Reason::privileged_instruction, resume);
  fm.board.budgets().guest_seconds = 3;
  be.step_tsc = 1'000'000;
  script(ev(Reason::privileged_instruction), 20);
  EXPECT_EQ(go(), kStatusContained);
  EXPECT_NE(std::string(fm.board.stop_reason()).find("guest time limit"), std::string::npos);
  EXPECT_LE(be.entries, 6u);
}

TEST_F(RunTest, AHandlerThatStopsWithoutSayingWhyIsAFailureWithItsName) {
  fm.dispatcher.set(Reason::cpuid, stop_silently);
  script(ev(Reason::cpuid, 2));
  EXPECT_EQ(go(), kStatusFailed);
  EXPECT_NE(std::string(fm.board.stop_reason()).find("stopped by the cpuid handler"), std::string::npos);
  EXPECT_NE(fm.diag.text.find("test: stopped:"), std::string::npos);
}

TEST_F(RunTest, AnUnhandledEventFailsTheRunAndNamesIt) {
  script(ev(Reason::ept_misconfig));
  EXPECT_EQ(go(), kStatusFailed);
  EXPECT_NE(std::string(fm.board.stop_reason()).find("no handler for ept_misconfig"), std::string::npos);
}

TEST_F(RunTest, TheLoopArmsTheTimerAndAsksForAWindow) {
  fm.dispatcher.set(Reason::privileged_instruction, advance);
  fm.board.inject_exception(13, true, 0);
  Event e = ev(Reason::privileged_instruction);
  bool window_seen = false;
  be.script.push_back([&](VCpu&) {
    window_seen = be.window;
    return e;
  });
  EXPECT_EQ(go(), 0);
  EXPECT_NE(be.timer_watchdog, 0u);
  ASSERT_FALSE(be.injected.empty());
  EXPECT_EQ(be.injected[0].vector, 13u);
  (void)window_seen;  // the PIC's IRQ is masked after bios_init: no window needed
}

TEST_F(RunTest, QuietTraceKeepsTheFirstOfEachKindPerGuestTest) {
  fm.dispatcher.set(Reason::privileged_instruction, advance);
  fm.dispatcher.set(Reason::io_instruction, advance);
  opt.trace_cap = 2;
  script(ev(Reason::privileged_instruction), 5);
  Event com1 = ev(Reason::io_instruction);
  com1.io.port = 0x3f8;
  com1.io.size = 1;
  script(com1, 3);
  be.script.push_back([this](VCpu&) {
    fm.trace.note("ktap", "ok 1 first");
    return ev(Reason::privileged_instruction);
  });
  script(ev(Reason::privileged_instruction), 3);
  EXPECT_EQ(go(), 0);
  int priv = 0, io = 0;
  std::uint64_t last_seq = 0;
  for (auto& j : records(fm.trace_out.text)) {
    if (j.value("reason", "") == "privileged_instruction") ++priv;
    if (j.value("reason", "") == "io_instruction") ++io;
    if (j.contains("seq")) last_seq = j["seq"];
  }
  EXPECT_EQ(priv, 4);  // two before the test result, two after
  EXPECT_EQ(io, 0);    // the guest's console traffic is left out
  EXPECT_GE(last_seq, 13u);  // but every event is numbered
}

TEST_F(RunTest, TraceOffWritesOnlyTheClosingRecords) {
  fm.dispatcher.set(Reason::privileged_instruction, advance);
  opt.trace = TraceMode::off;
  script(ev(Reason::privileged_instruction), 5);
  EXPECT_EQ(go(), 0);
  for (auto& j : records(fm.trace_out.text)) EXPECT_FALSE(j.contains("reason")) << j;
}

TEST_F(RunTest, HaltedGuestWaitsForItsTimerWithoutEnteringTheGuest) {
  fm.dispatcher.set(Reason::io_instruction, emulate_io);
  fm.dispatcher.set(Reason::hlt, emulate_hlt);
  fm.dispatcher.set(Reason::interrupt_window, resume);
  fm.board.set_tsc_hz(dev::Pit8254::kInputHz);
  auto out = [](std::uint16_t port, std::uint8_t v) {
    Event e = ev(Reason::io_instruction);
    e.io.port = port;
    e.io.size = 1;
    return [e, v](VCpu& c) {
      c.regs.eax = v;
      return e;
    };
  };
  // The guest programs the PIC and a 10 ms PIT tick, enables interrupts and halts twice.
  for (auto [p, v] : std::vector<std::pair<std::uint16_t, std::uint8_t>>{
           {0x20, 0x11}, {0x21, 0x20}, {0x21, 0x04}, {0x21, 0x01}, {0x21, 0xfe},
           {0x43, 0x34}, {0x40, 0x9c}, {0x40, 0x2e}})
    be.script.push_back(out(p, v));
  fm.vcpu().eflags |= x86::eflags::IF;
  for (int i = 0; i < 2; ++i) {
    be.script.push_back(out(0x20, 0x20));  // EOI
    be.script.push_back([](VCpu&) { return ev(Reason::hlt); });
  }
  be.script.push_back(out(0x20, 0x20));
  EXPECT_EQ(go(), 0);
  EXPECT_EQ(fm.board.idle_skips(), 2u);
  int irqs = 0;
  for (auto& p : be.injected) irqs += p.type == PendingEvent::Type::external_interrupt && p.vector == 0x20;
  EXPECT_EQ(irqs, 3);  // the edge of programming, then one per HLT
}

TEST_F(RunTest, ABackEndsOwnSwitchWorkCountsAsTheMonitors) {
  fm.dispatcher.set(Reason::privileged_instruction, advance);
  be.step_tsc = 100;
  be.switch_margin = 10;  // of each enter(), only the middle 80 ticks are the guest's
  script(ev(Reason::privileged_instruction), 3);
  EXPECT_EQ(go(), 0);
  ASSERT_EQ(stats.entries, 4u);  // three events, then the exit
  EXPECT_EQ(stats.guest_tsc, 4u * 80);
  // Before the first switch, then between one entry's exit and the next one's switch.
  EXPECT_EQ(stats.monitor_tsc, 10u + 3 * 20);
  // And the guest's clock never saw the switch work: 4 entries of 80 ticks from 1000.
  EXPECT_EQ(fm.board.device_time(), 1000u + 4 * 80);
}

// The spin watchdog judges by progress, not by time alone: at each timer exit with
// interrupts off it samples the guest's EIP and registers.
struct SpinTest : RunTest {
  void SetUp() override {
    fm.dispatcher.set(Reason::external_interrupt, resume);
    be.step_tsc = 500'000;  // half a second of guest time per entry at 1 MHz
    fm.vcpu().eip = 0x100000;
  }
  // 20 timer exits, each after `step` changed the guest's state.
  void script_timer_exits(std::function<void(VCpu&, int)> step) {
    for (int i = 0; i < 20; ++i) {
      be.script.push_back([step, i](VCpu& v) {
        step(v, i);
        return ev(Reason::external_interrupt);
      });
    }
  }
};

TEST_F(SpinTest, ALongBootWithInterruptsOffThatMovesOnIsNotContained) {
  // Ten guest seconds with IF = 0 and nothing but timer exits, the guest somewhere new each time.
  script_timer_exits([](VCpu& v, int i) { v.eip = 0x100000 + 0x1000 * static_cast<std::uint32_t>(i % 7); });
  EXPECT_EQ(go(), 0) << fm.board.stop_reason();
  EXPECT_EQ(be.entries, 21u);
}

TEST_F(SpinTest, ALongRepeatedStringInstructionIsProgress) {
  // REP STOSD over a large buffer: the same EIP at every sample, but ECX and EDI move.
  script_timer_exits([](VCpu& v, int i) {
    v.regs.ecx = 100'000'000 - 1'000'000 * static_cast<std::uint32_t>(i);
    v.regs.edi = 0x200000 + 4'000'000 * static_cast<std::uint32_t>(i);
  });
  EXPECT_EQ(go(), 0) << fm.board.stop_reason();
}

TEST_F(SpinTest, APauseLoopOverAFlagThatNeverChangesIsContained) {
  // 1: pause; cmpl $0, flag; je 1b: EIP wanders over a few bytes, the registers stand still.
  script_timer_exits([](VCpu& v, int i) { v.eip = 0x100040 + 2 * static_cast<std::uint32_t>(i % 3); });
  EXPECT_EQ(go(), kStatusContained);
  EXPECT_LE(be.entries, 8u);
  EXPECT_NE(std::string(fm.board.stop_reason()).find("making no progress"), std::string::npos);
}

TEST_F(SpinTest, AGuestTscWrittenBackwardsMovesNoDeadline) {
  // WRMSR of the TSC to 0 (through the MSR policy, as a guest would): the guest's TSC starts
  // again, while the monitor's deadlines stay in guest time, so every entry still runs the
  // guest for a quarter second instead of exiting at once (the livelock of a TSC-based timer).
  fm.vcpu().eflags |= x86::eflags::IF;
  script(ev(Reason::msr_write));
  fm.dispatcher.set(Reason::msr_write, [](Machine& m, VCpu& v, const Event&) {
    v.regs.ecx = 0x10;
    v.regs.eax = v.regs.edx = 0;
    EXPECT_EQ(m.msr_policy().wrmsr().verdict, MsrVerdict::done);
    return Action::advance;
  });
  std::uint64_t tsc_after_write = 0, watchdog_lead = 0;
  be.script.push_back([&](VCpu&) {
    tsc_after_write = fm.board.guest_tsc(be.clock);
    watchdog_lead = be.timer_watchdog - fm.board.guest_time(be.clock - be.step_tsc);
    return ev(Reason::external_interrupt);
  });
  EXPECT_EQ(go(), 0) << fm.board.stop_reason();
  EXPECT_LT(tsc_after_write, 2 * be.step_tsc);  // the guest's TSC restarted near 0
  EXPECT_EQ(watchdog_lead, fm.board.tsc_hz() / 4);
}

// A debugger's view (GDB's hv-trace): the machine, and the last events, newest last.
TEST_F(RunTest, TheDebugStateHoldsTheMachineAndTheLastEvents) {
  fm.dispatcher.set(Reason::privileged_instruction, advance);
  fm.dispatcher.set(Reason::io_instruction, resume);
  const unsigned n = DebugState::kRing + 6;
  for (unsigned i = 0; i < n; ++i) {
    be.script.push_back([i](VCpu&) {
      Event e = ev(Reason::privileged_instruction, 1);
      e.guest_eip = 0x2000 + i;
      return e;
    });
  }
  be.script.push_back([this](VCpu&) {
    fm.board.note_exit_request(0);
    return ev(Reason::io_instruction);
  });
  EXPECT_EQ(go(), 0);
  EXPECT_EQ(g_debug.machine, &fm.machine);
  ASSERT_EQ(g_debug.events, n + 1);
  const DebugEvent& last = g_debug.ring[(g_debug.events - 1) % DebugState::kRing];
  EXPECT_EQ(last.seq, n + 1);
  EXPECT_EQ(last.reason, Reason::io_instruction);
  const DebugEvent& before = g_debug.ring[(g_debug.events - 2) % DebugState::kRing];
  EXPECT_EQ(before.reason, Reason::privileged_instruction);
  EXPECT_EQ(before.action, Action::advance);
  EXPECT_EQ(before.guest_eip, 0x2000u + n - 1);
}

}  // namespace
}  // namespace hvlab::vmm
