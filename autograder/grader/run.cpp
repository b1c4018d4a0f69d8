#include "autograder/grader/run.hpp"

#include <algorithm>
#include <random>

#include <fmt/format.h>

namespace hvlab::grader {
namespace {

using runner::Outcome;

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::string quote_sample(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 60)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (s.size() > 60) out += "...";
  return out;
}

// Why a boot that printed no KTAP at all gave nothing to grade.
std::string describe_no_ktap(const runner::BootResult& r, const KtapLog& log, double timeout_s) {
  std::string what;
  if (r.com1.empty()) {
    what = "the guest printed nothing on COM1";
  } else if (log.garbage_lines > 0) {
    what = fmt::format("COM1 held no KTAP output ({} line(s) of other text, the first: '{}')",
                       log.garbage_lines, quote_sample(log.garbage_sample.front()));
  } else {
    what = fmt::format("COM1 held no complete KTAP line ({} byte(s))", r.com1.size());
  }
  if (r.outcome == Outcome::exited)
    return fmt::format("{}, and the kernel exited with status {}", what, r.exit_status);
  return fmt::format("{} before the run ended: {}", what, describe_stop(r, log, timeout_s));
}

std::string nonce_problem(const KtapLog& log, const std::string& expected) {
  constexpr std::string_view base = "KTAP output did not come from the guest that was booted";
  if (log.nonces.empty()) return fmt::format("{} (it has no '# nonce' line)", base);
  for (const auto& n : log.nonces) {
    std::string a = n, b = expected;
    std::transform(a.begin(), a.end(), a.begin(), ::tolower);
    std::transform(b.begin(), b.end(), b.begin(), ::tolower);
    if (a != b) return fmt::format("{} (nonce '{}', expected '{}')", base, quote_sample(n), expected);
  }
  if (log.nonces.size() > 1) return fmt::format("{} (the nonce was printed {} times)", base, log.nonces.size());
  return {};
}

// The suite prefixes a test's diagnostics with its name ("# sens_sgdt: expected ...");
// when it does, other lines before the result (a banner after the plan) are not the
// test's.
std::vector<std::string> own_diagnostics(const KtapResult& r) {
  const std::string prefix = r.name + ":";
  std::vector<std::string> own;
  for (const auto& d : r.diagnostics)
    if (d.rfind(prefix, 0) == 0) own.push_back(d);
  return own.empty() ? r.diagnostics : own;
}

Verdict verdict_of(const KtapResult& r) {
  if (r.directive == Directive::skip) return Verdict::skipped;
  return r.ok ? Verdict::passed : Verdict::failed;
}

std::string failure_reason(const KtapResult& r) {
  if (r.directive == Directive::skip)
    return r.directive_reason.empty() ? "the guest skipped it" : "the guest skipped it: " + r.directive_reason;
  if (r.ok) return {};
  const std::vector<std::string> diagnostics = own_diagnostics(r);
  std::string why = diagnostics.empty() ? std::string("the guest reported 'not ok' with no diagnostic")
                                        : join(diagnostics, "; ");
  if (r.directive == Directive::todo || r.directive == Directive::xfail)
    why += fmt::format(" (marked {} by the guest)", directive_name(r.directive));
  return why;
}

std::string build_cmdline(const std::string& base, unsigned first, const std::string& nonce, std::uint64_t seed) {
  std::string out = base;
  if (seed) out += fmt::format("{}seed={:016x}", out.empty() ? "" : " ", seed);
  if (first > 1) out += fmt::format("{}first={}", out.empty() ? "" : " ", first);
  out += fmt::format("{}nonce={}", out.empty() ? "" : " ", nonce);
  return out;
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::passed: return "passed";
    case Verdict::failed: return "failed";
    case Verdict::skipped: return "skipped";
    case Verdict::stopped: return "stopped";
    case Verdict::missing: return "missing";
    case Verdict::not_run: return "not_run";
    case Verdict::voided: return "voided";
  }
  return "?";
}

const char* outcome_text(runner::Outcome o) {
  switch (o) {
    case Outcome::exited: return "exited";
    case Outcome::timeout: return "timeout";
    case Outcome::output_flood: return "output_flood";
    case Outcome::crashed: return "crashed";
    case Outcome::launch_failed: return "launch_failed";
  }
  return "?";
}

double GuestRun::seconds() const {
  double s = 0;
  for (const auto& b : boots) s += b.seconds;
  return s;
}

bool GuestRun::complete() const {
  if (!plan) return false;
  for (unsigned n = 1; n <= *plan; ++n)
    if (!tests.count(n)) return false;
  return true;
}

std::string NotImplemented::text() const {
  return where.empty() ? fmt::format("not implemented: {}", exercise)
                       : fmt::format("not implemented: {} (at {})", exercise, where);
}

std::optional<NotImplemented> find_not_implemented(const runner::BootResult& r) {
  constexpr std::string_view key = "not implemented: ";
  auto id_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  };
  for (const std::string* text : {&r.com1, &r.debugcon}) {
    for (std::size_t pos = text->find(key); pos != std::string::npos; pos = text->find(key, pos + 1)) {
      std::size_t b = pos + key.size(), e = b;
      while (e < text->size() && id_char((*text)[e]) && e - b < 64) ++e;
      while (e > b && (*text)[e - 1] == '.') --e;  // a full stop ending the sentence
      NotImplemented ni;
      ni.exercise = text->substr(b, e - b);
      if (ni.exercise.rfind("lab", 0) != 0) continue;
      // "PANIC at FILE:LINE: not implemented: ..." on the same line gives the place.
      const std::size_t line_start = text->rfind('\n', pos) == std::string::npos ? 0 : text->rfind('\n', pos) + 1;
      const std::string_view line(text->data() + line_start, pos - line_start);
      constexpr std::string_view at = "PANIC at ";
      if (std::size_t a = line.find(at); a != std::string_view::npos) {
        std::string_view where = line.substr(a + at.size());
        while (!where.empty() && (where.back() == ' ' || where.back() == ':')) where.remove_suffix(1);
        if (where.size() <= 200) ni.where = quote_sample(where);
      }
      return ni;
    }
  }
  return std::nullopt;
}

std::string seed_order_problem(const KtapLog& log, const SuiteTable& table, const std::vector<unsigned>& order,
                               std::uint64_t seed) {
  constexpr std::string_view base = "KTAP output did not come from the guest that was booted";
  if (log.plan && *log.plan != table.tests.size())
    return fmt::format("{} (its plan is 1..{}, the guest has {} tests)", base, *log.plan, table.tests.size());
  for (const auto& r : log.results) {
    if (r.number < 1 || r.number > order.size()) continue;  // the plan check reports these
    const std::string& expected = table.tests[order[r.number - 1]].name;
    if (r.name != expected)
      return fmt::format("{} (test {} is '{}', but this run's seed {:016x} puts '{}' there)", base, r.number,
                         quote_sample(r.name), seed, expected);
  }
  return {};
}

std::string evidence_problem(const KtapLog& log, std::string_view evidence, const SuiteTable& table,
                             const std::vector<unsigned>& order, unsigned first) {
  std::vector<unsigned> position(order.size());
  for (std::size_t k = 0; k < order.size(); ++k) position[order[k]] = static_cast<unsigned>(k + 1);
  std::vector<bool> entered(order.size(), false);
  std::vector<unsigned> fails(order.size(), 0);
  std::optional<std::size_t> current;
  unsigned last_position = 0;
  std::size_t pos = 0;
  while (pos < evidence.size()) {
    std::size_t nl = evidence.find('\n', pos);
    if (nl == std::string_view::npos) nl = evidence.size();
    const std::string line(evidence.substr(pos, nl - pos));
    pos = nl + 1;
    if (line == "fail") {
      if (current) ++fails[*current];
    } else if (line.rfind("enter ", 0) == 0) {
      const auto index = static_cast<std::size_t>(std::strtoul(line.c_str() + 6, nullptr, 10));
      if (index >= order.size()) continue;
      if (!entered[index]) {
        if (position[index] < first)
          return fmt::format("the emulator saw '{}' run, a test this boot (first={}) was not to run: the guest was "
                             "not the one booted",
                             table.tests[index].name, first);
        if (position[index] < last_position)
          return fmt::format("the emulator saw the guest's tests run out of this run's order ('{}' after a test the "
                             "seed runs later)",
                             table.tests[index].name);
        last_position = position[index];
      }
      entered[index] = true;
      current = index;
    }
  }
  for (const auto& r : log.results) {
    if (r.number < first || r.number > order.size()) continue;
    const std::size_t index = order[r.number - 1];
    const std::string& name = table.tests[index].name;
    if (!entered[index])
      return fmt::format("the report says '{}' ran, but the emulator never saw its code run: the report did not "
                         "come from the guest",
                         name);
    if (r.ok && fails[index])
      return fmt::format("'{}' failed in the guest (the emulator saw the guest's fail() run in it), but the report "
                         "says 'ok': the report was changed on its way out",
                         name);
  }
  return {};
}

std::string trace_order_problem(const Trace& trace, const SuiteTable& table, const std::vector<unsigned>& order,
                                unsigned first) {
  std::vector<unsigned> position(order.size());
  for (std::size_t k = 0; k < order.size(); ++k) position[order[k]] = static_cast<unsigned>(k + 1);
  std::optional<std::size_t> last;  // the table index of the test the previous event was in
  for (const auto& e : trace.events) {
    const auto kind = e.find("kind");
    if (kind == e.end() || !kind->is_string() || (*kind != "trap" && *kind != "exit")) continue;
    auto at = e.find("eip");
    if (at == e.end()) at = e.find("rip");
    if (at == e.end()) continue;
    std::uint32_t address = 0;
    if (at->is_number_unsigned()) address = at->get<std::uint32_t>();
    else if (at->is_string()) address = static_cast<std::uint32_t>(std::strtoul(at->get<std::string>().c_str(), nullptr, 0));
    else continue;
    const auto test = table.test_at(address);
    if (!test) continue;
    if (position[*test] < first)
      return fmt::format("the monitor's event trace shows '{}' running, a test this boot (first={}) never ran: "
                         "a trace of another run?",
                         table.tests[*test].name, first);
    if (last && position[*test] < position[*last])
      return fmt::format("the monitor's event trace does not follow this run's test order ('{}' after '{}', which "
                         "the seed runs later): a trace of another run?",
                         table.tests[*test].name, table.tests[*last].name);
    last = test;
  }
  return {};
}

std::string random_nonce() {
  std::random_device rd;
  std::uint64_t v = (std::uint64_t{rd()} << 32) ^ rd();
  return fmt::format("{:016x}", v);
}

std::string describe_stop(const runner::BootResult& r, const KtapLog& log, double timeout_s) {
  if (log.restart_line)
    return "the machine reset and the guest started over (a triple fault?)";
  if (log.bailed_out)
    return log.bail_reason.empty() ? "the guest bailed out" : "the guest bailed out: " + log.bail_reason;
  if (!r.reason.empty() && r.outcome != Outcome::exited) return r.reason;
  switch (r.outcome) {
    case Outcome::timeout: return fmt::format("timed out after {:.1f} s", timeout_s);
    case Outcome::output_flood: return "output flood: the console passed its size limit";
    case Outcome::crashed: return "the emulator stopped without the exit marker (a triple fault or an emulator error)";
    case Outcome::launch_failed: return "the emulator could not be started";
    case Outcome::exited: return fmt::format("the kernel exited (status {}) before finishing the plan", r.exit_status);
  }
  return "the run ended";
}

GuestRun run_guest(const std::string& guest, const RunSettings& settings, const BootFn& boot) {
  GuestRun run;
  run.guest = guest;
  run.emu = settings.spec.emu;
  const double timeout_s = std::chrono::duration<double>(settings.spec.timeout).count();
  unsigned first = 1;
  std::vector<unsigned> order;  // seeded: order[k] = the table index of the test numbered k+1
  if (settings.table) {
    run.seed = settings.make_seed ? settings.make_seed() : 0;
    while (run.seed == 0) {
      std::random_device rd;
      run.seed = (std::uint64_t{rd()} << 32) ^ rd();
    }
    order = seeded_order(run.seed, settings.table->tests.size(), settings.table->groups);
  }

  while (true) {
    if (settings.cancel && settings.cancel->load()) {
      run.fatal = "cancelled (interrupted)";
      break;
    }
    if (run.boots.size() >= settings.max_boots) break;  // only when max_boots is 0

    BootRecord rec;
    rec.first = first;
    rec.nonce = settings.make_nonce ? settings.make_nonce() : random_nonce();
    rec.cmdline = build_cmdline(settings.guest_cmdline, first, rec.nonce, run.seed);
    runner::BootSpec spec = settings.spec;
    const bool watched = settings.table && !settings.evidence_plugin.empty() && spec.emu == Emulator::qemu;
    if (watched)
      spec.qemu_plugin = runner::BootSpec::QemuPlugin{
          settings.evidence_plugin, {{"tests.txt", settings.table->watch_list()}}, ",tests=plugin/tests.txt,out=evidence.txt",
          "evidence.txt"};
    if (settings.guest_is_module && !spec.modules.empty())
      spec.modules.front().cmdline = rec.cmdline;
    else
      spec.cmdline = rec.cmdline;

    runner::BootResult r;
    try {
      r = boot(spec);
    } catch (const std::exception& e) {
      r = {};
      r.outcome = Outcome::launch_failed;
      r.reason = e.what();
    }
    rec.outcome = r.outcome;
    rec.exit_status = r.exit_status;
    rec.runner_reason = r.reason;
    rec.seconds = std::chrono::duration<double>(r.elapsed).count();
    const bool ended_well = r.outcome == Outcome::exited;
    rec.trace = parse_trace(r.com2, ended_well);
    KtapLog log = parse_ktap(r.com1, {.accept_unterminated_last_line = ended_well});

    const std::size_t boot_index = run.boots.size();
    auto finish_boot = [&](std::string summary) {
      rec.summary = std::move(summary);
      if (settings.on_boot) rec.log_dir = settings.on_boot(rec, r);
      run.boots.push_back(std::move(rec));
    };
    const std::string tag = fmt::format("boot {} (first={})", boot_index + 1, first);
    // A handout stub that stopped the kernel: the reason names the exercise.
    const std::optional<NotImplemented> stub = find_not_implemented(r);
    if (stub) {
      rec.not_implemented = stub->text();
      if (std::find(run.not_implemented.begin(), run.not_implemented.end(), rec.not_implemented) ==
          run.not_implemented.end())
        run.not_implemented.push_back(rec.not_implemented);
    }

    if (r.outcome == Outcome::launch_failed) {
      run.fatal = fmt::format("could not run {}: {}", run.emu == Emulator::qemu ? "qemu" : "bochs",
                              r.reason.empty() ? "the emulator could not be started" : r.reason);
      finish_boot(run.fatal);
      break;
    }
    if (!log.any_ktap()) {
      std::string why = stub ? fmt::format("{}: the kernel stopped before the guest printed any result",
                                           stub->text())
                             : describe_no_ktap(r, log, timeout_s);
      if (first == 1) {
        run.fatal = why;
      } else {
        // A resumed boot that printed nothing: the tests from `first` on never ran.
        run.fatal = fmt::format("not run: boot {} (first={}): {}", boot_index + 1, first, why);
      }
      finish_boot(why);
      break;
    }

    for (const auto& e : log.errors) run.errors.push_back(fmt::format("{}: {}", tag, e.message));
    if (!log.header) run.notes.push_back(fmt::format("{}: no 'KTAP version 1' line before the results", tag));
    if (log.garbage_lines)
      run.notes.push_back(fmt::format("{}: {} line(s) on COM1 that are not KTAP were ignored", tag, log.garbage_lines));
    if (rec.trace.malformed)
      run.notes.push_back(fmt::format("{}: {} malformed event line(s) on COM2 (line {}{})", tag,
                                      rec.trace.malformed, rec.trace.malformed_lines.front(),
                                      rec.trace.malformed > 1 ? ", ..." : ""));

    std::string stop = describe_stop(r, log, timeout_s);
    const bool abnormal = !ended_well || log.restart_line || log.bailed_out;

    // Trust: the guest prints the nonce it was given right after the plan. A boot that
    // stopped before printing anything past the plan is not a forgery, just a stop.
    std::string distrust = nonce_problem(log, rec.nonce);
    if (!distrust.empty() && log.nonces.empty() && log.results.empty() && (abnormal || stub)) distrust.clear();
    // The seed: the guest ran its tests in the order the seed gives, and the monitor's trace
    // shows them in that order too; a transcript of another run shows neither.
    if (distrust.empty() && settings.table) distrust = seed_order_problem(log, *settings.table, order, run.seed);
    if (distrust.empty() && settings.table) distrust = trace_order_problem(rec.trace, *settings.table, order, first);
    // What the emulator saw the guest run, from outside it: the report cannot claim more.
    if (distrust.empty() && watched && r.outcome != Outcome::launch_failed)
      distrust = evidence_problem(log, r.plugin_output, *settings.table, order, first);
    if (!distrust.empty()) {
      run.errors.push_back(fmt::format("{}: {}", tag, distrust));
      if (log.plan && !run.plan) run.plan = log.plan;
      for (const auto& res : log.results) {
        if (res.number < first || run.tests.count(res.number)) continue;
        Observation o;
        o.number = res.number;
        o.name = res.name;
        o.verdict = Verdict::voided;
        o.reason = distrust;
        o.boot = boot_index;
        run.tests.emplace(res.number, std::move(o));
      }
      run.fatal = distrust;
      finish_boot(distrust);
      break;
    }

    if (log.plan) {
      if (!run.plan) run.plan = log.plan;
      else if (*run.plan != *log.plan)
        run.errors.push_back(fmt::format("{}: the plan changed between boots (1..{}, then 1..{})", tag,
                                         *run.plan, *log.plan));
    }

    // Record this boot's results.
    std::vector<const KtapResult*> mine;
    for (const auto& res : log.results)
      if (res.number >= first && !run.tests.count(res.number)) mine.push_back(&res);
    unsigned last = first - 1;
    for (const KtapResult* res : mine) last = std::max(last, res->number);
    const bool will_stop_one = abnormal || !run.plan || last < *run.plan;
    const double share = rec.seconds / static_cast<double>(std::max<std::size_t>(1, mine.size() + (will_stop_one ? 1 : 0)));
    bool all_ok = true;
    for (const KtapResult* res : mine) {
      Observation o;
      o.number = res->number;
      o.name = res->name;
      o.verdict = verdict_of(*res);
      o.reason = failure_reason(*res);
      o.diagnostics = own_diagnostics(*res);
      o.seconds = share;
      o.boot = boot_index;
      if (std::find(log.duplicated.begin(), log.duplicated.end(), res->number) != log.duplicated.end()) {
        o.verdict = Verdict::voided;
        o.reason = fmt::format("test {} was reported more than once in one boot (a KTAP protocol error)", res->number);
      }
      if (o.verdict != Verdict::passed && o.verdict != Verdict::skipped) all_ok = false;
      run.tests.emplace(o.number, std::move(o));
    }
    rec.results = mine.size();
    rec.clean = ended_well && r.exit_status == 0 && all_ok && log.errors.empty();

    if (!run.plan) {
      run.errors.push_back(fmt::format("{}: the guest printed no plan line (1..N), so the grader cannot "
                                       "tell which tests are missing", tag));
      run.fatal = abnormal ? fmt::format("no result: the guest printed no plan, then {}", stop)
                           : "no result: the guest printed no plan (1..N)";
      finish_boot(fmt::format("{} result(s), no plan; {}", mine.size(), abnormal ? stop : "exited"));
      break;
    }
    const unsigned n = *run.plan;

    // Tests skipped over without a result.
    for (unsigned k = first; k < last && k <= n; ++k) {
      if (run.tests.count(k)) continue;
      Observation o;
      o.number = k;
      o.verdict = Verdict::missing;
      o.reason = "no result: the guest went on to later tests without reporting this one";
      o.boot = boot_index;
      run.tests.emplace(k, std::move(o));
    }
    if (last >= n) {
      if (abnormal) {
        run.notes.push_back(fmt::format("{}: every test reported, but then: {}", tag, stop));
        rec.clean = false;
      }
      finish_boot(fmt::format("{} result(s); plan complete{}", mine.size(), abnormal ? "; then " + stop : ""));
      break;
    }

    // The guest stopped during test `last + 1`: record it and resume after it.
    const unsigned running = last + 1;
    Observation o;
    o.number = running;
    o.verdict = Verdict::stopped;
    o.reason = stub ? fmt::format("{}: the kernel stopped during this test", stub->text())
                    : "the guest stopped during this test: " + stop;
    o.stop = stub ? "not implemented"
           : log.restart_line ? "reset"
           : log.bailed_out ? "bail"
           : r.outcome == Outcome::timeout ? "timeout"
           : r.outcome == Outcome::output_flood ? "flood"
           : r.outcome == Outcome::exited ? "exit"
           : "crash";
    o.diagnostics = log.trailing;
    o.seconds = share;
    o.boot = boot_index;
    run.tests.emplace(running, std::move(o));
    rec.clean = false;
    finish_boot(fmt::format("{} result(s); stopped during test {}: {}", mine.size(), running,
                            stub ? stub->text() : stop));

    if (running >= n) break;
    if (run.boots.size() >= settings.max_boots) {
      for (unsigned k = running + 1; k <= n; ++k) {
        if (run.tests.count(k)) continue;
        Observation skipped;
        skipped.number = k;
        skipped.verdict = Verdict::not_run;
        skipped.reason = fmt::format("not run: the guest stopped in each of {} boots, the most this "
                                     "lab allows (max_boots){}", settings.max_boots,
                                     stub ? "; the last stop: " + stub->text() : std::string());
        run.tests.emplace(k, std::move(skipped));
      }
      run.notes.push_back(fmt::format("gave up after {} boots; tests {} to {} did not run", settings.max_boots,
                                      running + 1, n));
      break;
    }
    first = running + 1;
  }
  if (settings.table) {
    // From the seed's numbers to the table's: every run of a guest numbers a test alike, and
    // a test the guest never named (it stopped in it) is named by its place in the order.
    std::map<unsigned, Observation> by_table;
    for (auto& [number, o] : run.tests) {
      if (number < 1 || number > order.size()) continue;
      const unsigned index = order[number - 1];
      o.number = index + 1;
      if (o.name.empty()) o.name = settings.table->tests[index].name;
      by_table.emplace(o.number, std::move(o));
    }
    run.tests = std::move(by_table);
  }
  return run;
}

}  // namespace hvlab::grader
