#pragma once
// Scoring: a rubric plus what each emulator showed (GuestRuns) gives one row per suite test
// and per [[check]], with points and a reason a student can act on.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "autograder/grader/rubric.hpp"
#include "autograder/grader/run.hpp"

namespace hvlab::grader {

/// The suite's test list for one guest image, learned from any trustworthy boot.
struct SuiteNames {
  std::optional<unsigned> plan;
  std::map<unsigned, std::string> names;

  void learn(const GuestRun& run);
  bool complete() const;  ///< plan known and every test in it named
};
using Catalog = std::map<std::string, SuiteNames>;  ///< by guest image

enum class TestStatus { passed, failed, disagree, unscored, not_graded };
const char* status_name(TestStatus s);

struct EmuOutcome {
  Emulator emu = Emulator::qemu;
  Verdict verdict = Verdict::not_run;
  bool success = false;    ///< what the rubric asked for happened on this emulator
  std::string label;       ///< short, for the table: "pass", "fail (expected)", "timeout"
  std::string reason;      ///< why it did not succeed (empty if it did)
  std::vector<std::string> diagnostics;
  double seconds = 0;
  std::string log_dir;
};

struct TestResult {
  std::string name;   ///< as displayed: "priv_lgdt"; "suite-pv:priv_lgdt" in labs with several guests
  std::string guest;
  unsigned number = 0;  ///< 0 for [[check]] rows
  bool is_check = false;
  TestStatus status = TestStatus::unscored;
  double score = 0;
  double max_score = 0;
  std::string exercise;
  Visibility visibility = Visibility::visible;
  Expect expect = Expect::pass;
  std::string reason;  ///< why points were lost; for an expected failure that happened, why it is expected
  std::vector<EmuOutcome> per_emu;
  double seconds = 0;
  std::optional<std::size_t> entry_line;  ///< the rubric line of the entry that scored it
};

/// skipped: the machine lacks what the lab needs (its rubric's `requires`, e.g. a usable
/// KVM); reported with the reason, never counted as passed or as failed.
enum class LabStatus { graded, not_built, rubric_error, not_selected, cancelled, skipped };
const char* lab_status_name(LabStatus s);

struct EmuTiming {
  unsigned boots = 0;
  double seconds = 0;  ///< sum of boot times
};

/// One exercise of a lab: the tests and checks whose rubric entry names it.
struct ExerciseResult {
  std::string exercise;  ///< "lab04-e3"
  double score = 0;
  double max_score = 0;
  std::size_t items = 0;   ///< tests and checks scored for it
  std::size_t passed = 0;
  std::string first_failure;         ///< name of the first test or check that lost points
  std::string first_failure_reason;  ///< its reason: the guest's diagnostic, or why it stopped
};

struct LabResult {
  std::string name;
  std::string title;
  std::string folder;
  LabStatus status = LabStatus::graded;
  std::string status_reason;
  std::vector<Emulator> emulators;  ///< graded on
  std::vector<TestResult> tests;
  double score = 0;
  double max_score = 0;
  std::vector<std::string> errors;  ///< rubric and protocol problems: the grade is suspect
  std::vector<std::string> notes;
  std::map<Emulator, EmuTiming> timing;
  std::vector<GuestRun> runs;       ///< what was booted, for logs and reports
  std::vector<ExerciseResult> exercises;  ///< per exercise id, in natural order (e2 before e10)

  bool full_marks() const;
};

/// Scores one lab. `runs` holds one GuestRun per (guest, emulator) that was booted; the
/// catalog names tests a crash kept the guest from naming.
LabResult score_lab(const Rubric& rubric, const std::vector<Emulator>& emulators,
                    std::vector<GuestRun> runs, const Catalog& catalog);

/// Groups the lab's scored tests and checks by exercise (fills LabResult::exercises).
std::vector<ExerciseResult> summarize_exercises(const std::vector<TestResult>& tests,
                                                const std::vector<std::string>& order = {});
/// "lab04-e2" < "lab04-e10": digit runs compare as numbers.
bool natural_less(std::string_view a, std::string_view b);

/// A result as the terminal table shows it: "pass", "FAIL", "fail (expected)", "timeout", ...
/// `stop` is Observation::stop (what ended the boot, for a stopped test).
std::string short_label(Verdict v, Expect e, const std::string& stop);

}  // namespace hvlab::grader
