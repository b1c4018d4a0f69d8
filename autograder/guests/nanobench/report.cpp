// nanobench-report: boots the nanobenchmark guest and reads its figures (the KTAP result
// lines on COM1, autograder/guests/README.md) and, under a monitor, the monitor's counts
// (the closing "summary" and "accounting" records of its trace on COM2).
//
//   nanobench-report check --guest nanobench.elf [--emu qemu|bochs] [--icount]
//       [--monitor monitor.elf] [--monitor-args ARGS] [--guest-args ARGS] [--runs N]
//     Boots it N times; fails unless every benchmark reported its figures, the guest exited
//     with status 0, and every run reported the same figures (meaningful with --icount).
//     --json: print only the figures, as one JSON object of instructions (ticks) per
//     operation rounded to a whole number, {"syscall": 16724, ...} (a lab's tools/figures.sh
//     takes its `icount_per_op` from it under QEMU -icount, tools/compare/README.md).
//
//   nanobench-report bench --build-dir build [--n N] [--monitor-n M] [--monitor NAME=ELF]
//       [--monitor-args NAME=ARGS] [-j J]
//     The `make bench` report: per benchmark, TSC ticks per operation bare on QEMU -icount
//     (instructions) and on Bochs, then under each monitor on QEMU -icount: ticks per
//     operation, and monitor entries per operation by reason. A monitor's counts are for
//     the whole run, so each benchmark runs alone (only=NAME) with n=M and n=2M: the
//     difference is what M more operations cost, start-up and set-up cancelled out.
//
//   nanobench-report sweep --build-dir build [--n N] [--work W,W,...] [--monitor NAME=ELF]
//       [--monitor-args NAME=ARGS] [--monitor-guest NAME=ELF] [--target R] [-j J]
//     The macro workload alone (only=macro_procs) on QEMU -icount, bare and under each
//     monitor, at each amount of user work per process and round (work=W): instructions per
//     round, their ratio to bare, and the least work at which each monitor is within R times
//     bare. Each point is the difference of two boots (n=N and n=2N), as in bench.
//     --monitor-guest: the guest that monitor runs (lab03: the paravirtual build).

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <array>
#include <atomic>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "autograder/runner/boot.hpp"

namespace {

namespace runner = hvlab::runner;
namespace fs = std::filesystem;

// The guest's benchmarks, in its order (a guest that reports others fails the check).
constexpr std::array<const char*, 9> kBenchmarks = {"syscall",    "port_in",      "cr3_reload",
                                                     "call_ret",   "page_fault",   "divide_error",
                                                     "pte_update", "cli_sti",      "macro_procs"};

// ---- The guest's output ---------------------------------------------------------------------

struct Figure {
  unsigned number = 0;
  std::string name;
  bool ok = false;
  std::string per_op;  ///< cycles_per_op as printed
  std::uint64_t ops = 0, cycles = 0;
  std::optional<std::uint64_t> work;  ///< macro_procs: work= (user instructions per round)
  double per_op_value() const { return std::stod(per_op); }
};

struct GuestReport {
  std::vector<Figure> figures;
  std::vector<std::string> problems;  ///< what is wrong with the output, in a reader's words
};

std::map<std::string, std::string> key_values(std::string_view text) {
  std::map<std::string, std::string> kv;
  std::istringstream in{std::string(text)};
  for (std::string word; in >> word;) {
    auto eq = word.find('=');
    if (eq != std::string::npos) kv[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return kv;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// "ok 3 cr3_reload # cycles_per_op=11.00 ops=10000 cycles=110010"
std::optional<Figure> parse_result_line(std::string_view line) {
  Figure f;
  if (line.starts_with("ok ")) {
    f.ok = true;
    line.remove_prefix(3);
  } else if (line.starts_with("not ok ")) {
    line.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const auto hash = line.find(" # ");
  std::istringstream head{std::string(line.substr(0, hash))};
  if (!(head >> f.number >> f.name)) return std::nullopt;
  if (hash == std::string_view::npos) return f;
  auto kv = key_values(line.substr(hash + 3));
  f.per_op = kv["cycles_per_op"];
  if (all_digits(kv["ops"])) f.ops = std::stoull(kv["ops"]);
  if (all_digits(kv["cycles"])) f.cycles = std::stoull(kv["cycles"]);
  if (all_digits(kv["work"])) f.work = std::stoull(kv["work"]);
  return f;
}

GuestReport parse_guest(const std::string& com1, const std::vector<std::string>& expected) {
  GuestReport r;
  std::istringstream in(com1);
  bool summary = false;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.starts_with("Bail out!")) r.problems.push_back("the guest bailed out: " + line);
    if (line.starts_with("# summary: ")) summary = true;
    if (auto f = parse_result_line(line)) r.figures.push_back(*f);
  }
  for (const auto& f : r.figures) {
    if (!f.ok) r.problems.push_back(fmt::format("{} failed (its diagnostics are on COM1)", f.name));
    else if (f.per_op.empty() || f.ops == 0 || f.cycles == 0)
      r.problems.push_back(fmt::format("{} passed without its figures (cycles_per_op=, ops=, cycles=)", f.name));
  }
  std::vector<std::string> seen;
  for (const auto& f : r.figures) seen.push_back(f.name);
  if (seen != expected) {
    r.problems.push_back(fmt::format("expected the results of {}, saw {}", fmt::join(expected, " "),
                                     seen.empty() ? "none" : fmt::format("{}", fmt::join(seen, " "))));
  }
  if (!summary) r.problems.push_back("no \"# summary:\" line");
  return r;
}

// ---- The monitor's trace ---------------------------------------------------------------------

struct MonitorCounts {
  double events = 0, guest_tsc = 0, monitor_tsc = 0;
  bool accounting = false;
  std::map<std::string, double> by_reason;
};

std::optional<MonitorCounts> parse_trace(const std::string& com2) {
  std::optional<MonitorCounts> m;
  nlohmann::json accounting;
  std::istringstream in(com2);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    const std::string kind = j.value("kind", "");
    if (kind == "accounting") accounting = j;
    if (kind != "summary") continue;
    m.emplace();
    m->events = j.value("events", 0.0);
    if (j.contains("counts") && j["counts"].is_object())
      for (auto& [k, v] : j["counts"].items()) m->by_reason[k] = v.get<double>();
  }
  if (m && accounting.is_object()) {
    m->accounting = true;
    m->guest_tsc = accounting.value("guest_tsc", 0.0);
    m->monitor_tsc = accounting.value("monitor_tsc", 0.0);
  }
  return m;
}

// ---- Boots ----------------------------------------------------------------------------------

struct Setup {
  runner::Emulator emu = runner::Emulator::qemu;
  bool icount = false;
  fs::path guest, monitor;  ///< no monitor: the guest boots bare
  std::string monitor_args, guest_args;
  double timeout = 60;
  unsigned memory = 128;

  std::string describe() const {
    return fmt::format("{}{} {}{}", runner::emulator_name(emu), icount ? " -icount" : "",
                       monitor.empty() ? "bare" : "under " + monitor.filename().string(),
                       guest_args.empty() ? "" : " (" + guest_args + ")");
  }
};

struct Run {
  runner::BootResult boot;
  GuestReport guest;
  std::optional<MonitorCounts> monitor;
  std::vector<std::string> problems;  ///< the guest's, and how the run ended
};

Run boot_once(const Setup& s, const std::vector<std::string>& expected) {
  runner::BootSpec spec;
  spec.emu = s.emu;
  spec.icount = s.icount;
  spec.memory_mib = s.memory;
  spec.timeout = std::chrono::milliseconds(static_cast<long long>(s.timeout * 1000));
  if (s.monitor.empty()) {
    spec.kernel = s.guest;
    spec.cmdline = s.guest_args;
  } else {
    spec.kernel = s.monitor;
    spec.cmdline = s.monitor_args;
    spec.modules.push_back({s.guest, s.guest_args});
  }
  Run r;
  r.boot = runner::boot(spec);
  r.guest = parse_guest(r.boot.com1, expected);
  r.monitor = parse_trace(r.boot.com2);
  if (r.boot.outcome != runner::Outcome::exited) {
    r.problems.push_back(fmt::format("the run did not finish: {}{}", runner::outcome_name(r.boot.outcome),
                                     r.boot.reason.empty() ? "" : " (" + r.boot.reason + ")"));
  } else if (r.boot.exit_status != 0) {
    r.problems.push_back(fmt::format("the guest exited with status {}, expected 0", r.boot.exit_status));
  }
  r.problems.insert(r.problems.end(), r.guest.problems.begin(), r.guest.problems.end());
  return r;
}

// Runs fn(0..count-1) on up to `jobs` threads, each taking every jobs-th index.
template <class F>
void for_each_index(std::size_t count, unsigned jobs, F fn) {
  std::vector<std::jthread> threads;
  for (unsigned t = 1; t < jobs && t < count; ++t)
    threads.emplace_back([&, t] {
      for (std::size_t i = t; i < count; i += jobs) fn(i);
    });
  for (std::size_t i = 0; i < count; i += std::max(1u, jobs)) fn(i);
}

void print_problems(const Setup& s, const Run& r) {
  fmt::print(stderr, "nanobench-report: {}:\n", s.describe());
  for (const auto& p : r.problems) fmt::print(stderr, "  {}\n", p);
  if (!r.boot.com1.empty()) fmt::print(stderr, "--- COM1 ---\n{}\n", r.boot.com1);
}

std::string figure_line(const Figure& f) {
  return fmt::format("{:<14} {:>12} ticks/op  ops={} cycles={}{}", f.name, f.per_op, f.ops, f.cycles,
                     f.work ? fmt::format(" work={}", *f.work) : "");
}

// ---- check -----------------------------------------------------------------------------------

int check(const Setup& s, unsigned runs, bool as_json) {
  const std::vector<std::string> expected(kBenchmarks.begin(), kBenchmarks.end());
  std::vector<Run> results(runs);
  for (unsigned i = 0; i < runs; ++i) {
    results[i] = boot_once(s, expected);
    if (!results[i].problems.empty()) {
      print_problems(s, results[i]);
      return 1;
    }
  }
  const auto& first = results[0].guest.figures;
  // The macro workload says how much user work it did: what was asked (work=, default 0).
  const auto asked = key_values(s.guest_args)["work"];
  const std::uint64_t work = all_digits(asked) ? std::stoull(asked) : 0;
  for (const auto& f : first) {
    if (f.name == "macro_procs" && f.work != work) {
      fmt::print(stderr, "nanobench-report: {}: macro_procs reported {}, expected work={}\n", s.describe(),
                 f.work ? fmt::format("work={}", *f.work) : "no work=", work);
      return 1;
    }
  }
  for (unsigned i = 1; i < runs; ++i) {
    const auto& other = results[i].guest.figures;
    for (std::size_t k = 0; k < first.size(); ++k) {
      if (first[k].cycles != other[k].cycles) {
        fmt::print(stderr, "nanobench-report: {}: run {} gave {} ticks for {}, run 1 gave {}: not repeatable\n",
                   s.describe(), i + 1, other[k].cycles, first[k].name, first[k].cycles);
        return 1;
      }
    }
  }
  const std::string verdict = fmt::format("nanobench-report: {}: {} benchmarks reported{}", s.describe(),
                                          first.size(), runs > 1 ? fmt::format(", the same figures in {} runs", runs) : "");
  if (as_json) {
    nlohmann::ordered_json per_op = nlohmann::ordered_json::object();  // in the guest's order
    for (const auto& f : first) per_op[f.name] = (f.cycles + f.ops / 2) / f.ops;
    fmt::print(stderr, "{}\n", verdict);
    fmt::print("{}\n", per_op.dump());
    return 0;
  }
  fmt::print("{}\n", verdict);
  for (const auto& f : first) fmt::print("  {}\n", figure_line(f));
  return 0;
}

// ---- bench -----------------------------------------------------------------------------------

struct MonitorColumn {
  std::string name;
  fs::path elf;
  std::string args;
};

// What `more` operations cost under a monitor: the difference between two runs.
struct PerOp {
  double ticks = 0, entries = 0, monitor_share = 0;
  std::map<std::string, double> by_reason;
  bool accounting = false;
};

std::optional<PerOp> difference(const Run& small, const Run& large) {
  if (!small.monitor || !large.monitor || small.guest.figures.size() != 1 || large.guest.figures.size() != 1)
    return std::nullopt;
  const Figure &a = small.guest.figures[0], &b = large.guest.figures[0];
  if (b.ops <= a.ops) return std::nullopt;
  const double ops = static_cast<double>(b.ops - a.ops);
  PerOp p;
  p.ticks = (static_cast<double>(b.cycles) - static_cast<double>(a.cycles)) / ops;
  p.entries = (large.monitor->events - small.monitor->events) / ops;
  for (const auto& [reason, n] : large.monitor->by_reason) {
    auto it = small.monitor->by_reason.find(reason);
    const double d = (n - (it == small.monitor->by_reason.end() ? 0 : it->second)) / ops;
    if (d >= 0.005) p.by_reason[reason] = d;
  }
  if (large.monitor->accounting && small.monitor->accounting) {
    const double mon = large.monitor->monitor_tsc - small.monitor->monitor_tsc;
    const double all = mon + large.monitor->guest_tsc - small.monitor->guest_tsc;
    p.accounting = all > 0 && p.entries >= 0.005;  // a share of nothing says nothing
    p.monitor_share = p.accounting ? mon / all : 0;
  }
  return p;
}

int bench(const fs::path& build, unsigned n, unsigned monitor_n, const std::vector<MonitorColumn>& monitors,
          unsigned jobs) {
  const std::vector<std::string> all(kBenchmarks.begin(), kBenchmarks.end());
  const fs::path guest = build / "autograder" / "guests" / "nanobench.elf";
  if (!fs::exists(guest)) {
    fmt::print(stderr, "nanobench-report: no guest at {}: build first (make)\n", guest.string());
    return 2;
  }
  // Every boot the report needs, run `jobs` at a time.
  struct Job {
    Setup setup;
    std::vector<std::string> expected;
    Run run;
  };
  std::vector<Job> boots;
  Setup bare;
  bare.guest = guest;
  bare.guest_args = fmt::format("n={}", n);
  bare.icount = true;
  boots.push_back({bare, all, {}});
  bare.icount = false;
  bare.emu = runner::Emulator::bochs;
  bare.timeout = 120;
  boots.push_back({bare, all, {}});
  for (const auto& m : monitors) {
    for (const char* b : kBenchmarks) {
      for (unsigned k : {1u, 2u}) {
        Setup s;
        s.guest = guest;
        s.monitor = m.elf;
        s.monitor_args = m.args;
        s.guest_args = fmt::format("only={} n={}", b, k * monitor_n);
        s.icount = true;
        boots.push_back({s, {b}, {}});
      }
    }
  }
  const auto start = std::chrono::steady_clock::now();
  for_each_index(boots.size(), jobs,
                 [&](std::size_t i) { boots[i].run = boot_once(boots[i].setup, boots[i].expected); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int status = 0;
  for (const auto& j : boots) {
    if (j.run.problems.empty()) continue;
    print_problems(j.setup, j.run);
    status = 1;
  }
  if (status) return status;

  const auto& qemu = boots[0].run.guest.figures;
  const auto& bochs = boots[1].run.guest.figures;
  fmt::print("nanobench: TSC ticks per operation, n={} ({} rounds of the macro workload). QEMU -icount\n"
             "  counts one tick per instruction, Bochs about one; under a monitor they are the monitor's and the\n"
             "  guest's instructions together.\n",
             n, qemu.back().ops);
  fmt::print("  {:<14} {:>10} {:>10}", "benchmark", "QEMU", "Bochs");
  for (const auto& m : monitors) fmt::print(" {:>10} {:>8} {:>10}", m.name, "x bare", "entries");
  fmt::print("\n");
  std::vector<std::string> reasons;
  for (std::size_t i = 0; i < kBenchmarks.size(); ++i) {
    fmt::print("  {:<14} {:>10} {:>10}", kBenchmarks[i], qemu[i].per_op, bochs[i].per_op);
    std::string detail;
    for (std::size_t m = 0; m < monitors.size(); ++m) {
      const std::size_t at = 2 + (m * kBenchmarks.size() + i) * 2;
      auto p = difference(boots[at].run, boots[at + 1].run);
      if (!p) {
        fmt::print(" {:>10} {:>8} {:>10}", "?", "", "");
        continue;
      }
      fmt::print(" {:>10.2f} {:>8.1f} {:>10.2f}", p->ticks, p->ticks / qemu[i].per_op_value(), p->entries);
      std::vector<std::string> parts;
      for (const auto& [reason, v] : p->by_reason) parts.push_back(fmt::format("{} {:.2f}", reason, v));
      if (p->accounting) parts.push_back(fmt::format("{:.1f}% of the ticks in the monitor", 100 * p->monitor_share));
      if (parts.empty()) parts.push_back("none");
      detail += fmt::format("{}{}: {}", detail.empty() ? "" : "; ", monitors[m].name, fmt::join(parts, ", "));
    }
    fmt::print("\n");
    if (!detail.empty()) reasons.push_back(fmt::format("  {:<14} {}", kBenchmarks[i], detail));
  }
  if (!monitors.empty()) {
    fmt::print("  monitor entries per operation, by reason:\n");
    for (const auto& r : reasons) fmt::print("{}\n", r);
    fmt::print("  (under a monitor each benchmark runs alone with n={} and n={}: the figures are the difference)\n",
               monitor_n, 2 * monitor_n);
  }
  fmt::print("  {} boots in {:.1f} s\n", boots.size(), seconds);
  return 0;
}

// ---- sweep -----------------------------------------------------------------------------------

struct SweepColumn {
  std::string name;  ///< "bare" or the monitor's
  fs::path guest, monitor;
  std::string monitor_args;
};

// The least work at which a monitor's instructions per round are at most `target` times
// bare's. Both grow linearly with the work (user code runs unmonitored), so the points are
// joined by straight lines, and past the last point the last two are extended.
struct Within {
  double work;
  bool extrapolated;
};
std::optional<Within> work_within(const std::vector<std::uint64_t>& work, const std::vector<double>& bare,
                                  const std::vector<double>& ticks, double target) {
  auto excess = [&](std::size_t i) { return ticks[i] - target * bare[i]; };
  // Where excess() reaches 0 on the line through points i and j.
  auto zero = [&](std::size_t i, std::size_t j) {
    const double at = excess(i) / (excess(i) - excess(j));
    return static_cast<double>(work[i]) + at * (static_cast<double>(work[j]) - static_cast<double>(work[i]));
  };
  for (std::size_t i = 0; i < work.size(); ++i) {
    if (excess(i) > 0) continue;
    if (i == 0) return Within{static_cast<double>(work[0]), false};
    return Within{zero(i - 1, i), false};
  }
  const std::size_t last = work.size() - 1;
  if (last == 0 || excess(last) >= excess(last - 1)) return std::nullopt;  // not getting closer
  return Within{zero(last - 1, last), true};
}

std::string thousands(double v) {
  std::string digits = fmt::format("{:.0f}", v), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

int sweep(const std::vector<SweepColumn>& columns, unsigned n, const std::vector<std::uint64_t>& work,
          double target, unsigned jobs) {
  struct Job {
    Setup setup;
    Run run;
  };
  std::vector<Job> boots;  // column, work, then n and 2n
  for (const auto& c : columns) {
    for (auto w : work) {
      for (unsigned k : {1u, 2u}) {
        Setup s;
        s.guest = c.guest;
        s.monitor = c.monitor;
        s.monitor_args = c.monitor_args;
        s.guest_args = fmt::format("only=macro_procs n={} work={}", k * n, w);
        s.icount = true;
        s.timeout = 120;
        boots.push_back({s, {}});
      }
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::string> expected = {"macro_procs"};
  for_each_index(boots.size(), jobs, [&](std::size_t i) { boots[i].run = boot_once(boots[i].setup, expected); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int status = 0;
  for (std::size_t i = 0; i < boots.size(); ++i) {
    const Job& j = boots[i];
    if (!j.run.problems.empty()) {
      print_problems(j.setup, j.run);
      status = 1;
    } else if (j.run.guest.figures[0].work != work[i / 2 % work.size()]) {
      fmt::print(stderr, "nanobench-report: {}: macro_procs did not report the work asked\n", j.setup.describe());
      status = 1;
    }
  }
  if (status) return status;

  // ticks[column][point]: instructions per round, the difference of the two boots.
  std::vector<std::vector<double>> ticks(columns.size()), entries(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) {
    for (std::size_t w = 0; w < work.size(); ++w) {
      const std::size_t at = (c * work.size() + w) * 2;
      const Figure &a = boots[at].run.guest.figures[0], &b = boots[at + 1].run.guest.figures[0];
      const double rounds = static_cast<double>(b.ops - a.ops);
      ticks[c].push_back((static_cast<double>(b.cycles) - static_cast<double>(a.cycles)) / rounds);
      const auto &ma = boots[at].run.monitor, &mb = boots[at + 1].run.monitor;
      entries[c].push_back(ma && mb ? (mb->events - ma->events) / rounds : 0);
    }
  }
  fmt::print("macro_procs with user work: instructions per round on QEMU -icount (the guest's and the monitor's),\n"
             "  each of the two processes running `work` more user instructions per round; the difference of\n"
             "  n={} and n={} ({} and {} rounds); x: the ratio to bare.\n",
             n, 2 * n, n / 10, 2 * n / 10);
  fmt::print("  {:>10}", "work");
  for (std::size_t c = 0; c < columns.size(); ++c) {
    fmt::print(" {:>12}", columns[c].name);
    if (c) fmt::print(" {:>6}", "x");
  }
  fmt::print("\n");
  for (std::size_t w = 0; w < work.size(); ++w) {
    fmt::print("  {:>10}", thousands(static_cast<double>(work[w])));
    for (std::size_t c = 0; c < columns.size(); ++c) {
      fmt::print(" {:>12}", thousands(ticks[c][w]));
      if (c) fmt::print(" {:>6.2f}", ticks[c][w] / ticks[0][w]);
    }
    fmt::print("\n");
  }
  fmt::print("  per monitor: entries per round, the instructions each costs beyond bare (at the first point),\n"
             "  and the least user work per process and round at which it is within {}x of bare:\n",
             target);
  for (std::size_t c = 1; c < columns.size(); ++c) {
    const auto within = work_within(work, ticks[0], ticks[c], target);
    const double per_entry = entries[c][0] > 0 ? (ticks[c][0] - ticks[0][0]) / entries[c][0] : 0;
    fmt::print("  {:<8} {:>6.1f} entries, {:>7} instructions each; {}\n", columns[c].name, entries[c][0],
               thousands(per_entry),
               !within ? std::string("never (it does not get closer)")
               : within->extrapolated
                   ? fmt::format("about {} (extrapolated past the last point)", thousands(within->work))
                   : fmt::format("about {}", thousands(within->work)));
  }
  fmt::print("  {} boots in {:.1f} s\n", boots.size(), seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Boots the nanobenchmark guest and reads its figures"};
  app.require_subcommand(1);

  Setup setup;
  std::string emu = "qemu";
  unsigned runs = 1;
  auto* check_cmd = app.add_subcommand("check", "Boot it, check every benchmark reported, and that runs agree");
  check_cmd->add_option("--guest", setup.guest, "The guest (nanobench.elf)")->required()->check(CLI::ExistingFile);
  check_cmd->add_option("--emu", emu, "Emulator")->check(CLI::IsMember({"qemu", "bochs"}))->capture_default_str();
  check_cmd->add_flag("--icount", setup.icount, "QEMU -icount shift=0,sleep=off");
  check_cmd->add_option("--monitor", setup.monitor, "Boot the guest as this monitor's module")
      ->check(CLI::ExistingFile);
  check_cmd->add_option("--monitor-args", setup.monitor_args, "The monitor's command line");
  check_cmd->add_option("--guest-args", setup.guest_args, "The guest's command line, e.g. n=1000");
  check_cmd->add_option("--runs", runs, "Boots whose figures must agree")->check(CLI::Range(1, 10))
      ->capture_default_str();
  check_cmd->add_option("--timeout", setup.timeout, "Seconds per boot")->capture_default_str();
  bool as_json = false;
  check_cmd->add_flag("--json", as_json, "Print only the figures: {\"NAME\": instructions per operation, ...}");

  std::string build = "build";
  unsigned n = 10000, monitor_n = 1000, jobs = 2;
  std::vector<std::string> monitor_specs, monitor_args, monitor_guests;
  auto* bench_cmd = app.add_subcommand("bench", "The make bench report");
  bench_cmd->add_option("--build-dir", build, "CMake build directory")->capture_default_str();
  bench_cmd->add_option("--n", n, "Operations per benchmark, bare")->check(CLI::Range(20, 1000000))
      ->capture_default_str();
  bench_cmd->add_option("--monitor-n", monitor_n, "Operations per benchmark under a monitor (and twice that)")
      ->check(CLI::Range(20, 100000))->capture_default_str();
  bench_cmd->add_option("--monitor", monitor_specs, "NAME=ELF: a monitor to compare (repeatable)");
  bench_cmd->add_option("--monitor-args", monitor_args, "NAME=ARGS: that monitor's command line");
  bench_cmd->add_option("-j,--jobs", jobs, "Boots at a time")->check(CLI::Range(1, 16))->capture_default_str();

  unsigned sweep_n = 100;
  double target = 1.5;
  std::vector<std::uint64_t> work = {0, 10000, 100000, 1000000};
  auto* sweep_cmd = app.add_subcommand("sweep", "The macro workload with more and more user work per round");
  sweep_cmd->add_option("--build-dir", build, "CMake build directory")->capture_default_str();
  sweep_cmd->add_option("--n", sweep_n, "Operations (10 per round) of the first boot of each point; the second has twice")
      ->check(CLI::Range(20, 10000))->capture_default_str();
  sweep_cmd->add_option("--work", work, "User instructions per process and round, at each point")
      ->delimiter(',')->check(CLI::Range(0, 100000000))->capture_default_str();
  sweep_cmd->add_option("--monitor", monitor_specs, "NAME=ELF: a monitor to compare (repeatable)");
  sweep_cmd->add_option("--monitor-args", monitor_args, "NAME=ARGS: that monitor's command line");
  sweep_cmd->add_option("--monitor-guest", monitor_guests, "NAME=ELF: the guest that monitor runs (default nanobench.elf)");
  sweep_cmd->add_option("--target", target, "The ratio to bare to reach")->check(CLI::Range(1.0, 1000.0))
      ->capture_default_str();
  sweep_cmd->add_option("-j,--jobs", jobs, "Boots at a time")->check(CLI::Range(1, 16))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (check_cmd->parsed()) {
    setup.emu = *runner::emulator_from_name(emu);
    return check(setup, runs, as_json);
  }
  std::vector<MonitorColumn> monitors;
  for (const auto& spec : monitor_specs) {
    auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
      fmt::print(stderr, "nanobench-report: --monitor {}: expected NAME=ELF\n", spec);
      return 2;
    }
    MonitorColumn m{spec.substr(0, eq), spec.substr(eq + 1), ""};
    if (!fs::exists(m.elf)) {
      fmt::print(stderr, "nanobench-report: --monitor {}: no such file {}\n", m.name, m.elf.string());
      return 2;
    }
    monitors.push_back(m);
  }
  // NAME=VALUE options that belong to a --monitor NAME.
  auto for_monitor = [&](const std::vector<std::string>& specs, const char* option, auto apply) {
    for (const auto& spec : specs) {
      auto eq = spec.find('=');
      bool found = false;
      for (auto& m : monitors) {
        if (eq != std::string::npos && spec.substr(0, eq) == m.name) apply(m, spec.substr(eq + 1)), found = true;
      }
      if (!found) {
        fmt::print(stderr, "nanobench-report: {} {}: expected NAME=VALUE for a --monitor NAME\n", option, spec);
        return false;
      }
    }
    return true;
  };
  if (!for_monitor(monitor_args, "--monitor-args", [](MonitorColumn& m, std::string v) { m.args = v; })) return 2;
  if (!sweep_cmd->parsed()) return bench(build, n, monitor_n, monitors, jobs);

  const fs::path guests = fs::path(build) / "autograder" / "guests";
  std::map<std::string, fs::path> guest_of;
  if (!for_monitor(monitor_guests, "--monitor-guest", [&](MonitorColumn& m, std::string v) { guest_of[m.name] = v; }))
    return 2;
  std::vector<SweepColumn> columns = {{"bare", guests / "nanobench.elf", {}, {}}};
  for (const auto& m : monitors) {
    auto it = guest_of.find(m.name);
    columns.push_back({m.name, it == guest_of.end() ? guests / "nanobench.elf" : it->second, m.elf, m.args});
  }
  for (const auto& c : columns) {
    if (!fs::exists(c.guest)) {
      fmt::print(stderr, "nanobench-report: no guest at {}: build first (make)\n", c.guest.string());
      return 2;
    }
  }
  return sweep(columns, sweep_n, work, target, jobs);
}
