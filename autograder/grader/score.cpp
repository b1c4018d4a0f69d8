#include "autograder/grader/score.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace hvlab::grader {
namespace {

const char* verb(Verdict v) {
  switch (v) {
    case Verdict::passed: return "passes";
    case Verdict::failed: return "fails";
    case Verdict::skipped: return "is skipped";
    case Verdict::stopped: return "stops the guest";
    case Verdict::missing: return "is not reported";
    case Verdict::not_run: return "does not run";
    case Verdict::voided: return "gives untrusted output";
  }
  return "?";
}

EmuOutcome observe(const GuestRun* run, Emulator emu, unsigned number, const TestEntry& entry) {
  EmuOutcome out;
  out.emu = emu;
  std::string stop;
  const Observation* obs = nullptr;
  if (run) {
    auto it = run->tests.find(number);
    if (it != run->tests.end()) obs = &it->second;
  }
  if (obs) {
    out.verdict = obs->verdict;
    out.reason = obs->reason;
    out.diagnostics = obs->diagnostics;
    out.seconds = obs->seconds;
    stop = obs->stop;
    if (obs->boot && run && *obs->boot < run->boots.size()) out.log_dir = run->boots[*obs->boot].log_dir;
  } else {
    out.verdict = Verdict::not_run;
    out.reason = !run ? std::string("not run: nothing was booted on this emulator")
               : !run->fatal.empty() ? run->fatal
               : std::string("no result: the run ended before this test");
  }

  const bool wanted = entry.expect == Expect::pass ? out.verdict == Verdict::passed
                                                   : out.verdict == Verdict::failed;
  out.success = wanted;
  out.label = short_label(out.verdict, entry.expect, stop);
  if (wanted) {
    out.reason.clear();
  } else if (out.verdict == Verdict::passed && entry.expect == Expect::fail) {
    out.reason = "passes, but theory predicts it fails under this lab";
    if (!entry.why.empty()) out.reason += ": " + entry.why;
  }

  // Event assertions are checked over the trace of the boot that reported the test.
  if (wanted && !entry.events.empty()) {
    std::vector<const Trace*> traces;
    if (obs && obs->boot && run && *obs->boot < run->boots.size()) traces.push_back(&run->boots[*obs->boot].trace);
    std::vector<std::string> failed;
    for (const auto& a : entry.events) {
      AssertionOutcome r = check_assertion(a, traces);
      if (!r.ok) failed.push_back(r.message);
    }
    if (!failed.empty()) {
      out.success = false;
      out.label = "bad trace";
      out.reason = "the event trace does not show it: " + failed.front();
      for (std::size_t i = 1; i < failed.size(); ++i) out.reason += "; " + failed[i];
    }
  }
  return out;
}

// One reason for a row from its emulators' outcomes.
std::string combine(const std::vector<EmuOutcome>& outs, TestStatus status) {
  if (status == TestStatus::disagree) {
    const EmuOutcome* bad = nullptr;
    for (const auto& o : outs)
      if (!o.success) { bad = &o; break; }
    std::set<Verdict> verdicts;
    for (const auto& o : outs) verdicts.insert(o.verdict);
    std::string head;
    if (verdicts.size() > 1) {
      for (const auto& o : outs) head += fmt::format("{}{} on {}", head.empty() ? "" : ", ", verb(o.verdict), emu_name(o.emu));
    } else {
      head = "the event trace differs";
    }
    std::string out = "disagree: " + head;
    if (bad && !bad->reason.empty()) out += fmt::format(" ({}: {})", emu_name(bad->emu), bad->reason);
    return out;
  }
  std::vector<const EmuOutcome*> bad;
  for (const auto& o : outs)
    if (!o.success) bad.push_back(&o);
  if (bad.empty()) return {};
  bool same = std::all_of(bad.begin(), bad.end(), [&](const EmuOutcome* o) { return o->reason == bad.front()->reason; });
  if (same) return bad.front()->reason;
  std::string out;
  for (const EmuOutcome* o : bad) out += fmt::format("{}{}: {}", out.empty() ? "" : "; ", emu_name(o->emu), o->reason);
  return out;
}

TestStatus status_of(const std::vector<EmuOutcome>& outs) {
  std::size_t good = 0;
  for (const auto& o : outs) good += o.success;
  if (good == outs.size()) return TestStatus::passed;
  return good > 0 ? TestStatus::disagree : TestStatus::failed;
}

}  // namespace

const char* status_name(TestStatus s) {
  switch (s) {
    case TestStatus::passed: return "passed";
    case TestStatus::failed: return "failed";
    case TestStatus::disagree: return "disagree";
    case TestStatus::unscored: return "unscored";
    case TestStatus::not_graded: return "not_graded";
  }
  return "?";
}

const char* lab_status_name(LabStatus s) {
  switch (s) {
    case LabStatus::graded: return "graded";
    case LabStatus::not_built: return "not_built";
    case LabStatus::rubric_error: return "rubric_error";
    case LabStatus::not_selected: return "not_selected";
    case LabStatus::cancelled: return "cancelled";
    case LabStatus::skipped: return "skipped";
  }
  return "?";
}

std::string short_label(Verdict v, Expect e, const std::string& stop) {
  switch (v) {
    case Verdict::passed: return e == Expect::pass ? "pass" : "pass (unexpected)";
    case Verdict::failed: return e == Expect::fail ? "fail (expected)" : "FAIL";
    case Verdict::skipped: return "skip";
    case Verdict::missing: return "missing";
    case Verdict::not_run: return "not run";
    case Verdict::voided: return "void";
    case Verdict::stopped: return stop.empty() ? "crash" : stop;
  }
  return "?";
}

void SuiteNames::learn(const GuestRun& run) {
  if (run.plan && !plan) plan = run.plan;
  for (const auto& [n, obs] : run.tests)
    if (!obs.name.empty() && obs.verdict != Verdict::voided) names.emplace(n, obs.name);
}

bool SuiteNames::complete() const {
  if (!plan) return false;
  for (unsigned n = 1; n <= *plan; ++n)
    if (!names.count(n)) return false;
  return true;
}

bool LabResult::full_marks() const {
  return status == LabStatus::graded && max_score > 0 && score + 1e-9 >= max_score && errors.empty();
}

LabResult score_lab(const Rubric& rubric, const std::vector<Emulator>& emulators,
                    std::vector<GuestRun> runs, const Catalog& catalog) {
  LabResult lab;
  lab.name = rubric.name;
  lab.title = rubric.title;
  lab.folder = rubric.folder;
  lab.emulators = emulators;
  lab.runs = std::move(runs);
  const bool several = rubric.guests.size() > 1;

  for (const GuestRun& run : lab.runs) {
    const std::string who = several ? fmt::format("{} ({})", emu_name(run.emu), run.guest) : emu_name(run.emu);
    for (const auto& e : run.errors) lab.errors.push_back(fmt::format("{}: {}", who, e));
    for (const auto& n : run.notes) lab.notes.push_back(fmt::format("{}: {}", who, n));
    EmuTiming& t = lab.timing[run.emu];
    t.boots += static_cast<unsigned>(run.boots.size());
    t.seconds += run.seconds();
  }

  std::set<const TestEntry*> used_entries;
  bool lists_complete = true;
  std::map<std::string, std::vector<std::string>> names_by_guest;

  for (const GuestImage& image : rubric.guests) {
    struct {
      std::vector<const GuestRun*> by_emu;  // in the order of the lab's emulators
    } g;
    for (Emulator e : emulators)
      for (const GuestRun& r : lab.runs)
        if (r.emu == e && r.guest == image.label()) g.by_emu.push_back(&r);
    if (g.by_emu.empty()) continue;
    // A guest every [[test]] entry leaves to another guest is booted for the [[check]]s alone
    // (lab04's broken VMCS, whose guest never runs): its tests are nobody's to score.
    const bool any_entry = std::any_of(rubric.tests.begin(), rubric.tests.end(), [&](const TestEntry& e) {
      return e.guest.empty() || e.guest == image.label();
    });
    if (!any_entry) continue;

    SuiteNames known;
    for (const GuestRun* r : g.by_emu) known.learn(*r);
    if (auto it = catalog.find(image.image); it != catalog.end()) {
      if (!known.plan) known.plan = it->second.plan;
      for (const auto& [n, name] : it->second.names) known.names.emplace(n, name);
    }
    std::set<unsigned> numbers;
    if (known.plan)
      for (unsigned n = 1; n <= *known.plan; ++n) numbers.insert(n);
    for (const GuestRun* r : g.by_emu)
      for (const auto& [n, obs] : r->tests) numbers.insert(n);
    if (!known.complete()) lists_complete = false;

    for (unsigned n : numbers) {
      TestResult t;
      t.guest = image.label();
      t.number = n;
      auto nit = known.names.find(n);
      if (nit == known.names.end()) {
        t.name = fmt::format("{}test {} (name unknown)", several ? image.label() + ":" : "", n);
        t.status = TestStatus::not_graded;
        std::string why;
        for (const GuestRun* r : g.by_emu)
          if (auto o = r->tests.find(n); o != r->tests.end()) { why = o->second.reason; break; }
        t.reason = "cannot score it: the guest never printed this test's name" + (why.empty() ? "" : " (" + why + ")");
        lab.errors.push_back(fmt::format("{}test {}: no boot printed its name, so no rubric entry can be matched",
                                         several ? image.label() + ", " : "", n));
        lab.tests.push_back(std::move(t));
        continue;
      }
      const std::string& name = nit->second;
      names_by_guest[image.label()].push_back(name);
      t.name = several ? image.label() + ":" + name : name;
      const TestEntry* entry = rubric.entry_for(image.label(), name);
      if (!entry) {
        t.status = TestStatus::unscored;
        t.reason = "unscored: no rubric entry covers this test";
        for (const GuestRun* r : g.by_emu) {
          EmuOutcome o;
          o.emu = r->emu;
          if (auto it = r->tests.find(n); it != r->tests.end()) {
            o.verdict = it->second.verdict;
            o.reason = it->second.reason;
            o.seconds = it->second.seconds;
            o.label = short_label(o.verdict, Expect::pass, it->second.stop);
          } else {
            o.label = short_label(o.verdict, Expect::pass, "");
          }
          t.per_emu.push_back(std::move(o));
        }
        lab.notes.push_back(fmt::format("'{}' ran but no rubric entry scores it", t.name));
        lab.tests.push_back(std::move(t));
        continue;
      }
      used_entries.insert(entry);
      t.exercise = entry->exercise;
      t.visibility = entry->visibility;
      t.expect = entry->expect;
      t.entry_line = entry->line;
      for (const GuestRun* r : g.by_emu) {
        if (!entry->runs_on(r->emu)) continue;
        t.per_emu.push_back(observe(r, r->emu, n, *entry));
      }
      if (t.per_emu.empty()) {
        t.status = TestStatus::not_graded;
        std::string on;
        for (Emulator e : entry->emulators) on += fmt::format("{}{}", on.empty() ? "" : " and ", emu_name(e));
        t.reason = fmt::format("graded only on {}", on);
        lab.tests.push_back(std::move(t));
        continue;
      }
      t.max_score = entry->points;
      t.status = status_of(t.per_emu);
      t.score = t.status == TestStatus::passed ? entry->points : 0;
      t.reason = combine(t.per_emu, t.status);
      if (t.status == TestStatus::passed && entry->expect == Expect::fail)
        t.reason = "fails, as theory predicts under this lab" + (entry->why.empty() ? "" : ": " + entry->why);
      for (const auto& o : t.per_emu) t.seconds += o.seconds;
      lab.tests.push_back(std::move(t));
    }
  }

  // Rubric entries that score nothing are rubric bugs, once the test list is known.
  if (lists_complete) {
    for (const TestEntry& e : rubric.tests) {
      bool any = false;
      for (const auto& [guest, names] : names_by_guest)
        for (const auto& name : names) any = any || e.matches(guest, name);
      if (!any) {
        lab.errors.push_back(fmt::format("{}:{}: [[test]] #{} test = \"{}\" matches no test the guest ran",
                                         rubric.file.empty() ? rubric.name : rubric.file.string(), e.line, e.index,
                                         e.pattern));
      } else if (!used_entries.count(&e)) {
        lab.notes.push_back(fmt::format("{}:{}: [[test]] #{} test = \"{}\" scores nothing: every test it matches "
                                        "is scored by an exact name or an earlier pattern",
                                        rubric.file.empty() ? rubric.name : rubric.file.string(), e.line, e.index,
                                        e.pattern));
      }
    }
  } else if (!rubric.tests.empty()) {
    lab.notes.push_back("the rubric's patterns were not checked: the list of the suite's tests is incomplete");
  }

  for (const CheckEntry& c : rubric.checks) {
    TestResult t;
    t.name = c.name;
    t.is_check = true;
    t.exercise = c.exercise;
    t.visibility = c.visibility;
    t.entry_line = c.line;
    t.guest = c.guest;
    for (Emulator e : emulators) {
      if (!c.runs_on(e)) continue;
      EmuOutcome o;
      o.emu = e;
      std::vector<const Trace*> traces;
      std::string fatal, stub;
      for (const GuestRun& r : lab.runs) {
        if (r.emu != e || (!c.guest.empty() && r.guest != c.guest)) continue;
        for (const auto& b : r.boots) traces.push_back(&b.trace);
        if (!r.fatal.empty() && fatal.empty()) fatal = r.fatal;
        if (!r.not_implemented.empty() && stub.empty()) stub = r.not_implemented.front();
        o.seconds += r.seconds();
      }
      // A run whose report was found forged or replayed voids its trace as well.
      std::string distrust;
      for (const GuestRun& r : lab.runs) {
        if (r.emu != e || (!c.guest.empty() && r.guest != c.guest)) continue;
        for (const auto& [number, obs] : r.tests)
          if (obs.verdict == Verdict::voided && distrust.empty()) distrust = obs.reason;
      }
      std::vector<std::string> failed;
      for (const auto& a : c.events) {
        AssertionOutcome res = check_assertion(a, traces);
        if (!res.ok) failed.push_back(res.message);
      }
      o.success = failed.empty() && distrust.empty();
      o.verdict = !distrust.empty() ? Verdict::voided : o.success ? Verdict::passed : Verdict::failed;
      o.label = short_label(o.verdict, Expect::pass, "");
      if (!distrust.empty()) {
        o.reason = distrust;
        t.per_emu.push_back(std::move(o));
        continue;
      }
      if (!o.success) {
        o.reason = "the event trace does not show it: " + failed.front();
        for (std::size_t i = 1; i < failed.size(); ++i) o.reason += "; " + failed[i];
        if (traces.empty() && !fatal.empty()) o.reason = "no event trace: " + fatal;
        // A stub that stopped the monitor explains a trace that lacks events.
        else if (!stub.empty()) o.reason = fmt::format("{}; {}", stub, o.reason);
      }
      t.per_emu.push_back(std::move(o));
    }
    if (t.per_emu.empty()) {
      t.status = TestStatus::not_graded;
      t.reason = "not graded on the selected emulators";
    } else {
      t.max_score = c.points;
      t.status = status_of(t.per_emu);
      t.score = t.status == TestStatus::passed ? c.points : 0;
      t.reason = combine(t.per_emu, t.status);
    }
    lab.tests.push_back(std::move(t));
  }

  for (const auto& t : lab.tests) {
    lab.score += t.score;
    lab.max_score += t.max_score;
  }
  lab.exercises = summarize_exercises(lab.tests, rubric.order);
  return lab;
}

bool natural_less(std::string_view a, std::string_view b) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      std::string_view na = a.substr(i, ie - i), nb = b.substr(j, je - j);
      while (na.size() > 1 && na.front() == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb.front() == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

std::vector<ExerciseResult> summarize_exercises(const std::vector<TestResult>& tests,
                                                const std::vector<std::string>& order) {
  std::vector<ExerciseResult> out;
  for (const auto& t : tests) {
    if (t.exercise.empty() || t.status == TestStatus::unscored || t.status == TestStatus::not_graded) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const ExerciseResult& e) { return e.exercise == t.exercise; });
    if (it == out.end()) {
      out.push_back({});
      it = out.end() - 1;
      it->exercise = t.exercise;
    }
    it->score += t.score;
    it->max_score += t.max_score;
    ++it->items;
    if (t.status == TestStatus::passed) {
      ++it->passed;
    } else if (it->first_failure.empty()) {
      it->first_failure = t.name;
      it->first_failure_reason = t.reason;
      if (it->first_failure_reason.empty())
        for (const auto& o : t.per_emu)
          if (!o.success && !o.diagnostics.empty()) {
            it->first_failure_reason = o.diagnostics.front();
            break;
          }
    }
  }
  auto rank = [&](const std::string& ex) {
    return static_cast<std::size_t>(std::find(order.begin(), order.end(), ex) - order.begin());
  };
  std::sort(out.begin(), out.end(), [&](const ExerciseResult& a, const ExerciseResult& b) {
    if (rank(a.exercise) != rank(b.exercise)) return rank(a.exercise) < rank(b.exercise);
    return natural_less(a.exercise, b.exercise);
  });
  return out;
}

}  // namespace hvlab::grader
