#include "autograder/grader/batch.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "autograder/grader/report.hpp"
#include "autograder/grader/submission.hpp"
#include "autograder/runner/process.hpp"
#include "autograder/runner/sandbox.hpp"

namespace hvlab::grader::batch {
namespace {

namespace fs = std::filesystem;
namespace proc = runner::detail;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using runner::Sandbox;
using runner::SandboxPolicy;

// The handout's instructor-only rubrics never reach a submission's work tree.
const std::vector<std::string> kNeverCopied = {"autograder/rubrics/hidden"};

std::string mib(std::uint64_t bytes) { return fmt::format("{} MiB", (bytes + (1 << 20) - 1) >> 20); }

struct CmdResult {
  bool ok = false;
  bool timed_out = false;
  bool limit = false;   // a watch stopped it (problem says which limit)
  std::string output;   // stdout, and stderr unless kept apart (the tail, if long)
  std::string errors;   // stderr, when kept apart
  std::string problem;  // why it did not succeed, one line
  double seconds = 0;
};

struct CmdOptions {
  const Sandbox* sandbox = nullptr;       // confine the command (with `policy`)
  const SandboxPolicy* policy = nullptr;
  int ok_status_max = 0;
  std::function<std::string()> watch;
  bool separate_errors = false;           // stderr in CmdResult::errors
};

CmdOptions confined(const Sandbox* sandbox, const SandboxPolicy& policy) {
  CmdOptions o;
  o.sandbox = sandbox;
  o.policy = &policy;
  return o;
}

// Runs a tool (tar, cmake, ninja, hvlab-handout) with a time limit; a submission's steps run
// confined.
CmdResult run_cmd(const std::vector<std::string>& argv, const std::vector<std::string>& env, double timeout_s,
                  const CmdOptions& opt = {}) {
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
  if (opt.sandbox && opt.policy) cmd = opt.sandbox->wrap(cmd, *opt.policy);
  std::vector<proc::Channel> channels(opt.separate_errors ? 2 : 1);
  channels[0].name = "output";
  channels[0].child_fds = opt.separate_errors ? std::vector<int>{1} : std::vector<int>{1, 2};
  channels[0].keep = 512 * 1024;
  channels[0].keep_tail = true;
  if (opt.separate_errors) {
    channels[1].name = "errors";
    channels[1].child_fds = {2};
    channels[1].keep = 64 * 1024;
    channels[1].keep_tail = true;
  }
  proc::Limits limits;
  limits.timeout = std::chrono::milliseconds(static_cast<long long>(std::max(1.0, timeout_s) * 1000));
  limits.term_grace = std::chrono::milliseconds(2000);
  limits.watch = opt.watch;
  const proc::RunResult res = proc::run(cmd, channels, limits);
  r.output = std::move(channels[0].data);
  if (opt.separate_errors) r.errors = std::move(channels[1].data);
  r.seconds = std::chrono::duration<double>(res.elapsed).count();
  switch (res.end) {
    case proc::End::exited:
      r.ok = res.exit_code && *res.exit_code >= 0 && *res.exit_code <= opt.ok_status_max;
      if (!r.ok) r.problem = fmt::format("{} failed ({})", argv.front(), proc::describe_exit(res));
      break;
    case proc::End::timeout:
      r.timed_out = true;
      r.problem = fmt::format("{} did not finish within {:.0f} s", argv.front(), timeout_s);
      break;
    case proc::End::limit:
      r.limit = true;
      r.problem = res.error;
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

std::string first_line(std::string_view text) {
  while (!text.empty() && (text.front() == '\n' || text.front() == '\r')) text.remove_prefix(1);
  return std::string(text.substr(0, text.find('\n')));
}

// The text of `line` after its first `n` blank-separated fields (a listing's name column).
std::string after_fields(const std::string& line, int n) {
  std::size_t i = 0;
  for (int f = 0; f < n; ++f) {
    while (i < line.size() && line[i] == ' ') ++i;
    while (i < line.size() && line[i] != ' ') ++i;
  }
  while (i < line.size() && line[i] == ' ') ++i;
  return line.substr(i);
}

bool escapes(const std::string& name) {
  if (!name.empty() && name[0] == '/') return true;
  std::size_t pos = 0;
  while (pos <= name.size()) {
    std::size_t slash = name.find('/', pos);
    if (slash == std::string::npos) slash = name.size();
    if (name.compare(pos, slash - pos, "..") == 0 && slash - pos == 2) return true;
    pos = slash + 1;
  }
  return false;
}

std::uintmax_t tree_bytes(const fs::path& dir) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto st = it->symlink_status(ec);
    if (fs::is_regular_file(st)) total += it->file_size(ec);
  }
  return total;
}

void make_removable(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (fs::is_directory(it->symlink_status(ec))) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
}

void remove_tree(const fs::path& dir) {
  std::error_code ec;
  make_removable(dir);
  fs::remove_all(dir, ec);
}

std::string indent(const std::string& text, const std::string& pad) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out += pad + line + "\n";
  return out;
}

// Why a build that failed failed, when a limit stopped it (the compiler's own words follow).
std::string limit_reason(const std::string& log, const SubmissionLimits& limits) {
  if (log.find("virtual memory exhausted") != std::string::npos || log.find("out of memory allocating") != std::string::npos ||
      log.find("std::bad_alloc") != std::string::npos || log.find("Cannot allocate memory") != std::string::npos)
    return fmt::format("the build passed its memory limit ({} of address space per compiler process)",
                       mib(limits.build_memory));
  if (log.find("File size limit exceeded") != std::string::npos || log.find("File too large") != std::string::npos)
    return fmt::format("the build wrote a file larger than its limit of {}", mib(limits.build_file_bytes));
  return {};
}

// A cheap fingerprint of a submission, to tell whether the results of an earlier run are
// still its results.
std::string fingerprint(const fs::path& submission) {
  std::error_code ec;
  auto stamp = [&](const fs::path& p) {
    const auto t = fs::last_write_time(p, ec).time_since_epoch().count();
    return static_cast<long long>(t);
  };
  if (fs::is_regular_file(submission, ec))
    return fmt::format("file:{}:{}", fs::file_size(submission, ec), stamp(submission));
  std::uintmax_t files = 0, bytes = 0;
  long long newest = 0;
  for (auto it = fs::recursive_directory_iterator(submission, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto st = it->symlink_status(ec);
    if (!fs::is_regular_file(st)) continue;
    ++files;
    bytes += it->file_size(ec);
    newest = std::max(newest, stamp(it->path()));
  }
  return fmt::format("tree:{}:{}:{}", files, bytes, newest);
}

// FNV-1a over a tree's paths and contents: names the compiler cache's warm-up.
std::uint64_t tree_hash(const fs::path& dir, const std::vector<std::string>& skip) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string rel = it->path().lexically_relative(dir).generic_string();
    const auto st = it->symlink_status(ec);
    if (fs::is_directory(st) && (rel == ".git" || std::find(skip.begin(), skip.end(), rel) != skip.end())) {
      it.disable_recursion_pending();
      continue;
    }
    if (fs::is_regular_file(st)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view bytes) {
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  };
  for (const auto& f : files) {
    mix(f.lexically_relative(dir).generic_string());
    mix(read_text(f));
  }
  return h;
}

// Everything the graders of single submissions share; set up once, read-only after.
struct Context {
  const BatchOptions* o = nullptr;
  fs::path out, work, handout, instructor_build, zydis;
  bool have_zydis = false;
  std::vector<std::string> labs_in_tree;   // lab folders of the handout
  std::vector<std::string> lab_names;      // graded labs
  std::map<std::string, std::string> monitor_of, folder_of;
  std::optional<fs::path> ccache;
  fs::path ccache_dir;
  std::vector<Calibration> calibration;
  const Sandbox* sandbox = nullptr;        // never null: `none` when not confined
  BootFn boot;                             // the runner's, confined
  std::function<void(const std::string&)> say;
};

struct BuildArea {
  fs::path base, src, build;  // base holds src/ and build/ (ccache's base folder)
};

// The policy of a configure or build step: the sources read-only, the build folder, Zydis'
// source and the compiler cache.
SandboxPolicy build_policy(const Context& c, const BuildArea& a, bool cache_writable) {
  SandboxPolicy p;
  p.read_only = {a.src};
  p.read_write = {a.build};
  if (c.have_zydis && c.sandbox->confined()) p.read_only_at.emplace_back(c.zydis, a.build / "_deps" / "zydis");
  if (c.ccache) (cache_writable ? p.read_write : p.read_only).push_back(c.ccache_dir);
  p.cwd = a.build;
  p.home = a.build / ".home";
  p.dpkg_database = true;  // tools/fetch-zydis.sh asks dpkg-query which Zydis is installed
  p.address_space = c.o->limits.build_memory;
  p.file_size = c.o->limits.build_file_bytes;
  return p;
}

std::vector<std::string> build_env(const Context& c, const BuildArea& a, bool cache_writable) {
  std::vector<std::string> env = {"TMPDIR=" + (a.build / ".tmp").string()};
  if (c.ccache) {
    env.insert(env.end(), {"CCACHE_DIR=" + c.ccache_dir.string(), "CCACHE_BASEDIR=" + a.base.string(),
                           "CCACHE_NOHASHDIR=1", "CCACHE_TEMPDIR=" + (a.build / ".tmp").string()});
    // A submission's build reads the cache the handout filled and adds nothing to it: no
    // student's objects reach another student's build.
    if (!cache_writable) env.insert(env.end(), {"CCACHE_READONLY=1", "CCACHE_NOSTATS=1"});
  }
  return env;
}

// Prepares a build folder (Zydis' source, scratch folders) for `a`.
void prepare_build(const Context& c, const BuildArea& a) {
  std::error_code ec;
  fs::create_directories(a.build / ".tmp", ec);
  fs::create_directories(a.build / ".home", ec);
  if (c.have_zydis) {
    fs::create_directories(a.build / "_deps" / "zydis", ec);
    if (!c.sandbox->confined()) copy_tree(c.zydis, a.build / "_deps" / "zydis", true);
  }
  c.sandbox->hand_over(a.build);
}

std::vector<std::string> configure_argv(const Context& c, const BuildArea& a) {
  std::vector<std::string> argv = {"cmake", "-S", a.src.string(), "-B", a.build.string(), "-G", "Ninja",
                                   "-DCMAKE_BUILD_TYPE=RelWithDebInfo"};
  if (c.ccache) {
    argv.push_back("-DCMAKE_C_COMPILER_LAUNCHER=" + c.ccache->string());
    argv.push_back("-DCMAKE_CXX_COMPILER_LAUNCHER=" + c.ccache->string());
    // ccache hands the compiler paths relative to CCACHE_BASEDIR ("../src/lab04-vtx/x.cpp"),
    // so that builds share the cache; map them back for __FILE__ in panic messages.
    argv.push_back("-DCMAKE_C_FLAGS=-fmacro-prefix-map=../src/=");
    argv.push_back("-DCMAKE_CXX_FLAGS=-fmacro-prefix-map=../src/=");
  }
  return argv;
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

// Fills the compiler cache with the untouched handout's build, once per handout: the code
// every submission shares (common/, Zydis, the labs' untouched files) then compiles from
// the cache. A lock keeps graders started together (Slurm tasks) from doing it twice.
void warm_cache(const Context& c, const std::atomic<bool>& cancel) {
  if (!c.ccache) return;
  std::error_code ec;
  fs::create_directories(c.ccache_dir, ec);
  if (ec) throw SessionError(fmt::format("cannot create the compiler cache {}: {}", c.ccache_dir.string(), ec.message()));
  std::string labs;
  for (const auto& l : c.lab_names) labs += l + ",";
  const std::uint64_t h = tree_hash(c.handout, kNeverCopied) ^ std::hash<std::string>{}(labs);
  const fs::path stamp = c.ccache_dir / fmt::format(".hvlab-warm-{:016x}", h);
  if (fs::exists(stamp, ec)) return;
  const int lock = ::open((c.ccache_dir / ".hvlab-warm.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock >= 0) ::flock(lock, LOCK_EX);
  struct Unlock {
    int fd;
    ~Unlock() {
      if (fd >= 0) ::close(fd);
    }
  } unlock{lock};
  if (fs::exists(stamp, ec)) return;
  c.sandbox->hand_over(c.ccache_dir);

  c.say("filling the compiler cache with the handout's own build (once per handout) ...");
  const auto started = Clock::now();
  BuildArea a{c.work / ".warm", c.work / ".warm" / "src", c.work / ".warm" / "build"};
  remove_tree(a.base);
  copy_tree(c.handout, a.src, false, kNeverCopied);
  prepare_build(c, a);
  const SandboxPolicy policy = build_policy(c, a, true);
  const auto env = build_env(c, a, true);
  const double limit = std::max(600.0, c.o->limits.build_seconds);
  CmdResult r = run_cmd(configure_argv(c, a), env, limit, confined(c.sandbox, policy));
  std::vector<std::string> targets;
  for (const auto& lab : c.lab_names)
    if (c.monitor_of.count(lab)) targets.push_back(c.monitor_of.at(lab));
  if (r.ok && !cancel) {
    std::vector<std::string> argv = {"ninja", "-C", a.build.string(), "-j", std::to_string(std::max(1u, c.o->session.jobs))};
    argv.insert(argv.end(), targets.begin(), targets.end());
    r = run_cmd(argv, env, limit, confined(c.sandbox, policy));
  }
  remove_tree(a.base);
  if (cancel) return;
  if (!r.ok)
    throw SessionError(fmt::format("the untouched handout does not build with the instructor's rules ({}): {}", r.problem,
                                   first_error_line(compiler_message(r.output, a.src.string()))));
  std::ofstream(stamp) << "filled from " << c.handout.string() << "\n";
  c.say(fmt::format("compiler cache filled in {:.0f} s", std::chrono::duration<double>(Clock::now() - started).count()));
}

// Checks an archive's listing before anything is written: no special files, no member
// outside its folder, a bounded number of entries and size. Returns a problem, or "".
std::string check_listing(const Context& c, const fs::path& archive, ArchiveKind kind, const SandboxPolicy& policy) {
  const SubmissionLimits& lim = c.o->limits;
  CmdOptions opt = confined(c.sandbox, policy);
  opt.separate_errors = true;
  CmdResult l = kind == ArchiveKind::tar ? run_cmd({"tar", "-tvPf", archive.string()}, {}, 120, opt)
                                         : run_cmd({"unzip", "-Zl", archive.string()}, {}, 120, opt);
  if (!l.ok) return fmt::format("cannot read the archive: {}", l.errors.empty() ? l.problem : first_line(l.errors));
  std::uintmax_t total = 0;
  std::size_t entries = 0;
  std::istringstream in(l.output);
  for (std::string line; std::getline(in, line);) {
    // tar: "-rw-r--r-- user/group SIZE DATE TIME NAME"; unzip -Zl: "-rw-r--r-- 3.0 unx SIZE tx CSIZE defN DATE TIME NAME".
    if (line.size() < 11 || std::string_view("-dlhcbpsD").find(line[0]) == std::string_view::npos ||
        std::string_view("r-").find(line[1]) == std::string_view::npos)
      continue;
    if (++entries > lim.archive_entries) return fmt::format("the archive holds more than {} entries", lim.archive_entries);
    std::istringstream f(line);
    std::string mode, a, b, size;
    f >> mode >> a;
    if (kind == ArchiveKind::zip) f >> b;
    f >> size;
    std::string name = after_fields(line, kind == ArchiveKind::tar ? 5 : 9);
    const char type = line[0];
    if (type == 'l') name = name.substr(0, name.find(" -> "));
    if (type == 'h') name = name.substr(0, name.find(" link to "));
    if (type != '-' && type != 'd' && type != 'l' && type != 'h')
      return fmt::format("the archive holds a special file (a device, FIFO or socket): '{}'", name.substr(0, 120));
    if (escapes(name))
      return fmt::format("the archive holds a member outside its own folder: '{}' (absolute paths and '..' are refused)",
                         name.substr(0, 120));
    total += std::strtoull(size.c_str(), nullptr, 10);
  }
  if (total > lim.unpacked_bytes)
    return fmt::format("the archive unpacks to {}, more than the {} allowed", mib(total), mib(lim.unpacked_bytes));
  return {};
}

// Unpacks an archive into `dest`, confined, under the size limit whatever the listing said.
// Returns a problem, or "".
std::string unpack(const Context& c, const fs::path& archive, const fs::path& scratch, const fs::path& dest) {
  const SubmissionLimits& lim = c.o->limits;
  const ArchiveKind kind = archive_kind(archive);
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(archive, ec);
  if (ec) return fmt::format("cannot read the archive: {}", ec.message());
  if (size > lim.archive_bytes)
    return fmt::format("the archive is {}, more than the {} allowed", mib(size), mib(lim.archive_bytes));
  // The unpacker sees a copy of this one file, never the folder of everyone's submissions.
  const fs::path upload = scratch / "upload";
  fs::create_directories(upload, ec);
  const fs::path copy = upload / (kind == ArchiveKind::zip ? "submission.zip" : "submission.tar");
  if (!fs::copy_file(archive, copy, fs::copy_options::overwrite_existing, ec))
    return fmt::format("cannot copy the archive: {}", ec.message());
  fs::permissions(copy, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read, ec);
  fs::create_directories(dest, ec);
  c.sandbox->hand_over(dest);
  SandboxPolicy policy;
  policy.read_only = {upload};
  policy.read_write = {dest};
  policy.cwd = dest;
  policy.file_size = lim.unpacked_bytes;
  if (std::string p = check_listing(c, copy, kind, policy); !p.empty()) return p;
  // A listing can understate (a zip's directory is only a claim): watch what is written.
  auto watch = [&]() -> std::string {
    const std::uintmax_t now = tree_bytes(dest);
    if (now <= lim.unpacked_bytes) return {};
    return fmt::format("the archive unpacks to more than the {} allowed (stopped at {})", mib(lim.unpacked_bytes), mib(now));
  };
  CmdOptions opt = confined(c.sandbox, policy);
  opt.watch = watch;
  opt.separate_errors = true;
  CmdResult r;
  if (kind == ArchiveKind::tar) {
    // Never as their owner, never with their modes.
    r = run_cmd({"tar", "-xf", copy.string(), "-C", dest.string(), "--no-same-owner", "--no-same-permissions",
                 "--no-overwrite-dir"},
                {}, 300, opt);
  } else {
    opt.ok_status_max = 1;  // warnings
    r = run_cmd({"unzip", "-q", "-o", copy.string(), "-d", dest.string()}, {}, 300, opt);
  }
  if (r.limit) return r.problem;
  if (std::string w = watch(); !w.empty()) return w;
  if (!r.ok) {
    if (r.errors.find("File size limit exceeded") != std::string::npos || r.errors.find("File too large") != std::string::npos)
      return fmt::format("the archive holds a file larger than the {} allowed", mib(lim.unpacked_bytes));
    return fmt::format("cannot unpack the archive: {}: {}", r.problem, first_line(r.errors));
  }
  // Make what was unpacked readable and removable whatever modes the archive carried.
  for (auto it = fs::recursive_directory_iterator(dest, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto st = it->symlink_status(ec);
    if (fs::is_directory(st)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    else if (fs::is_regular_file(st)) fs::permissions(it->path(), fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add, ec);
  }
  return {};
}

struct LabBuild {
  std::string lab;
  std::string monitor;  // relative to the build folder
  bool ok = false;
  std::string message;  // the compiler's, for a failure
  std::string headline; // one line: the limit it passed, else the compiler's first error
};

// One submission, from unpacking to its results folder. Returns nothing when cancelled.
std::optional<SubmissionOutcome> grade_one(const Context& c, const fs::path& submission, const std::string& id,
                                           JobBudget& budget, const std::atomic<bool>& cancel) {
  const BatchOptions& o = *c.o;
  const auto started = Clock::now();
  std::error_code ec;
  SubmissionOutcome outcome;
  outcome.student = id;
  outcome.results_dir = c.out / id;
  const fs::path mine = c.work / id;
  remove_tree(mine);
  fs::create_directories(mine, ec);
  auto note = [&](const std::string& line) { c.say(fmt::format("{}: {}", id, line)); };
  const unsigned jobs = std::max(1u, o.session.jobs);

  json sub;
  sub["path"] = fs::absolute(submission).string();
  sub["fingerprint"] = fingerprint(submission);
  std::string error;     // the submission cannot be graded at all
  std::string build_log;
  std::string feedback;  // the top of the student's feedback
  std::vector<LabBuild> builds;
  std::map<std::string, std::string> lab_problems;  // lab -> why it is not graded (a linked folder)
  Overlay overlay;
  BuildArea area{mine, mine / "src", mine / "build"};

  try {
    // 1. The student's tree.
    fs::path unpacked = submission;
    if (fs::is_regular_file(submission, ec)) {
      note(fmt::format("unpacking {}", submission.filename().string()));
      unpacked = mine / "unpacked";
      error = unpack(c, submission, mine, unpacked);
    }
    std::optional<fs::path> root;
    if (error.empty()) {
      root = find_tree_root(unpacked, c.labs_in_tree);
      if (!root && fs::is_directory(unpacked, ec)) {
        // A folder holding one archive (an upload of `make handin`'s file).
        std::vector<fs::path> archives;
        for (const auto& e : fs::directory_iterator(unpacked, ec))
          if (fs::is_regular_file(e.symlink_status(ec)) && archive_kind(e.path()) != ArchiveKind::none)
            archives.push_back(e.path());
        if (archives.size() == 1) {
          note(fmt::format("unpacking {}", archives.front().filename().string()));
          const fs::path inner = mine / "unpacked-inner";
          error = unpack(c, archives.front(), mine / "inner", inner);
          if (error.empty()) root = find_tree_root(inner, c.labs_in_tree);
        }
      }
      if (error.empty() && !root) {
        std::string expected;
        for (const auto& l : c.labs_in_tree) expected += (expected.empty() ? "" : ", ") + l + "/";
        error = fmt::format("no hvlab tree in the submission: none of the lab folders ({}) was found", expected);
      }
    }

    // 2. A fresh copy of the handout with the student's sources in it.
    if (error.empty()) {
      sub["root"] = root->string();
      // A lab folder that is a link is never followed: say so, and grade that lab as missing.
      for (const auto& lab : c.lab_names) {
        const auto f = c.folder_of.find(lab);
        if (f == c.folder_of.end() || f->second.empty()) continue;
        const fs::path p = *root / f->second;
        if (fs::is_symlink(fs::symlink_status(p, ec)))
          lab_problems[lab] = fmt::format(
              "{}/ in your submission is a symbolic link (to {}), which the grader never follows: commit the folder "
              "itself",
              f->second, fs::read_symlink(p, ec).string());
      }
      copy_tree(c.handout, area.src, false, kNeverCopied);
      overlay = overlay_submission(*root, c.handout, area.src, c.labs_in_tree);
      note(fmt::format("{} source file(s) taken, {} other file(s) ignored", overlay.taken.size(), overlay.ignored_total));

      // 3. Configure and build the monitors with the instructor's rules, confined, under the
      // limits of time, memory and file size.
      const auto deadline =
          Clock::now() + std::chrono::milliseconds(static_cast<long long>(o.limits.build_seconds * 1000));
      auto left = [&] { return std::chrono::duration<double>(deadline - Clock::now()).count(); };
      prepare_build(c, area);
      const SandboxPolicy policy = build_policy(c, area, false);
      const auto env = build_env(c, area, false);
      const auto configure = configure_argv(c, area);
      note("configuring ...");
      CmdResult cr = run_cmd(configure, env, left(), confined(c.sandbox, policy));
      build_log += "$ " + fmt::format("{}", fmt::join(configure, " ")) + "\n" + cr.output + "\n";
      if (!cr.ok) {
        const std::string msg = compiler_message(cr.output, area.src.string());
        const std::string why = cr.timed_out
                                    ? fmt::format("the configure step did not finish within {:.0f} s", o.limits.build_seconds)
                                    : cr.problem;
        for (const auto& lab : c.lab_names)
          builds.push_back({lab, c.monitor_of.count(lab) ? c.monitor_of.at(lab) : "", false,
                            fmt::format("{}\n{}", why, msg), why});
      } else {
        for (const auto& lab : c.lab_names) {
          LabBuild b{lab, c.monitor_of.count(lab) ? c.monitor_of.at(lab) : "", false, "", ""};
          if (b.monitor.empty() || lab_problems.count(lab)) {  // nothing to build, or not graded
            b.ok = true;
            builds.push_back(b);
            continue;
          }
          if (cancel) return std::nullopt;
          if (left() <= 1) {
            b.message = fmt::format("the build did not finish within its time limit of {:.0f} s", o.limits.build_seconds);
            builds.push_back(b);
            continue;
          }
          note(fmt::format("building {} ...", b.monitor));
          const unsigned extra = budget.take_more(jobs - 1);
          std::vector<std::string> argv = {"ninja", "-C", area.build.string(), "-j", std::to_string(1 + extra), b.monitor};
          CmdResult r = run_cmd(argv, env, left(), confined(c.sandbox, policy));
          budget.give(extra);
          build_log += "$ " + fmt::format("{}", fmt::join(argv, " ")) + "\n" + r.output + "\n";
          b.ok = r.ok && fs::exists(area.build / b.monitor, ec);
          if (!b.ok) {
            const std::string why = r.timed_out
                                        ? fmt::format("the build did not finish within its time limit of {:.0f} s",
                                                      o.limits.build_seconds)
                                        : limit_reason(r.output, o.limits);
            b.message = compiler_message(r.output, area.src.string());
            if (!why.empty()) b.message = why + "\n" + b.message;
            if (b.message.empty()) b.message = r.problem;
            b.headline = why.empty() ? first_error_line(b.message) : why;
            note(fmt::format("{} did not build: {}", lab, why.empty() ? first_error_line(b.message) : why));
          }
          builds.push_back(b);
        }
      }
    }
  } catch (const std::exception& e) {
    error = fmt::format("the grader could not prepare the submission: {}", e.what());
  }
  if (cancel) return std::nullopt;

  // 4. Grade: every lab that built boots (confined); the others score 0 with the reason.
  SessionOptions so = o.session;
  so.build_dir = area.build;
  so.rubric_dir = o.rubric_dir;
  so.labs = c.lab_names;
  so.guest_dir = c.instructor_build / "autograder" / "guests";
  so.calibration_kernel = calibration_kernel_path(c.instructor_build);
  so.preset_calibration = c.calibration;
  so.keep_logs = o.session.keep_logs.empty() ? fs::path() : o.session.keep_logs / id;
  if (o.session.progress) so.progress = [&](const std::string& l) { o.session.progress(id + ": " + l); };
  for (const auto& b : builds)
    if (!b.ok) so.build_failures[b.lab] = "build failed: " + (b.headline.empty() ? first_error_line(b.message) : b.headline);
  for (const auto& [lab, why] : lab_problems) so.build_failures[lab] = why;
  if (!error.empty() || builds.empty())
    for (const auto& lab : c.lab_names) so.build_failures[lab] = error.empty() ? "not built" : error;
  if (!error.empty()) note(error);

  so.jobs = jobs;
  so.try_take_core = [&budget] { return budget.take_more(1) == 1; };
  so.give_core = [&budget] { budget.give(1); };
  SessionResult result;
  try {
    result = run_session(so, c.boot, cancel);
  } catch (const std::exception& e) {
    throw SessionError(fmt::format("{}: {}", id, e.what()));
  }
  if (result.cancelled || cancel) return std::nullopt;

  // 5. Results: report.json, results.json (Gradescope), report.txt, build.log, written in a
  // folder of their own and then put in place, report.json being what a rerun looks for.
  const bool build_failed = std::any_of(builds.begin(), builds.end(), [](const LabBuild& b) { return !b.ok; });
  outcome.status = !error.empty() ? "error" : (build_failed || !lab_problems.empty()) ? "build_failed" : "graded";
  outcome.score = result.score();
  outcome.max_score = result.max_score();

  if (error.empty()) {
    feedback += fmt::format(
        "Graded in a fresh copy of the handout, with the instructor's build rules: {} source file(s) were taken "
        "from your lab folders.\n",
        overlay.taken.size());
    for (const auto& [lab, why] : lab_problems) feedback += fmt::format("{}: {}\n", lab, why);
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
  feedback = clean_text(feedback);

  outcome.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  sub["status"] = outcome.status;
  sub["error"] = error.empty() ? json(nullptr) : json(clean_text(error));
  sub["taken"] = overlay.taken;
  sub["ignored"] = json::array();
  for (const auto& f : overlay.ignored) sub["ignored"].push_back({{"path", clean_text(f.path)}, {"why", f.why}});
  sub["ignored_total"] = overlay.ignored_total;
  sub["builds"] = json::array();
  for (const auto& b : builds)
    sub["builds"].push_back({{"lab", b.lab}, {"monitor", b.monitor}, {"ok", b.ok}, {"message", clean_text(b.message)}});
  sub["seconds"] = outcome.seconds;
  sub["sandbox"] = c.sandbox->describe();

  json report = to_json(result);
  report["student"] = id;
  report["submission"] = sub;
  json gs = to_gradescope(result);
  gs["output"] = clean_text(feedback + "\n" + gs.value("output", ""));
  gs["execution_time"] = static_cast<long long>(outcome.seconds + 0.5);
  const fs::path staging = c.out / fmt::format(".{}.partial", id);
  remove_tree(staging);
  try {
    fs::create_directories(staging);
    write_text_file(staging / "results.json", dump_json(gs) + "\n");
    write_text_file(staging / "build.log", clean_text(build_log));
    if (std::FILE* f = std::fopen((staging / "report.txt").c_str(), "w")) {
      std::fputs(feedback.c_str(), f);
      print_report(f, result, TableStyle{});
      std::fclose(f);
    }
    write_text_file(staging / "report.json", dump_json(report) + "\n");
    remove_tree(outcome.results_dir);
    fs::rename(staging, outcome.results_dir);
    if (!o.gradescope_file.empty()) write_text_file(o.gradescope_file, dump_json(gs) + "\n");
  } catch (const std::exception& e) {
    throw SessionError(e.what());
  }
  if (!o.keep_work) remove_tree(mine);
  return outcome;
}

// The results of an earlier run, if they are this submission's and were graded the same way.
std::optional<SubmissionOutcome> kept_results(const Context& c, const fs::path& submission, const std::string& id) {
  const fs::path dir = c.out / id;
  std::error_code ec;
  if (!fs::is_regular_file(dir / "report.json", ec)) return std::nullopt;
  json r;
  try {
    r = json::parse(read_text(dir / "report.json"));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!r.contains("submission") || r["submission"].value("fingerprint", "") != fingerprint(submission)) return std::nullopt;
  std::set<std::string> graded;
  for (const auto& l : r.value("labs", json::array()))
    if (l.value("status", "") != "not_selected") graded.insert(l.value("lab", ""));
  if (graded != std::set<std::string>(c.lab_names.begin(), c.lab_names.end())) return std::nullopt;
  SubmissionOutcome oc;
  oc.student = id;
  oc.score = r.value("score", 0.0);
  oc.max_score = r.value("max_score", 0.0);
  oc.status = r["submission"].value("status", "graded");
  oc.results_dir = dir;
  oc.kept = true;
  return oc;
}

std::string duration_text(double seconds) {
  if (seconds < 90) return fmt::format("{:.0f} s", seconds);
  if (seconds < 5400) return fmt::format("{:.0f} min", seconds / 60);
  return fmt::format("{:.0f} h {:02.0f} min", std::floor(seconds / 3600), std::fmod(seconds, 3600) / 60);
}

}  // namespace

void JobBudget::take() {
  while (true) {
    unsigned n = free_.load();
    if (n > 0 && free_.compare_exchange_weak(n, n - 1)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

unsigned JobBudget::take_more(unsigned max) {
  unsigned n = free_.load();
  while (true) {
    const unsigned k = std::min(n, max);
    if (k == 0) return 0;
    if (free_.compare_exchange_weak(n, n - k)) return k;
  }
}

void JobBudget::give(unsigned n) { free_ += n; }

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
  std::mutex say_mutex;
  auto say = [&](const std::string& line) {
    if (!o.progress) return;
    std::lock_guard lock(say_mutex);
    o.progress(line);
  };
  Sandbox no_sandbox;
  Context c;
  c.o = &o;
  c.say = say;
  c.sandbox = o.sandbox ? o.sandbox : &no_sandbox;
  c.boot = [&](runner::BootSpec spec) {
    if (c.sandbox->confined()) spec.sandbox = c.sandbox;
    return boot(spec);
  };
  std::error_code ec;
  c.out = fs::absolute(o.out_dir);
  // Everything this run writes as scratch is in a folder of its own, so that nothing else
  // in --work-dir is ever removed.
  const fs::path work_root = fs::absolute(o.work_dir.empty() ? c.out / ".work" : o.work_dir);
  c.work = work_root / fmt::format("hvlab-grade-{}", ::getpid());
  fs::create_directories(c.out, ec);
  fs::create_directories(c.work, ec);
  if (ec) throw SessionError(fmt::format("cannot create {}: {}", c.work.string(), ec.message()));
  struct Cleanup {
    const BatchOptions& o;
    fs::path work, root;
    ~Cleanup() {
      if (o.keep_work) return;
      remove_tree(work);
      std::error_code ignore;
      fs::remove(root, ignore);  // only if empty
    }
  } cleanup{o, c.work, work_root};

  for (const char* tool : {"cmake", "ninja", "tar"})
    if (!proc::find_program(tool))
      throw SessionError(fmt::format("{} is not installed: batch grading needs it (make deps installs it)", tool));
  c.instructor_build = fs::absolute(o.instructor_build);
  c.handout = fs::absolute(prepare_handout(o, c.work, say));
  c.labs_in_tree = lab_folders(c.handout);

  // Every rubric loads before anyone is graded: a broken one is the instructor's problem,
  // never a silent gap in the gradebook.
  for (const auto& name : list_rubrics(o.rubric_dir)) {
    Rubric rb;
    try {
      rb = load_rubric(rubric_file(o.rubric_dir, name));
    } catch (const RubricError& e) {
      throw SessionError(fmt::format("a rubric does not load, so nobody was graded: {}", e.what()));
    }
    c.folder_of[name] = rb.folder;
    if (rb.monitor) c.monitor_of[name] = *rb.monitor;
  }
  c.lab_names = o.labs;
  if (c.lab_names.empty())
    for (const auto& [name, monitor] : c.monitor_of) c.lab_names.push_back(name);
  for (const auto& lab : c.lab_names)
    if (!c.folder_of.count(lab))
      throw SessionError(fmt::format("unknown lab '{}': there is no {}", lab, (o.rubric_dir / (lab + ".toml")).string()));
  std::sort(c.lab_names.begin(), c.lab_names.end(), [](const std::string& a, const std::string& b) { return natural_less(a, b); });
  if (c.lab_names.empty()) throw SessionError(fmt::format("no lab rubrics with a monitor in {}", o.rubric_dir.string()));

  c.zydis = c.instructor_build / "_deps" / "zydis";
  c.have_zydis = fs::exists(c.zydis / "src", ec);
  if (o.use_ccache) c.ccache = proc::find_program("ccache");
  c.ccache_dir = fs::absolute(o.ccache_dir.empty() ? c.instructor_build / "_ccache" : o.ccache_dir);
  if (!c.ccache) say("ccache is not installed: every submission is compiled from scratch (make deps installs it)");
  say(fmt::format("sandbox for the submissions' steps: {}", c.sandbox->describe()));

  // Student ids, each once, in the order of the list; earlier results kept unless regrading.
  std::vector<std::string> ids;
  std::set<std::string> taken_ids;
  for (const auto& s : o.submissions) {
    std::string id = student_id(s);
    for (int n = 2; taken_ids.count(id); ++n) id = fmt::format("{}-{}", student_id(s), n);
    taken_ids.insert(id);
    ids.push_back(id);
  }
  std::vector<std::optional<SubmissionOutcome>> results(o.submissions.size());
  std::vector<std::size_t> queue;
  for (std::size_t i = 0; i < o.submissions.size(); ++i) {
    if (!o.regrade) results[i] = kept_results(c, o.submissions[i], ids[i]);
    if (!results[i]) queue.push_back(i);
  }
  if (queue.size() < o.submissions.size())
    say(fmt::format("{} submission(s) already have results from an earlier run and are kept (--regrade grades them again)",
                    o.submissions.size() - queue.size()));

  if (!queue.empty()) {
    warm_cache(c, cancel);
    // Calibrate once, before the load of grading, and pass the figures to every session.
    std::set<Emulator> used;
    for (const auto& lab : c.lab_names) {
      const Rubric rb = load_rubric(rubric_file(o.rubric_dir, lab));
      for (Emulator e : o.session.emulators)
        if (rb.runs_on(e)) used.insert(e);
    }
    SessionOptions cal = o.session;
    cal.calibration_kernel = calibration_kernel_path(c.instructor_build);
    cal.progress = say;
    for (Emulator e : used) {
      Calibration k = calibrate_emulator(e, cal, c.boot, cancel);
      if (k.attempted && k.usable) c.calibration.push_back(k);
    }
  }

  // Grade: a worker per core of the budget, each taking the next submission.
  const unsigned jobs = std::max(1u, o.session.jobs);
  JobBudget budget(jobs);
  std::atomic<std::size_t> next{0}, running{0}, done{0};
  std::mutex error_mutex;
  std::optional<SessionError> failure;
  const auto started = Clock::now();
  auto report_progress = [&](const SubmissionOutcome& oc) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    const std::size_t d = done, r = running, left = queue.size() - d;
    const double rate = elapsed > 0 ? 60.0 * static_cast<double>(d) / elapsed : 0;
    say(fmt::format("[{}/{} done, {} running, {} queued] {}: {:g}/{:g} ({}) in {:.0f} s; {:.1f} submission(s)/min{}",
                    d, queue.size(), r, left > r ? left - r : 0, oc.student, oc.score, oc.max_score, oc.status, oc.seconds,
                    rate, left && rate > 0 ? fmt::format(", about {} left", duration_text(60.0 * static_cast<double>(left) / rate)) : ""));
  };
  auto worker = [&] {
    while (!cancel) {
      {
        std::lock_guard lock(error_mutex);
        if (failure) return;
      }
      const std::size_t k = next++;
      if (k >= queue.size()) return;
      const std::size_t i = queue[k];
      budget.take();
      ++running;
      try {
        results[i] = grade_one(c, o.submissions[i], ids[i], budget, cancel);
      } catch (const SessionError& e) {
        std::lock_guard lock(error_mutex);
        if (!failure) failure = e;
      }
      --running;
      budget.give(1);
      if (results[i]) {
        ++done;
        std::lock_guard lock(error_mutex);
        report_progress(*results[i]);
      }
    }
  };
  {
    std::vector<std::jthread> pool;
    const std::size_t n = std::min<std::size_t>(jobs, queue.size());
    for (std::size_t w = 0; w < n; ++w) pool.emplace_back(worker);
  }
  if (failure) throw *failure;

  std::vector<SubmissionOutcome> outcomes;
  for (auto& r : results)
    if (r) outcomes.push_back(*r);
  if (cancel) {
    say(fmt::format("interrupted: {} submission(s) have their results in {}; run the same command again to grade the "
                    "other {}",
                    outcomes.size(), c.out.string(), o.submissions.size() - outcomes.size()));
  } else if (!queue.empty()) {
    const double wall = std::chrono::duration<double>(Clock::now() - started).count();
    say(fmt::format("{} submission(s) graded in {} with -j {} ({:.2f} submissions per core-minute)", done.load(),
                    duration_text(wall), jobs, wall > 0 ? static_cast<double>(done) / (wall / 60.0) / jobs : 0));
  }
  if (o.write_gradebook && !cancel) {
    std::vector<json> reports;
    for (const auto& oc : outcomes) reports.push_back(json::parse(read_text(oc.results_dir / "report.json")));
    write_text_file(c.out / "gradebook.csv", gradebook_csv(reports));
  }
  if (o.keep_work) say(fmt::format("work trees kept in {}", c.work.string()));
  return outcomes;
}

}  // namespace hvlab::grader::batch
