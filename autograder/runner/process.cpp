// Child processes for the runner: fork/exec into a new process group, pipes read with poll,
// deadlines, and a lock-free table of live process groups for kill_registered().

#include "autograder/runner/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

extern char** environ;

namespace hvlab::runner::detail {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Process groups started by run() and not yet reaped. A fixed table of atomics rather than
// a container behind a mutex, so that kill_registered() can run inside a signal handler.
constexpr std::size_t kSlots = 256;
std::array<std::atomic<pid_t>, kSlots> g_slots{};

int register_child(pid_t pid) {
  for (std::size_t i = 0; i < kSlots; ++i) {
    pid_t expected = 0;
    if (g_slots[i].compare_exchange_strong(expected, pid)) return static_cast<int>(i);
  }
  return -1;
}

void unregister_child(int slot) {
  if (slot >= 0) g_slots[static_cast<std::size_t>(slot)].store(0);
}

// The child is the leader of its own group; members it may have started share the group.
void signal_group(pid_t pid, int sig) {
  ::kill(-pid, sig);
  ::kill(pid, sig);  // in case the child has not reached its setpgid yet
}

bool has_exited(pid_t pid) {
  siginfo_t si;
  std::memset(&si, 0, sizeof si);
  // WNOWAIT: leave the zombie in place, so its pid cannot be reused while it is registered.
  if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == ECHILD;
  }
  return si.si_pid == pid;
}

void wait_exited(pid_t pid) {
  siginfo_t si;
  while (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd = o.fd;
      o.fd = -1;
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // a closed terminal must not stop the run
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void append(Channel& ch, const char* p, std::size_t n) {
  ch.total += n;
  if (ch.echo_fd >= 0) write_all(ch.echo_fd, p, n);
  if (ch.observe) ch.observe(std::string_view(p, n));
  if (!ch.keep_tail) {
    if (ch.data.size() < ch.keep) ch.data.append(p, std::min(n, ch.keep - ch.data.size()));
    return;
  }
  ch.data.append(p, n);
  if (ch.data.size() > 2 * ch.keep) ch.data.erase(0, ch.data.size() - ch.keep);
}

std::string errno_text(int e) { return std::strerror(e); }

// What the child was doing when it gave up, reported with errno through the error pipe.
enum ChildStep : int { kStepExec = 0, kStepChdir, kStepMountNs, kStepStage, kStepLimit, kStepUser };

const char* child_step_text(int step) {
  switch (step) {
    case kStepChdir: return "cannot enter its working directory";
    case kStepMountNs: return "cannot make a private mount namespace (root is needed)";
    case kStepStage: return "cannot bind the sandbox's folders";
    case kStepLimit: return "cannot set a resource limit";
    case kStepUser: return "cannot switch to the unprivileged user";
    default: return "cannot run it";
  }
}

// The child and every process below it (a sandbox runs the real program as its grandchild),
// found through the parent pid field of /proc/N/stat.
std::vector<pid_t> self_and_descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> parent_of;  // (pid, ppid)
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      char path[300];
      std::snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
      FILE* f = std::fopen(path, "r");
      if (f == nullptr) continue;
      char buf[512];
      const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
      std::fclose(f);
      buf[n] = '\0';
      // "pid (comm) state ppid ...": comm may hold blanks and parentheses; the last ')' ends it.
      const char* close = std::strrchr(buf, ')');
      if (close == nullptr) continue;
      char state = 0;
      int ppid = 0;
      if (std::sscanf(close + 1, " %c %d", &state, &ppid) == 2)
        parent_of.emplace_back(static_cast<pid_t>(std::atoi(e->d_name)), static_cast<pid_t>(ppid));
    }
    ::closedir(d);
  }
  std::vector<pid_t> out = {root};
  for (std::size_t i = 0; i < out.size() && out.size() < 64; ++i)
    for (auto [p, pp] : parent_of)
      if (pp == out[i]) out.push_back(p);
  return out;
}

// The slave side of a pseudo-terminal the child (or a process below it) opened itself on
// /dev/ptmx, opened here for reading, raw and non-blocking, or -1 if there is none (yet).
// The master is copied with pidfd_getfd (a parent and root may: it needs the right to
// ptrace the process) and its peer opened with TIOCGPTPEER, which works across the mount
// namespace of a sandbox with its own /dev/pts; failing that, the tty index from
// /proc/PID/fdinfo names the slave in our /dev/pts.
int open_child_pty_slave(pid_t pid) {
  for (pid_t p : self_and_descendants(pid)) {
    const std::string proc = "/proc/" + std::to_string(p);
    DIR* d = ::opendir((proc + "/fd").c_str());
    if (d == nullptr) continue;
    int master = -1;
    while (dirent* e = ::readdir(d)) {
      char link[64];
      const std::string path = proc + "/fd/" + e->d_name;
      ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
      if (n <= 0) continue;
      link[n] = '\0';
      if (std::strcmp(link, "/dev/ptmx") == 0 || std::strcmp(link, "/dev/pts/ptmx") == 0) {
        master = std::atoi(e->d_name);
        break;
      }
    }
    ::closedir(d);
    if (master < 0) continue;
    int fd = -1;
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, p, 0));
    if (pidfd >= 0) {
      const int copy = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, master, 0));
      ::close(pidfd);
      if (copy >= 0) {
        fd = ::ioctl(copy, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        ::close(copy);  // the file description is shared: never change its flags
      }
    }
    if (fd < 0) {
      int index = -1;
      if (FILE* f = std::fopen((proc + "/fdinfo/" + std::to_string(master)).c_str(), "r")) {
        char line[128];
        while (std::fgets(line, sizeof line, f) != nullptr)
          if (std::strncmp(line, "tty-index:", 10) == 0) index = std::atoi(line + 10);
        std::fclose(f);
      }
      if (index < 0) return -1;
      fd = ::open(("/dev/pts/" + std::to_string(index)).c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) return -1;
    }
    // Raw: no line discipline holding bytes back for a newline, no echo back to the child.
    termios t;
    if (::tcgetattr(fd, &t) == 0) {
      ::cfmakeraw(&t);
      ::tcsetattr(fd, TCSANOW, &t);
    }
    return fd;
  }
  return -1;
}

// A pseudo-terminal pair for a terminal channel: p[0] the master (ours), p[1] the slave
// (the child's), raw so that bytes pass unchanged both ways and nothing is echoed back.
bool open_raw_pty(int p[2]) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return false;
  char name[64];
  if (::grantpt(master) != 0 || ::unlockpt(master) != 0 || ::ptsname_r(master, name, sizeof name) != 0) {
    ::close(master);
    return false;
  }
  const int slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    ::close(master);
    return false;
  }
  termios t;
  if (::tcgetattr(slave, &t) == 0) {
    ::cfmakeraw(&t);
    ::tcsetattr(slave, TCSANOW, &t);
  }
  p[0] = master;
  p[1] = slave;
  return true;
}

}  // namespace

std::filesystem::path staged_path(const std::filesystem::path& stage_dir, std::size_t index) {
  return stage_dir / std::to_string(index);
}

std::optional<std::filesystem::path> find_program(const std::string& name) {
  auto runnable = [](const std::filesystem::path& p) {
    std::error_code ec;
    return std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (!runnable(name)) return std::nullopt;
    return std::filesystem::absolute(name);
  }
  const char* env = std::getenv("PATH");
  std::string path = env != nullptr && *env != '\0' ? env : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::filesystem::path candidate = std::filesystem::path(dir) / name;
    if (runnable(candidate)) return std::filesystem::absolute(candidate);
    start = end + 1;
  }
  return std::nullopt;
}

void kill_registered() noexcept {
  for (auto& slot : g_slots) {
    pid_t pid = slot.load();
    if (pid > 0) signal_group(pid, SIGKILL);
  }
}

std::size_t registered_count() noexcept {
  std::size_t n = 0;
  for (auto& slot : g_slots) n += slot.load() > 0 ? 1 : 0;
  return n;
}

std::string describe_exit(const RunResult& r) {
  if (r.exit_code) return "exit status " + std::to_string(*r.exit_code);
  if (r.signal) {
    const char* name = ::strsignal(*r.signal);
    return "signal " + std::to_string(*r.signal) + " (" + (name != nullptr ? name : "?") + ")";
  }
  return "no exit status";
}

RunResult run(const Command& cmd, std::vector<Channel>& channels, const Limits& limits) {
  RunResult result;
  const auto start = Clock::now();

  // Everything the child needs is prepared before fork(): after it, in a multithreaded
  // process, the child may only make async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = cmd.clear_env ? nullptr : environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& o : cmd.env) {
      if (std::string_view(o).substr(0, o.find('=')) == name) overridden = true;
    }
    if (!overridden) env_strings.emplace_back(entry);
  }
  for (const auto& o : cmd.env) env_strings.push_back(o);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = cmd.argv;
  if (argv_strings.empty()) argv_strings.push_back(cmd.program.string());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::string program = cmd.program.string();
  const std::string cwd = cmd.cwd.string();
  std::vector<std::pair<int, rlimit>> limits_to_set;
  for (auto [resource, value] : cmd.rlimits) {
    rlimit rl{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
    limits_to_set.emplace_back(resource, rl);
  }
  // Staging: in the child's own mount namespace each folder is opened (O_PATH: a folder the
  // caller may not list still opens) and bound from /proc/self/fd/N onto stage_dir/<index>.
  std::vector<std::string> stage_paths, stage_targets;
  const std::string stage_dir = cmd.stage_dir.string();
  for (std::size_t i = 0; i < cmd.stage_paths.size(); ++i) {
    stage_paths.push_back(cmd.stage_paths[i].string());
    stage_targets.push_back(staged_path(cmd.stage_dir, i).string());
  }
  std::vector<int> stage_fds(stage_paths.size(), -1);
  char fd_path[32];
  const bool staging = !stage_targets.empty() && !stage_dir.empty();
  const bool set_uid = cmd.uid.has_value(), set_gid = cmd.gid.has_value();
  const uid_t new_uid = set_uid ? static_cast<uid_t>(*cmd.uid) : 0;
  const gid_t new_gid = set_gid ? static_cast<gid_t>(*cmd.gid) : 0;

  Fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (devnull.fd < 0) {
    result.error = "cannot open /dev/null: " + errno_text(errno);
    return result;
  }
  std::vector<Fd> read_ends, write_ends;
  // (source fd in the parent, target fd in the child)
  std::vector<std::pair<int, int>> plan;
  Fd stdin_read, stdin_write;  // see Command::forward_stdin
  if (cmd.forward_stdin) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      result.error = "cannot create a pipe: " + errno_text(errno);
      return result;
    }
    stdin_read = Fd(p[0]);
    stdin_write = Fd(p[1]);
    plan.emplace_back(stdin_read.fd, 0);
  } else {
    plan.emplace_back(devnull.fd, 0);
  }
  for (auto& ch : channels) {
    int p[2];
    if (ch.terminal) {
      if (!open_raw_pty(p)) {
        result.error = "cannot create a pseudo-terminal: " + errno_text(errno);
        return result;
      }
    } else if (::pipe2(p, O_CLOEXEC) != 0) {
      result.error = "cannot create a pipe: " + errno_text(errno);
      return result;
    }
    read_ends.emplace_back(p[0]);
    write_ends.emplace_back(p[1]);
    // A child that reopens its end by name (QEMU's file:/dev/fd/3) as another user needs
    // the pipe to be its own.
    if (cmd.uid && ::fchown(p[1], static_cast<uid_t>(*cmd.uid), cmd.gid ? static_cast<gid_t>(*cmd.gid) : -1) != 0) {
      result.error = "cannot give a pipe to the sandbox's user: " + errno_text(errno);
      return result;
    }
    ::fcntl(p[0], F_SETFL, ::fcntl(p[0], F_GETFL) | O_NONBLOCK);
    for (int target : ch.child_fds) plan.emplace_back(p[1], target);
  }
  int max_target = 2;
  for (auto [src, dst] : plan) max_target = std::max(max_target, dst);
  for (int target : {1, 2}) {
    bool taken = false;
    for (auto [src, dst] : plan) taken = taken || dst == target;
    if (!taken) plan.emplace_back(devnull.fd, target);
  }
  std::vector<bool> is_target(static_cast<std::size_t>(max_target) + 1, false);
  for (auto [src, dst] : plan) is_target[static_cast<std::size_t>(dst)] = true;

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.error = "cannot create a pipe: " + errno_text(errno);
    return result;
  }
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) {
    result.error = "fork failed: " + errno_text(errno);
    return result;
  }
  if (pid == 0) {
    // The child: async-signal-safe calls only.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) ::signal(sig, SIG_DFL);
    int step = kStepExec;
    int e = 0;
    auto give_up = [&](int at) {
      step = at;
      e = errno;
    };
    if (staging) {
      if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        give_up(kStepMountNs);
      } else {
        // Opened before the tmpfs covers stage_dir: a folder may lie under it.
        for (std::size_t i = 0; i < stage_paths.size() && e == 0; ++i)
          if ((stage_fds[i] = ::open(stage_paths[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) give_up(kStepStage);
        if (e == 0 && ::mount("hvlab-stage", stage_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") != 0)
          give_up(kStepStage);
        for (std::size_t i = 0; i < stage_targets.size() && e == 0; ++i) {
          // "/proc/self/fd/N" without snprintf (not async-signal-safe).
          char digits[12];
          int n = 0;
          for (unsigned v = static_cast<unsigned>(stage_fds[i]); n == 0 || v; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
          const char prefix[] = "/proc/self/fd/";
          std::size_t k = 0;
          for (; prefix[k]; ++k) fd_path[k] = prefix[k];
          while (n) fd_path[k++] = digits[--n];
          fd_path[k] = '\0';
          if (::mkdir(stage_targets[i].c_str(), 0755) != 0 ||
              ::mount(fd_path, stage_targets[i].c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
            give_up(kStepStage);
        }
      }
    }
    for (std::size_t i = 0; i < limits_to_set.size() && e == 0; ++i)
      if (::setrlimit(limits_to_set[i].first, &limits_to_set[i].second) != 0) give_up(kStepLimit);
    if (e == 0 && set_gid && (::setgroups(0, nullptr) != 0 || ::setgid(new_gid) != 0)) give_up(kStepUser);
    if (e == 0 && set_uid && ::setuid(new_uid) != 0) give_up(kStepUser);
    // The parent died meanwhile (or a setuid reset the death signal): do not run orphaned.
    if (set_uid) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    // Move every source out of the way of the targets first, then place them.
    for (auto& [src, dst] : plan) src = ::fcntl(src, F_DUPFD_CLOEXEC, 64);
    const int report = ::fcntl(err_write.fd, F_DUPFD_CLOEXEC, 64);
    for (auto& [src, dst] : plan) ::dup2(src, dst);
    // The error pipe goes just above the targets; everything else we inherited is closed.
    const int report_fd = max_target + 1;
    ::dup3(report, report_fd, O_CLOEXEC);
    for (int fd = 3; fd <= max_target; ++fd) {
      if (!is_target[static_cast<std::size_t>(fd)]) ::close(fd);
    }
    ::syscall(SYS_close_range, static_cast<unsigned>(report_fd + 1), ~0u, 0u);
    if (e == 0) {
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
        give_up(kStepChdir);
      } else {
        ::execve(program.c_str(), argv.data(), envp.data());
        give_up(kStepExec);
      }
    }
    const int failure[2] = {step, e};
    ssize_t ignored = ::write(report_fd, failure, sizeof failure);
    (void)ignored;
    ::_exit(127);
  }

  ::setpgid(pid, pid);  // also done in the child: whichever runs first
  result.pid = pid;
  const int slot = register_child(pid);
  write_ends.clear();
  err_write.reset();
  devnull.reset();
  stdin_read.reset();

  auto reap = [&](RunResult& r) {
    signal_group(pid, SIGKILL);  // anything the child left in its group
    unregister_child(slot);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    r.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  };

  if (slot < 0) {
    signal_group(pid, SIGKILL);
    wait_exited(pid);
    reap(result);
    result.end = End::spawn_failed;
    result.error = "too many emulators running at once";
    return result;
  }

  // The error pipe closes with no data when the exec succeeds; otherwise it holds the step
  // that failed and errno.
  {
    int report[2] = {0, 0};
    ssize_t got;
    while ((got = ::read(err_read.fd, report, sizeof report)) < 0 && errno == EINTR) {
    }
    if (got == static_cast<ssize_t>(sizeof report)) {
      wait_exited(pid);
      reap(result);
      result.end = End::spawn_failed;
      result.error = report[0] == kStepExec ? "cannot run " + program + ": " + errno_text(report[1])
                                            : std::string(child_step_text(report[0])) + " for " + program + ": " +
                                                  errno_text(report[1]);
      return result;
    }
  }

  const auto deadline = start + limits.timeout;
  std::optional<Clock::time_point> finish_deadline;
  Fd pty;  // see Command::drain_own_pty
  bool pty_wanted = cmd.drain_own_pty;
  const auto pty_search_end = start + milliseconds(20000);
  bool child_gone = false;
  bool flooded = false;
  std::vector<char> buf(64 * 1024);

  // Terminal channels take input: what their `input` holds, and what their forward_fd gives.
  std::vector<int> forward(channels.size(), -1);
  for (std::size_t i = 0; i < channels.size(); ++i) {
    if (channels[i].terminal) forward[i] = channels[i].forward_fd;
  }
  constexpr std::size_t kForwardBase = 1u << 20;  // `which` tags for forward_fd entries
  std::vector<Clock::time_point> next_input(channels.size(), start);  // input_pace

  // Reads what is available on each open channel and writes what is queued for it; returns
  // false on a flood.
  auto pump = [&](int timeout_ms) -> bool {
    std::vector<pollfd> fds;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < channels.size(); ++i) {
      if (read_ends[i].fd >= 0) {
        const bool out = channels[i].terminal && channels[i].input && !channels[i].input->empty() &&
                         Clock::now() >= next_input[i];
        fds.push_back({read_ends[i].fd, static_cast<short>(POLLIN | (out ? POLLOUT : 0)), 0});
        which.push_back(i);
      }
      if (forward[i] >= 0) {
        fds.push_back({forward[i], POLLIN, 0});
        which.push_back(kForwardBase + i);
      }
    }
    if (pty_wanted && pty.fd < 0) {
      pty = Fd(open_child_pty_slave(pid));
      if (pty.fd >= 0 || Clock::now() > pty_search_end) pty_wanted = false;
    }
    if (pty.fd >= 0) {
      fds.push_back({pty.fd, POLLIN, 0});
      which.push_back(channels.size());
    }
    if (stdin_write.fd >= 0) {
      fds.push_back({STDIN_FILENO, POLLIN, 0});
      which.push_back(channels.size() + 1);
    }
    if (fds.empty()) {
      if (timeout_ms > 0) std::this_thread::sleep_for(milliseconds(timeout_ms));
      return true;
    }
    for (std::size_t i = 0; i < channels.size(); ++i) {
      if (channels[i].input && !channels[i].input->empty() && channels[i].input_pace.count() > 0)
        timeout_ms = std::min<int>(timeout_ms, static_cast<int>(channels[i].input_pace.count()));
    }
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n <= 0) return true;
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      std::size_t i = which[k];
      if (i == channels.size() + 1) {  // our stdin, for the child's
        ssize_t got = ::read(STDIN_FILENO, buf.data(), buf.size());
        if (got > 0) {
          if (::write(stdin_write.fd, buf.data(), static_cast<std::size_t>(got)) < 0) stdin_write.reset();
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
          stdin_write.reset();
        }
        continue;
      }
      if (i == channels.size()) {  // the child's own terminal: discarded
        ssize_t got = ::read(pty.fd, buf.data(), buf.size());
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) pty.reset();
        continue;
      }
      if (i >= kForwardBase) {  // our own input, for the child's terminal
        Channel& to = channels[i - kForwardBase];
        ssize_t got = ::read(forward[i - kForwardBase], buf.data(), buf.size());
        if (got > 0) {
          if (!to.input) to.input = std::make_shared<std::string>();
          to.input->append(buf.data(), static_cast<std::size_t>(got));
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
          forward[i - kForwardBase] = -1;
        }
        continue;
      }
      Channel& ch = channels[i];
      if ((fds[k].revents & POLLOUT) && ch.input && !ch.input->empty()) {
        const std::size_t n = ch.input_pace.count() > 0 ? 1 : ch.input->size();
        ssize_t put = ::write(read_ends[i].fd, ch.input->data(), n);
        if (put > 0) ch.input->erase(0, static_cast<std::size_t>(put));
        next_input[i] = Clock::now() + ch.input_pace;
      }
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::read(read_ends[i].fd, buf.data(), buf.size());
      if (got > 0) {
        append(ch, buf.data(), static_cast<std::size_t>(got));
        if (ch.flood_limit && ch.total > *ch.flood_limit) {
          result.flood_channel = ch.name;
          return false;
        }
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        read_ends[i].reset();  // EOF
      }
    }
    return true;
  };

  auto next_watch = start + milliseconds(100);
  while (true) {
    if (limits.watch && Clock::now() >= next_watch) {
      next_watch = Clock::now() + milliseconds(100);
      if (std::string why = limits.watch(); !why.empty()) {
        result.end = End::limit;
        result.error = std::move(why);
        break;
      }
    }
    if (has_exited(pid)) {
      child_gone = true;
      result.end = End::exited;
      break;
    }
    auto now = Clock::now();
    if (now >= deadline) {
      result.end = End::timeout;
      break;
    }
    if (finish_deadline && now >= *finish_deadline) {
      result.end = End::finished;
      break;
    }
    auto until = finish_deadline ? std::min(deadline, *finish_deadline) : deadline;
    auto wait = std::chrono::duration_cast<milliseconds>(until - now).count() + 1;
    if (!pump(static_cast<int>(std::min<long long>(wait, 20)))) {
      flooded = true;
      result.end = End::flood;
      break;
    }
    if (!finish_deadline && limits.finished && limits.finished()) {
      finish_deadline = Clock::now() + limits.finish_grace;
    }
  }

  if (!child_gone) {
    if (result.end == End::timeout) {
      // Ask politely (QEMU flushes its files), then insist. Bochs ignores SIGTERM.
      signal_group(pid, SIGTERM);
      auto give_up = Clock::now() + limits.term_grace;
      while (!has_exited(pid) && Clock::now() < give_up) {
        pump(10);
      }
    }
    signal_group(pid, SIGKILL);
    wait_exited(pid);
  }
  signal_group(pid, SIGKILL);  // the group's other members, if any

  // What the child wrote before it stopped is still in the pipes.
  if (!flooded) {
    auto give_up = Clock::now() + milliseconds(500);
    while (Clock::now() < give_up) {
      bool open = false;
      for (auto& r : read_ends) open = open || r.fd >= 0;
      if (!open) break;
      pump(20);
    }
  }
  for (auto& ch : channels) {
    if (ch.keep_tail && ch.data.size() > ch.keep) ch.data.erase(0, ch.data.size() - ch.keep);
  }
  read_ends.clear();
  reap(result);
  return result;
}

}  // namespace hvlab::runner::detail
