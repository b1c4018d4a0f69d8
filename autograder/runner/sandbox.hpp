#pragma once
// The sandbox every step of a student's submission runs in when it is graded: unpacking its
// archive, configuring and building it, booting its monitor. Such a step sees the toolchain
// (/usr, read-only), the folders its policy names and nothing else: no reference tree, no
// rubrics, no other submission, no home folder, no network. It runs as an unprivileged user
// (a grader running as root drops to the user `hvlab-sandbox`, made if it is missing) under
// resource limits.
//
// Modes:
//   bwrap  bubblewrap (Debian's package): new user, mount, PID, IPC, UTS and network
//          namespaces, /usr read-only, a private /dev, /proc and a bounded /tmp.
//   user   root only, when namespaces cannot be made (a container without them): the
//          unprivileged user and the limits, no namespaces; the files the submission must
//          not read are protected by their permissions alone.
//   none   nothing: only when the instructor asks for it.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "autograder/runner/process.hpp"

namespace hvlab::runner {

enum class SandboxMode { bwrap, user, none };
const char* sandbox_mode_name(SandboxMode m);
std::optional<SandboxMode> sandbox_mode_from_name(std::string_view name);

/// What one confined command may see and use.
struct SandboxPolicy {
  std::vector<std::filesystem::path> read_only;   ///< folders or files, at the same path inside
  std::vector<std::filesystem::path> read_write;  ///< folders, at the same path inside
  /// (host folder, path inside), read-only: a folder shown at another place.
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> read_only_at;
  std::filesystem::path cwd;           ///< the working folder inside (must be bound)
  std::vector<std::string> env;        ///< NAME=VALUE on top of PATH, HOME, TMPDIR, LC_ALL=C
  std::filesystem::path home;          ///< HOME inside; default: /tmp
  bool dpkg_database = false;          ///< /var/lib/dpkg read-only (dpkg-query in a build)
  std::uint64_t address_space = 0;     ///< RLIMIT_AS per process, bytes; 0: none
  std::uint64_t file_size = 0;         ///< RLIMIT_FSIZE per file written, bytes; 0: none
  std::uint64_t tmp_size = 64u << 20;  ///< the size of the private /tmp (bwrap)
};

class Sandbox {
 public:
  /// No confinement (SandboxMode::none).
  Sandbox() = default;

  /// Makes a sandbox of `mode` and checks, once, that it works by running /bin/true in it.
  /// On failure, the reason in one line ("bwrap: setting up uid map: Permission denied").
  /// `user` names the unprivileged user a root grader drops to (created when missing).
  static Sandbox make(SandboxMode mode, std::string* problem, const std::string& user = "hvlab-sandbox");

  /// Whether make()'s `problem` is the machine refusing the namespaces bwrap asks for (a
  /// container or chroot without user namespaces), rather than a missing package or a fault
  /// of the kit's own: only then may a test of the sandbox be skipped.
  static bool refused_by_machine(const std::string& problem);

  SandboxMode mode() const { return mode_; }
  bool confined() const { return mode_ != SandboxMode::none; }
  /// "bubblewrap 0.8.0 as user hvlab-sandbox (uid 999)", "no sandbox".
  std::string describe() const;
  /// The uid commands run as, when it differs from ours (a root grader).
  std::optional<unsigned> uid() const { return uid_; }

  /// `cmd` (program, argv, env, cwd) confined by `policy`. Without a sandbox it is returned
  /// with the policy's limits only.
  detail::Command wrap(const detail::Command& cmd, const SandboxPolicy& policy) const;

  /// Gives `dir` and everything in it to the sandbox's user (a root grader: the folders a
  /// confined command writes). Nothing happens when commands run as ourselves.
  void hand_over(const std::filesystem::path& dir) const;

 private:
  SandboxMode mode_ = SandboxMode::none;
  std::filesystem::path bwrap_;
  std::string version_;
  std::string user_;
  std::optional<unsigned> uid_, gid_;
};

}  // namespace hvlab::runner
