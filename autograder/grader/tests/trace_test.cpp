#include <gtest/gtest.h>

#include "autograder/grader/trace.hpp"

namespace hvlab::grader {
namespace {

using nlohmann::json;

const char* kTrace =
    R"({"kind":"trap","vector":13,"cpl":1,"eip":"0x00101234","insn":"cli","outcome":"emulated"})" "\n"
    R"({"kind":"trap","vector":13,"cpl":1,"eip":"0x00101240","insn":"lgdt","outcome":"emulated"})" "\n"
    R"({"kind":"trap","vector":14,"cpl":3,"eip":"0x00400000","insn":"mov","outcome":"reflected"})" "\n"
    R"({"kind":"hypercall","nr":2,"regs":{"eax":2,"ebx":"0x10"}})" "\n"
    R"({"kind":"summary","traps":3,"hypercalls":1})" "\n";

EventAssertion where(std::vector<std::pair<std::string, json>> filters) {
  EventAssertion a;
  a.where = std::move(filters);
  return a;
}

TEST(Trace, ParsesEventsAndSummary) {
  Trace t = parse_trace(kTrace);
  EXPECT_EQ(t.events.size(), 5u);
  EXPECT_EQ(t.malformed, 0u);
  ASSERT_NE(t.summary(), nullptr);
  EXPECT_EQ((*t.summary())["traps"], 3);
}

TEST(Trace, MalformedLinesAreCountedNotFatal) {
  Trace t = parse_trace("{\"kind\":\"trap\"}\nnot json\n[1,2]\n{\"kind\":\"trap\"\n\n{\"kind\":\"exit\"}\n");
  EXPECT_EQ(t.events.size(), 2u);
  EXPECT_EQ(t.malformed, 3u);
  ASSERT_EQ(t.malformed_lines.size(), 3u);
  EXPECT_EQ(t.malformed_lines[0], 2u);
  EXPECT_EQ(t.summary(), nullptr);
}

TEST(Trace, UnterminatedLastLineIsSkippedWhenTheRunWasCut) {
  EXPECT_EQ(parse_trace("{\"kind\":\"a\"}\n{\"kind\":", false).malformed, 0u);
  EXPECT_EQ(parse_trace("{\"kind\":\"a\"}\n{\"kind\":", true).malformed, 1u);
  EXPECT_EQ(parse_trace("{\"kind\":\"a\"}\n{\"kind\":\"b\"}", true).events.size(), 2u);
}

TEST(Trace, FiltersMatchGlobsAndNumbersInAnyBase) {
  Trace t = parse_trace(kTrace);
  json cli = t.events[0];
  EXPECT_TRUE(event_matches(cli, where({{"kind", "trap"}, {"insn", "cli"}})));
  EXPECT_TRUE(event_matches(cli, where({{"insn", "c*"}})));
  EXPECT_FALSE(event_matches(cli, where({{"insn", "lgdt"}})));
  EXPECT_TRUE(event_matches(cli, where({{"eip", 0x00101234}})));  // "0x00101234" is that number
  EXPECT_TRUE(event_matches(cli, where({{"vector", 13}})));
  EXPECT_TRUE(event_matches(cli, where({{"vector", "13"}})));     // a string filter on a number
  EXPECT_FALSE(event_matches(cli, where({{"missing_field", 1}})));
}

TEST(Trace, NestedPathsAndAnyOfArrays) {
  Trace t = parse_trace(kTrace);
  EXPECT_TRUE(event_matches(t.events[3], where({{"regs.ebx", 16}})));
  EXPECT_FALSE(event_matches(t.events[3], where({{"regs.ecx", 16}})));
  EXPECT_TRUE(event_matches(t.events[1], where({{"insn", json::array({"cli", "lgdt"})}})));
}

TEST(Trace, CountBoundsAndMessages) {
  Trace t = parse_trace(kTrace);
  EventAssertion a = where({{"kind", "trap"}, {"vector", 13}});
  a.min = 1;
  AssertionOutcome ok = check_assertion(a, {&t});
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.observed, 2);
  a.max = 1;
  AssertionOutcome high = check_assertion(a, {&t});
  EXPECT_FALSE(high.ok);
  EXPECT_EQ(high.message, "expected between 1 and 1 event(s) matching kind=trap vector=13, saw 2");
  EventAssertion none = where({{"insn", "sgdt"}});
  none.min = 1;
  AssertionOutcome missing = check_assertion(none, {&t});
  EXPECT_FALSE(missing.ok);
  EXPECT_EQ(missing.message, "expected at least 1 event(s) matching insn=sgdt, saw 0");
}

TEST(Trace, SumOfAFieldAcrossTraces) {
  Trace a = parse_trace(kTrace);
  Trace b = parse_trace(kTrace);
  EventAssertion s = where({{"kind", "summary"}});
  s.sum = "traps";
  s.max = 5;
  AssertionOutcome r = check_assertion(s, {&a, &b});
  EXPECT_EQ(r.observed, 6);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("sum of 'traps'"), std::string::npos);
  EXPECT_NE(r.message.find("at most 5"), std::string::npos);
}

}  // namespace
}  // namespace hvlab::grader
