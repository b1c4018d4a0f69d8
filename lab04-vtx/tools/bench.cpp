// lab04-bench: boots the lab04 VMM with the test guest and reports, from the monitor's COM2
// trace, how many VM exits each guest test cost and how many instructions the monitor
// emulated per exit (the closing summary record). The "ktap" notes the monitor writes for
// each KTAP result line carry sequence numbers, and every exit takes one, recorded or not,
// so the difference between two notes is the exits of one test.
//
//   lab04-bench --build-dir build [--emu bochs] [--monitor-cmdline "trace=off"] [--top 15]

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "autograder/runner/boot.hpp"

namespace runner = hvlab::runner;

int main(int argc, char** argv) {
  CLI::App app{"Exits per guest test and emulated instructions per exit of the lab04 VMM"};
  std::string build_dir = "build", emu = "bochs", monitor_cmdline, guest_args;
  unsigned top = 15;
  double timeout = 180;
  app.add_option("--build-dir", build_dir, "CMake build directory")->capture_default_str();
  app.add_option("--emu", emu, "bochs (VT-x) or qemu (AMD-V)")->check(CLI::IsMember({"qemu", "bochs"}));
  app.add_option("--monitor-cmdline", monitor_cmdline, "The monitor's command line, e.g. backend=svm");
  app.add_option("--guest-args", guest_args, "The guest's options, e.g. only=intr_eoi");
  app.add_option("--top", top, "How many of the costliest tests to list")->capture_default_str();
  app.add_option("--timeout", timeout, "Seconds")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  runner::BootSpec spec;
  spec.emu = emu == "qemu" ? runner::Emulator::qemu : runner::Emulator::bochs;
  spec.kernel = build_dir + "/lab04-vtx/monitor.elf";
  spec.cmdline = monitor_cmdline;
  spec.modules.push_back({build_dir + "/autograder/guests/suite.elf", guest_args});
  spec.timeout = std::chrono::milliseconds(static_cast<long>(timeout * 1000));
  runner::BootResult r = runner::boot(spec);
  if (r.outcome != runner::Outcome::exited) {
    fmt::print(stderr, "lab04-bench: the run did not finish: {} ({})\n", runner::outcome_name(r.outcome), r.reason);
    return 1;
  }

  struct Test {
    std::string name;
    long exits;
  };
  std::vector<Test> tests;
  long last_seq = 0;
  nlohmann::json summary, stats;
  std::istringstream in(r.com2);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    const std::string kind = j.value("kind", "");
    if (kind == "summary") summary = j;
    if (kind == "stats") stats = j;
    if (kind != "ktap") continue;
    const long seq = j.value("seq", 0L);
    std::string what = j.value("what", "");
    // "ok 12 name # comment" -> "name"
    std::istringstream w(what);
    std::string word, name;
    while (w >> word) {
      if (word == "ok" || word == "not" || std::all_of(word.begin(), word.end(), ::isdigit)) continue;
      name = word;
      break;
    }
    tests.push_back({name, seq - last_seq - 1});
    last_seq = seq;
  }
  if (summary.is_null()) {
    fmt::print(stderr, "lab04-bench: no summary record on COM2\n");
    return 1;
  }
  const double events = summary.value("events", 0.0), emulated = summary.value("emulated", 0.0);
  fmt::print("lab04 on {}: {} tests, {:.0f} exits, {:.0f} instructions emulated, {:.3f} emulated per exit, {:.1f} s\n",
             emu, tests.size(), events, emulated, events ? emulated / events : 0.0, r.elapsed.count() / 1000.0);
  if (!stats.is_null()) fmt::print("  {}\n", stats.value("what", ""));
  fmt::print("  exits by reason:");
  for (auto& [k, v] : summary["counts"].items()) fmt::print(" {}={}", k, v.get<long>());
  fmt::print("\n  exits per test (costliest first; the first counts the guest's start-up):\n");
  std::vector<Test> sorted = tests;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Test& a, const Test& b) { return a.exits > b.exits; });
  for (unsigned i = 0; i < sorted.size() && i < top; ++i) fmt::print("  {:>8}  {}\n", sorted[i].exits, sorted[i].name);
  long total = 0;
  for (auto& t : tests) total += t.exits;
  if (!tests.empty()) fmt::print("  mean {:.1f} exits per test\n", static_cast<double>(total) / tests.size());
  return 0;
}
