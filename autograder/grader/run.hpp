#pragma once
// Running one test guest on one emulator under one lab, to the end of its plan: boot, read
// KTAP from COM1 and the event trace from COM2, and when the guest stops part-way (a crash,
// a hang, a flood, a reset), record the test that was running as failed and boot again
// with first=K+1, a bounded number of times.

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "autograder/grader/elf.hpp"
#include "autograder/grader/ktap.hpp"
#include "autograder/grader/trace.hpp"
#include "autograder/runner/boot.hpp"

namespace hvlab::grader {

using runner::Emulator;

/// The emulator runner, injected so that tests can script what "booting" returns.
using BootFn = std::function<runner::BootResult(const runner::BootSpec&)>;

/// What one emulator showed for one test.
enum class Verdict {
  passed,   ///< "ok N"
  failed,   ///< "not ok N"
  skipped,  ///< "ok N name # SKIP reason"
  stopped,  ///< the guest stopped while running it (crash, hang, flood, reset, early exit)
  missing,  ///< the guest went on to later tests without reporting this one
  not_run,  ///< never reached (the run could not start or gave up resuming)
  voided,   ///< reported, but the output cannot be trusted (reported twice, wrong nonce)
};
const char* verdict_name(Verdict v);
/// "exited", "timeout", ... (the grader's own names; it does not link the runner).
const char* outcome_text(runner::Outcome o);

struct Observation {
  unsigned number = 0;
  std::string name;  ///< empty when the guest never printed it (e.g. it crashed in it)
  Verdict verdict = Verdict::not_run;
  std::string reason;                    ///< one line, for failures
  std::string stop;                      ///< for `stopped`: crash, timeout, flood, reset, exit, bail
  std::vector<std::string> diagnostics;  ///< the guest's "# ..." lines for this test
  double seconds = 0;                    ///< an even share of the boot's wall time
  std::optional<std::size_t> boot;       ///< index in GuestRun::boots of the boot that decided it
};

struct BootRecord {
  unsigned first = 1;  ///< the first= it was booted with
  std::string nonce;
  std::string cmdline;  ///< the guest's command line
  runner::Outcome outcome = runner::Outcome::launch_failed;
  int exit_status = -1;
  std::string runner_reason;
  std::string summary;  ///< what the grader made of it, one line
  double seconds = 0;
  std::size_t results = 0;  ///< results the boot contributed
  bool clean = false;       ///< exited, every result ok, no protocol problem
  std::string not_implemented;  ///< "not implemented: lab04-e1 (at FILE:LINE)" when a stub stopped it
  Trace trace;
  std::string log_dir;      ///< where its logs were kept, if they were
};

struct GuestRun {
  std::string guest;
  Emulator emu = Emulator::qemu;
  /// The order of the tests in this run (guests/suite/order.hpp), 0 for a guest without a
  /// test table. Test numbers below are the table's (the source order), whatever the seed.
  std::uint64_t seed = 0;
  std::optional<unsigned> plan;
  std::map<unsigned, Observation> tests;
  std::vector<BootRecord> boots;
  std::vector<std::string> errors;  ///< protocol and trust problems
  std::vector<std::string> notes;   ///< worth knowing, not wrong
  /// Set when the run produced no usable per-test results at all (could not start, no KTAP,
  /// untrusted output): the reason every test without an observation failed.
  std::string fatal;
  /// Every distinct `not implemented: <exercise> (at FILE:LINE)` a stub stopped a boot with.
  std::vector<std::string> not_implemented;

  double seconds() const;
  /// True if the plan is known and every test in it has an observation.
  bool complete() const;
};

struct RunSettings {
  runner::BootSpec spec;        ///< emulator, kernel, modules, timeout, limits; cmdline set per boot
  bool guest_is_module = false; ///< a monitor boots the guest: its cmdline goes to modules[0]
  std::string guest_cmdline;    ///< the rubric's; first=K and nonce=HEX are appended
  unsigned max_boots = 8;
  std::function<std::string()> make_nonce;        ///< default: random_nonce
  /// The guest's test table: with it, the run gets a seed (seed=HEX on the command line, the
  /// same for its resumes), and a boot whose tests are not in that seed's order, or whose
  /// trace events are not, is not trusted.
  std::shared_ptr<const SuiteTable> table;
  std::function<std::uint64_t()> make_seed;       ///< default: random, never 0
  /// QEMU with a table: the execution-evidence plugin (autograder/plugins), which watches
  /// the guest's tests run; a report that claims what the emulator did not see is not trusted.
  std::filesystem::path evidence_plugin;
  const std::atomic<bool>* cancel = nullptr;      ///< checked before every boot
  /// Called after every boot; returns the directory where logs were kept (or "").
  std::function<std::string(const BootRecord&, const runner::BootResult&)> on_boot;
};

/// 16 random hex digits.
std::string random_nonce();

/// Why a boot's KTAP report does not follow the order `seed` gives the tests of `table`
/// (a name in the wrong place, another plan), or "".
std::string seed_order_problem(const KtapLog& log, const SuiteTable& table, const std::vector<unsigned>& order,
                               std::uint64_t seed);
/// Why a boot's report disagrees with what the evidence plugin saw the guest run (a test
/// reported that never ran, an "ok" for a test whose fail() ran, tests run out of the seed's
/// order), or "".
std::string evidence_problem(const KtapLog& log, std::string_view evidence, const SuiteTable& table,
                             const std::vector<unsigned>& order, unsigned first);
/// Why a boot's trace does not follow that order (an event in a test's code after an event
/// in the code of a test the seed runs later, or in a test before `first`), or "".
std::string trace_order_problem(const Trace& trace, const SuiteTable& table, const std::vector<unsigned>& order,
                                unsigned first);

/// What the monitor said last, for a boot that ended without the guest's output: the last
/// lines of its debug console and its last trace records (a trap on `rdtsc`, a triple fault),
/// and where to see the whole log; "" when it said nothing.
std::string monitor_last_words(const runner::BootResult& r, const Trace& trace);

/// Boots until the plan is complete or max_boots is reached. Never throws for anything a
/// guest, monitor or emulator does.
GuestRun run_guest(const std::string& guest, const RunSettings& settings, const BootFn& boot);

/// A handout stub that stopped the kernel: HV_NOT_IMPLEMENTED panics with
/// "PANIC at FILE:LINE: not implemented: lab04-e3" on COM1 and the debug console.
struct NotImplemented {
  std::string exercise;  ///< "lab04-e3"
  std::string where;     ///< "lab04-vtx/src/vmx.cpp:38", or empty
  std::string text() const;  ///< "not implemented: lab04-e3 (at lab04-vtx/src/vmx.cpp:38)"
};
/// The first such panic in COM1, else in the debug console.
std::optional<NotImplemented> find_not_implemented(const runner::BootResult& r);

/// "timed out after 20.0 s", "triple fault", ...: why a boot ended before its plan did.
std::string describe_stop(const runner::BootResult& r, const KtapLog& log, double timeout_s);

}  // namespace hvlab::grader
