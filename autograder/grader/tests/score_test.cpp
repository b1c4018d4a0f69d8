// Scoring: expected outcomes, expected failures, emulator disagreement, event assertions,
// unscored tests, rubric patterns that match nothing, and runs that crash, hang, flood or
// print nothing.

#include <gtest/gtest.h>

#include "autograder/grader/score.hpp"
#include "autograder/grader/tests/fake_guest.hpp"

namespace hvlab::grader {
namespace {

using testing::Behaviour;
using testing::FakeGuest;

const std::vector<std::string> kNames = {"priv_lgdt", "sens_popf_if", "sens_sgdt", "exc_de", "paging_wp"};

const char* kLab01 = R"(
[lab]
name = "lab01"
folder = "lab01-trap-and-emulate"
[[guest]]
image = "suite"
[[test]]
test = "*"
points = 1
[[test]]
test = "sens_*"
points = 2
expect = "fail"
why = "sensitive but unprivileged"
)";

GuestRun boot_on(const FakeGuest& g, Emulator e) {
  RunSettings s;
  s.spec.emu = e;
  s.max_boots = 8;
  return run_guest("suite", s, [&](const runner::BootSpec& spec) { return g(spec); });
}

LabResult score(const char* rubric_text, const FakeGuest& g, std::vector<Emulator> emus = {Emulator::qemu, Emulator::bochs},
                const Catalog& catalog = {}) {
  Rubric rb = parse_rubric(rubric_text, "rubrics/test.toml");
  std::vector<GuestRun> runs;
  for (Emulator e : emus) runs.push_back(boot_on(g, e));
  return score_lab(rb, emus, std::move(runs), catalog);
}

const TestResult& row(const LabResult& lab, const std::string& name) {
  for (const auto& t : lab.tests)
    if (t.name == name) return t;
  throw std::runtime_error("no row " + name);
}

FakeGuest lab01_guest() {
  FakeGuest g;
  g.names = kNames;
  g.behaviour["sens_popf_if"] = {Behaviour::fail, "popf: IF still 1"};
  g.behaviour["sens_sgdt"] = {Behaviour::fail, "sgdt: expected base 0x00104000, saw 0x00ffe000"};
  return g;
}

TEST(Score, TheoryPredictedFailuresScore) {
  LabResult lab = score(kLab01, lab01_guest());
  EXPECT_DOUBLE_EQ(lab.score, 7);
  EXPECT_DOUBLE_EQ(lab.max_score, 7);
  EXPECT_TRUE(lab.full_marks());
  const TestResult& t = row(lab, "sens_sgdt");
  EXPECT_EQ(t.status, TestStatus::passed);
  EXPECT_EQ(t.expect, Expect::fail);
  EXPECT_EQ(t.reason, "fails, as theory predicts under this lab: sensitive but unprivileged");
  EXPECT_EQ(t.per_emu[0].label, "fail (expected)");
}

TEST(Score, PassingWhereTheoryPredictsFailureLosesThePoints) {
  FakeGuest g = lab01_guest();
  g.behaviour.erase("sens_popf_if");
  LabResult lab = score(kLab01, g);
  const TestResult& t = row(lab, "sens_popf_if");
  EXPECT_EQ(t.status, TestStatus::failed);
  EXPECT_EQ(t.score, 0);
  EXPECT_EQ(t.max_score, 2);
  EXPECT_EQ(t.reason, "passes, but theory predicts it fails under this lab: sensitive but unprivileged");
  EXPECT_FALSE(lab.full_marks());
}

TEST(Score, ACrashIsNotThePredictedFailure) {
  FakeGuest g = lab01_guest();
  g.behaviour["sens_sgdt"] = {Behaviour::crash, "triple fault"};
  LabResult lab = score(kLab01, g, {Emulator::qemu}, Catalog{{"suite", {5, {{3, "sens_sgdt"}}}}});
  const TestResult& t = row(lab, "sens_sgdt");
  EXPECT_EQ(t.status, TestStatus::failed);
  EXPECT_EQ(t.reason, "the guest stopped during this test: triple fault");
  EXPECT_EQ(t.per_emu[0].label, "crash");
}

TEST(Score, EmulatorsThatDisagreeScoreZero) {
  FakeGuest g;
  g.names = kNames;
  g.on_bochs["exc_de"] = {Behaviour::fail, "#DE not delivered"};
  LabResult lab = score(R"(
[lab]
name = "native"
monitor = "none"
[[guest]]
image = "suite"
[[test]]
test = "*"
points = 1
)", g);
  const TestResult& t = row(lab, "exc_de");
  EXPECT_EQ(t.status, TestStatus::disagree);
  EXPECT_EQ(t.score, 0);
  EXPECT_EQ(t.reason, "disagree: passes on qemu, fails on bochs (bochs: #DE not delivered)");
  EXPECT_EQ(t.per_emu.size(), 2u);
  EXPECT_DOUBLE_EQ(lab.score, 4);
}

TEST(Score, EventAssertionsDecideAPassingTest) {
  const char* rubric = R"(
[lab]
name = "lab01"
folder = "lab01-trap-and-emulate"
[[guest]]
image = "suite"
[[test]]
test = "*"
points = 1
[[test]]
test = "priv_lgdt"
points = 1
[[test.events]]
where = { kind = "trap", insn = "lgdt", outcome = "emulated" }
min = 1
[[test]]
test = "exc_de"
points = 1
events = [ { where = { kind = "trap", insn = "div" }, min = 1 } ]
)";
  FakeGuest g;
  g.names = kNames;
  LabResult lab = score(rubric, g, {Emulator::qemu});
  EXPECT_EQ(row(lab, "priv_lgdt").status, TestStatus::passed);
  const TestResult& t = row(lab, "exc_de");
  EXPECT_EQ(t.status, TestStatus::failed);
  EXPECT_EQ(t.per_emu[0].label, "bad trace");
  EXPECT_EQ(t.reason, "the event trace does not show it: expected at least 1 event(s) matching insn=div kind=trap, saw 0");
}

TEST(Score, UnscoredTestsAndUnmatchedPatternsAreReported) {
  const char* rubric = R"(
[lab]
name = "native"
monitor = "none"
[[guest]]
image = "suite"
[[test]]
test = "priv_*"
points = 1
[[test]]
test = "smc_*"
points = 1
[[test]]
test = "exc_de"
points = 1
)";
  FakeGuest g;
  g.names = kNames;
  LabResult lab = score(rubric, g, {Emulator::qemu});
  EXPECT_EQ(row(lab, "paging_wp").status, TestStatus::unscored);
  EXPECT_EQ(row(lab, "paging_wp").max_score, 0);
  EXPECT_EQ(row(lab, "paging_wp").reason, "unscored: no rubric entry covers this test");
  ASSERT_EQ(lab.errors.size(), 1u);
  EXPECT_EQ(lab.errors[0], "rubrics/test.toml:10: [[test]] #2 test = \"smc_*\" matches no test the guest ran");
  EXPECT_FALSE(lab.full_marks()) << "a rubric error is never full marks";
  EXPECT_DOUBLE_EQ(lab.max_score, 2);
}

TEST(Score, ACrashedTestIsNamedFromTheCatalogAndKeepsItsPoints) {
  FakeGuest g = lab01_guest();
  g.behaviour["exc_de"] = {Behaviour::crash, "triple fault"};
  Catalog catalog;
  catalog["suite"].plan = 5;
  for (unsigned i = 0; i < kNames.size(); ++i) catalog["suite"].names[i + 1] = kNames[i];
  LabResult with = score(kLab01, g, {Emulator::qemu}, catalog);
  EXPECT_DOUBLE_EQ(with.max_score, 7);
  EXPECT_EQ(row(with, "exc_de").status, TestStatus::failed);
  EXPECT_TRUE(with.errors.empty());

  LabResult without = score(kLab01, g, {Emulator::qemu});
  const TestResult& t = row(without, "test 4 (name unknown)");
  EXPECT_EQ(t.status, TestStatus::not_graded);
  EXPECT_NE(t.reason.find("triple fault"), std::string::npos);
  EXPECT_FALSE(without.errors.empty());
}

TEST(Score, NamesLearnedOnOneEmulatorServeTheOther) {
  FakeGuest g;
  g.names = kNames;
  g.on_bochs["exc_de"] = {Behaviour::hang, ""};
  LabResult lab = score(kLab01, g);
  const TestResult& t = row(lab, "exc_de");
  EXPECT_EQ(t.status, TestStatus::disagree);
  EXPECT_NE(t.reason.find("passes on qemu, stops the guest on bochs"), std::string::npos) << t.reason;
  EXPECT_EQ(t.per_emu[1].label, "timeout");
}

TEST(Score, EntryRestrictedToOneEmulator) {
  const char* rubric = R"(
[lab]
name = "native"
monitor = "none"
[[guest]]
image = "suite"
[[test]]
test = "*"
points = 1
[[test]]
test = "paging_wp"
points = 1
emulators = ["bochs"]
)";
  FakeGuest g;
  g.names = kNames;
  g.behaviour["paging_wp"] = {Behaviour::fail, "WP ignored"};
  g.on_bochs["paging_wp"] = {Behaviour::pass, ""};
  LabResult both = score(rubric, g);
  EXPECT_EQ(row(both, "paging_wp").status, TestStatus::passed) << "QEMU's failure is not graded";
  EXPECT_EQ(row(both, "paging_wp").per_emu.size(), 1u);
  LabResult qemu_only = score(rubric, g, {Emulator::qemu});
  EXPECT_EQ(row(qemu_only, "paging_wp").status, TestStatus::not_graded);
  EXPECT_EQ(row(qemu_only, "paging_wp").max_score, 0);
}

TEST(Score, ChecksAssertOnTheWholeTrace) {
  const char* rubric = R"(
[lab]
name = "lab03"
folder = "lab03-paravirt"
[[guest]]
image = "suite"
[[test]]
test = "*"
points = 1
[[check]]
name = "few_monitor_entries"
points = 3
events = [ { where = { kind = "trap" }, max = 3, description = "monitor entries" } ]
[[check]]
name = "has_summary"
points = 1
events = [ { where = { kind = "summary" }, min = 1 } ]
)";
  FakeGuest g;
  g.names = kNames;
  LabResult lab = score(rubric, g, {Emulator::qemu});
  const TestResult& few = row(lab, "few_monitor_entries");
  EXPECT_TRUE(few.is_check);
  EXPECT_EQ(few.status, TestStatus::failed);
  EXPECT_EQ(few.reason, "the event trace does not show it: expected at most 3 event(s) matching monitor entries, saw 5");
  EXPECT_EQ(row(lab, "has_summary").status, TestStatus::passed);
  EXPECT_DOUBLE_EQ(lab.max_score, 9);
}

TEST(Score, AGuestNoTestEntryNamesIsBootedForTheChecksAlone) {
  // lab04's shape: the suite, and the suite again with a broken VMCS that never runs it.
  const char* rubric = R"(
[lab]
name = "lab04"
folder = "lab04-vtx"
[[guest]]
image = "suite"
[[guest]]
image = "suite"
name = "broken"
reference = false
[[test]]
test = "*"
guest = "suite"
points = 1
[[check]]
name = "explained"
points = 3
guest = "broken"
events = [ { where = { kind = "entry_failure" }, min = 1 } ]
)";
  Catalog catalog;
  catalog["suite"].plan = 5;
  for (unsigned i = 0; i < kNames.size(); ++i) catalog["suite"].names[i + 1] = kNames[i];
  FakeGuest g;
  g.names = kNames;
  RunSettings s;
  s.spec.emu = Emulator::qemu;
  s.max_boots = 8;
  GuestRun good = run_guest("suite", s, [&](const runner::BootSpec& spec) { return g(spec); });
  GuestRun broken = run_guest("broken", s, [](const runner::BootSpec&) {
    runner::BootResult r;
    r.outcome = runner::Outcome::exited;
    r.exit_status = 3;
    r.com2 = "{\"seq\":1,\"kind\":\"entry_failure\",\"what\":\"VM entry failed\"}\n";
    return r;
  });
  LabResult lab = score_lab(parse_rubric(rubric, "rubrics/lab04.toml"), {Emulator::qemu}, {good, broken}, catalog);
  EXPECT_TRUE(lab.errors.empty()) << lab.errors.front();
  for (const auto& t : lab.tests) EXPECT_NE(t.name.rfind("broken:", 0), 0u) << t.name << " is nobody's to score";
  EXPECT_EQ(row(lab, "explained").status, TestStatus::passed);
  EXPECT_DOUBLE_EQ(lab.max_score, 5 + 3);
  EXPECT_DOUBLE_EQ(lab.score, 5 + 3);
}

// Runs that give nothing to grade: every test scores 0 with the run's reason.
void expect_all_zero(const std::function<runner::BootResult()>& make, const std::string& reason_part) {
  Catalog catalog;
  catalog["suite"].plan = 5;
  for (unsigned i = 0; i < kNames.size(); ++i) catalog["suite"].names[i + 1] = kNames[i];
  Rubric rb = parse_rubric(kLab01, "rubrics/lab01.toml");
  RunSettings s;
  s.max_boots = 8;
  GuestRun run = run_guest("suite", s, [&](const runner::BootSpec&) { return make(); });
  LabResult lab = score_lab(rb, {Emulator::qemu}, {run}, catalog);
  EXPECT_DOUBLE_EQ(lab.score, 0);
  EXPECT_DOUBLE_EQ(lab.max_score, 7);
  ASSERT_EQ(lab.tests.size(), 5u);
  for (const auto& t : lab.tests) {
    EXPECT_EQ(t.status, TestStatus::failed) << t.name;
    EXPECT_NE(t.reason.find(reason_part), std::string::npos) << t.name << ": " << t.reason;
  }
}

TEST(Score, SilentHungGarbageFloodingAndCrashingRunsScoreZeroWithAReason) {
  using runner::Outcome;
  expect_all_zero([] { runner::BootResult r; r.outcome = Outcome::timeout; r.reason = "timed out after 30.0 s"; return r; },
                  "the guest printed nothing on COM1 before the run ended: timed out after 30.0 s");
  expect_all_zero([] { runner::BootResult r; r.outcome = Outcome::crashed; r.reason = "triple fault"; return r; },
                  "triple fault");
  expect_all_zero([] { runner::BootResult r; r.outcome = Outcome::exited; r.exit_status = 0; r.com1 = "\xff\xfe\x01zz\n"; return r; },
                  "COM1 held no KTAP output");
  expect_all_zero([] {
        runner::BootResult r; r.outcome = Outcome::output_flood; r.reason = "output flood: COM1 passed 1048576 bytes";
        r.com1 = std::string(100000, 'x'); return r; },
                  "output flood");
  expect_all_zero([] {
        runner::BootResult r; r.outcome = Outcome::exited; r.exit_status = 0;
        r.com1 = "KTAP version 1\n1..5\n# nonce feedfacefeedface\nok 1 priv_lgdt\nok 2 sens_popf_if\n"; return r; },
                  "KTAP output did not come from the guest that was booted");
}

}  // namespace
}  // namespace hvlab::grader
