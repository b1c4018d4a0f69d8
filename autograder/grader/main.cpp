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

#include "autograder/grader/report.hpp"
#include "autograder/grader/session.hpp"
#include "autograder/runner/boot.hpp"

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
      "Exit status: 0 if every graded lab has full marks and no errors, 1 otherwise, 2 for "
      "a usage or setup problem, 130 if interrupted.",
      "hvlab-grade"};
  std::vector<std::string> labs;
  std::string emu = "both";
  std::string json_file, junit_file, gradescope_file, keep_logs;
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
  app.add_option("--emu", emu, "emulator: qemu, bochs or both (each lab runs on those of its own that are chosen)")
      ->check(CLI::IsMember({"qemu", "bochs", "both"}))
      ->type_name("EMU")
      ->capture_default_str();
  app.add_option("--json", json_file, "write the full results as JSON to FILE")->type_name("FILE");
  app.add_option("--junit", junit_file, "write JUnit XML to FILE")->type_name("FILE");
  app.add_option("--gradescope", gradescope_file, "write Gradescope's results.json to FILE")->type_name("FILE");
  app.add_flag("--autolab", autolab, "print Autolab's {\"scores\": ...} line last");
  app.add_option("-j,--jobs", jobs, "boots to run in parallel (each in its own temporary directory)")
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
  CLI11_PARSE(app, argc, argv);

  SessionOptions opt;
  opt.build_dir = build_dir;
  opt.rubric_dir = rubric_dir;
  for (const auto& l : labs)
    if (l != "all") opt.labs.push_back(l);
  if (std::find(labs.begin(), labs.end(), "all") != labs.end()) opt.labs.clear();
  if (emu == "qemu") opt.emulators = {Emulator::qemu};
  else if (emu == "bochs") opt.emulators = {Emulator::bochs};
  opt.jobs = jobs;
  opt.icount = icount;
  opt.timeout_scale = timeout_scale;
  opt.calibrate = !no_calibrate;
  opt.keep_logs = keep_logs;
  if (!quiet) opt.progress = [](const std::string& line) { fmt::print(stderr, "hvlab-grade: {}\n", clean_text(line)); };

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(watch_signals, set).detach();

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

  int status = result.all_full_marks() ? 0 : 1;
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
