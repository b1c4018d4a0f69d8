#include "common/vmm/dispatcher.hpp"

#include "common/vmm/testing/fake_machine.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace hvlab::vmm;

namespace {
Action emulate_cli(Machine&, VCpu& v, const Event&) {
  v.eflags &= ~hvlab::x86::eflags::IF;
  return Action::advance;
}
Action reflect_it(Machine&, VCpu&, const Event&) { return Action::reflect; }
}  // namespace

TEST(Dispatcher, AdvancesEipOnlyForEmulatedInstructions) {
  Dispatcher d;
  d.set(Reason::privileged_instruction, emulate_cli);
  d.set(Reason::exception, reflect_it);
  fake::FakeMachine fm;
  VCpu& v = fm.vcpu();
  v.eip = 0x1000;
  v.eflags |= hvlab::x86::eflags::IF;
  Event e;
  e.reason = Reason::privileged_instruction;
  e.insn_length = 1;
  EXPECT_EQ(d.dispatch(fm.machine, v, e), Action::advance);
  EXPECT_EQ(v.eip, 0x1001u);
  EXPECT_FALSE(v.interrupts_enabled());
  EXPECT_EQ(v.instructions_emulated, 1u);
  Event ex;
  ex.reason = Reason::exception;
  ex.insn_length = 3;
  EXPECT_EQ(d.dispatch(fm.machine, v, ex), Action::reflect);
  EXPECT_EQ(v.eip, 0x1001u);
}
TEST(Dispatcher, UnhandledReasonStopsTheGuest) {
  Dispatcher d;
  fake::FakeMachine fm;
  VCpu& v = fm.vcpu();
  Event e;
  e.reason = Reason::cpuid;
  EXPECT_EQ(d.dispatch(fm.machine, v, e), Action::stop);
  EXPECT_EQ(d.count(Reason::cpuid), 1u);
}
TEST(Dispatcher, CountsPerReason) {
  Dispatcher d;
  d.set_fallback(reflect_it);
  fake::FakeMachine fm;
  VCpu& v = fm.vcpu();
  Event e;
  e.reason = Reason::hlt;
  d.dispatch(fm.machine, v, e);
  d.dispatch(fm.machine, v, e);
  e.reason = Reason::io_instruction;
  d.dispatch(fm.machine, v, e);
  EXPECT_EQ(d.count(Reason::hlt), 2u);
  EXPECT_EQ(d.count(Reason::io_instruction), 1u);
  EXPECT_EQ(d.total(), 3u);
}
TEST(Dispatcher, ReasonNamesComeFromTheList) {
  EXPECT_STREQ(reason_name(Reason::privileged_instruction), "privileged_instruction");
  EXPECT_STREQ(reason_name(Reason::ept_violation), "ept_violation");
  EXPECT_STREQ(reason_name(Reason::other), "other");
}
