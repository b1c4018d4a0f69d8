#include "common/vmm/trace.hpp"

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
  e.vector = 13;
  e.has_error_code = true;
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
  e.qualification = 0x3f80000;
  e.io = {0x3f8, 1, false, false, false};
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
  Dispatcher d;
  d.set_fallback([](VCpu&, const Event&) { return Action::resume; });
  VCpu v;
  Event e;
  e.reason = Reason::hlt;
  d.dispatch(v, e);
  d.dispatch(v, e);
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
