// hvlab-grade: boots each lab's monitor with the test guest under QEMU and Bochs, scores
// the guest's KTAP report against the lab's rubric, and writes the results for people
// (a table), CI (JUnit) and course tools (Gradescope, Autolab). The logic is in the
// hvlab_grader library; this file is options, signals and output files.

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "autograder/grader/batch.hpp"
#include "autograder/grader/report.hpp"
#include "autograder/grader/session.hpp"
#include "autograder/grader/submission.hpp"
#include "autograder/runner/boot.hpp"
#include "autograder/runner/sandbox.hpp"

namespace {

namespace fs = std::filesystem;
using namespace hvlab::grader;

std::atomic<bool> g_cancel{false};
std::atomic<bool> g_done{false};

// Signals are blocked in every thread and taken here with sigwait, so that killing the
// emulators happens in ordinary code rather than in a signal handler.
void watch_signals(sigset_t set) {
  int sig = 0;
  if (sigwait(&set, &sig) != 0) return;
  g_cancel = true;
  std::fprintf(stderr, "\nhvlab-grade: interrupted, stopping the emulators\n");
  hvlab::runner::kill_all_children();
  // Boots that were starting as the signal came are caught by a few more rounds; a second
  // signal, or a main thread that does not wind down, ends the process.
  sigset_t again = set;
  const timespec tick{0, 100'000'000};
  for (int i = 0; i < 50 && !g_done; ++i) {
    if (sigtimedwait(&again, nullptr, &tick) > 0) break;
    hvlab::runner::kill_all_children();
  }
  if (!g_done) {
    hvlab::runner::kill_all_children();
    std::_Exit(130);
  }
}

unsigned terminal_width() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) return static_cast<unsigned>(std::atoi(c));
  return 100;
}

fs::path exe_build_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  // <build>/autograder/grader/hvlab-grade
  return exe.parent_path().parent_path().parent_path();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "hvlab-grade: boots each lab's monitor with the test guest under QEMU and Bochs and "
      "scores the guest's KTAP report against autograder/rubrics/<lab>.toml.\n"
      "Exit status: 0 if every lab has full marks and no errors, or is skipped because this "
      "machine lacks what it needs (shown as skipped, with the reason; a skip scores nothing "
      "and is never a pass), 1 otherwise, 2 for a usage or setup problem (a rubric that does "
      "not load included), 130 if interrupted.\n"
      "Instructors: --submissions DIR grades every student tree or archive in DIR, each in a "
      "fresh copy of the handout with the instructor's build rules, confined (--sandbox), "
      "several at once (-j cores); exit status 0 once every submission has its results, "
      "whatever the scores; an interrupted run keeps the finished results and a rerun grades "
      "the rest. See autograder/README.md.",
      "hvlab-grade"};
  std::vector<std::string> labs;
  std::string emu = "both";
  std::string json_file, junit_file, gradescope_file, keep_logs, guest_dir;
  bool autolab = false, icount = false, quiet = false, no_calibrate = false;
  unsigned jobs = 1;
  double timeout_scale = 1.0;
  const fs::path source_dir = HVLAB_SOURCE_DIR;
  std::string build_dir = (source_dir / "build").string();
  if (!fs::exists(build_dir) && !exe_build_dir().empty()) build_dir = exe_build_dir().string();
  std::string rubric_dir = (source_dir / "autograder" / "rubrics").string();

  app.add_option("--lab", labs, "lab to grade (native, lab01, ...); repeat it, or 'all' (default)")
      ->delimiter(',')
      ->type_name("NAME");
  app.add_option("--emu", emu,
                 "emulator: qemu, bochs, host (a hosted VMM run as a program) or both (all of them; each lab runs "
                 "on those of its own that are chosen)")
      ->check(CLI::IsMember({"qemu", "bochs", "host", "both"}))
      ->type_name("EMU")
      ->capture_default_str();
  app.add_option("--json", json_file, "write the full results as JSON to FILE")->type_name("FILE");
  app.add_option("--junit", junit_file, "write JUnit XML to FILE")->type_name("FILE");
  app.add_option("--gradescope", gradescope_file, "write Gradescope's results.json to FILE")->type_name("FILE");
  app.add_flag("--autolab", autolab, "print Autolab's {\"scores\": ...} line last");
  app.add_option("-j,--jobs", jobs, "cores to use: boots in parallel; with --submissions, builds and boots of several submissions at once")
      ->check(CLI::Range(1u, 64u))
      ->type_name("N")
      ->capture_default_str();
  app.add_flag("--icount", icount, "deterministic QEMU (-icount shift=0,sleep=off)");
  app.add_option("--timeout-scale", timeout_scale, "multiply every boot's timeout by X")
      ->check(CLI::Range(0.05, 100.0))
      ->type_name("X")
      ->capture_default_str();
  app.add_option("--keep-logs", keep_logs, "keep COM1, COM2, E9 and emulator logs of boots that were not clean in DIR")
      ->type_name("DIR");
  app.add_option("--build-dir", build_dir, "the CMake build directory")->type_name("DIR")->capture_default_str();
  app.add_option("--rubric-dir", rubric_dir, "the folder of <lab>.toml rubrics")->type_name("DIR")->capture_default_str();
  app.add_flag("--no-calibrate", no_calibrate, "do not scale timeouts by a calibration boot");
  app.add_flag("-q,--quiet", quiet, "no progress lines on stderr");
  app.add_option("--guest-dir", guest_dir, "take the guest images (<image>.elf) from DIR, not the build directory")
      ->type_name("DIR");

  // Batch grading (instructors).
  std::string submissions_dir, submission, out_dir = "hvlab-results", work_dir, handout_dir, upto, collect;
  std::string source_dir_opt = source_dir.string(), ccache_dir;
  double build_timeout = 300;
  bool no_ccache = false, keep_work = false, regrade = false;
  std::string sandbox_mode = "bwrap";
  batch::SubmissionLimits limits;
  std::uint64_t max_archive_mib = limits.archive_bytes >> 20, max_unpacked_mib = limits.unpacked_bytes >> 20,
                build_memory_mib = limits.build_memory >> 20, build_file_mib = limits.build_file_bytes >> 20;
  auto* batch = app.add_option_group("batch grading", "grade students' submissions on the instructor's build rules");
  auto* many = batch->add_option("--submissions", submissions_dir,
                                 "grade every student tree (folder) or archive (.tar.gz, .tgz, .tar, .zip) in DIR")
                   ->type_name("DIR")
                   ->check(CLI::ExistingDirectory);
  auto* one = batch->add_option("--submission", submission, "grade one student tree or archive (Gradescope, Slurm)")
                  ->type_name("PATH")
                  ->check(CLI::ExistingPath);
  many->excludes(one);
  batch->add_option("--out", out_dir, "results: <student>/report.json, results.json, report.txt, build.log and gradebook.csv")
      ->type_name("DIR")
      ->capture_default_str();
  batch->add_option("--work-dir", work_dir, "scratch space for unpacking and building (default: OUT/.work)")->type_name("DIR");
  batch->add_option("--handout", handout_dir, "the handout tree to grade in (default: generated from --source-dir)")
      ->type_name("DIR");
  batch->add_option("--upto", upto, "the handout's catch-up checkpoint (labNN), when it is generated")->type_name("LAB");
  batch->add_option("--source-dir", source_dir_opt, "the instructor's tree")->type_name("DIR")->capture_default_str();
  batch->add_option("--build-timeout", build_timeout, "seconds to configure and build one submission")
      ->check(CLI::Range(10.0, 7200.0))
      ->type_name("S")
      ->capture_default_str();
  batch->add_flag("--no-ccache", no_ccache, "compile every submission from scratch");
  batch->add_option("--ccache-dir", ccache_dir, "the compiler cache shared by the submissions (default: BUILD/_ccache)")
      ->type_name("DIR");
  batch->add_flag("--keep-work", keep_work, "keep each submission's work tree and build");
  batch->add_option("--max-archive", max_archive_mib, "the largest archive a submission may be, MiB")
      ->check(CLI::Range(1, 1 << 20))->type_name("MIB")->capture_default_str();
  batch->add_option("--max-unpacked", max_unpacked_mib, "the most an archive may unpack to, MiB")
      ->check(CLI::Range(1, 1 << 20))->type_name("MIB")->capture_default_str();
  batch->add_option("--build-memory", build_memory_mib, "address space per build process (the compiler), MiB")
      ->check(CLI::Range(64, 1 << 20))->type_name("MIB")->capture_default_str();
  batch->add_option("--build-file-size", build_file_mib, "the largest file a build may write, MiB")
      ->check(CLI::Range(1, 1 << 20))->type_name("MIB")->capture_default_str();
  batch->add_flag("--regrade", regrade, "grade again the submissions that have results from an earlier run");
  batch->add_option("--sandbox", sandbox_mode,
                    "confinement of a submission's steps: bwrap (namespaces, no network, an unprivileged user), "
                    "user (root only: an unprivileged user, no namespaces) or none")
      ->check(CLI::IsMember({"bwrap", "user", "none"}))
      ->capture_default_str();
  bool check_sandbox = false;
  batch->add_flag("--check-sandbox", check_sandbox,
                  "only say whether the --sandbox of submissions can be made here: exit 0 if it can, 3 if this "
                  "machine refuses the namespaces it needs (a container, a chroot), 2 for any other reason");
  batch->add_option("--collect", collect, "only write DIR/gradebook.csv from DIR/*/report.json (after a Slurm array)")
      ->type_name("DIR")
      ->check(CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);

  if (check_sandbox) {
    std::string problem;
    const hvlab::runner::Sandbox sandbox =
        hvlab::runner::Sandbox::make(*hvlab::runner::sandbox_mode_from_name(sandbox_mode), &problem);
    if (problem.empty()) {
      fmt::print("hvlab-grade: the sandbox works here: {}\n", sandbox.describe());
      return 0;
    }
    const bool machine = hvlab::runner::Sandbox::refused_by_machine(problem);
    fmt::print(stderr, "hvlab-grade: {}: {}\n",
               machine ? "this machine refuses the namespaces the sandbox needs" : "cannot make the sandbox", problem);
    return machine ? 3 : 2;
  }

  if (!collect.empty()) {
    try {
      const std::size_t n = batch::collect_gradebook(collect);
      fmt::print("hvlab-grade: {} with {} student(s)\n", (fs::path(collect) / "gradebook.csv").string(), n);
      return n ? 0 : 1;
    } catch (const std::exception& e) {
      fmt::print(stderr, "hvlab-grade: {}\n", e.what());
      return 2;
    }
  }

  SessionOptions opt;
  opt.build_dir = build_dir;
  opt.rubric_dir = rubric_dir;
  for (const auto& l : labs)
    if (l != "all") opt.labs.push_back(l);
  if (std::find(labs.begin(), labs.end(), "all") != labs.end()) opt.labs.clear();
  if (emu == "qemu") opt.emulators = {Emulator::qemu};
  else if (emu == "bochs") opt.emulators = {Emulator::bochs};
  else if (emu == "host") opt.emulators = {Emulator::host};
  opt.jobs = jobs;
  opt.icount = icount;
  opt.timeout_scale = timeout_scale;
  opt.calibrate = !no_calibrate;
  opt.keep_logs = keep_logs;
  opt.guest_dir = guest_dir;
  if (const fs::path plugin = fs::path(build_dir) / "autograder" / "plugins" / "libhvlab_evidence.so"; fs::exists(plugin))
    opt.evidence_plugin = plugin;
  if (!quiet) opt.progress = [](const std::string& line) { fmt::print(stderr, "hvlab-grade: {}\n", clean_text(line)); };

  // A shell starts background jobs with SIGINT ignored, and an ignored signal never reaches
  // sigwait: take SIGINT and SIGTERM back (SIGHUP stays as nohup left it).
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(watch_signals, set).detach();

  if (!submissions_dir.empty() || !submission.empty()) {
    batch::BatchOptions b;
    try {
      if (!submission.empty()) b.submissions = {submission};
      else b.submissions = batch::list_submissions(submissions_dir);
    } catch (const std::exception& e) {
      fmt::print(stderr, "hvlab-grade: {}\n", e.what());
      return 2;
    }
    if (b.submissions.empty()) {
      fmt::print(stderr, "hvlab-grade: no submissions (folders or archives) in {}\n", submissions_dir);
      return 2;
    }
    b.out_dir = out_dir;
    b.work_dir = work_dir;
    b.instructor_build = build_dir;
    b.rubric_dir = rubric_dir;
    b.source_dir = source_dir_opt;
    b.handout_dir = handout_dir;
    b.upto = upto;
    b.labs = opt.labs;
    b.session = opt;
    b.session.guest_dir.clear();
    b.limits.build_seconds = build_timeout;
    b.limits.archive_bytes = max_archive_mib << 20;
    b.limits.unpacked_bytes = max_unpacked_mib << 20;
    b.limits.build_memory = build_memory_mib << 20;
    b.limits.build_file_bytes = build_file_mib << 20;
    // One submission (Gradescope, a Slurm task) is always graded: its results are the point.
    b.regrade = regrade || !submission.empty();
    b.use_ccache = !no_ccache;
    b.ccache_dir = ccache_dir;
    b.keep_work = keep_work;
    b.gradescope_file = gradescope_file;
    b.write_gradebook = submission.empty();
    if (!quiet) b.progress = [](const std::string& line) { fmt::print(stderr, "hvlab-grade: {}\n", clean_text(line)); };
    // Nothing of a submission runs unconfined unless the instructor says so.
    std::string problem;
    const hvlab::runner::Sandbox sandbox =
        hvlab::runner::Sandbox::make(*hvlab::runner::sandbox_mode_from_name(sandbox_mode), &problem);
    if (!problem.empty()) {
      g_done = true;
      fmt::print(stderr,
                 "hvlab-grade: cannot make the sandbox for the submissions' builds and runs ({}); refusing to grade. "
                 "Fix it, or grade anyway with --sandbox user (root: an unprivileged user, no namespaces) or "
                 "--sandbox none (no confinement)\n",
                 problem);
      return 2;
    }
    b.sandbox = &sandbox;
    std::vector<batch::SubmissionOutcome> outcomes;
    try {
      outcomes = batch::grade_submissions(b, hvlab::runner::boot, g_cancel);
    } catch (const SessionError& e) {
      g_done = true;
      fmt::print(stderr, "hvlab-grade: {}\n", e.what());
      return 2;
    }
    g_done = true;
    if (g_cancel) {
      fmt::print(stderr, "hvlab-grade: interrupted; finished submissions keep their results, a rerun grades the rest\n");
      return 130;
    }
    std::size_t width = 7;
    for (const auto& oc : outcomes) width = std::max(width, oc.student.size());
    fmt::print("{:<{}}  {:>9}  {:>7}  {}\n", "student", width, "points", "percent", "status");
    for (const auto& oc : outcomes)
      fmt::print("{:<{}}  {:>9}  {:>6.1f}%  {}{}\n", oc.student, width, fmt::format("{:g}/{:g}", oc.score, oc.max_score),
                 oc.max_score > 0 ? 100.0 * oc.score / oc.max_score : 0.0, oc.status, oc.kept ? " (kept from an earlier run)" : "");
    if (b.write_gradebook) fmt::print("gradebook: {}\n", (fs::path(out_dir) / "gradebook.csv").string());
    fmt::print("results: {}/<student>/ (report.txt, report.json, results.json, build.log)\n", out_dir);
    return 0;
  }

  SessionResult result;
  try {
    result = run_session(opt, hvlab::runner::boot, g_cancel);
  } catch (const SessionError& e) {
    fmt::print(stderr, "hvlab-grade: {}\n", e.what());
    return 2;
  }
  g_done = true;
  if (result.cancelled) {
    fmt::print(stderr, "hvlab-grade: interrupted; no results written\n");
    return 130;
  }

  const bool tty = isatty(STDOUT_FILENO) == 1;
  const char* term = std::getenv("TERM");
  TableStyle style;
  style.colour = tty && !std::getenv("NO_COLOR") && !(term && std::string_view(term) == "dumb");
  style.width = tty ? terminal_width() : 0;
  print_report(stdout, result, style);
  std::fflush(stdout);

  int status = result.no_failures() ? 0 : 1;
  // A rubric that does not load is a set-up problem, not a score.
  for (const auto& lab : result.labs)
    if (lab.status == LabStatus::rubric_error) status = 2;
  try {
    if (!json_file.empty()) write_text_file(json_file, dump_json(to_json(result)) + "\n");
    if (!junit_file.empty()) write_text_file(junit_file, to_junit(result));
    if (!gradescope_file.empty()) write_text_file(gradescope_file, dump_json(to_gradescope(result)) + "\n");
  } catch (const std::exception& e) {
    fmt::print(stderr, "hvlab-grade: {}\n", e.what());
    status = 2;
  }
  if (autolab) fmt::print("{}\n", autolab_line(result));
  std::fflush(stdout);
  return g_cancel ? 130 : status;
}
