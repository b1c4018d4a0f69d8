#include "common/vmm/options.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hvlab::vmm {
namespace {

TEST(MonitorOptions, AbsentKeysKeepTheMonitorsDefaults) {
  MonitorOptions o;
  o.budgets.events = 123;
  char why[96] = "";
  ASSERT_TRUE(parse_monitor_options("guest_mib=64 something=else", o, why, sizeof why)) << why;
  EXPECT_EQ(o.budgets.events, 123u);
  EXPECT_EQ(o.guest_mib, 64u);
  EXPECT_EQ(o.run.trace, TraceMode::quiet);
  EXPECT_TRUE(o.hide_monitor_time);
}

TEST(MonitorOptions, EveryKeyAndItsOldNames) {
  MonitorOptions o;
  char why[96] = "";
  ASSERT_TRUE(parse_monitor_options("max_exits=7 seconds=9 spin_seconds=3 output_kib=16 trace=all trace_cap=5 clock=host",
                                    o, why, sizeof why))
      << why;
  EXPECT_EQ(o.budgets.events, 7u);
  EXPECT_EQ(o.budgets.guest_seconds, 9u);
  EXPECT_EQ(o.budgets.spin_seconds, 3u);
  EXPECT_EQ(o.budgets.output_bytes, 16u * 1024);
  EXPECT_EQ(o.run.trace, TraceMode::all);
  EXPECT_EQ(o.run.trace_cap, 5u);
  EXPECT_FALSE(o.hide_monitor_time);
  EXPECT_FALSE(o.debugger);
  ASSERT_TRUE(parse_monitor_options("debugger=on", o, why, sizeof why));
  EXPECT_TRUE(o.debugger);
  ASSERT_TRUE(parse_monitor_options("budget=11 trace=0", o, why, sizeof why));
  EXPECT_EQ(o.budgets.events, 11u);
  EXPECT_EQ(o.run.trace, TraceMode::off);
  ASSERT_TRUE(parse_monitor_options("events=12", o, why, sizeof why));
  EXPECT_EQ(o.budgets.events, 12u);
}

TEST(MonitorOptions, BadValuesAreRefusedWithTheReason) {
  MonitorOptions o;
  char why[96] = "";
  EXPECT_FALSE(parse_monitor_options("events=lots", o, why, sizeof why));
  EXPECT_EQ(std::string(why), "events=lots is not a number");
  EXPECT_FALSE(parse_monitor_options("trace=loud", o, why, sizeof why));
  EXPECT_EQ(std::string(why), "trace=loud is not one of all, quiet, off");
  EXPECT_FALSE(parse_monitor_options("guest_mib=1", o, why, sizeof why));
  EXPECT_EQ(std::string(why), "guest_mib=1 is outside 4-3072");
  EXPECT_FALSE(parse_monitor_options("debugger=yes", o, why, sizeof why));
  EXPECT_EQ(std::string(why), "debugger=yes is not one of on, off");
  EXPECT_FALSE(parse_monitor_options("seconds=99999999999999999999999", o, why, sizeof why));
}

TEST(MonitorOptions, ApplySetsTheBoardsBudgets) {
  MonitorOptions o;
  o.budgets.output_bytes = 4096;
  Board b(nullptr, nullptr);
  apply(o, b);
  EXPECT_EQ(b.budgets().output_bytes, 4096u);
}

}  // namespace
}  // namespace hvlab::vmm
