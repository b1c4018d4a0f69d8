#include "autograder/grader/batch.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "autograder/grader/report.hpp"
#include "autograder/grader/submission.hpp"
#include "autograder/runner/process.hpp"

namespace hvlab::grader::batch {
namespace {

namespace fs = std::filesystem;
namespace proc = runner::detail;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::uintmax_t kMaxUnpackedBytes = std::uintmax_t{512} << 20;
constexpr std::size_t kMaxArchiveEntries = 50000;

struct CmdResult {
  bool ok = false;
  bool timed_out = false;
  std::string output;   // stdout and stderr, interleaved (the tail, if long)
  std::string problem;  // why it did not succeed, one line
  double seconds = 0;
};

// Runs a tool of the instructor's (tar, cmake, ninja, hvlab-handout) with a time limit.
CmdResult run_cmd(const std::vector<std::string>& argv, const std::vector<std::string>& env, double timeout_s,
                  int ok_status_max = 0) {
  CmdResult r;
  auto program = proc::find_program(argv.front());
  if (!program) {
    r.problem = fmt::format("{} is not installed (make deps installs it)", argv.front());
    return r;
  }
  proc::Command cmd;
  cmd.program = *program;
  cmd.argv = argv;
  cmd.env = env;
  std::vector<proc::Channel> channels(1);
  channels[0].name = "output";
  channels[0].child_fds = {1, 2};
  channels[0].keep = 512 * 1024;
  channels[0].keep_tail = true;
  proc::Limits limits;
  limits.timeout = std::chrono::milliseconds(static_cast<long long>(std::max(1.0, timeout_s) * 1000));
  limits.term_grace = std::chrono::milliseconds(2000);
  const proc::RunResult res = proc::run(cmd, channels, limits);
  r.output = std::move(channels[0].data);
  r.seconds = std::chrono::duration<double>(res.elapsed).count();
  switch (res.end) {
    case proc::End::exited:
      r.ok = res.exit_code && *res.exit_code >= 0 && *res.exit_code <= ok_status_max;
      if (!r.ok) r.problem = fmt::format("{} failed ({})", argv.front(), proc::describe_exit(res));
      break;
    case proc::End::timeout:
      r.timed_out = true;
      r.problem = fmt::format("{} did not finish within {:.0f} s", argv.front(), timeout_s);
      break;
    default:
      r.problem = res.error.empty() ? fmt::format("{} could not be run", argv.front()) : res.error;
  }
  return r;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Checks an archive's listing before anything is written: no special files, and a bounded
// size once unpacked. Returns a problem, or "".
std::string check_archive(const fs::path& archive, ArchiveKind kind) {
  if (kind == ArchiveKind::tar) {
    CmdResult l = run_cmd({"tar", "-tvf", archive.string()}, {}, 120);
    if (!l.ok) return fmt::format("cannot read the archive: {}", l.problem);
    std::uintmax_t total = 0;
    std::size_t entries = 0;
    std::istringstream in(l.output);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      if (++entries > kMaxArchiveEntries) return fmt::format("the archive holds more than {} entries", kMaxArchiveEntries);
      const char type = line[0];
      if (type != '-' && type != 'd' && type != 'l' && type != 'h')
        return fmt::format("the archive holds a special file: {}", line.substr(0, 120));
      std::istringstream f(line);
      std::string mode, owner, size;
      f >> mode >> owner >> size;
      total += std::strtoull(size.c_str(), nullptr, 10);
    }
    if (total > kMaxUnpackedBytes) return fmt::format("the archive unpacks to {} MiB, more than the 512 MiB allowed", total >> 20);
    return {};
  }
  CmdResult l = run_cmd({"unzip", "-Zt", archive.string()}, {}, 120);
  if (!l.ok) return fmt::format("cannot read the archive: {}", l.problem);
  // "12 files, 34567 bytes uncompressed, 8901 bytes compressed:  74.2%"
  std::size_t files = std::strtoull(l.output.c_str(), nullptr, 10);
  std::size_t at = l.output.find("files, ");
  std::uintmax_t total = at == std::string::npos ? 0 : std::strtoull(l.output.c_str() + at + 7, nullptr, 10);
  if (files > kMaxArchiveEntries) return fmt::format("the archive holds more than {} entries", kMaxArchiveEntries);
  if (total > kMaxUnpackedBytes) return fmt::format("the archive unpacks to {} MiB, more than the 512 MiB allowed", total >> 20);
  return {};
}

// Unpacks an archive into `dest`. Returns a problem, or "".
std::string unpack(const fs::path& archive, const fs::path& dest) {
  const ArchiveKind kind = archive_kind(archive);
  if (std::string p = check_archive(archive, kind); !p.empty()) return p;
  std::error_code ec;
  fs::create_directories(dest, ec);
  CmdResult r;
  if (kind == ArchiveKind::tar) {
    // GNU tar drops a leading '/' and refuses members with '..'; never as their owner.
    r = run_cmd({"tar", "-xf", archive.string(), "-C", dest.string(), "--no-same-owner", "--no-same-permissions",
                 "--no-overwrite-dir"},
                {}, 300);
  } else {
    r = run_cmd({"unzip", "-q", "-o", archive.string(), "-d", dest.string()}, {}, 300, 1);
  }
  if (!r.ok) return fmt::format("cannot unpack the archive: {}: {}", r.problem, first_error_line(r.output));
  // Make what was unpacked readable and removable whatever modes the archive carried.
  for (auto it = fs::recursive_directory_iterator(dest, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto st = it->symlink_status(ec);
    if (fs::is_directory(st)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    else if (fs::is_regular_file(st)) fs::permissions(it->path(), fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add, ec);
  }
  return {};
}

void make_removable(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (fs::is_directory(it->symlink_status(ec))) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
}

// The handout every submission is graded in.
fs::path prepare_handout(const BatchOptions& o, const fs::path& work, const std::function<void(const std::string&)>& say) {
  std::error_code ec;
  if (!o.handout_dir.empty()) {
    if (lab_folders(o.handout_dir).empty())
      throw SessionError(fmt::format("--handout {}: no lab folders (labNN-*) in it", o.handout_dir.string()));
    return o.handout_dir;
  }
  // The kit itself may be a handout already (the Gradescope autograder ships one).
  if (fs::exists(o.source_dir / ".hvlab-handout", ec)) return o.source_dir;
  const fs::path tool = o.instructor_build / "tools" / "handout" / "hvlab-handout";
  if (!fs::exists(tool, ec))
    throw SessionError(fmt::format("{} is missing: build it (cmake --build {} --target hvlab-handout), or pass --handout DIR",
                                   tool.string(), o.instructor_build.string()));
  const fs::path dest = work / ".handout";  // never a student id (those never start with a dot)
  fs::remove_all(dest, ec);
  say(fmt::format("generating the handout from {} into {}", o.source_dir.string(), dest.string()));
  std::vector<std::string> argv = {tool.string(), "--source", o.source_dir.string(), "--dest", dest.string(), "--no-git", "--force"};
  if (!o.upto.empty()) {
    argv.push_back("--upto");
    argv.push_back(o.upto);
  }
  CmdResult r = run_cmd(argv, {}, 300);
  if (!r.ok) throw SessionError(fmt::format("could not generate the handout: {}\n{}", r.problem, r.output));
  return dest;
}

struct LabBuild {
  std::string lab;
  std::string monitor;  // relative to the build folder
  bool ok = false;
  std::string message;  // the compiler's, for a failure
};

std::string indent(const std::string& text, const std::string& pad) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out += pad + line + "\n";
  return out;
}

}  // namespace

std::size_t collect_gradebook(const fs::path& out_dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out_dir, ec)) {
    const fs::path f = e.path() / "report.json";
    if (e.path().filename().string().rfind('.', 0) == 0) continue;
    if (fs::is_regular_file(f, ec)) files.push_back(f);
  }
  std::sort(files.begin(), files.end());
  std::vector<json> reports;
  for (const auto& f : files) {
    try {
      reports.push_back(json::parse(read_text(f)));
    } catch (const std::exception& e) {
      json broken;
      broken["student"] = f.parent_path().filename().string();
      broken["submission"] = {{"status", "error"}, {"error", fmt::format("unreadable {}: {}", f.string(), e.what())}};
      reports.push_back(std::move(broken));
    }
  }
  write_text_file(out_dir / "gradebook.csv", gradebook_csv(reports));
  return reports.size();
}

std::vector<SubmissionOutcome> grade_submissions(const BatchOptions& o, const BootFn& boot,
                                                 const std::atomic<bool>& cancel) {
  auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  std::error_code ec;
  const fs::path out = fs::absolute(o.out_dir);
  // Everything this run writes as scratch is in a folder of its own, so that nothing else
  // in --work-dir is ever removed.
  const fs::path work_root = fs::absolute(o.work_dir.empty() ? out / ".work" : o.work_dir);
  const fs::path work = work_root / fmt::format("hvlab-grade-{}", ::getpid());
  fs::create_directories(out, ec);
  fs::create_directories(work, ec);
  if (ec) throw SessionError(fmt::format("cannot create {}: {}", work.string(), ec.message()));

  for (const char* tool : {"cmake", "ninja", "tar"})
    if (!proc::find_program(tool))
      throw SessionError(fmt::format("{} is not installed: batch grading needs it (make deps installs it)", tool));
  const fs::path instructor_build = fs::absolute(o.instructor_build);
  const fs::path handout = fs::absolute(prepare_handout(o, work, say));
  const std::vector<std::string> labs_in_tree = lab_folders(handout);

  // The labs graded: those asked for, or every rubric with a monitor (the native baseline
  // has no student code).
  std::vector<std::string> lab_names = o.labs;
  std::map<std::string, std::string> monitor_of;
  for (const auto& name : list_rubrics(o.rubric_dir)) {
    try {
      Rubric rb = load_rubric(rubric_file(o.rubric_dir, name));
      if (rb.monitor) monitor_of[name] = *rb.monitor;
    } catch (const RubricError& e) {
      if (o.labs.empty() || std::find(o.labs.begin(), o.labs.end(), name) != o.labs.end())
        say(fmt::format("warning: {}", e.what()));
    }
  }
  if (lab_names.empty())
    for (const auto& [name, monitor] : monitor_of) lab_names.push_back(name);
  std::sort(lab_names.begin(), lab_names.end(), [](const std::string& a, const std::string& b) { return natural_less(a, b); });
  if (lab_names.empty()) throw SessionError(fmt::format("no lab rubrics with a monitor in {}", o.rubric_dir.string()));

  const fs::path zydis = instructor_build / "_deps" / "zydis";
  const bool have_zydis = fs::exists(zydis / "src", ec);
  std::optional<fs::path> ccache;
  if (o.use_ccache) ccache = proc::find_program("ccache");
  const fs::path ccache_dir = fs::absolute(o.ccache_dir.empty() ? instructor_build / "_ccache" : o.ccache_dir);
  if (!ccache) say("ccache is not installed: every submission is compiled from scratch (make deps installs it)");

  std::vector<Calibration> calibration;
  std::set<std::string> ids;
  std::vector<SubmissionOutcome> outcomes;

  for (const fs::path& submission : o.submissions) {
    if (cancel) break;
    const auto started = Clock::now();
    SubmissionOutcome outcome;
    std::string id = student_id(submission);
    for (int n = 2; ids.count(id); ++n) id = fmt::format("{}-{}", student_id(submission), n);
    ids.insert(id);
    outcome.student = id;
    outcome.results_dir = out / id;
    const fs::path mine = work / id;
    fs::remove_all(mine, ec);
    fs::remove_all(outcome.results_dir, ec);
    fs::create_directories(outcome.results_dir, ec);
    auto note = [&](const std::string& line) { say(fmt::format("{}: {}", id, line)); };

    json sub;
    sub["path"] = fs::absolute(submission).string();
    std::string error;           // the submission cannot be graded at all
    std::string build_log;
    std::string feedback;        // the top of the student's feedback
    std::vector<LabBuild> builds;
    Overlay overlay;
    fs::path src = mine / "src", build = mine / "build";

    try {
      // 1. The student's tree.
      fs::path unpacked = submission;
      if (fs::is_regular_file(submission, ec)) {
        note(fmt::format("unpacking {}", submission.filename().string()));
        unpacked = mine / "unpacked";
        error = unpack(submission, unpacked);
      }
      std::optional<fs::path> root;
      if (error.empty()) {
        root = find_tree_root(unpacked, labs_in_tree);
        if (!root && fs::is_directory(unpacked, ec)) {
          // A folder holding one archive (an upload of `make handin`'s file).
          std::vector<fs::path> archives;
          for (const auto& e : fs::directory_iterator(unpacked, ec))
            if (fs::is_regular_file(e.symlink_status(ec)) && archive_kind(e.path()) != ArchiveKind::none)
              archives.push_back(e.path());
          if (archives.size() == 1) {
            note(fmt::format("unpacking {}", archives.front().filename().string()));
            const fs::path inner = mine / "unpacked-inner";
            error = unpack(archives.front(), inner);
            if (error.empty()) root = find_tree_root(inner, labs_in_tree);
          }
        }
        if (error.empty() && !root) {
          std::string expected;
          for (const auto& l : labs_in_tree) expected += (expected.empty() ? "" : ", ") + l + "/";
          error = fmt::format("no hvlab tree in the submission: none of the lab folders ({}) was found", expected);
        }
      }

      // 2. A fresh copy of the handout with the student's sources in it.
      if (error.empty()) {
        sub["root"] = root->string();
        copy_tree(handout, src, false);
        overlay = overlay_submission(*root, handout, src, labs_in_tree);
        note(fmt::format("{} source file(s) taken, {} other file(s) ignored", overlay.taken.size(), overlay.ignored_total));

        // 3. Configure and build the monitors with the instructor's rules, under a time limit.
        const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(o.build_timeout_s * 1000));
        auto left = [&] { return std::chrono::duration<double>(deadline - Clock::now()).count(); };
        if (have_zydis) {
          fs::create_directories(build / "_deps", ec);
          copy_tree(zydis, build / "_deps" / "zydis", true);
        }
        std::vector<std::string> env;
        std::vector<std::string> configure = {"cmake", "-S", src.string(), "-B", build.string(), "-G", "Ninja",
                                              "-DCMAKE_BUILD_TYPE=RelWithDebInfo"};
        if (ccache) {
          env = {"CCACHE_DIR=" + ccache_dir.string(), "CCACHE_BASEDIR=" + mine.string(), "CCACHE_NOHASHDIR=1"};
          configure.push_back("-DCMAKE_C_COMPILER_LAUNCHER=" + ccache->string());
          configure.push_back("-DCMAKE_CXX_COMPILER_LAUNCHER=" + ccache->string());
          // ccache hands the compiler paths relative to CCACHE_BASEDIR ("../src/lab04-vtx/x.cpp"),
          // so that submissions share the cache; map them back for __FILE__ in panic messages.
          configure.push_back("-DCMAKE_C_FLAGS=-fmacro-prefix-map=../src/=");
          configure.push_back("-DCMAKE_CXX_FLAGS=-fmacro-prefix-map=../src/=");
        }
        note("configuring ...");
        CmdResult c = run_cmd(configure, env, left());
        build_log += "$ " + fmt::format("{}", fmt::join(configure, " ")) + "\n" + c.output + "\n";
        if (!c.ok) {
          const std::string msg = compiler_message(c.output, src.string());
          for (const auto& lab : lab_names)
            builds.push_back({lab, monitor_of.count(lab) ? monitor_of[lab] : "", false,
                              fmt::format("{}\n{}", c.problem, msg)});
        } else {
          for (const auto& lab : lab_names) {
            LabBuild b{lab, monitor_of.count(lab) ? monitor_of[lab] : "", false, ""};
            if (b.monitor.empty()) {
              b.ok = true;
              builds.push_back(b);
              continue;
            }
            if (cancel) break;
            if (left() <= 1) {
              b.message = fmt::format("the build did not finish within {:.0f} s", o.build_timeout_s);
              builds.push_back(b);
              continue;
            }
            note(fmt::format("building {} ...", b.monitor));
            std::vector<std::string> argv = {"ninja", "-C", build.string(), "-j", std::to_string(std::max(1u, o.session.jobs)),
                                             b.monitor};
            CmdResult r = run_cmd(argv, env, left());
            build_log += "$ " + fmt::format("{}", fmt::join(argv, " ")) + "\n" + r.output + "\n";
            b.ok = r.ok && fs::exists(build / b.monitor, ec);
            if (!b.ok) {
              b.message = r.timed_out ? fmt::format("the build did not finish within {:.0f} s", o.build_timeout_s)
                                      : compiler_message(r.output, src.string());
              if (b.message.empty()) b.message = r.problem;
              note(fmt::format("{} did not build: {}", lab, first_error_line(b.message)));
            }
            builds.push_back(b);
          }
        }
      }
    } catch (const std::exception& e) {
      error = fmt::format("the grader could not prepare the submission: {}", e.what());
    }

    // 4. Grade: every lab that built boots; the others score 0 with the reason.
    SessionOptions so = o.session;
    so.build_dir = build;
    so.rubric_dir = o.rubric_dir;
    so.labs = lab_names;
    so.guest_dir = instructor_build / "autograder" / "guests";
    so.calibration_kernel = calibration_kernel_path(instructor_build);
    so.preset_calibration = calibration;
    so.keep_logs = o.session.keep_logs.empty() ? fs::path() : o.session.keep_logs / id;
    if (o.session.progress) so.progress = [&](const std::string& l) { o.session.progress(id + ": " + l); };
    for (const auto& b : builds)
      if (!b.ok) so.build_failures[b.lab] = "build failed: " + first_error_line(b.message);
    if (!error.empty() || builds.empty())
      for (const auto& lab : lab_names)
        so.build_failures[lab] = error.empty() ? "not built" : error;
    if (!error.empty()) note(error);

    SessionResult result;
    try {
      result = run_session(so, boot, cancel);
    } catch (const std::exception& e) {
      throw SessionError(fmt::format("{}: {}", id, e.what()));
    }
    if (calibration.empty())
      for (const auto& c : result.calibration)
        if (c.attempted && c.usable) calibration.push_back(c);
    if (result.cancelled) break;

    // 5. Results: report.json, results.json (Gradescope), report.txt, build.log.
    const bool build_failed = std::any_of(builds.begin(), builds.end(), [](const LabBuild& b) { return !b.ok; });
    outcome.status = !error.empty() ? "error" : build_failed ? "build_failed" : "graded";
    outcome.score = result.score();
    outcome.max_score = result.max_score();

    if (error.empty()) {
      feedback += fmt::format(
          "Graded in a fresh copy of the handout, with the instructor's build rules: {} source file(s) were taken "
          "from your lab folders.\n",
          overlay.taken.size());
      if (overlay.ignored_total) {
        feedback += fmt::format("{} file(s) of yours that differ from the handout were not used:\n", overlay.ignored_total);
        for (const auto& f : overlay.ignored) feedback += fmt::format("  {} ({})\n", f.path, f.why);
        if (overlay.ignored.size() < overlay.ignored_total)
          feedback += fmt::format("  ... and {} more\n", overlay.ignored_total - overlay.ignored.size());
      }
      for (const auto& b : builds)
        if (!b.ok) feedback += fmt::format("{} did not build ({}); the compiler said:\n{}", b.lab, b.monitor, indent(b.message, "  "));
    } else {
      feedback += error + "\n";
    }

    sub["status"] = outcome.status;
    sub["error"] = error.empty() ? json(nullptr) : json(clean_text(error));
    sub["taken"] = overlay.taken;
    sub["ignored"] = json::array();
    for (const auto& f : overlay.ignored) sub["ignored"].push_back({{"path", clean_text(f.path)}, {"why", f.why}});
    sub["ignored_total"] = overlay.ignored_total;
    sub["builds"] = json::array();
    for (const auto& b : builds)
      sub["builds"].push_back({{"lab", b.lab}, {"monitor", b.monitor}, {"ok", b.ok}, {"message", clean_text(b.message)}});
    sub["seconds"] = std::chrono::duration<double>(Clock::now() - started).count();

    json report = to_json(result);
    report["student"] = id;
    report["submission"] = sub;
    json gs = to_gradescope(result);
    gs["output"] = clean_text(feedback + "\n" + gs.value("output", ""));
    gs["execution_time"] = static_cast<long long>(sub["seconds"].get<double>() + 0.5);
    try {
      write_text_file(outcome.results_dir / "report.json", dump_json(report) + "\n");
      write_text_file(outcome.results_dir / "results.json", dump_json(gs) + "\n");
      write_text_file(outcome.results_dir / "build.log", build_log);
      if (!o.gradescope_file.empty()) write_text_file(o.gradescope_file, dump_json(gs) + "\n");
      if (std::FILE* f = std::fopen((outcome.results_dir / "report.txt").c_str(), "w")) {
        std::fputs(feedback.c_str(), f);
        print_report(f, result, TableStyle{});
        std::fclose(f);
      }
    } catch (const std::exception& e) {
      throw SessionError(e.what());
    }
    note(fmt::format("{:g} / {:g} points ({}), {:.0f} s; results in {}", outcome.score, outcome.max_score, outcome.status,
                     sub["seconds"].get<double>(), outcome.results_dir.string()));
    if (!o.keep_work) {
      make_removable(mine);
      fs::remove_all(mine, ec);
    }
    outcomes.push_back(outcome);
  }

  if (o.write_gradebook && !cancel) {
    std::vector<json> reports;
    for (const auto& oc : outcomes) reports.push_back(json::parse(read_text(oc.results_dir / "report.json")));
    write_text_file(out / "gradebook.csv", gradebook_csv(reports));
  }
  std::error_code ignore;
  if (!o.keep_work) {
    make_removable(work);
    fs::remove_all(work, ignore);
    fs::remove(work_root, ignore);  // only if empty
  } else {
    say(fmt::format("work trees kept in {}", work.string()));
  }
  return outcomes;
}

}  // namespace hvlab::grader::batch
