#pragma once
// Batch grading: every submission (a student's tree, or an archive of one) is graded in
// isolation, on the instructor's build rules, and gets a folder of results; a CSV gradebook
// sums them up. Used by `hvlab-grade --submissions DIR` (a class), `--submission PATH` (one:
// Gradescope's run_autograder, a Slurm array task) and `--collect OUT` (the gradebook of a
// results folder). The policy is described in autograder/README.md and submission.hpp.
//
// Several submissions are graded at once: `jobs` is a budget of cores that builds and boots
// share, one core per submission being graded and the rest lent to whichever build or boot
// asks first. A submission's results are written when it is finished, report.json last; a
// rerun keeps them (unless `regrade`) and grades the others.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "autograder/grader/run.hpp"
#include "autograder/grader/session.hpp"

namespace hvlab::runner {
class Sandbox;
}

namespace hvlab::grader::batch {

/// What a submission may use. Each refusal names the limit.
struct SubmissionLimits {
  std::uint64_t archive_bytes = std::uint64_t{256} << 20;   ///< the upload itself
  std::uint64_t unpacked_bytes = std::uint64_t{512} << 20;  ///< everything an archive unpacks to
  std::size_t archive_entries = 50000;
  std::uint64_t build_memory = std::uint64_t{1} << 30;      ///< address space per build process
  std::uint64_t build_file_bytes = std::uint64_t{256} << 20;  ///< any file a build writes
  double build_seconds = 300;                               ///< configure and build, per submission
};

struct BatchOptions {
  std::vector<std::filesystem::path> submissions;  ///< folders or archives
  std::filesystem::path out_dir;                   ///< `<student>/` folders and gradebook.csv
  std::filesystem::path work_dir;                  ///< scratch; empty: `<out_dir>/.work`
  std::filesystem::path instructor_build;          ///< guests, calibration kernel, Zydis, hvlab-handout
  std::filesystem::path rubric_dir;                ///< the instructor's rubrics
  std::filesystem::path source_dir;                ///< the instructor's tree (reference or handout)
  std::filesystem::path handout_dir;               ///< the handout to grade in; empty: from source_dir
  std::string upto;                                ///< --upto for a generated handout ("" = none)
  std::vector<std::string> labs;                   ///< empty: every lab with a monitor
  SessionOptions session;                          ///< emulators, icount, timeouts; jobs: the core budget
  SubmissionLimits limits;
  bool use_ccache = true;                          ///< when ccache is installed
  std::filesystem::path ccache_dir;                ///< empty: `<instructor_build>/_ccache`
  bool keep_work = false;
  bool regrade = false;                            ///< grade again submissions that have results
  std::filesystem::path gradescope_file;           ///< also write this submission's results.json here
  bool write_gradebook = true;
  /// Confinement for every step of a submission (unpack, configure, build, boot); null: none.
  const runner::Sandbox* sandbox = nullptr;
  std::function<void(const std::string&)> progress;
};

struct SubmissionOutcome {
  std::string student;
  double score = 0;
  double max_score = 0;
  std::string status;  ///< graded, build_failed, error
  std::filesystem::path results_dir;
  bool kept = false;   ///< results of an earlier run, kept (not graded again)
  double seconds = 0;
};

/// Grades every submission. Throws SessionError for a problem with the set-up itself (no
/// handout, a rubric that does not load); a submission that cannot be graded scores 0 with the
/// reason. When `cancel` is set, the submissions being graded are dropped (nothing of them is
/// written) and those finished keep their results.
std::vector<SubmissionOutcome> grade_submissions(const BatchOptions& options, const BootFn& boot,
                                                 const std::atomic<bool>& cancel);

/// Writes `<out_dir>/gradebook.csv` from every `<out_dir>/*/report.json`; returns the row count.
std::size_t collect_gradebook(const std::filesystem::path& out_dir);

/// A pool of `n` cores shared by the steps of several submissions (see the header comment).
class JobBudget {
 public:
  explicit JobBudget(unsigned n) : free_(n) {}
  void take();                       ///< one core, waiting for it
  unsigned take_more(unsigned max);  ///< up to `max` more, without waiting
  void give(unsigned n);
  unsigned free() const { return free_.load(); }

 private:
  std::atomic<unsigned> free_;
};

}  // namespace hvlab::grader::batch
