#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "autograder/grader/rubric.hpp"

namespace hvlab::grader {
namespace {

namespace fs = std::filesystem;

const char* kLab01 = R"(
[lab]
name = "lab01"
title = "Trap and emulate"
folder = "lab01-trap-and-emulate"
emulators = ["qemu", "bochs"]
timeout = { qemu = 20, bochs = 90 }
max_boots = 5

[[guest]]
image = "suite"
cmdline = "quiet"

[[test]]
test = "*"
points = 1

[[test]]
test = "sens_*"
points = 2
expect = "fail"
exercise = "lab01-e3"
visibility = "after_due_date"
why = "POPF at CPL 1 ignores IF without a trap"

[[test]]
test = "priv_lgdt"
points = 3
emulators = ["qemu"]
events = [ { where = { kind = "trap", insn = "lgdt" }, min = 1 } ]

[[check]]
name = "trace_summary"
points = 1
[[check.events]]
where = { kind = "summary" }
min = 1
max = 1
)";

std::string error_of(const std::string& text) {
  try {
    parse_rubric(text, "rubrics/x.toml");
  } catch (const RubricError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Rubric, ParsesEveryKey) {
  Rubric rb = parse_rubric(kLab01, "rubrics/lab01.toml");
  EXPECT_EQ(rb.name, "lab01");
  EXPECT_EQ(rb.folder, "lab01-trap-and-emulate");
  ASSERT_TRUE(rb.monitor);
  EXPECT_EQ(*rb.monitor, "lab01-trap-and-emulate/monitor.elf");  // the default
  EXPECT_DOUBLE_EQ(rb.timeout_seconds.at(Emulator::qemu), 20);
  EXPECT_DOUBLE_EQ(rb.timeout_seconds.at(Emulator::bochs), 90);
  EXPECT_EQ(rb.max_boots, 5u);
  ASSERT_EQ(rb.guests.size(), 1u);
  EXPECT_EQ(rb.guests[0].cmdline, "quiet");
  ASSERT_EQ(rb.tests.size(), 3u);
  EXPECT_EQ(rb.tests[1].expect, Expect::fail);
  EXPECT_EQ(rb.tests[1].visibility, Visibility::after_due_date);
  EXPECT_EQ(rb.tests[1].exercise, "lab01-e3");
  ASSERT_EQ(rb.tests[2].events.size(), 1u);
  EXPECT_EQ(rb.tests[2].events[0].where.size(), 2u);
  EXPECT_FALSE(rb.tests[2].runs_on(Emulator::bochs));
  ASSERT_EQ(rb.checks.size(), 1u);
  EXPECT_EQ(*rb.checks[0].events[0].max, 1);
}

TEST(Rubric, ExactNameBeatsGlobAndFirstGlobWins) {
  Rubric rb = parse_rubric(kLab01, "rubrics/lab01.toml");
  EXPECT_EQ(rb.entry_for("suite", "priv_lgdt")->points, 3);  // exact, though "*" comes first
  EXPECT_EQ(rb.entry_for("suite", "sens_popf_if")->points, 2) << "'sens_*' is narrower than '*'";
  EXPECT_EQ(rb.entry_for("suite", "exc_de")->points, 1);
  EXPECT_EQ(rb.entry_for("other", "priv_lgdt")->points, 3);
}

TEST(Rubric, EquallySpecificGlobsGoToTheFirst) {
  Rubric rb = parse_rubric(R"(
[lab]
name = "x"
monitor = "none"
[[guest]]
image = "suite"
[[test]]
test = "exc_*"
points = 1
[[test]]
test = "*_de"
points = 2
[[test]]
test = "exc_[dg]?"
points = 3
)", "rubrics/x.toml");
  EXPECT_EQ(rb.entry_for("suite", "exc_pf")->points, 1);
  EXPECT_EQ(rb.entry_for("suite", "exc_de")->points, 3) << "exc_[dg]? has five literal characters";
  EXPECT_EQ(rb.entry_for("suite", "intr_de")->points, 2);
  Rubric tie = parse_rubric(R"(
[lab]
name = "x"
monitor = "none"
[[guest]]
image = "suite"
[[test]]
test = "exc_*"
points = 1
[[test]]
test = "*c_de"
points = 2
)", "rubrics/x.toml");
  EXPECT_EQ(tie.entry_for("suite", "exc_de")->points, 1) << "four literal characters each: the first wins";
}

TEST(Rubric, GlobsAndGuestRestriction) {
  Rubric rb = parse_rubric(R"(
[lab]
name = "lab03"
monitor = "lab03-paravirt/monitor.elf"
[[guest]]
image = "suite-pv"
[[guest]]
image = "suite"
[[test]]
test = "exc_[dg]*"
points = 1
guest = "suite-pv"
[[test]]
test = "sens_?opf*"
points = 2
)", "rubrics/lab03.toml");
  EXPECT_NE(rb.entry_for("suite-pv", "exc_de"), nullptr);
  EXPECT_NE(rb.entry_for("suite-pv", "exc_gp"), nullptr);
  EXPECT_EQ(rb.entry_for("suite-pv", "exc_pf"), nullptr);
  EXPECT_EQ(rb.entry_for("suite", "exc_de"), nullptr) << "restricted to suite-pv";
  EXPECT_NE(rb.entry_for("suite", "sens_popf_if"), nullptr);
  EXPECT_EQ(rb.entry_for("suite", "sens_pushf"), nullptr);
}

TEST(Rubric, SyntaxErrorNamesFileLineAndColumn) {
  std::string e = error_of("[lab]\nname = \"x\"\nmonitor = \n");
  EXPECT_NE(e.find("rubrics/x.toml:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("not valid TOML"), std::string::npos) << e;
}

TEST(Rubric, WrongTypeNamesEntryKeyAndLine) {
  std::string e = error_of(
      "[lab]\nname = \"x\"\nmonitor = \"none\"\n[[guest]]\nimage = \"suite\"\n"
      "[[test]]\ntest = \"a\"\npoints = 1\n[[test]]\ntest = \"b\"\npoints = \"two\"\n");
  EXPECT_EQ(e, "rubrics/x.toml:11: [[test]] #2, key 'points': expected a number, found a string");
}

TEST(Rubric, UnknownKeyIsAnError) {
  std::string e = error_of(
      "[lab]\nname = \"x\"\nmonitor = \"none\"\n[[guest]]\nimage = \"suite\"\n[[test]]\ntest = \"a\"\npoinst = 1\n");
  EXPECT_NE(e.find("rubrics/x.toml:8: [[test]] #1, key 'poinst': unknown key (the keys here are: test, points,"),
            std::string::npos) << e;
  std::string e2 = error_of(
      "[lab]\nname = \"x\"\nmonitor = \"none\"\nmonitr = 1\n[[guest]]\nimage = \"suite\"\n");
  EXPECT_NE(e2.find("rubrics/x.toml:4: [lab], key 'monitr': unknown key"), std::string::npos) << e2;
  std::string e3 = error_of("[lab]\nname = \"x\"\nmonitor = \"none\"\n[[guest]]\nimage = \"suite\"\n[[tests]]\n");
  EXPECT_NE(e3.find("top level, key 'tests': unknown key"), std::string::npos) << e3;
}

TEST(Rubric, BadChoiceListsTheAllowedValues) {
  std::string e = error_of(
      "[lab]\nname = \"x\"\nmonitor = \"none\"\n[[guest]]\nimage = \"suite\"\n"
      "[[test]]\ntest = \"a\"\npoints = 1\nvisibility = \"secret\"\n");
  EXPECT_NE(e.find("key 'visibility': 'secret' is not one of 'visible', 'hidden', 'after_due_date', "
                   "'after_published'"), std::string::npos) << e;
  std::string e2 = error_of(
      "[lab]\nname = \"x\"\nmonitor = \"none\"\nemulators = [\"kvm\"]\n[[guest]]\nimage = \"suite\"\n");
  EXPECT_NE(e2.find("unknown emulator 'kvm'"), std::string::npos) << e2;
}

TEST(Rubric, MissingPiecesAreReported) {
  EXPECT_NE(error_of("[[guest]]\nimage = \"suite\"\n").find("key 'lab': missing"), std::string::npos);
  EXPECT_NE(error_of("[lab]\nname = \"x\"\nmonitor = \"none\"\n").find("no [[guest]] entry"), std::string::npos);
  EXPECT_NE(error_of("[lab]\nname = \"x\"\n[[guest]]\nimage = \"s\"\n").find("key 'monitor': missing"),
            std::string::npos);
  std::string e = error_of(
      "[lab]\nname = \"x\"\nmonitor = \"none\"\n[[guest]]\nimage = \"suite\"\n"
      "[[test]]\ntest = \"a\"\npoints = 1\nevents = [ { where = { kind = \"trap\" } } ]\n");
  EXPECT_NE(e.find("[[test]] #1, events #1: give 'min', 'max' or both"), std::string::npos) << e;
}

TEST(Rubric, EntryEmulatorMustBeTheLabs) {
  std::string e = error_of(
      "[lab]\nname = \"x\"\nmonitor = \"none\"\nemulators = [\"bochs\"]\n[[guest]]\nimage = \"suite\"\n"
      "[[test]]\ntest = \"a\"\npoints = 1\nemulators = [\"qemu\"]\n");
  EXPECT_NE(e.find("the lab does not run on qemu"), std::string::npos) << e;
}

TEST(Rubric, GuestCmdlineCannotSetTheGradersOptions) {
  std::string e = error_of("[lab]\nname = \"x\"\nmonitor = \"none\"\n[[guest]]\nimage = \"suite\"\ncmdline = \"first=3\"\n");
  EXPECT_NE(e.find("first= and nonce= are the grader's"), std::string::npos) << e;
}

TEST(Rubric, FileNameMustMatchLabName) {
  fs::path dir = fs::temp_directory_path() / ("hvlab-rubric-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream(dir / "lab02.toml") << "[lab]\nname = \"lab01\"\nmonitor = \"none\"\n[[guest]]\nimage = \"suite\"\n";
  }
  try {
    load_rubric(dir / "lab02.toml");
    ADD_FAILURE() << "expected a RubricError";
  } catch (const RubricError& e) {
    EXPECT_NE(std::string(e.what()).find("does not match the file name"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_rubric(dir / "absent.toml"), RubricError);
  fs::remove_all(dir);
}

TEST(Rubric, NativeRubricOfTheKitLoads) {
  Rubric rb = load_rubric(fs::path(HVLAB_RUBRIC_DIR) / "native.toml");
  EXPECT_EQ(rb.name, "native");
  EXPECT_TRUE(rb.bare());
  EXPECT_TRUE(rb.runs_on(Emulator::qemu));
  EXPECT_TRUE(rb.runs_on(Emulator::bochs));
  ASSERT_FALSE(rb.guests.empty());
  // Every suite group is covered, visible, expected to pass, one point.
  for (const char* name : {"priv_lgdt", "sens_popf_if", "intr_timer_irq", "exc_de", "paging_wp", "user_syscall",
                           "dev_uart_loopback", "smc_rewrite", "tsc_monotonic"}) {
    const TestEntry* e = rb.entry_for(rb.guests[0].image, name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->points, 1) << name;
    EXPECT_EQ(e->expect, Expect::pass) << name;
    EXPECT_EQ(e->visibility, Visibility::visible) << name;
  }
  auto names = list_rubrics(HVLAB_RUBRIC_DIR);
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "native");
}

}  // namespace
}  // namespace hvlab::grader
