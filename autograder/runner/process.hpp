#pragma once
// Internal to the runner: start a program in its own process group with its output on pipes,
// read those pipes with bounded buffers until it stops or a limit is hit, and make sure
// nothing of it is left running. POSIX and Linux only.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hvlab::runner::detail {

/// One pipe from the child to us. The child sees its write end as each of `child_fds`.
struct Channel {
  std::string name;                        ///< for messages: "COM1", "stderr"
  std::vector<int> child_fds;              ///< 1 = stdout, 2 = stderr, 3.. passed as /dev/fd/N
  std::size_t keep = 1 << 20;              ///< bytes kept in `data`
  bool keep_tail = false;                  ///< keep the last `keep` bytes instead of the first
  std::optional<std::size_t> flood_limit;  ///< more than this many bytes stops the run
  int echo_fd = -1;                        ///< copy every byte here as it arrives (interactive)
  std::function<void(std::string_view)> observe;  ///< sees every chunk, in order
  /// The child's end is the slave of a pseudo-terminal in raw mode instead of a pipe's write
  /// end, so the child can read from it too (a serial port the emulator also takes input on).
  bool terminal = false;
  /// Terminal channels: bytes waiting to be written to the child; anyone may append (an
  /// `observe` callback answering a prompt). Written as the terminal takes them.
  std::shared_ptr<std::string> input;
  /// Terminal channels: bytes read from this descriptor of ours (our stdin, for a person at
  /// the keyboard) are queued for the child as they arrive; -1 for none. At its end of file
  /// forwarding stops.
  int forward_fd = -1;
  /// Terminal channels: at most one byte of input per this interval (0: as fast as the
  /// terminal takes them). A typist's pace, for a child whose serial port drops what arrives
  /// while its receive FIFO is full (Bochs) instead of holding it back (QEMU).
  std::chrono::milliseconds input_pace{0};

  // Filled in by run().
  std::string data;
  std::size_t total = 0;  ///< bytes the child wrote, kept or not
};

struct Command {
  std::filesystem::path program;  ///< absolute path (see find_program)
  std::vector<std::string> argv;  ///< argv[0] included
  std::vector<std::string> env;   ///< "NAME=VALUE" set on top of our environment
  bool clear_env = false;         ///< start from an empty environment instead of ours
  std::filesystem::path cwd;      ///< empty: ours
  /// Read and discard what the child writes to a pseudo-terminal it opens itself (on
  /// /dev/ptmx). Bochs' term display draws on one that nobody reads; once its buffer is full
  /// Bochs blocks for good. We open the slave side, found through /proc/PID/fdinfo.
  bool drain_own_pty = false;
  /// The child's stdin is a pipe we fill from our own stdin (Bochs' debugger at a terminal:
  /// the child runs in a process group of its own, which may not read the terminal itself).
  /// Our stdin's end closes the pipe.
  bool forward_stdin = false;

  // Confinement, applied in the child between fork and exec (see sandbox.hpp).
  /// Resource limits (RLIMIT_AS, RLIMIT_FSIZE, ...) as (resource, bytes or count).
  std::vector<std::pair<int, std::uint64_t>> rlimits;
  /// Run as this user and group, without supplementary groups (a root grader drops to an
  /// unprivileged user before running anything of a submission).
  std::optional<unsigned> uid;
  std::optional<unsigned> gid;
  /// Root only: a private mount namespace in which a tmpfs covers `stage_dir` and each of
  /// `stage_paths` (folders) is bound at `stage_dir/<its index>`, so that a program running as
  /// `uid` reaches folders whose parents it may not traverse (a work folder under /root).
  std::vector<std::filesystem::path> stage_paths;
  std::filesystem::path stage_dir;
};

struct Limits {
  std::chrono::milliseconds timeout{10000};
  /// After SIGTERM at the deadline, how long to wait before SIGKILL.
  std::chrono::milliseconds term_grace{200};
  /// Checked after every chunk of output: once it returns true the child gets
  /// `finish_grace` to stop by itself, then is killed (the run still counts as finished).
  std::function<bool()> finished;
  std::chrono::milliseconds finish_grace{1000};
  /// Polled about every 100 ms while the child runs: a non-empty answer stops it (End::limit,
  /// with the answer as RunResult::error), e.g. the bytes an unpacker has written so far.
  std::function<std::string()> watch;
};

enum class End {
  exited,        ///< the child stopped by itself: see status / signal
  timeout,       ///< killed at the deadline
  flood,         ///< killed: `flood_channel` passed its flood_limit
  finished,      ///< killed after Limits::finished said the work was done
  limit,         ///< killed: Limits::watch reported a limit passed (see error)
  spawn_failed,  ///< could not start: see error
};

struct RunResult {
  End end = End::spawn_failed;
  std::optional<int> exit_code;  ///< when the child exited normally
  std::optional<int> signal;     ///< when a signal ended it (ours included)
  std::string flood_channel;
  std::string error;
  std::chrono::milliseconds elapsed{0};
  int pid = 0;  ///< the child (and its process group), reaped by now
};

/// Runs `cmd` with stdin from /dev/null, in a new process group, with each channel on its
/// own pipe; child fds not named by a channel (1 and 2 included) go to /dev/null. Returns
/// when the child and every process of its group are gone.
RunResult run(const Command& cmd, std::vector<Channel>& channels, const Limits& limits);

/// `stage_dir/<index>`: where Command::stage_paths[index] is reachable in the child.
std::filesystem::path staged_path(const std::filesystem::path& stage_dir, std::size_t index);

/// The absolute path of `name` (searched in PATH unless it contains a '/'), if executable.
std::optional<std::filesystem::path> find_program(const std::string& name);

/// Sends SIGKILL to every process group started by run() that is still registered.
/// Async-signal-safe: it reads a fixed table of atomics and calls kill().
void kill_registered() noexcept;

/// How many children run() has started and not yet reaped (for tests).
std::size_t registered_count() noexcept;

/// "exit status 3", "signal 9 (Killed)".
std::string describe_exit(const RunResult& r);

}  // namespace hvlab::runner::detail
