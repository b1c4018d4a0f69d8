// lab04-bench: reads the lab04 VMM's COM2 trace of a run of the test guest and reports how
// many VM exits each guest test cost and how many instructions the monitor emulated per exit
// (the closing summary record). The "ktap" notes the monitor writes for each KTAP result line
// carry sequence numbers, and every exit takes one, recorded or not, so the difference between
// two notes is the exits of one test. The run itself is the runner's (hvlab-boot --workdir
// DIR keeps DIR/com2.txt); the lab04_bench target does both.
//
//   lab04-bench --trace DIR/com2.txt [--label "bochs"] [--top 15]

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"Exits per guest test and emulated instructions per exit of the lab04 VMM, from its COM2 trace"};
  std::string trace_path, label = "bochs";
  unsigned top = 15;
  app.add_option("--trace", trace_path, "The monitor's COM2 trace (hvlab-boot --workdir DIR: DIR/com2.txt)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--label", label, "What the run was, for the first line")->capture_default_str();
  app.add_option("--top", top, "How many of the costliest tests to list")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::ifstream in(trace_path);

  struct Test {
    std::string name;
    long exits;
  };
  std::vector<Test> tests;
  long last_seq = 0;
  nlohmann::json summary, accounting;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    const std::string kind = j.value("kind", "");
    if (kind == "summary") summary = j;
    if (kind == "accounting") accounting = j;
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
  fmt::print("lab04 on {}: {} tests, {:.0f} exits, {:.0f} instructions emulated, {:.3f} emulated per exit\n", label,
             tests.size(), events, emulated, events ? emulated / events : 0.0);
  if (!accounting.is_null())
    fmt::print("  host TSC ticks per exit: {} in the guest, {} in the monitor\n",
               accounting.value("guest_per_entry", 0L), accounting.value("monitor_per_entry", 0L));
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
