// Resume-after-crash bookkeeping, the nonce check and the reasons given for runs that
// crash, hang, flood, print nothing or print garbage.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "autograder/grader/run.hpp"
#include "autograder/grader/score.hpp"
#include "autograder/grader/tests/fake_guest.hpp"

namespace hvlab::grader {
namespace {

using testing::Behaviour;
using testing::FakeGuest;

const std::vector<std::string> kNames = {"priv_lgdt", "sens_popf_if", "exc_de", "paging_wp", "user_syscall"};

RunSettings bare_settings(unsigned max_boots = 8) {
  RunSettings s;
  s.spec.emu = Emulator::qemu;
  s.spec.kernel = "build/autograder/guests/suite.elf";
  s.spec.timeout = std::chrono::milliseconds(10000);
  s.max_boots = max_boots;
  return s;
}

GuestRun run_fake(const FakeGuest& guest, const RunSettings& s = bare_settings()) {
  return run_guest("suite", s, [&](const runner::BootSpec& spec) { return guest(spec); });
}

TEST(Run, CleanRunTakesOneBoot) {
  FakeGuest g;
  g.names = kNames;
  GuestRun run = run_fake(g);
  ASSERT_EQ(run.boots.size(), 1u);
  EXPECT_TRUE(run.complete());
  EXPECT_TRUE(run.fatal.empty());
  EXPECT_TRUE(run.errors.empty());
  EXPECT_TRUE(run.boots[0].clean);
  for (const auto& [n, o] : run.tests) EXPECT_EQ(o.verdict, Verdict::passed) << n;
  EXPECT_EQ(run.tests.at(3).name, "exc_de");
  // The guest was given a fresh nonce and no first= on its first boot.
  const std::string cmd = g.specs[0].cmdline;
  EXPECT_EQ(cmd.find("first="), std::string::npos);
  EXPECT_EQ(testing::option(cmd, "nonce").size(), 16u);
  EXPECT_NEAR(run.tests.at(1).seconds, 0.1, 1e-9) << "an even share of the boot's 0.5 s";
}

// A table for kNames: each test's code 0x100 bytes at 0x1000 + 0x100 * index.
SuiteTable fake_table() {
  SuiteTable t;
  for (std::size_t i = 0; i < kNames.size(); ++i)
    t.tests.push_back({kNames[i], static_cast<std::uint32_t>(0x1000 + 0x100 * i), 0x80, "\x55\x89\xe5"});
  return t;
}

RunSettings seeded_settings(const SuiteTable& table, std::uint64_t seed) {
  RunSettings s = bare_settings();
  s.table = std::make_shared<const SuiteTable>(table);
  s.make_seed = [seed] { return seed; };
  return s;
}

TEST(Run, ASeededRunIsCheckedAndNumberedByTheTable) {
  const SuiteTable table = fake_table();
  FakeGuest g;
  g.names = kNames;
  g.table = &table;
  GuestRun run = run_fake(g, seeded_settings(table, 0x1234));
  ASSERT_TRUE(run.fatal.empty()) << run.fatal;
  EXPECT_EQ(run.seed, 0x1234u);
  EXPECT_EQ(testing::option(g.specs[0].cmdline, "seed"), "0000000000001234");
  // The guest printed them in another order; the grader numbers them as the table does.
  EXPECT_NE(seeded_order(0x1234, kNames.size()), seeded_order(0, kNames.size()));
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    EXPECT_EQ(run.tests.at(static_cast<unsigned>(i + 1)).name, kNames[i]);
    EXPECT_EQ(run.tests.at(static_cast<unsigned>(i + 1)).verdict, Verdict::passed);
  }
}

TEST(Run, AReportInAnotherOrderIsNotTrusted) {
  const SuiteTable table = fake_table();
  FakeGuest g;
  g.names = kNames;
  g.table = &table;
  g.ignore_seed = true;  // a transcript of a run with another seed, nonce and all
  GuestRun run = run_fake(g, seeded_settings(table, 0x1234));
  EXPECT_NE(run.fatal.find("KTAP output did not come from the guest that was booted"), std::string::npos) << run.fatal;
  EXPECT_NE(run.fatal.find("this run's seed 0000000000001234 puts"), std::string::npos) << run.fatal;
  for (const auto& [n, o] : run.tests) EXPECT_EQ(o.verdict, Verdict::voided) << n;
}

TEST(Run, ATraceInAnotherOrderIsNotTrusted) {
  const SuiteTable table = fake_table();
  FakeGuest g;
  g.names = kNames;
  g.table = &table;
  g.trace_unseeded = true;  // the right report, with the trace of another run
  GuestRun run = run_fake(g, seeded_settings(table, 0x1234));
  EXPECT_NE(run.fatal.find("event trace does not follow this run's test order"), std::string::npos) << run.fatal;
  for (const auto& [n, o] : run.tests) EXPECT_EQ(o.verdict, Verdict::voided) << n;
}

TEST(Run, ACrashInASeededRunNamesTheTestByItsPlace) {
  const SuiteTable table = fake_table();
  FakeGuest g;
  g.names = kNames;
  g.table = &table;
  g.behaviour["exc_de"] = {Behaviour::crash, "triple fault"};
  GuestRun run = run_fake(g, seeded_settings(table, 0x77));
  ASSERT_TRUE(run.fatal.empty()) << run.fatal;
  EXPECT_EQ(run.boots.size(), 2u);
  EXPECT_EQ(testing::option(g.specs[1].cmdline, "seed"), testing::option(g.specs[0].cmdline, "seed"))
      << "the resume keeps the order";
  EXPECT_EQ(run.tests.at(3).verdict, Verdict::stopped);
  EXPECT_EQ(run.tests.at(3).name, "exc_de");
  EXPECT_TRUE(run.complete());
}

RunSettings watched_settings(const SuiteTable& table) {
  RunSettings s = seeded_settings(table, 0x99);
  s.evidence_plugin = "libhvlab_evidence.so";
  return s;
}

TEST(Run, TheEmulatorsEvidenceAgreesWithAnHonestReport) {
  const SuiteTable table = fake_table();
  FakeGuest g;
  g.names = kNames;
  g.table = &table;
  g.behaviour["paging_wp"] = {Behaviour::fail, "paging_wp: expected a #PF"};
  GuestRun run = run_fake(g, watched_settings(table));
  ASSERT_TRUE(run.fatal.empty()) << run.fatal;
  ASSERT_TRUE(g.specs[0].qemu_plugin.has_value());
  EXPECT_EQ(g.specs[0].qemu_plugin->inputs.front().second, table.watch_list());
  EXPECT_EQ(run.tests.at(4).verdict, Verdict::failed);
  EXPECT_EQ(run.tests.at(1).verdict, Verdict::passed);
  // Bochs has no plugin: nothing is asked of it.
  RunSettings bochs = watched_settings(table);
  bochs.spec.emu = Emulator::bochs;
  FakeGuest gb = g;
  gb.specs.clear();
  run_fake(gb, bochs);
  EXPECT_FALSE(gb.specs[0].qemu_plugin.has_value());
}

TEST(Run, AnOkOverAFailureTheEmulatorSawIsNotTrusted) {
  const SuiteTable table = fake_table();
  FakeGuest g;
  g.names = kNames;
  g.table = &table;
  g.behaviour["paging_wp"] = {Behaviour::fail, "paging_wp: expected a #PF"};
  g.rewrite_failures = true;
  GuestRun run = run_fake(g, watched_settings(table));
  EXPECT_NE(run.fatal.find("'paging_wp' failed in the guest"), std::string::npos) << run.fatal;
  EXPECT_NE(run.fatal.find("the report was changed on its way out"), std::string::npos) << run.fatal;
  for (const auto& [n, o] : run.tests) EXPECT_EQ(o.verdict, Verdict::voided) << n;
}

TEST(Run, AReportOfTestsThatNeverRanIsNotTrusted) {
  const SuiteTable table = fake_table();
  FakeGuest g;
  g.names = kNames;
  g.table = &table;
  g.runs_nothing = true;  // prints the right report in the right order, runs no test
  GuestRun run = run_fake(g, watched_settings(table));
  EXPECT_NE(run.fatal.find("the emulator never saw its code run"), std::string::npos) << run.fatal;
}

TEST(Run, TheSuitesOwnTableIsReadFromItsElf) {
  std::string problem;
  auto table = read_suite_table(HVLAB_SUITE_ELF, &problem);
  ASSERT_TRUE(table.has_value()) << problem;
  ASSERT_GT(table->tests.size(), 50u);
  EXPECT_EQ(table->tests.front().name, "priv_lgdt");
  for (std::size_t i = 0; i < table->tests.size(); ++i) {
    const SuiteTest& t = table->tests[i];
    EXPECT_GT(t.code_size, 0u) << t.name;
    EXPECT_EQ(table->test_at(t.code + t.code_size / 2), i) << t.name;
    EXPECT_EQ(t.head.size(), std::min<std::size_t>(16, t.code_size)) << t.name;
  }
  // A seed shuffles each group within itself; the groups keep their order.
  unsigned sum = 0;
  for (unsigned g : table->groups) sum += g;
  EXPECT_EQ(sum, table->tests.size());
  EXPECT_EQ(table->groups.size(), 10u);
  const auto order = seeded_order(0xabcdef, table->tests.size(), table->groups);
  EXPECT_NE(order, seeded_order(0, table->tests.size(), table->groups));
  unsigned start = 0;
  for (unsigned g : table->groups) {
    for (unsigned k = start; k < start + g; ++k) {
      EXPECT_GE(order[k], start);
      EXPECT_LT(order[k], start + g);
    }
    start += g;
  }
  ASSERT_TRUE(table->fail.has_value()) << "hvlab::guest::fail() not found";
  EXPECT_GT(table->fail->code_size, 0u);
  EXPECT_NE(table->watch_list().find(fmt::format("fail {:x} ", table->fail->code)), std::string::npos);
  // A guest without the table (the calibration kernel, a fake) has none, and no problem.
  problem.clear();
  EXPECT_FALSE(read_suite_table(HVLAB_CALIBRATE_ELF, &problem).has_value());
  EXPECT_EQ(problem, "");
}

TEST(Run, NoncesDifferBetweenBoots) {
  EXPECT_NE(random_nonce(), random_nonce());
}

TEST(Run, CrashRecordsTheRunningTestAndResumesAfterIt) {
  FakeGuest g;
  g.names = kNames;
  g.behaviour["exc_de"] = {Behaviour::crash, "triple fault"};
  GuestRun run = run_fake(g);
  ASSERT_EQ(run.boots.size(), 2u);
  ASSERT_EQ(g.specs.size(), 2u);
  EXPECT_EQ(testing::option(g.specs[1].cmdline, "first"), "4");
  EXPECT_NE(testing::option(g.specs[0].cmdline, "nonce"), testing::option(g.specs[1].cmdline, "nonce"));
  EXPECT_TRUE(run.complete());
  const Observation& crashed = run.tests.at(3);
  EXPECT_EQ(crashed.verdict, Verdict::stopped);
  EXPECT_EQ(crashed.reason, "the guest stopped during this test: triple fault");
  EXPECT_TRUE(crashed.name.empty()) << "the guest never printed its name";
  EXPECT_EQ(run.tests.at(4).verdict, Verdict::passed);
  EXPECT_EQ(run.tests.at(5).verdict, Verdict::passed);
  EXPECT_EQ(*run.tests.at(5).boot, 1u);
  EXPECT_FALSE(run.boots[0].clean);
}

TEST(Run, HangIsRecordedAsATimeoutAndResumed) {
  FakeGuest g;
  g.names = kNames;
  g.behaviour["priv_lgdt"] = {Behaviour::hang, ""};
  GuestRun run = run_fake(g);
  EXPECT_EQ(run.boots.size(), 2u);
  EXPECT_EQ(run.tests.at(1).verdict, Verdict::stopped);
  EXPECT_NE(run.tests.at(1).reason.find("timed out"), std::string::npos);
  EXPECT_EQ(run.tests.at(1).stop, "timeout");
  EXPECT_EQ(run.tests.at(2).verdict, Verdict::passed);
}

TEST(Run, ResumesAreBounded) {
  FakeGuest g;
  g.names = kNames;
  for (const auto& n : kNames) g.behaviour[n] = {Behaviour::crash, "triple fault"};
  GuestRun run = run_fake(g, bare_settings(3));
  EXPECT_EQ(run.boots.size(), 3u);
  EXPECT_EQ(g.specs.size(), 3u);
  EXPECT_EQ(run.tests.at(3).verdict, Verdict::stopped);
  EXPECT_EQ(run.tests.at(4).verdict, Verdict::not_run);
  EXPECT_NE(run.tests.at(4).reason.find("max_boots"), std::string::npos);
  EXPECT_TRUE(run.complete());
}

TEST(Run, CrashInTheLastTestNeedsNoResume) {
  FakeGuest g;
  g.names = kNames;
  g.behaviour["user_syscall"] = {Behaviour::crash, "triple fault"};
  GuestRun run = run_fake(g);
  EXPECT_EQ(run.boots.size(), 1u);
  EXPECT_EQ(run.tests.at(5).verdict, Verdict::stopped);
}

TEST(Run, WrongNonceVoidsTheBoot) {
  FakeGuest g;
  g.names = kNames;
  g.wrong_nonce = "0123456789abcdef";
  GuestRun run = run_fake(g);
  EXPECT_EQ(run.boots.size(), 1u);
  EXPECT_NE(run.fatal.find("KTAP output did not come from the guest that was booted"), std::string::npos);
  for (const auto& [n, o] : run.tests) EXPECT_EQ(o.verdict, Verdict::voided) << n;
  ASSERT_FALSE(run.errors.empty());
  EXPECT_NE(run.errors[0].find("expected"), std::string::npos);
}

TEST(Run, MissingNonceVoidsTheBoot) {
  FakeGuest g;
  g.names = kNames;
  g.ignore_nonce = true;
  GuestRun run = run_fake(g);
  EXPECT_EQ(run.fatal, "KTAP output did not come from the guest that was booted (it has no '# nonce' line)");
  EXPECT_EQ(run.tests.at(1).verdict, Verdict::voided);
}

TEST(Run, NonceCaseDoesNotMatter) {
  RunSettings s = bare_settings();
  s.make_nonce = [] { return std::string("00ab00cd00ef0011"); };
  GuestRun run = run_guest("suite", s, [](const runner::BootSpec&) {
    runner::BootResult r;
    r.outcome = runner::Outcome::exited;
    r.exit_status = 0;
    r.com1 = "KTAP version 1\n1..1\n# nonce 00AB00CD00EF0011\nok 1 a\n";
    return r;
  });
  EXPECT_TRUE(run.fatal.empty()) << run.fatal;
  EXPECT_EQ(run.tests.at(1).verdict, Verdict::passed);
}

runner::BootResult result(runner::Outcome o, std::string com1, std::string reason = "") {
  runner::BootResult r;
  r.outcome = o;
  r.com1 = std::move(com1);
  r.reason = std::move(reason);
  r.exit_status = o == runner::Outcome::exited ? 0 : -1;
  return r;
}

TEST(Run, EmptyConsoleGivesAReason) {
  GuestRun run = run_guest("suite", bare_settings(), [](const runner::BootSpec&) {
    return result(runner::Outcome::crashed, "", "qemu: triple fault at eip 0x00100010");
  });
  EXPECT_EQ(run.fatal, "the guest printed nothing on COM1 before the run ended: qemu: triple fault at eip 0x00100010");
  EXPECT_TRUE(run.tests.empty());
  EXPECT_EQ(run.boots.size(), 1u) << "no resume without a plan";
}

// A monitor that stopped before the guest printed anything: the reason quotes its debug
// console and its last trace records, so the cause (here an RDTSC left unclassified, then a
// triple fault) is in the grade, not only under `make run`.
TEST(Run, NoGuestOutputQuotesTheMonitorsLastWords) {
  GuestRun run = run_guest("suite", bare_settings(), [](const runner::BootSpec&) {
    runner::BootResult r = result(runner::Outcome::exited, "");
    r.exit_status = 1;
    r.debugcon = "lab01: monitor up\nlab01: contained the guest: triple fault (eip=00100017)\n"
                 "lab01: guest stopped: triple fault\nhvlab-exit: 1\n";
    r.com2 = "{\"seq\":1,\"kind\":\"start\",\"what\":\"boot/suite.elf\"}\n"
             "{\"seq\":2,\"kind\":\"trap\",\"reason\":\"exception\",\"vector\":13,\"eip\":\"0x00100017\","
             "\"insn\":\"rdtsc\",\"outcome\":\"reflected\"}\n"
             "{\"seq\":3,\"kind\":\"contained\",\"what\":\"triple fault\"}\n"
             "{\"seq\":4,\"kind\":\"stop\",\"what\":\"triple fault\"}\n"
             "{\"seq\":4,\"kind\":\"summary\",\"events\":3}\n";
    return r;
  });
  EXPECT_NE(run.fatal.find("the guest printed nothing on COM1, and the kernel exited with status 1"), std::string::npos)
      << run.fatal;
  EXPECT_NE(run.fatal.find("contained the guest: triple fault"), std::string::npos) << run.fatal;
  EXPECT_NE(run.fatal.find("trap #13 exception `rdtsc` at eip 0x00100017 (reflected); then contained: triple fault"),
            std::string::npos)
      << run.fatal;
  EXPECT_EQ(run.fatal.find("hvlab-exit"), std::string::npos) << run.fatal;
  EXPECT_EQ(run.fatal.find("summary"), std::string::npos) << "the closing bookkeeping is not a clue: " << run.fatal;
  EXPECT_NE(run.fatal.find("make run"), std::string::npos) << "says how to see the whole log: " << run.fatal;
}

TEST(Run, GarbageConsoleGivesAReason) {
  GuestRun run = run_guest("suite", bare_settings(), [](const runner::BootSpec&) {
    return result(runner::Outcome::exited, "\x13\x37 monitor panic: bad vmcs\nmore noise\n");
  });
  EXPECT_NE(run.fatal.find("COM1 held no KTAP output (2 line(s) of other text, the first: '?7 monitor panic: bad vmcs')"),
            std::string::npos) << run.fatal;
  EXPECT_NE(run.fatal.find("exited with status 0"), std::string::npos) << run.fatal;
}

TEST(Run, LaunchFailureAndThrowingRunnerAreFatalNotExceptions) {
  GuestRun a = run_guest("suite", bare_settings(), [](const runner::BootSpec&) {
    return result(runner::Outcome::launch_failed, "", "qemu-system-x86_64: not found");
  });
  EXPECT_EQ(a.fatal, "could not run qemu: qemu-system-x86_64: not found");
  GuestRun b = run_guest("suite", bare_settings(), [](const runner::BootSpec&) -> runner::BootResult {
    throw std::runtime_error("no kernel path");
  });
  EXPECT_EQ(b.fatal, "could not run qemu: no kernel path");
}

TEST(Run, FloodCutsMidLineAndTheCutLineDoesNotCount) {
  FakeGuest g;
  g.names = kNames;
  g.behaviour["exc_de"] = {Behaviour::flood, ""};
  GuestRun run = run_fake(g);
  EXPECT_EQ(run.tests.at(3).verdict, Verdict::stopped);
  EXPECT_NE(run.tests.at(3).reason.find("output flood"), std::string::npos);
  EXPECT_EQ(run.tests.at(3).stop, "flood");
  EXPECT_EQ(short_label(run.tests.at(3).verdict, Expect::pass, run.tests.at(3).stop), "flood");
}

TEST(Run, MachineResetIsReportedAsSuch) {
  FakeGuest g;
  g.names = kNames;
  g.behaviour["paging_wp"] = {Behaviour::reset, ""};
  GuestRun run = run_fake(g);
  EXPECT_EQ(run.tests.at(4).verdict, Verdict::stopped);
  EXPECT_NE(run.tests.at(4).reason.find("started over"), std::string::npos) << run.tests.at(4).reason;
  EXPECT_EQ(run.tests.at(4).stop, "reset");
  EXPECT_TRUE(run.tests.at(1).name == "priv_lgdt") << "results before the reset stand";
  EXPECT_EQ(run.tests.at(5).verdict, Verdict::passed);
}

TEST(Run, EarlyExitStopsTheRunningTest) {
  FakeGuest g;
  g.names = kNames;
  g.behaviour["sens_popf_if"] = {Behaviour::exit_early, ""};
  GuestRun run = run_fake(g);
  EXPECT_EQ(run.tests.at(2).verdict, Verdict::stopped);
  EXPECT_NE(run.tests.at(2).reason.find("exited (status 3) before finishing the plan"), std::string::npos);
}

TEST(Run, DuplicateResultVoidsThatTest) {
  GuestRun run = run_guest("suite", bare_settings(), [](const runner::BootSpec& spec) {
    return result(runner::Outcome::exited, "KTAP version 1\n1..2\n# nonce " + testing::option(spec.cmdline, "nonce") +
                                               "\nnot ok 1 a\nok 1 a\nok 2 b\n");
  });
  EXPECT_EQ(run.tests.at(1).verdict, Verdict::voided);
  EXPECT_EQ(run.tests.at(2).verdict, Verdict::passed);
  ASSERT_EQ(run.errors.size(), 1u);
  EXPECT_NE(run.errors[0].find("reported twice"), std::string::npos);
}

TEST(Run, SkippedNumbersAreMissing) {
  GuestRun run = run_guest("suite", bare_settings(), [](const runner::BootSpec& spec) {
    return result(runner::Outcome::exited, "KTAP version 1\n1..3\n# nonce " + testing::option(spec.cmdline, "nonce") +
                                               "\nok 1 a\nok 3 c\n");
  });
  EXPECT_EQ(run.boots.size(), 1u);
  EXPECT_EQ(run.tests.at(2).verdict, Verdict::missing);
}

TEST(Run, FailureDiagnosticsBecomeTheReason) {
  FakeGuest g;
  g.names = kNames;
  g.behaviour["sens_popf_if"] = {Behaviour::fail, "popf: IF still 1 after popf at CPL 1"};
  GuestRun run = run_fake(g);
  const Observation& o = run.tests.at(2);
  EXPECT_EQ(o.verdict, Verdict::failed);
  EXPECT_EQ(o.reason, "popf: IF still 1 after popf at CPL 1");
  ASSERT_EQ(o.diagnostics.size(), 1u);
}

TEST(Run, ATestsOwnDiagnosticsAreItsReason) {
  // The suite's format: a banner after the plan, then "# <test>: ..." lines before "not ok".
  GuestRun run = run_guest("suite", bare_settings(), [](const runner::BootSpec& spec) {
    return result(runner::Outcome::exited,
                  "KTAP version 1\n1..2\n# nonce " + testing::option(spec.cmdline, "nonce") +
                      "\n# hvlab test guest, cpuops flavour: native\n"
                      "# priv_lgdt: lgdt at CPL 0 raised #GP (vector 13, error code 0x0) at eip 0x00101234\n"
                      "not ok 1 priv_lgdt\n# sens_sgdt: expected base 0x00104000, saw 0x00ffe000\n"
                      "# sens_sgdt: limit 0x7f\nnot ok 2 sens_sgdt\n# summary: 0 passed, 2 failed\n");
  });
  EXPECT_EQ(run.tests.at(1).reason, "priv_lgdt: lgdt at CPL 0 raised #GP (vector 13, error code 0x0) at eip 0x00101234");
  EXPECT_EQ(run.tests.at(1).diagnostics.size(), 1u);
  EXPECT_EQ(run.tests.at(2).reason, "sens_sgdt: expected base 0x00104000, saw 0x00ffe000; sens_sgdt: limit 0x7f");
}

TEST(Run, MonitorLabPassesTheGuestCmdlineToTheModule) {
  FakeGuest g;
  g.names = kNames;
  g.behaviour["exc_de"] = {Behaviour::crash, ""};
  RunSettings s = bare_settings();
  s.spec.kernel = "build/lab01-trap-and-emulate/monitor.elf";
  s.spec.cmdline = "trace=1";
  s.spec.modules.push_back({"build/autograder/guests/suite.elf", ""});
  s.guest_is_module = true;
  s.guest_cmdline = "quiet";
  GuestRun run = run_fake(g, s);
  ASSERT_EQ(g.specs.size(), 2u);
  EXPECT_EQ(g.specs[1].cmdline, "trace=1");
  EXPECT_EQ(g.specs[1].modules[0].cmdline.rfind("quiet first=4 nonce=", 0), 0u) << g.specs[1].modules[0].cmdline;
  EXPECT_TRUE(run.complete());
}

TEST(Run, CancelStopsBeforeTheNextBoot) {
  std::atomic<bool> cancel{true};
  RunSettings s = bare_settings();
  s.cancel = &cancel;
  int boots = 0;
  GuestRun run = run_guest("suite", s, [&](const runner::BootSpec&) {
    ++boots;
    return runner::BootResult{};
  });
  EXPECT_EQ(boots, 0);
  EXPECT_NE(run.fatal.find("cancelled"), std::string::npos);
}

}  // namespace
}  // namespace hvlab::grader
