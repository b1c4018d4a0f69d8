#include "autograder/grader/session.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "common/vmm/host_kvm.hpp"

namespace hvlab::grader {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0 + 0.5));
}

struct LabPlan {
  std::string name;
  std::optional<Rubric> rubric;
  LabResult pre;                  // status and reason when it cannot be booted
  std::vector<Emulator> emus;     // graded on
  bool runnable = false;
  std::vector<std::size_t> jobs;  // indexes into the job list
};

struct Job {
  std::size_t lab = 0;
  const GuestImage* guest = nullptr;
  Emulator emu = Emulator::qemu;
  GuestRun result;
};

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// Keeps the logs of a boot that was not clean: COM1, COM2, E9, the emulator's log.
std::string keep_logs(const fs::path& root, const std::string& lab, Emulator emu, const std::string& guest,
                      unsigned index, const BootRecord& rec, const runner::BootResult& r) {
  fs::path dir = root / lab / fmt::format("{}-{}-boot{}", emu_name(emu), guest, index);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return {};
  write_file(dir / "com1.txt", r.com1);
  write_file(dir / "com2.jsonl", r.com2);
  write_file(dir / "e9.txt", r.debugcon);
  write_file(dir / "emulator.log", r.emulator_log);
  if (!r.plugin_output.empty()) write_file(dir / "evidence.txt", r.plugin_output);
  write_file(dir / "boot.txt",
             fmt::format("lab: {}\nemulator: {}\nguest: {}\nguest cmdline: {}\nfirst: {}\nnonce: {}\n"
                         "outcome: {}\nexit status: {}\nrunner reason: {}\nseconds: {:.3f}\ngrader: {}\n",
                         lab, emu_name(emu), guest, rec.cmdline, rec.first, rec.nonce,
                         outcome_text(rec.outcome), rec.exit_status, rec.runner_reason, rec.seconds,
                         rec.summary));
  return dir.string();
}

}  // namespace

std::string missing_requirement(const std::vector<std::string>& requirements) {
  for (const auto& r : requirements) {
    if (r != "kvm") return fmt::format("unknown requirement '{}'", r);
    // HVLAB_KVM_DEVICE names another device file, as for the hosted VMM itself (the tests
    // use it to be a machine without KVM).
    const char* device = std::getenv("HVLAB_KVM_DEVICE");
    if (std::string why = vmm::kvm_unavailable_reason(device && *device ? device : "/dev/kvm"); !why.empty())
      return why + " (the hosted VMM needs a KVM that can)";
  }
  return {};
}

double calibration_reference_seconds(Emulator e) {
  // Measured on an idle 2-core Debian 12 machine (QEMU 7.2 TCG, Bochs 2.7), see
  // autograder/grader/calibrate/calibrate.S for what the kernel does.
  return e == Emulator::qemu ? 0.3 : 2.5;
}

fs::path guest_image_path(const fs::path& build_dir, const std::string& image) {
  return build_dir / "autograder" / "guests" / (image + ".elf");
}

fs::path rubric_file(const fs::path& rubric_dir, const std::string& lab) {
  const fs::path hidden = rubric_dir / "hidden" / (lab + ".toml");
  std::error_code ec;
  if (fs::is_regular_file(hidden, ec)) return hidden;
  return rubric_dir / (lab + ".toml");
}

fs::path calibration_kernel_path(const fs::path& build_dir) {
  return build_dir / "autograder" / "grader" / "calibrate.elf";
}

void parallel_for(std::size_t count, unsigned threads, const std::function<void(std::size_t)>& fn) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < count; i = next++) fn(i);
  };
  const std::size_t n = std::min<std::size_t>(std::max(1u, threads), count);
  if (n <= 1) {
    worker();
    return;
  }
  std::vector<std::jthread> pool;
  for (std::size_t i = 0; i < n; ++i) pool.emplace_back(worker);
}

bool SessionResult::all_full_marks() const {
  if (cancelled) return false;
  bool any = false;
  for (const auto& lab : labs) {
    if (lab.status == LabStatus::not_selected || lab.status == LabStatus::skipped) continue;
    if (!lab.full_marks()) return false;
    any = true;
  }
  return any;
}

bool SessionResult::no_failures() const {
  if (cancelled) return false;
  bool any = false;
  for (const auto& lab : labs) {
    if (lab.status == LabStatus::not_selected) continue;
    if (lab.status == LabStatus::skipped) {
      // A skip without its reason would be a silent pass.
      if (lab.status_reason.empty()) return false;
    } else if (!lab.full_marks()) {
      return false;
    }
    any = true;
  }
  return any;
}

std::vector<const LabResult*> SessionResult::skipped_labs() const {
  std::vector<const LabResult*> out;
  for (const auto& lab : labs)
    if (lab.status == LabStatus::skipped) out.push_back(&lab);
  return out;
}

double SessionResult::score() const {
  double s = 0;
  for (const auto& l : labs) s += l.score;
  return s;
}

double SessionResult::max_score() const {
  double s = 0;
  for (const auto& l : labs) s += l.max_score;
  return s;
}

Calibration calibrate_emulator(Emulator emu, const SessionOptions& opt, const BootFn& boot,
                               const std::atomic<bool>& cancel) {
  Calibration c;
  c.emu = emu;
  c.reference_s = calibration_reference_seconds(c.emu);
  const fs::path kernel =
      opt.calibration_kernel.empty() ? calibration_kernel_path(opt.build_dir) : opt.calibration_kernel;
  if (emu == Emulator::qemu && !opt.evidence_plugin.empty() && fs::exists(kernel) && !cancel) {
    // QEMU must load the plugin; if it cannot, grading goes on without evidence, saying so.
    runner::BootSpec probe;
    probe.emu = emu;
    probe.kernel = kernel;
    probe.timeout = to_ms(c.reference_s * 30 * opt.timeout_scale);
    probe.qemu_plugin = runner::BootSpec::QemuPlugin{opt.evidence_plugin, {{"tests.txt", ""}},
                                                     ",tests=plugin/tests.txt,out=evidence.txt", "evidence.txt"};
    runner::BootResult r;
    try {
      r = boot(probe);
    } catch (const std::exception& e) {
      r.reason = e.what();
    }
    c.evidence = r.outcome == runner::Outcome::exited && r.exit_status == 0;
    if (opt.progress)
      opt.progress(c.evidence ? "qemu: the execution-evidence plugin is loaded: reports are checked against what QEMU ran"
                              : fmt::format("warning: qemu does not load the execution-evidence plugin ({}): grading "
                                            "without that evidence",
                                            r.reason.empty() ? "no exit marker" : r.reason));
  }
  if (!opt.calibrate) {
    c.problem = "calibration skipped";
    return c;
  }
  // A hosted VMM runs at the machine's own speed: its time limits need no calibration
  // (and the calibration kernel is no program to run).
  if (emu == Emulator::host) return c;
  const fs::path calib_kernel =
      opt.calibration_kernel.empty() ? calibration_kernel_path(opt.build_dir) : opt.calibration_kernel;
  if (!fs::exists(calib_kernel)) {
    c.problem = fmt::format("{} is missing (build target hvlab-calibrate); timeouts are not scaled",
                            calib_kernel.string());
    return c;
  }
  if (cancel) return c;
  if (opt.progress) opt.progress(fmt::format("calibrating {} ...", emu_name(c.emu)));
  runner::BootSpec spec;
  spec.emu = c.emu;
  spec.kernel = calib_kernel;
  spec.timeout = to_ms(c.reference_s * 30 * opt.timeout_scale);
  spec.icount = false;
  c.attempted = true;
  runner::BootResult r;
  try {
    r = boot(spec);
  } catch (const std::exception& e) {
    r.outcome = runner::Outcome::launch_failed;
    r.reason = e.what();
  }
  if (r.outcome == runner::Outcome::launch_failed) {
    c.usable = false;
    c.problem = r.reason.empty() ? "the emulator could not be started" : r.reason;
  } else if (r.outcome != runner::Outcome::exited || r.exit_status != 0) {
    c.problem = fmt::format("the calibration kernel did not exit cleanly ({}); timeouts are not scaled",
                            r.reason.empty() ? "no exit marker" : r.reason);
  } else {
    c.measured_s = std::chrono::duration<double>(r.elapsed).count();
    c.factor = std::clamp(c.measured_s / c.reference_s, 1.0, 20.0);
    if (opt.progress)
      opt.progress(fmt::format("{}: calibration boot {:.2f} s (reference {:.2f} s): timeouts x{:.2f}", emu_name(c.emu),
                               c.measured_s, c.reference_s, c.factor));
  }
  return c;
}

namespace {

// One grading session, in the order it runs: plan the labs, calibrate the emulators, boot
// every guest, learn the test names (with reference boots where a crash hid them), score.
class Session {
 public:
  Session(const SessionOptions& opt, const BootFn& boot, const std::atomic<bool>& cancel)
      : opt_(opt), boot_(boot), cancel_(cancel) {}

  SessionResult run() {
    const auto start = Clock::now();
    plan_labs();
    read_suite_tables();
    calibrate();
    boot_guests();
    learn_test_names();
    score();
    out_.cancelled = cancel_;
    out_.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(out_);
  }

 private:
  void say(const std::string& line) {
    if (!opt_.progress) return;
    std::lock_guard lock(progress_mutex_);
    opt_.progress(line);
  }

  fs::path guest_path(const std::string& image) const {
    return opt_.guest_dir.empty() ? guest_image_path(opt_.build_dir, image) : opt_.guest_dir / (image + ".elf");
  }

  const Calibration* calibration_for(Emulator e) const {
    for (const auto& c : out_.calibration)
      if (c.emu == e) return &c;
    return nullptr;
  }

  static bool graded(const LabPlan& p) {
    return p.rubric && p.pre.status != LabStatus::not_selected && p.pre.status != LabStatus::rubric_error &&
           p.pre.status != LabStatus::skipped;
  }

  // 1. The labs and what they need.
  void plan_labs() {
    std::vector<std::string> names = opt_.labs;
    const std::vector<std::string> available = list_rubrics(opt_.rubric_dir);
    if (names.empty()) names = available;
    // Each lab once, in the order first asked for.
    for (std::size_t i = 0; i < names.size(); ++i)
      names.erase(std::remove(names.begin() + static_cast<std::ptrdiff_t>(i) + 1, names.end(), names[i]), names.end());
    if (names.empty())
      throw SessionError(fmt::format("no rubric files (*.toml) in {}", opt_.rubric_dir.string()));
    for (const auto& name : names) {
      if (std::find(available.begin(), available.end(), name) == available.end()) {
        std::string list;
        for (const auto& a : available) list += (list.empty() ? "" : ", ") + a;
        throw SessionError(fmt::format("unknown lab '{}': there is no {} (labs: {})", name,
                                       (opt_.rubric_dir / (name + ".toml")).string(), list.empty() ? "none" : list));
      }
      plans_.push_back(plan_lab(name));
    }
  }

  LabPlan plan_lab(const std::string& name) const {
    LabPlan p;
    p.name = name;
    p.pre.name = name;
    try {
      p.rubric = load_rubric(rubric_file(opt_.rubric_dir, name));
    } catch (const RubricError& e) {
      p.pre.status = LabStatus::rubric_error;
      p.pre.status_reason = "the rubric cannot be used";
      p.pre.errors.push_back(e.what());
      return p;
    }
    const Rubric& rb = *p.rubric;
    p.pre.title = rb.title;
    p.pre.folder = rb.folder;
    for (Emulator e : opt_.emulators)
      if (rb.runs_on(e)) p.emus.push_back(e);
    if (p.emus.empty()) {
      std::string on;
      for (Emulator e : rb.emulators) on += fmt::format("{}{}", on.empty() ? "" : " and ", emu_name(e));
      p.pre.status = LabStatus::not_selected;
      p.pre.status_reason = fmt::format("runs on {} only, which was not selected (--emu)", on);
      return p;
    }
    const std::string why_skip = rb.requirements.empty() ? std::string()
                                 : opt_.check_requirements ? opt_.check_requirements(rb.requirements)
                                                           : missing_requirement(rb.requirements);
    if (!why_skip.empty()) {
      p.pre.status = LabStatus::skipped;
      p.pre.status_reason = why_skip;
      return p;
    }
    if (auto f = opt_.build_failures.find(name); f != opt_.build_failures.end()) {
      p.pre.status = LabStatus::not_built;
      p.pre.status_reason = f->second;
      return p;
    }
    std::vector<std::string> missing;
    if (rb.monitor && !fs::exists(opt_.build_dir / *rb.monitor))
      missing.push_back((opt_.build_dir / *rb.monitor).string());
    for (const auto& g : rb.guests)
      if (!fs::exists(guest_path(g.image))) missing.push_back(guest_path(g.image).string());
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
      p.pre.status = LabStatus::not_built;
      p.pre.status_reason = fmt::format("not built: {} {} missing (build the kit first: cmake --build {})", list,
                                        missing.size() == 1 ? "is" : "are", opt_.build_dir.string());
    } else {
      p.runnable = true;
    }
    return p;
  }

  // The test tables of the guests that will boot (guests without one run unseeded).
  void read_suite_tables() {
    for (const auto& p : plans_) {
      if (!p.rubric) continue;
      for (const auto& g : p.rubric->guests) {
        if (tables_.count(g.image)) continue;
        std::string problem;
        auto t = read_suite_table(guest_path(g.image), &problem);
        tables_[g.image] = t ? std::make_shared<const SuiteTable>(std::move(*t)) : nullptr;
        if (!problem.empty()) say(fmt::format("warning: {}: its tests are run unseeded", problem));
      }
    }
  }

  // 2. Calibration, once per emulator that will be used.
  void calibrate() {
    std::vector<Emulator> used;
    for (const auto& p : plans_)
      if (p.runnable)
        for (Emulator e : p.emus)
          if (std::find(used.begin(), used.end(), e) == used.end()) used.push_back(e);
    std::sort(used.begin(), used.end());
    out_.calibration.resize(used.size());
    parallel_for(used.size(), opt_.jobs, [&](std::size_t i) {
      for (const auto& preset : opt_.preset_calibration)
        if (preset.emu == used[i]) {
          out_.calibration[i] = preset;
          return;
        }
      out_.calibration[i] = calibrate_emulator(used[i], opt_, boot_, cancel_);
    });
  }

  RunSettings settings_for(const Rubric& rb, const GuestImage& g, Emulator e, const std::string& log_lab,
                           bool bare) const {
    RunSettings s;
    s.spec.emu = e;
    const double factor = calibration_for(e) ? calibration_for(e)->factor : 1.0;
    s.spec.timeout = to_ms(rb.timeout_seconds.at(e) * factor * opt_.timeout_scale);
    s.spec.output_limit = rb.output_limit;
    s.spec.icount = opt_.icount && e == Emulator::qemu;
    s.spec.memory_mib = rb.memory_mib;
    s.spec.qemu_cpu = rb.qemu_cpu;
    const fs::path guest = guest_path(g.image);
    if (rb.monitor && !bare) {
      s.spec.kernel = opt_.build_dir / *rb.monitor;
      s.spec.cmdline = g.monitor_cmdline.value_or(rb.monitor_cmdline);
      s.spec.modules.push_back({guest, ""});
      s.guest_is_module = true;
    } else {
      s.spec.kernel = guest;
    }
    s.guest_cmdline = g.cmdline;
    s.max_boots = rb.max_boots;
    s.make_nonce = opt_.make_nonce;
    s.make_seed = opt_.make_seed;
    if (const Calibration* c = calibration_for(e); c && c->evidence && rb.execution_evidence)
      s.evidence_plugin = opt_.evidence_plugin;
    if (auto t = tables_.find(g.image); t != tables_.end()) s.table = t->second;
    s.cancel = &cancel_;
    if (!opt_.keep_logs.empty()) {
      auto counter = std::make_shared<unsigned>(0);
      s.on_boot = [root = opt_.keep_logs, log_lab, e, image = g.label(), counter](const BootRecord& rec,
                                                                                 const runner::BootResult& r) {
        ++*counter;
        if (rec.clean) return std::string();
        return keep_logs(root, log_lab, e, image, *counter, rec, r);
      };
    }
    return s;
  }

  GuestRun run_one(const Rubric& rb, const GuestImage& g, Emulator e, const std::string& log_lab, bool bare) const {
    const Calibration* c = calibration_for(e);
    if (c && !c->usable) {
      GuestRun r;
      r.guest = g.label();
      r.emu = e;
      r.fatal = fmt::format("could not run {}: {}", emu_name(e), c->problem);
      return r;
    }
    return run_guest(g.label(), settings_for(rb, g, e, log_lab, bare), boot_);
  }

  // With a batch's shared cores, a boot beyond the first waits for one of them (or for the
  // session's own) rather than for the boot before it. Held for the life of a CoreHold.
  class CoreHold {
   public:
    explicit CoreHold(Session& s) : s_(s) {
      if (!s_.opt_.try_take_core) return;
      while (true) {
        if (s_.own_core_free_.exchange(false)) return;
        if (s_.opt_.try_take_core()) {
          own_ = false;
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    ~CoreHold() {
      if (!s_.opt_.try_take_core) return;
      if (own_) s_.own_core_free_ = true;
      else s_.opt_.give_core();
    }
    CoreHold(const CoreHold&) = delete;
    CoreHold& operator=(const CoreHold&) = delete;

   private:
    Session& s_;
    bool own_ = true;  // the session's own core, not one of the batch's
  };

  // 3. Boot every guest of every runnable lab on each of its emulators.
  void boot_guests() {
    for (std::size_t li = 0; li < plans_.size(); ++li) {
      if (!plans_[li].runnable) continue;
      for (const auto& g : plans_[li].rubric->guests)
        for (Emulator e : plans_[li].emus)
          if (g.runs_on(e)) {
            plans_[li].jobs.push_back(jobs_.size());
            jobs_.push_back({li, &g, e, {}});
          }
    }
    parallel_for(jobs_.size(), opt_.jobs, [&](std::size_t i) {
      Job& j = jobs_[i];
      const LabPlan& p = plans_[j.lab];
      const CoreHold core(*this);
      say(fmt::format("{} on {}: booting {} ...", p.name, emu_name(j.emu), j.guest->label()));
      j.result = run_one(*p.rubric, *j.guest, j.emu, p.name, false);
      std::size_t reported = 0;
      for (const auto& [n, o] : j.result.tests)
        reported += o.verdict == Verdict::passed || o.verdict == Verdict::failed || o.verdict == Verdict::skipped;
      say(fmt::format("{} on {}: {} boot(s), {:.1f} s, {} of {} test(s) reported{}", p.name, emu_name(j.emu),
                      j.result.boots.size(), j.result.seconds(), reported,
                      j.result.plan ? fmt::format("{}", *j.result.plan) : std::string("?"),
                      j.result.fatal.empty() ? "" : "; " + j.result.fatal));
    });
  }

  // 4. Test names: from the guest's table, else learned from the runs, with a bare
  // reference boot for guests whose names a crash hid.
  void learn_test_names() {
    // Test names belong to the image, whatever its [[guest]] entry is called.
    for (const auto& [image, table] : tables_) {
      if (!table) continue;
      SuiteNames& names = catalog_[image];
      names.plan = static_cast<unsigned>(table->tests.size());
      for (std::size_t i = 0; i < table->tests.size(); ++i)
        names.names.emplace(static_cast<unsigned>(i + 1), table->tests[i].name);
    }
    for (const auto& j : jobs_) catalog_[j.guest->image].learn(j.result);
    struct RefJob {
      const Rubric* rubric;
      const GuestImage* guest;
      Emulator emu;
      GuestRun result;
    };
    std::vector<RefJob> refs;
    const std::optional<Rubric> native = native_rubric();
    for (const auto& p : plans_) {
      if (!graded(p)) continue;
      for (const auto& g : p.rubric->guests) {
        if (!g.reference || catalog_[g.image].complete()) continue;
        if (!fs::exists(guest_path(g.image))) continue;
        if (std::any_of(refs.begin(), refs.end(), [&](const RefJob& r) { return r.guest->image == g.image; })) continue;
        const std::optional<Emulator> emu = reference_emulator();
        if (!emu) continue;
        const Rubric* rb = &*p.rubric;
        const GuestImage* image = &g;
        if (native && native->runs_on(*emu)) {
          for (const auto& ng : native->guests)
            if (ng.image == g.image) {
              rb = &*native;
              image = &ng;
            }
        }
        refs.push_back({rb, image, *emu, {}});
      }
    }
    if (!cancel_) {
      parallel_for(refs.size(), opt_.jobs, [&](std::size_t i) {
        RefJob& r = refs[i];
        const CoreHold core(*this);
        say(fmt::format("reference: booting {} bare on {} to learn its test names ...", r.guest->image,
                        emu_name(r.emu)));
        r.result = run_one(*r.rubric, *r.guest, r.emu, "_reference", true);
      });
    }
    for (const auto& r : refs) {
      catalog_[r.guest->image].learn(r.result);
      EmuTiming& t = out_.reference_boots[r.emu];
      t.boots += static_cast<unsigned>(r.result.boots.size());
      t.seconds += r.result.seconds();
    }
  }

  // A reference boot runs the guest bare, as the native rubric describes it when there is
  // one (its cmdline and timeouts), else as the lab that needs it does.
  std::optional<Rubric> native_rubric() const {
    try {
      if (fs::exists(rubric_file(opt_.rubric_dir, "native"))) return load_rubric(rubric_file(opt_.rubric_dir, "native"));
    } catch (const RubricError& e) {
      // Graded as a lab, native shows its own rubric error; otherwise the reference boots
      // would quietly take other settings than the kit's.
      const bool reported = std::any_of(plans_.begin(), plans_.end(), [](const LabPlan& p) {
        return p.name == "native" && p.pre.status == LabStatus::rubric_error;
      });
      if (!reported)
        throw SessionError(fmt::format("the native rubric, which the reference boots follow, is broken: {}", e.what()));
    }
    return std::nullopt;
  }

  // Prefer QEMU (fast), if it was selected and starts.
  std::optional<Emulator> reference_emulator() const {
    for (Emulator e : {Emulator::qemu, Emulator::bochs}) {
      if (std::find(opt_.emulators.begin(), opt_.emulators.end(), e) == opt_.emulators.end()) continue;
      if (const Calibration* c = calibration_for(e); c && !c->usable) continue;
      return e;
    }
    return std::nullopt;
  }

  // 5. Scores.
  void score() {
    for (auto& p : plans_) {
      if (!graded(p)) {
        out_.labs.push_back(std::move(p.pre));
        continue;
      }
      std::vector<GuestRun> runs;
      if (p.runnable) {
        for (std::size_t j : p.jobs) runs.push_back(std::move(jobs_[j].result));
      } else {
        // Not built: every test the catalog knows scores 0 with that reason, so the maximum
        // stays what it would be.
        for (const auto& g : p.rubric->guests)
          for (Emulator e : p.emus)
            if (g.runs_on(e)) {
              GuestRun r;
              r.guest = g.label();
              r.emu = e;
              r.fatal = p.pre.status_reason;
              runs.push_back(std::move(r));
            }
      }
      LabResult lab = score_lab(*p.rubric, p.emus, std::move(runs), catalog_);
      if (!p.runnable) {
        lab.status = p.pre.status;
        lab.status_reason = p.pre.status_reason;
        lab.notes.clear();
        std::erase_if(lab.errors,
                      [](const std::string& e) { return e.find("no boot printed its name") != std::string::npos; });
      }
      if (cancel_) {
        lab.status = LabStatus::cancelled;
        lab.status_reason = "interrupted before the lab finished";
      }
      for (const auto& c : out_.calibration)
        if (!c.problem.empty() && std::find(p.emus.begin(), p.emus.end(), c.emu) != p.emus.end() && !c.usable)
          lab.errors.push_back(fmt::format("{}: {}", emu_name(c.emu), c.problem));
      out_.labs.push_back(std::move(lab));
    }
  }

  const SessionOptions& opt_;
  const BootFn& boot_;
  const std::atomic<bool>& cancel_;
  std::mutex progress_mutex_;
  std::vector<LabPlan> plans_;
  std::map<std::string, std::shared_ptr<const SuiteTable>> tables_;
  std::vector<Job> jobs_;
  Catalog catalog_;
  std::atomic<bool> own_core_free_{true};
  SessionResult out_;
};

}  // namespace

SessionResult run_session(const SessionOptions& opt, const BootFn& boot, const std::atomic<bool>& cancel) {
  return Session(opt, boot, cancel).run();
}

}  // namespace hvlab::grader
