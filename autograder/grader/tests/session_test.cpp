// Whole sessions over a fake build tree and a fake runner: labs that are not built, not
// selected or badly written, calibration, reference boots, parallel jobs and kept logs.

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "autograder/grader/report.hpp"
#include "autograder/grader/session.hpp"
#include "autograder/grader/tests/fake_guest.hpp"

namespace hvlab::grader {
namespace {

namespace fs = std::filesystem;
using testing::Behaviour;
using testing::FakeGuest;

const std::vector<std::string> kNames = {"priv_lgdt", "sens_popf_if", "exc_de", "paging_wp", "dev_uart_loopback"};

class Session : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("hvlab-session-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    build_ = root_ / "build";
    rubrics_ = root_ / "rubrics";
    fs::create_directories(build_ / "autograder" / "guests");
    fs::create_directories(build_ / "autograder" / "grader");
    fs::create_directories(build_ / "lab01-trap-and-emulate");
    fs::create_directories(rubrics_);
    touch(build_ / "autograder" / "guests" / "suite.elf");
    touch(build_ / "autograder" / "grader" / "calibrate.elf");
    touch(build_ / "lab01-trap-and-emulate" / "monitor.elf");
    write("native.toml", R"(
[lab]
name = "native"
monitor = "none"
timeout = 10
[[guest]]
image = "suite"
[[test]]
test = "*"
points = 1
)");
    write("lab01.toml", R"(
[lab]
name = "lab01"
folder = "lab01-trap-and-emulate"
timeout = { qemu = 20, bochs = 60 }
[[guest]]
image = "suite"
[[test]]
test = "*"
points = 1
[[test]]
test = "sens_*"
points = 1
expect = "fail"
)");
    write("lab02.toml", R"(
[lab]
name = "lab02"
folder = "lab02-binary-translation"
[[guest]]
image = "suite"
[[test]]
test = "*"
points = 1
)");
    write("lab04.toml", R"(
[lab]
name = "lab04"
folder = "lab01-trap-and-emulate"
emulators = ["bochs"]
[[guest]]
image = "suite"
[[test]]
test = "*"
points = 1
)");
    native_.names = kNames;
    monitor_.names = kNames;
    monitor_.behaviour["sens_popf_if"] = {Behaviour::fail, "popf: IF still 1"};
  }
  void TearDown() override { fs::remove_all(root_); }

  static void touch(const fs::path& p) { std::ofstream(p) << "ELF"; }
  void write(const std::string& name, const std::string& text) { std::ofstream(rubrics_ / name) << text; }

  SessionOptions options(std::vector<std::string> labs) {
    SessionOptions o;
    o.build_dir = build_;
    o.rubric_dir = rubrics_;
    o.labs = std::move(labs);
    return o;
  }

  // The fake runner: the calibration kernel, the monitor, or the bare guest.
  runner::BootResult boot(const runner::BootSpec& spec) {
    {
      std::lock_guard lock(mutex_);
      specs_.push_back(spec);
    }
    if (spec.emu == Emulator::bochs && bochs_missing_) {
      runner::BootResult r;
      r.outcome = runner::Outcome::launch_failed;
      r.reason = "bochs: command not found";
      return r;
    }
    if (spec.kernel.filename() == "calibrate.elf") {
      runner::BootResult r;
      r.outcome = runner::Outcome::exited;
      r.exit_status = 0;
      r.elapsed = std::chrono::milliseconds(
          static_cast<long>(calibration_reference_seconds(spec.emu) * calibration_ratio_ * 1000));
      return r;
    }
    if (spec.kernel.filename() == "monitor.elf") return monitor_(spec);
    return native_(spec);
  }

  BootFn boot_fn() {
    return [this](const runner::BootSpec& s) { return boot(s); };
  }

  std::vector<runner::BootSpec> specs_for(const std::string& kernel) {
    std::vector<runner::BootSpec> out;
    for (const auto& s : specs_)
      if (s.kernel.filename() == kernel) out.push_back(s);
    return out;
  }

  fs::path root_, build_, rubrics_;
  FakeGuest native_, monitor_;
  std::mutex mutex_;
  std::vector<runner::BootSpec> specs_;
  double calibration_ratio_ = 1.0;
  bool bochs_missing_ = false;
  std::atomic<bool> cancel_{false};
};

const LabResult& lab_named(const SessionResult& s, const std::string& name) {
  for (const auto& l : s.labs)
    if (l.name == name) return l;
  throw std::runtime_error("no lab " + name);
}

TEST_F(Session, NativeBaselineWithFullMarks) {
  SessionResult s = run_session(options({"native"}), boot_fn(), cancel_);
  const LabResult& lab = lab_named(s, "native");
  EXPECT_EQ(lab.status, LabStatus::graded);
  EXPECT_DOUBLE_EQ(lab.score, 5);
  EXPECT_DOUBLE_EQ(lab.max_score, 5);
  EXPECT_TRUE(s.all_full_marks());
  EXPECT_EQ(lab.timing.at(Emulator::qemu).boots, 1u);
  EXPECT_EQ(lab.timing.at(Emulator::bochs).boots, 1u);
  EXPECT_EQ(s.calibration.size(), 2u);
  EXPECT_TRUE(s.reference_boots.empty()) << "no test name was hidden";
}

TEST_F(Session, AllLabsListsNativeFirstAndReportsWhatIsNotBuilt) {
  SessionOptions o = options({});
  o.emulators = {Emulator::qemu};
  SessionResult s = run_session(o, boot_fn(), cancel_);
  ASSERT_EQ(s.labs.size(), 4u);
  EXPECT_EQ(s.labs[0].name, "native");
  const LabResult& lab02 = lab_named(s, "lab02");
  EXPECT_EQ(lab02.status, LabStatus::not_built);
  EXPECT_NE(lab02.status_reason.find("lab02-binary-translation/monitor.elf is missing"), std::string::npos);
  EXPECT_DOUBLE_EQ(lab02.max_score, 5) << "the test list is known from the other labs";
  EXPECT_DOUBLE_EQ(lab02.score, 0);
  EXPECT_NE(lab02.tests[0].reason.find("not built"), std::string::npos);
  const LabResult& lab04 = lab_named(s, "lab04");
  EXPECT_EQ(lab04.status, LabStatus::not_selected);
  EXPECT_NE(lab04.status_reason.find("runs on bochs only"), std::string::npos);
  EXPECT_FALSE(s.all_full_marks()) << "lab02 is not built";
  EXPECT_DOUBLE_EQ(lab_named(s, "lab01").score, 5);
}

TEST_F(Session, ALabNamedTwiceIsGradedOnce) {
  SessionOptions o = options({"native", "lab01", "native"});
  o.emulators = {Emulator::qemu};
  SessionResult s = run_session(o, boot_fn(), cancel_);
  ASSERT_EQ(s.labs.size(), 2u);
  EXPECT_EQ(s.labs[0].name, "native");
  EXPECT_EQ(s.labs[1].name, "lab01");
}

TEST_F(Session, UnknownLabIsAnErrorNamingTheLabs) {
  try {
    run_session(options({"lab09"}), boot_fn(), cancel_);
    ADD_FAILURE();
  } catch (const SessionError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("unknown lab 'lab09'"), std::string::npos) << m;
    EXPECT_NE(m.find("native, lab01, lab02, lab04"), std::string::npos) << m;
  }
}

TEST_F(Session, BadRubricIsReportedAndOtherLabsStillGraded) {
  write("lab03.toml", "[lab]\nname = \"lab03\"\nfolder = \"x\"\n[[guest]]\nimage = \"suite\"\n[[test]]\ntest = 1\n");
  SessionOptions o = options({"native", "lab03"});
  o.emulators = {Emulator::qemu};
  SessionResult s = run_session(o, boot_fn(), cancel_);
  const LabResult& bad = lab_named(s, "lab03");
  EXPECT_EQ(bad.status, LabStatus::rubric_error);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_NE(bad.errors[0].find("lab03.toml:7: [[test]] #1, key 'test': expected a string, found an integer"),
            std::string::npos) << bad.errors[0];
  EXPECT_EQ(lab_named(s, "native").status, LabStatus::graded);
  EXPECT_FALSE(s.all_full_marks());
}

TEST_F(Session, ABrokenNativeRubricStopsTheSessionWithItsPlaceWhenNativeIsNotGraded) {
  write("native.toml", "[lab]\nname = \"native\"\nfolder = \"\"\n[[guest]]\nimage = 7\n");
  try {
    run_session(options({"lab01"}), boot_fn(), cancel_);
    ADD_FAILURE() << "a broken native.toml was passed over in silence";
  } catch (const SessionError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("the native rubric, which the reference boots follow, is broken"), std::string::npos) << m;
    EXPECT_NE(m.find("native.toml:"), std::string::npos) << m;
  }
}

TEST_F(Session, ACrashHidingATestNameTriggersOneReferenceBoot) {
  monitor_.behaviour["exc_de"] = {Behaviour::crash, "triple fault"};
  SessionOptions o = options({"lab01"});
  o.emulators = {Emulator::qemu};
  SessionResult s = run_session(o, boot_fn(), cancel_);
  const LabResult& lab = lab_named(s, "lab01");
  ASSERT_EQ(lab.tests.size(), 5u);
  EXPECT_EQ(lab.tests[2].name, "exc_de");
  EXPECT_EQ(lab.tests[2].reason, "the guest stopped during this test: triple fault");
  EXPECT_DOUBLE_EQ(lab.max_score, 5);
  EXPECT_DOUBLE_EQ(lab.score, 4);
  ASSERT_EQ(s.reference_boots.count(Emulator::qemu), 1u);
  EXPECT_EQ(s.reference_boots.at(Emulator::qemu).boots, 1u);
  EXPECT_EQ(specs_for("suite.elf").size(), 1u) << "the bare guest was booted once, to learn names";
  EXPECT_EQ(specs_for("monitor.elf").size(), 2u) << "the monitor was booted again after the crash";
}

TEST_F(Session, CalibrationScalesTimeouts) {
  calibration_ratio_ = 2.5;
  SessionOptions o = options({"lab01"});
  o.timeout_scale = 2.0;
  SessionResult s = run_session(o, boot_fn(), cancel_);
  ASSERT_EQ(s.calibration.size(), 2u);
  EXPECT_NEAR(s.calibration[0].factor, 2.5, 1e-6);
  for (const auto& spec : specs_for("monitor.elf")) {
    const long expected = spec.emu == Emulator::qemu ? 20 * 2500 * 2 : 60 * 2500 * 2;
    EXPECT_NEAR(spec.timeout.count(), expected, 2) << emu_name(spec.emu);
  }
}

TEST_F(Session, FastMachineNeverShortensTimeouts) {
  calibration_ratio_ = 0.2;
  SessionOptions o = options({"native"});
  o.emulators = {Emulator::qemu};
  run_session(o, boot_fn(), cancel_);
  for (const auto& spec : specs_for("suite.elf")) EXPECT_EQ(spec.timeout.count(), 10000);
}

TEST_F(Session, AnEmulatorThatCannotStartIsNotBootedAgain) {
  bochs_missing_ = true;
  SessionResult s = run_session(options({"native"}), boot_fn(), cancel_);
  const LabResult& lab = lab_named(s, "native");
  std::size_t bochs_boots = 0;
  for (const auto& spec : specs_) bochs_boots += spec.emu == Emulator::bochs;
  EXPECT_EQ(bochs_boots, 1u) << "only the calibration boot";
  EXPECT_DOUBLE_EQ(lab.score, 0) << "every test fails on bochs";
  EXPECT_NE(lab.tests[0].reason.find("could not run bochs: bochs: command not found"), std::string::npos)
      << lab.tests[0].reason;
  EXPECT_FALSE(lab.errors.empty());
}

TEST_F(Session, ParallelJobsGiveTheSameResult) {
  monitor_.behaviour["paging_wp"] = {Behaviour::hang, ""};
  SessionOptions one = options({"native", "lab01"});
  SessionOptions two = one;
  two.jobs = 2;
  SessionResult a = run_session(one, boot_fn(), cancel_);
  SessionResult b = run_session(two, boot_fn(), cancel_);
  ASSERT_EQ(a.labs.size(), b.labs.size());
  for (std::size_t i = 0; i < a.labs.size(); ++i) {
    EXPECT_EQ(a.labs[i].score, b.labs[i].score);
    ASSERT_EQ(a.labs[i].tests.size(), b.labs[i].tests.size());
    for (std::size_t k = 0; k < a.labs[i].tests.size(); ++k) {
      EXPECT_EQ(a.labs[i].tests[k].name, b.labs[i].tests[k].name);
      EXPECT_EQ(a.labs[i].tests[k].reason, b.labs[i].tests[k].reason);
    }
  }
}

TEST_F(Session, KeepsLogsOfBootsThatWereNotClean) {
  monitor_.behaviour["exc_de"] = {Behaviour::crash, "triple fault"};
  SessionOptions o = options({"lab01"});
  o.emulators = {Emulator::qemu};
  o.keep_logs = root_ / "logs";
  SessionResult s = run_session(o, boot_fn(), cancel_);
  const fs::path first = root_ / "logs" / "lab01" / "qemu-suite-boot1";
  EXPECT_TRUE(fs::exists(first / "com1.txt"));
  EXPECT_TRUE(fs::exists(first / "com2.jsonl"));
  EXPECT_TRUE(fs::exists(first / "e9.txt"));
  EXPECT_TRUE(fs::exists(first / "emulator.log"));
  EXPECT_TRUE(fs::exists(first / "boot.txt"));
  // The second boot (first=4) passed everything it ran... but sens_popf_if's failure was in
  // boot 1, so only boot 1 is kept.
  EXPECT_FALSE(fs::exists(root_ / "logs" / "lab01" / "qemu-suite-boot2"));
  const LabResult& lab = lab_named(s, "lab01");
  EXPECT_EQ(lab.tests[2].per_emu[0].log_dir, first.string());
}

TEST_F(Session, CancelledSessionBootsNothing) {
  cancel_ = true;
  SessionResult s = run_session(options({"native"}), boot_fn(), cancel_);
  EXPECT_TRUE(s.cancelled);
  EXPECT_TRUE(specs_.empty());
  EXPECT_FALSE(s.all_full_marks());
}

}  // namespace
}  // namespace hvlab::grader

namespace hvlab::grader {
namespace {

TEST_F(Session, BuildFailuresAreNotBootedAndKeepTheirReason) {
  SessionOptions o = options({"lab01"});
  o.emulators = {Emulator::qemu};
  o.build_failures["lab01"] = "build failed: lab01-trap-and-emulate/core.cpp:3:1: error: expected ';'";
  SessionResult s = run_session(o, boot_fn(), cancel_);
  const LabResult& lab = lab_named(s, "lab01");
  EXPECT_EQ(lab.status, LabStatus::not_built);
  EXPECT_EQ(lab.status_reason, o.build_failures["lab01"]);
  EXPECT_TRUE(specs_for("monitor.elf").empty()) << "an image left from before must not be booted";
  EXPECT_DOUBLE_EQ(lab.max_score, 5) << "the maximum stays what it would be";
  ASSERT_FALSE(lab.tests.empty());
  EXPECT_NE(lab.tests[0].reason.find("error: expected ';'"), std::string::npos) << lab.tests[0].reason;
}

TEST_F(Session, GuestsAndCalibrationKernelCanComeFromElsewhere) {
  const fs::path other = root_ / "instructor";
  fs::create_directories(other / "guests");
  touch(other / "guests" / "suite.elf");
  touch(other / "calibrate.elf");
  fs::remove(build_ / "autograder" / "guests" / "suite.elf");
  fs::remove(build_ / "autograder" / "grader" / "calibrate.elf");
  SessionOptions o = options({"lab01"});
  o.emulators = {Emulator::qemu};
  o.guest_dir = other / "guests";
  o.calibration_kernel = other / "calibrate.elf";
  SessionResult s = run_session(o, boot_fn(), cancel_);
  EXPECT_EQ(lab_named(s, "lab01").status, LabStatus::graded);
  auto mon = specs_for("monitor.elf");
  ASSERT_FALSE(mon.empty());
  EXPECT_EQ(mon[0].modules.at(0).path, other / "guests" / "suite.elf");
  ASSERT_EQ(specs_for("calibrate.elf").size(), 1u);
  EXPECT_EQ(specs_for("calibrate.elf")[0].kernel, other / "calibrate.elf");
}

TEST_F(Session, PresetCalibrationIsNotMeasuredAgain) {
  SessionOptions o = options({"native"});
  Calibration c;
  c.emu = Emulator::qemu;
  c.attempted = true;
  c.measured_s = 0.6;
  c.reference_s = 0.3;
  c.factor = 2.0;
  o.preset_calibration = {c};
  SessionResult s = run_session(o, boot_fn(), cancel_);
  EXPECT_EQ(specs_for("calibrate.elf").size(), 1u) << "only bochs is calibrated";
  for (const auto& cal : s.calibration)
    if (cal.emu == Emulator::qemu) {
      EXPECT_DOUBLE_EQ(cal.factor, 2.0);
    }
}

TEST_F(Session, HiddenRubricOverridesThePublicOne) {
  fs::create_directories(rubrics_ / "hidden");
  std::ofstream(rubrics_ / "hidden" / "lab01.toml") << R"(
[lab]
name = "lab01"
folder = "lab01-trap-and-emulate"
[[guest]]
image = "suite"
[[test]]
test = "*"
points = 3
visibility = "hidden"
)";
  EXPECT_EQ(rubric_file(rubrics_, "lab01"), rubrics_ / "hidden" / "lab01.toml");
  EXPECT_EQ(rubric_file(rubrics_, "native"), rubrics_ / "native.toml");
  SessionOptions o = options({"lab01"});
  o.emulators = {Emulator::qemu};
  SessionResult s = run_session(o, boot_fn(), cancel_);
  EXPECT_DOUBLE_EQ(lab_named(s, "lab01").max_score, 15);
}

TEST_F(Session, AStubThatStopsTheMonitorNamesItsExerciseEverywhere) {
  // The monitor panics at once: no KTAP at all; every test and the summary name the stub.
  fs::create_directories(rubrics_ / "hidden");
  std::ofstream(rubrics_ / "hidden" / "lab01.toml") << R"(
[lab]
name = "lab01"
folder = "lab01-trap-and-emulate"
[[guest]]
image = "suite"
[[test]]
test = "*"
points = 1
exercise = "lab01-e10"
[[test]]
test = "priv_*"
points = 2
exercise = "lab01-e2"
)";
  SessionOptions o = options({"lab01"});
  o.emulators = {Emulator::qemu};
  BootFn panicking = [this](const runner::BootSpec& spec) {
    if (spec.kernel.filename() != "monitor.elf") return boot(spec);
    runner::BootResult r;
    r.outcome = runner::Outcome::exited;
    r.exit_status = 3;
    r.com1 = "PANIC at lab01-trap-and-emulate/core.cpp:42: not implemented: lab01-e3\n";
    r.debugcon = "lab01: starting\n" + r.com1 + "hvlab-exit: 3\n";
    return r;
  };
  SessionResult s = run_session(o, panicking, cancel_);
  const LabResult& lab = lab_named(s, "lab01");
  EXPECT_DOUBLE_EQ(lab.score, 0);
  for (const auto& t : lab.tests) {
    EXPECT_NE(t.reason.find("not implemented: lab01-e3 (at lab01-trap-and-emulate/core.cpp:42)"), std::string::npos)
        << t.name << ": " << t.reason;
  }
  std::string out;
  {
    char* buf = nullptr;
    std::size_t len = 0;
    std::FILE* f = open_memstream(&buf, &len);
    print_report(f, s, TableStyle{});
    std::fclose(f);
    out.assign(buf, len);
    std::free(buf);
  }
  EXPECT_NE(out.find("exercises:"), std::string::npos) << out;
  ASSERT_EQ(lab.exercises.size(), 2u);
  EXPECT_EQ(lab.exercises[0].exercise, "lab01-e2") << "natural order: e2 before e10";
  EXPECT_DOUBLE_EQ(lab.exercises[0].max_score, 2);
  EXPECT_EQ(lab.exercises[0].first_failure, "priv_lgdt");
  EXPECT_NE(lab.exercises[1].first_failure_reason.find("not implemented: lab01-e3"), std::string::npos);
  EXPECT_NE(out.find("lab01-e10"), std::string::npos) << out;
}

TEST_F(Session, AStubHitInTheMiddleFailsThatTestAndTheRestStillRun) {
  monitor_.behaviour["exc_de"] = {Behaviour::stub, "lab01-e7"};
  SessionOptions o = options({"lab01"});
  o.emulators = {Emulator::qemu};
  SessionResult s = run_session(o, boot_fn(), cancel_);
  const LabResult& lab = lab_named(s, "lab01");
  for (const auto& t : lab.tests) {
    if (t.name == "exc_de") {
      EXPECT_EQ(t.status, TestStatus::failed);
      EXPECT_NE(t.reason.find("not implemented: lab01-e7"), std::string::npos) << t.reason;
      ASSERT_FALSE(t.per_emu.empty());
      EXPECT_EQ(t.per_emu[0].label, "not implemented");
    } else {
      EXPECT_EQ(t.status, TestStatus::passed) << t.name << ": " << t.reason;
    }
  }
  ASSERT_FALSE(lab.runs.empty());
  ASSERT_EQ(lab.runs[0].not_implemented.size(), 1u);
  EXPECT_EQ(lab.runs[0].not_implemented[0], "not implemented: lab01-e7 (at lab01-trap-and-emulate/core.cpp:42)");
}

}  // namespace
}  // namespace hvlab::grader

namespace hvlab::grader {
namespace {

using nlohmann::json;

// A hosted VMM (lab05): a program, not an emulator, graded twice with two monitor command
// lines, and skipped where the machine lacks KVM.
class HostedSession : public Session {
 protected:
  void SetUp() override {
    Session::SetUp();
    fs::create_directories(build_ / "lab05-type1-vs-type2");
    touch(build_ / "lab05-type1-vs-type2" / "monitor.elf");
    write("lab05.toml", R"(
[lab]
name = "lab05"
folder = "lab05-type1-vs-type2"
emulators = ["host"]
requires = ["kvm"]
timeout = 15
[[guest]]
image = "suite"
[[guest]]
image = "suite"
name = "kernel-irqchip"
monitor_cmdline = "irqchip=kernel"
[[test]]
test = "*"
guest = "suite"
points = 1
[[test]]
test = "*"
guest = "kernel-irqchip"
points = 2
)");
  }
};

TEST_F(HostedSession, WhereTheRequirementIsMissingTheLabIsSkippedWithTheReasonNeverPassed) {
  SessionOptions o = options({"lab05"});
  o.check_requirements = [](const std::vector<std::string>& r) {
    return r == std::vector<std::string>{"kvm"} ? std::string("cannot use KVM: /dev/kvm: No such file") : "";
  };
  SessionResult s = run_session(o, boot_fn(), cancel_);
  const LabResult& lab = lab_named(s, "lab05");
  EXPECT_EQ(lab.status, LabStatus::skipped);
  EXPECT_NE(lab.status_reason.find("/dev/kvm"), std::string::npos);
  EXPECT_TRUE(specs_.empty()) << "nothing of a skipped lab runs";
  EXPECT_FALSE(s.all_full_marks()) << "a skip is not a pass";
  std::string text;
  {
    char* buf = nullptr;
    std::size_t len = 0;
    std::FILE* f = open_memstream(&buf, &len);
    print_report(f, s, TableStyle{});
    std::fclose(f);
    text.assign(buf, len);
    std::free(buf);
  }
  EXPECT_NE(text.find("skipped: cannot use KVM"), std::string::npos) << text;
}

std::string report_text(const SessionResult& s) {
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  print_report(f, s, TableStyle{});
  std::fclose(f);
  std::string text(buf, len);
  std::free(buf);
  return text;
}

std::string no_kvm(const std::vector<std::string>&) { return "cannot use KVM: /dev/kvm: No such file"; }

TEST_F(HostedSession, ALabSkippedForWhatTheMachineLacksIsNoFailureAndIsShownAsASkipEverywhere) {
  SessionOptions o = options({"native", "lab05"});
  o.check_requirements = no_kvm;
  SessionResult s = run_session(o, boot_fn(), cancel_);
  ASSERT_EQ(lab_named(s, "native").status, LabStatus::graded);
  EXPECT_TRUE(s.no_failures()) << "the exit status is 0: nothing failed";
  EXPECT_TRUE(s.all_full_marks()) << "native has full marks; the skipped lab is not counted either way";
  ASSERT_EQ(s.skipped_labs().size(), 1u);
  EXPECT_EQ(s.skipped_labs()[0]->name, "lab05");
  EXPECT_DOUBLE_EQ(s.score(), 5) << "a skip scores nothing";
  EXPECT_DOUBLE_EQ(s.max_score(), 5);

  const std::string text = report_text(s);
  const auto summary = text.find("\nsummary\n");
  ASSERT_NE(summary, std::string::npos) << text;
  EXPECT_NE(text.find("lab05: skipped, not graded (no points; a skip is not a pass): cannot use KVM", summary),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("1 lab(s) with full marks, 0 not, 1 skipped (not graded)", summary), std::string::npos) << text;

  const json j = to_json(s);
  EXPECT_EQ(j["no_failures"], true);
  ASSERT_EQ(j["skipped"].size(), 1u);
  EXPECT_EQ(j["skipped"][0]["lab"], "lab05");
  EXPECT_EQ(j["skipped"][0]["reason"], "cannot use KVM: /dev/kvm: No such file");
  for (const auto& l : j["labs"])
    if (l["lab"] == "lab05") {
      EXPECT_EQ(l["status"], "skipped");
      EXPECT_EQ(l["full_marks"], false);
      EXPECT_EQ(l["score"], 0);
    }

  const json gs = to_gradescope(s);
  EXPECT_TRUE(validate_gradescope(gs).empty());
  EXPECT_NE(gs["output"].get<std::string>().find("lab05: skipped, not graded"), std::string::npos) << gs.dump(2);
  for (const auto& t : gs["tests"]) EXPECT_EQ(t["name"].get<std::string>().rfind("lab05", 0), std::string::npos);
  EXPECT_EQ(autolab_line(s).find("lab05"), std::string::npos) << "no score for a lab that did not run";

  const std::string junit = to_junit(s);
  EXPECT_NE(junit.find("<testcase name=\"lab05 (lab)\""), std::string::npos) << junit;
  EXPECT_NE(junit.find("<skipped message=\"cannot use KVM: /dev/kvm: No such file\"/>"), std::string::npos) << junit;
}

TEST_F(HostedSession, OnlySkippedIsNoFailureButNoFullMarks) {
  SessionOptions o = options({"lab05"});
  o.check_requirements = no_kvm;
  SessionResult s = run_session(o, boot_fn(), cancel_);
  EXPECT_TRUE(s.no_failures());
  EXPECT_FALSE(s.all_full_marks());
  EXPECT_NE(report_text(s).find("0 lab(s) with full marks, 0 not, 1 skipped (not graded)"), std::string::npos);
}

TEST_F(HostedSession, ARealFailureBesideASkipStillFails) {
  monitor_.behaviour["exc_de"] = {Behaviour::fail, "no #DE"};
  SessionOptions o = options({"lab01", "lab05"});
  o.emulators = {Emulator::qemu, Emulator::host};
  o.check_requirements = no_kvm;
  SessionResult s = run_session(o, boot_fn(), cancel_);
  EXPECT_EQ(lab_named(s, "lab05").status, LabStatus::skipped);
  EXPECT_FALSE(lab_named(s, "lab01").full_marks());
  EXPECT_FALSE(s.no_failures());
  EXPECT_NE(report_text(s).find("0 lab(s) with full marks, 1 not, 1 skipped (not graded)"), std::string::npos);
}

TEST_F(HostedSession, ALabThatIsNotBuiltBesideASkipStillFails) {
  SessionOptions o = options({"lab02", "lab05"});
  o.emulators = {Emulator::qemu, Emulator::host};
  o.check_requirements = no_kvm;
  SessionResult s = run_session(o, boot_fn(), cancel_);
  EXPECT_EQ(lab_named(s, "lab02").status, LabStatus::not_built);
  EXPECT_FALSE(s.no_failures());
}

TEST_F(HostedSession, EachGuestEntryRunsWithItsOwnMonitorCommandLineAndIsScoredUnderItsName) {
  SessionOptions o = options({"lab05"});
  o.check_requirements = [](const std::vector<std::string>&) { return std::string(); };
  SessionResult s = run_session(o, boot_fn(), cancel_);
  const LabResult& lab = lab_named(s, "lab05");
  EXPECT_EQ(lab.status, LabStatus::graded);
  auto specs = specs_for("monitor.elf");
  ASSERT_EQ(specs.size(), 2u);
  std::set<std::string> cmdlines;
  for (const auto& sp : specs) {
    EXPECT_EQ(sp.emu, Emulator::host);
    cmdlines.insert(sp.cmdline);
  }
  EXPECT_EQ(cmdlines, (std::set<std::string>{"", "irqchip=kernel"}));
  EXPECT_TRUE(specs_for("calibrate.elf").empty()) << "a program is not calibrated";
  EXPECT_DOUBLE_EQ(lab.max_score, 5 + 2 * 5);
  bool labelled = false;
  for (const auto& t : lab.tests) labelled |= t.name == "kernel-irqchip:priv_lgdt";
  EXPECT_TRUE(labelled);
}

}  // namespace
}  // namespace hvlab::grader
