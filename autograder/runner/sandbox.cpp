// The sandbox for a submission's steps: bubblewrap's namespaces, an unprivileged user and
// resource limits around a detail::Command (sandbox.hpp says what each mode gives).

#include "autograder/runner/sandbox.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

namespace hvlab::runner {
namespace {

namespace fs = std::filesystem;
using detail::Channel;
using detail::Command;

// Where a root grader stages the folders a sandbox binds, inside the private mount namespace
// of the bwrap process only (see Command::stage_paths).
constexpr const char* kStageDir = "/tmp";

std::string first_line(std::string_view text) {
  while (!text.empty() && (text.front() == '\n' || text.front() == ' ')) text.remove_prefix(1);
  const std::size_t nl = text.find('\n');
  std::string line(text.substr(0, nl));
  if (line.size() > 200) line = line.substr(0, 197) + "...";
  return line;
}

// Runs a short command of ours and returns (ok, its output).
std::pair<bool, std::string> run_quick(const Command& cmd, std::chrono::milliseconds timeout) {
  std::vector<Channel> ch(1);
  ch[0].name = "output";
  ch[0].child_fds = {1, 2};
  ch[0].keep = 16 * 1024;
  detail::Limits limits;
  limits.timeout = timeout;
  const detail::RunResult r = detail::run(cmd, ch, limits);
  if (r.end == detail::End::spawn_failed) return {false, r.error};
  const bool ok = r.end == detail::End::exited && r.exit_code == 0;
  if (!ok && ch[0].data.empty()) return {false, detail::describe_exit(r)};
  return {ok, ch[0].data};
}

// The unprivileged user of a root grader, made when it is missing (a system user with no
// home and no login shell).
std::optional<std::pair<unsigned, unsigned>> sandbox_user(const std::string& name, std::string* problem) {
  auto lookup = [&]() -> std::optional<std::pair<unsigned, unsigned>> {
    if (const passwd* pw = ::getpwnam(name.c_str())) return std::make_pair(pw->pw_uid, pw->pw_gid);
    return std::nullopt;
  };
  if (auto ids = lookup()) return ids;
  auto useradd = detail::find_program("useradd");
  if (!useradd) useradd = detail::find_program("/usr/sbin/useradd");
  if (!useradd) {
    *problem = fmt::format("the user '{}' does not exist and useradd is missing to make it", name);
    return std::nullopt;
  }
  Command cmd;
  cmd.program = *useradd;
  cmd.argv = {"useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
              "--shell", "/usr/sbin/nologin", "--comment", "hvlab grading sandbox", name};
  auto [ok, out] = run_quick(cmd, std::chrono::seconds(30));
  if (auto ids = lookup()) return ids;  // made now, or by a grader running beside us
  *problem = fmt::format("cannot make the unprivileged user '{}': {}", name, first_line(out));
  return std::nullopt;
}

// Whether `uid`/`gid` may search every folder from / down to `path` (and `path` itself):
// what an unprivileged bwrap needs to bind it.
bool reachable(const fs::path& path, unsigned uid, unsigned gid) {
  fs::path at = "/";
  auto searchable = [&](const fs::path& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return false;
    const mode_t bit = st.st_uid == uid ? S_IXUSR : st.st_gid == gid ? S_IXGRP : S_IXOTH;
    return (st.st_mode & bit) != 0;
  };
  if (!searchable(at)) return false;
  for (const auto& part : fs::absolute(path).lexically_normal().relative_path()) {
    at /= part;
    if (!searchable(at)) return false;
  }
  return true;
}

bool is_link(const fs::path& p) {
  std::error_code ec;
  return fs::is_symlink(fs::symlink_status(p, ec));
}

}  // namespace

const char* sandbox_mode_name(SandboxMode m) {
  switch (m) {
    case SandboxMode::bwrap: return "bwrap";
    case SandboxMode::user: return "user";
    case SandboxMode::none: return "none";
  }
  return "?";
}

std::optional<SandboxMode> sandbox_mode_from_name(std::string_view name) {
  if (name == "bwrap") return SandboxMode::bwrap;
  if (name == "user") return SandboxMode::user;
  if (name == "none") return SandboxMode::none;
  return std::nullopt;
}

Sandbox Sandbox::make(SandboxMode mode, std::string* problem, const std::string& user) {
  Sandbox s;
  problem->clear();
  if (mode == SandboxMode::none) return s;
  s.user_ = user;
  if (::geteuid() == 0) {
    auto ids = sandbox_user(user, problem);
    if (!ids) return Sandbox();
    s.uid_ = ids->first;
    s.gid_ = ids->second;
  } else if (mode == SandboxMode::user) {
    *problem = "the 'user' sandbox drops root to an unprivileged user, and the grader is not root";
    return Sandbox();
  }
  if (mode == SandboxMode::bwrap) {
    auto bwrap = detail::find_program("bwrap");
    if (!bwrap) {
      *problem = "bwrap is not installed (make deps installs bubblewrap)";
      return Sandbox();
    }
    s.bwrap_ = *bwrap;
    Command v;
    v.program = *bwrap;
    v.argv = {"bwrap", "--version"};
    auto [ok, out] = run_quick(v, std::chrono::seconds(10));
    s.version_ = ok ? first_line(out) : "bwrap";
  }
  s.mode_ = mode;
  // Check once that a command runs in it at all.
  Command probe;
  probe.program = "/bin/true";
  probe.argv = {"true"};
  SandboxPolicy policy;
  policy.cwd = "/";
  auto [ok, out] = run_quick(s.wrap(probe, policy), std::chrono::seconds(30));
  if (!ok) {
    *problem = fmt::format("{} does not work here: {}", mode == SandboxMode::bwrap ? s.version_ : "the user sandbox",
                           first_line(out));
    return Sandbox();
  }
  return s;
}

bool Sandbox::refused_by_machine(const std::string& problem) {
  // bwrap's own words when clone() or unshare() of a namespace, or the uid map, is refused.
  if (problem.find("does not work here") == std::string::npos) return false;
  for (const char* words : {"new namespace", "uid map", "No permissions to create"})
    if (problem.find(words) != std::string::npos) return true;
  return false;
}

std::string Sandbox::describe() const {
  std::string who = uid_ ? fmt::format(" as user {} (uid {})", user_, *uid_) : std::string(" as ourselves");
  switch (mode_) {
    case SandboxMode::bwrap: return fmt::format("{}: namespaces, no network{}", version_, who);
    case SandboxMode::user: return fmt::format("an unprivileged user without namespaces{}", who);
    case SandboxMode::none: return "no sandbox";
  }
  return "?";
}

Command Sandbox::wrap(const Command& cmd, const SandboxPolicy& policy) const {
  Command out = cmd;
  out.rlimits.emplace_back(RLIMIT_CORE, 0);
  if (policy.address_space) out.rlimits.emplace_back(RLIMIT_AS, policy.address_space);
  if (policy.file_size) out.rlimits.emplace_back(RLIMIT_FSIZE, policy.file_size);
  if (mode_ == SandboxMode::none) {
    out.env.insert(out.env.begin(), policy.env.begin(), policy.env.end());
    if (!policy.cwd.empty()) out.cwd = policy.cwd;
    return out;
  }

  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "TMPDIR=/tmp", "LC_ALL=C", "LANG=C",
                                  "HOME=" + (policy.home.empty() ? std::string("/tmp") : policy.home.string())};
  env.insert(env.end(), policy.env.begin(), policy.env.end());
  env.insert(env.end(), cmd.env.begin(), cmd.env.end());
  out.uid = uid_;
  out.gid = gid_;
  if (mode_ == SandboxMode::user) {
    out.clear_env = true;
    out.env = env;
    if (!policy.cwd.empty()) out.cwd = policy.cwd;
    return out;
  }

  // bubblewrap. A root grader's process is in its own mount namespace where the folders to
  // bind are staged at /tmp/<n>, so that the unprivileged bwrap can reach them.
  std::vector<std::string> a = {"bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--hostname", "sandbox",
                                "--ro-bind", "/usr", "/usr"};
  for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    std::error_code ec;
    if (!fs::exists(top, ec)) continue;
    if (is_link(top)) {
      a.insert(a.end(), {"--symlink", fs::read_symlink(top, ec).string(), top});
    } else {
      a.insert(a.end(), {"--ro-bind", top, top});
    }
  }
  // Only what the toolchain needs of /etc: the dynamic linker's cache and the alternatives
  // (cc, c++) point into it.
  for (const char* etc : {"/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                          "/etc/mtools.conf"})
    a.insert(a.end(), {"--ro-bind-try", etc, etc});
  if (policy.dpkg_database) a.insert(a.end(), {"--ro-bind", "/var/lib/dpkg", "/var/lib/dpkg"});
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--size", std::to_string(policy.tmp_size), "--tmpfs", "/tmp"});
  // QEMU keeps a snapshot=on disk's overlay in /var/tmp whatever TMPDIR says.
  a.insert(a.end(), {"--size", std::to_string(policy.tmp_size), "--tmpfs", "/var/tmp"});
  // A folder the unprivileged user cannot reach is staged (this needs a root that may make
  // mount namespaces, which a container without CAP_SYS_ADMIN is not).
  auto source = [&](const fs::path& p) -> std::string {
    std::error_code ec;
    if (!uid_ || !gid_ || !fs::is_directory(p, ec) || reachable(p, *uid_, *gid_)) return p.string();
    out.stage_paths.push_back(p);
    out.stage_dir = kStageDir;
    return detail::staged_path(kStageDir, out.stage_paths.size() - 1).string();
  };
  for (const auto& p : policy.read_write) a.insert(a.end(), {"--bind", source(p), p.string()});
  for (const auto& p : policy.read_only) a.insert(a.end(), {"--ro-bind", source(p), p.string()});
  for (const auto& [from, at] : policy.read_only_at) a.insert(a.end(), {"--ro-bind", source(from), at.string()});
  fs::path cwd = policy.cwd.empty() ? cmd.cwd : policy.cwd;
  if (cwd.empty()) cwd = "/";
  a.insert(a.end(), {"--chdir", cwd.string(), "--clearenv"});
  for (const auto& e : env) {
    const std::size_t eq = e.find('=');
    a.insert(a.end(), {"--setenv", e.substr(0, eq), eq == std::string::npos ? "" : e.substr(eq + 1)});
  }
  a.push_back("--");
  a.push_back(cmd.program.string());
  a.insert(a.end(), cmd.argv.begin() + (cmd.argv.empty() ? 0 : 1), cmd.argv.end());
  out.program = bwrap_;
  out.argv = std::move(a);
  out.env.clear();
  out.clear_env = true;
  out.env = {"PATH=/usr/bin:/bin"};
  out.cwd = "/";
  return out;
}

void Sandbox::hand_over(const fs::path& dir) const {
  if (!uid_ || !gid_) return;
  std::error_code ec;
  ::lchown(dir.c_str(), *uid_, *gid_);
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    ::lchown(it->path().c_str(), *uid_, *gid_);
}

}  // namespace hvlab::runner
