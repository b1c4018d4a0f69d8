#pragma once
// Batch grading: every submission (a student's tree, or an archive of one) is graded in
// isolation, on the instructor's build rules, and gets a folder of results; a CSV gradebook
// sums them up. Used by `hvlab-grade --submissions DIR` (a class), `--submission PATH` (one:
// Gradescope's run_autograder, a Slurm array task) and `--collect OUT` (the gradebook of a
// results folder). The policy is described in autograder/README.md and submission.hpp.

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "autograder/grader/run.hpp"
#include "autograder/grader/session.hpp"

namespace hvlab::grader::batch {

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
  SessionOptions session;                          ///< emulators, jobs, icount, timeouts, calibration
  double build_timeout_s = 300;                    ///< configure and build, per submission
  bool use_ccache = true;                          ///< when ccache is installed
  std::filesystem::path ccache_dir;                ///< empty: `<instructor_build>/_ccache`
  bool keep_work = false;
  std::filesystem::path gradescope_file;           ///< also write this submission's results.json here
  bool write_gradebook = true;
  std::function<void(const std::string&)> progress;
};

struct SubmissionOutcome {
  std::string student;
  double score = 0;
  double max_score = 0;
  std::string status;  ///< graded, build_failed, error
  std::filesystem::path results_dir;
};

/// Grades every submission. Throws SessionError for a problem with the set-up itself (no
/// handout, no rubrics); a submission that cannot be graded scores 0 with the reason.
std::vector<SubmissionOutcome> grade_submissions(const BatchOptions& options, const BootFn& boot,
                                                 const std::atomic<bool>& cancel);

/// Writes `<out_dir>/gradebook.csv` from every `<out_dir>/*/report.json`; returns the row count.
std::size_t collect_gradebook(const std::filesystem::path& out_dir);

}  // namespace hvlab::grader::batch
