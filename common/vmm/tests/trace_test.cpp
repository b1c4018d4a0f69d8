#include "common/vmm/trace.hpp"

#include "common/vmm/testing/fake_machine.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

using namespace hvlab::vmm;

namespace {
struct StringSink : hvlab::FormatSink {
  std::string s;
  void put(char c) override { s += c; }
};
std::vector<nlohmann::json> lines(const std::string& s) {
  std::vector<nlohmann::json> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
  return out;
}
}  // namespace

TEST(Trace, EventRecordIsOneJsonLine) {
  StringSink sink;
  TraceWriter t(sink);
  Event e;
  e.source = Source::trap;
  e.reason = Reason::privileged_instruction;
  e.exception = {13, true, 0};
  e.guest_eip = 0x101a2c;
  t.event(e, Action::advance, "cli");
  auto j = lines(sink.s);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["kind"], "trap");
  EXPECT_EQ(j[0]["reason"], "privileged_instruction");
  EXPECT_EQ(j[0]["vector"], 13);
  EXPECT_EQ(j[0]["eip"], "0x00101a2c");
  EXPECT_EQ(j[0]["insn"], "cli");
  EXPECT_EQ(j[0]["outcome"], "emulated");
  EXPECT_EQ(j[0]["seq"], 1);
}
TEST(Trace, ExitAndIoFields) {
  StringSink sink;
  TraceWriter t(sink);
  Event e;
  e.source = Source::vm_exit;
  e.reason = Reason::io_instruction;
  e.raw_reason = 30;
  e.raw_qualification = 0x3f80000;
  e.io.port = 0x3f8;
  e.io.size = 1;
  t.event(e, Action::advance);
  auto j = lines(sink.s).at(0);
  EXPECT_EQ(j["kind"], "exit");
  EXPECT_EQ(j["exit_reason"], 30);
  EXPECT_EQ(j["port"], 0x3f8);
  EXPECT_EQ(j["dir"], "out");
  EXPECT_FALSE(j.contains("insn"));
}
TEST(Trace, EscapesStrings) {
  StringSink sink;
  TraceWriter t(sink);
  t.note("contained", "wrote \"outside\"\n\\ its memory");
  auto j = lines(sink.s).at(0);
  EXPECT_EQ(j["what"], "wrote \"outside\"\n\\ its memory");
}
TEST(Trace, SummaryCountsReasons) {
  StringSink sink;
  TraceWriter t(sink);
  fake::FakeMachine fm;
  Dispatcher d;
  d.set_fallback([](Machine&, VCpu&, const Event&) { return Action::resume; });
  Event e;
  e.reason = Reason::hlt;
  d.dispatch(fm.machine, fm.vcpu(), e);
  d.dispatch(fm.machine, fm.vcpu(), e);
  t.summary(d, 2, "guest exited with status 0");
  auto j = lines(sink.s).at(0);
  EXPECT_EQ(j["kind"], "summary");
  EXPECT_EQ(j["events"], 2);
  EXPECT_EQ(j["counts"]["hlt"], 2);
  EXPECT_EQ(j["stop"], "guest exited with status 0");
}
TEST(Trace, EventsCanBeTurnedOffButAreCounted) {
  StringSink sink;
  TraceWriter t(sink);
  t.set_events_enabled(false);
  t.event(Event{}, Action::resume);
  EXPECT_TRUE(sink.s.empty());
  EXPECT_EQ(t.records(), 1u);
}
TEST(Trace, TypedPayloadsBecomeTheirFields) {
  StringSink sink;
  TraceWriter t(sink);
  Event pf;
  pf.reason = Reason::page_fault;
  pf.exception = {14, true, 6};
  pf.memory.linear = hvlab::GuestVirtAddr(0xc0001000);
  pf.memory.has_linear = true;
  t.event(pf, Action::reflect);
  Event msr;
  msr.source = Source::vm_exit;
  msr.reason = Reason::msr_write;
  msr.msr.index = 0x1b;
  t.event(msr, Action::advance);
  Event cr;
  cr.reason = Reason::cr_access;
  cr.cr.cr = 3;
  t.event(cr, Action::advance);
  Event ept;
  ept.source = Source::vm_exit;
  ept.reason = Reason::ept_violation;
  ept.memory.physical = hvlab::GuestPhysAddr(0xfee00020);
  ept.memory.has_physical = true;
  t.event(ept, Action::stop);
  Event wb;
  wb.source = Source::vm_exit;
  wb.reason = Reason::privileged_instruction;
  wb.op = PrivilegedOp::wbinvd;
  t.event(wb, Action::advance);
  auto j = lines(sink.s);
  ASSERT_EQ(j.size(), 5u);
  EXPECT_EQ(j[0]["address"], "0xc0001000");
  EXPECT_EQ(j[0]["error_code"], 6);
  EXPECT_EQ(j[1]["number"], 0x1b);
  EXPECT_EQ(j[2]["number"], 3);
  EXPECT_EQ(j[3]["gpa"], "0xfee00020");
  EXPECT_FALSE(j[3].contains("address"));
  EXPECT_EQ(j[4]["op"], "wbinvd");
}
TEST(Trace, KtapNotesAreCounted) {
  StringSink sink;
  TraceWriter t(sink);
  t.note("ktap", "ok 1 a");
  t.note("ktaps", "not one");
  t.note("ktap", "ok 2 b");
  EXPECT_EQ(t.ktap_notes(), 2u);
}
