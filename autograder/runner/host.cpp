// boot() for Emulator::host: a Linux program that is the machine itself (a hosted VMM). It
// gets the same channels, limits and exit-marker rules as an emulator (boot.hpp).

#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "autograder/runner/boot.hpp"
#include "autograder/runner/image.hpp"
#include "autograder/runner/process.hpp"

namespace hvlab::runner::detail {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;

constexpr std::size_t kLogKeep = 64 * 1024;

void write_text(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

std::string last_line(std::string_view text) {
  std::string t = tail_lines(text, 1, 300);
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return printable(t);
}

}  // namespace

BootResult boot_host(const BootSpec& spec) {
  const auto start = steady_clock::now();
  BootResult r;
  auto finish = [&](Outcome o, std::string reason) {
    r.outcome = o;
    r.reason = std::move(reason);
    r.elapsed = duration_cast<milliseconds>(steady_clock::now() - start);
    return r;
  };
  std::error_code ec;
  if (!fs::is_regular_file(spec.kernel, ec) || ::access(spec.kernel.c_str(), X_OK) != 0)
    return finish(Outcome::launch_failed, fmt::format("{} is not an executable program", spec.kernel.string()));
  for (const auto& m : spec.modules)
    if (auto why = check_module(m.path)) return finish(Outcome::launch_failed, *why);
  if (spec.gdb_port) return finish(Outcome::launch_failed, "--gdb is for QEMU; a hosted VMM has its own (--gdb PORT)");

  // A work directory of its own, as the emulators have.
  fs::path dir = spec.workdir;
  bool remove = false;
  if (dir.empty()) {
    std::string templ = (fs::temp_directory_path(ec) / "hvlab-host-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr)
      return finish(Outcome::launch_failed, fmt::format("cannot create a work directory: {}", std::strerror(errno)));
    dir = templ;
    remove = !spec.keep_workdir;
  } else {
    fs::create_directories(dir, ec);
  }
  struct Cleanup {
    fs::path dir;
    bool remove;
    ~Cleanup() {
      std::error_code e;
      if (remove) fs::remove_all(dir, e);
    }
  } cleanup{dir, remove};
  if (!remove) r.workdir = dir;

  Command cmd;
  cmd.program = fs::absolute(spec.kernel, ec);
  cmd.cwd = dir;
  cmd.argv = {cmd.program.string(), "--com1", "/dev/fd/3", "--com2", "/dev/fd/4", "--debugcon", "/dev/fd/5", "--"};
  for (const std::string& w : {spec.cmdline})
    for (std::size_t p = 0; p < w.size();) {
      const std::size_t b = w.find_first_not_of(" \t", p);
      if (b == std::string::npos) break;
      const std::size_t e = w.find_first_of(" \t", b);
      cmd.argv.push_back(w.substr(b, e == std::string::npos ? std::string::npos : e - b));
      p = e == std::string::npos ? w.size() : e;
    }
  for (const auto& m : spec.modules) {
    cmd.argv.push_back(fs::absolute(m.path, ec).string());
    const std::string args = normalize_words(m.cmdline);
    for (std::size_t p = 0; p < args.size();) {
      const std::size_t e = args.find(' ', p);
      cmd.argv.push_back(args.substr(p, e == std::string::npos ? std::string::npos : e - p));
      p = e == std::string::npos ? args.size() : e + 1;
    }
  }
  r.command = cmd.argv;

  auto guest = [&](std::string name, std::vector<int> fds) {
    Channel ch;
    ch.name = std::move(name);
    ch.child_fds = std::move(fds);
    ch.keep = spec.output_limit;
    if (!spec.interactive) ch.flood_limit = spec.output_limit;
    return ch;
  };
  std::vector<Channel> channels;
  channels.push_back(guest("COM1", {3}));
  channels.push_back(guest("COM2", {4}));
  channels.push_back(guest("the debug console (port 0xE9)", {2, 5}));
  Channel log;
  log.name = "the program's output";
  log.child_fds = {1};
  log.keep = kLogKeep;
  log.keep_tail = true;
  channels.push_back(std::move(log));
  if (spec.interactive) channels[0].echo_fd = STDOUT_FILENO;
  auto marker = std::make_shared<MarkerScanner>();
  channels[2].observe = [marker](std::string_view s) { marker->feed(s); };
  {
    auto seen = std::make_shared<std::string>();
    channels[0].observe = [seen, &r, start](std::string_view chunk) {
      if (r.first_ktap_line) return;
      seen->append(chunk);
      if (seen->find("KTAP version") != std::string::npos)
        r.first_ktap_line = duration_cast<milliseconds>(steady_clock::now() - start);
      else if (seen->size() > 4096)
        seen->erase(0, seen->size() - 16);
    };
  }
  Limits limits;
  limits.timeout = spec.timeout;
  limits.finished = [marker] { return marker->last().has_value(); };
  const RunResult run = detail::run(cmd, channels, limits);

  r.emulator_pid = run.pid;
  r.emulator_exit_code = run.exit_code;
  r.emulator_signal = run.signal;
  r.com1 = std::move(channels[0].data);
  r.com2 = std::move(channels[1].data);
  r.debugcon = std::move(channels[2].data);
  for (std::size_t i = 0; i < 3; ++i) r.output_truncated |= channels[i].total > channels[i].keep;
  r.emulator_log = fmt::format("host: {}\n", describe_exit(run)) + tail_lines(channels[3].data, 30, 4096);
  if (!r.workdir.empty()) {
    write_text(dir / "com1.txt", r.com1);
    write_text(dir / "com2.txt", r.com2);
    write_text(dir / "debugcon.txt", r.debugcon);
    write_text(dir / "emulator.log", r.emulator_log);
    write_text(dir / "command.txt", shell_join(r.command) + "\n");
  }
  if (run.end == End::spawn_failed) return finish(Outcome::launch_failed, run.error);

  std::optional<int> status = marker->last(true);
  if (!status) status = find_exit_marker(r.debugcon);
  if (status) {
    r.exit_status = *status;
    std::string reason = *status ? fmt::format("the kernel exited with status {}", *status) : "";
    if (run.exit_code && *run.exit_code != (*status & 0xff))
      reason += fmt::format("{}note: the program's exit status was {}", reason.empty() ? "" : "; ", *run.exit_code);
    return finish(Outcome::exited, reason);
  }
  const std::string said = last_line(r.debugcon);
  const std::string hint = said.empty() ? "" : "; its last message: \"" + said + "\"";
  switch (run.end) {
    case End::timeout:
      return finish(Outcome::timeout, fmt::format("no exit marker within the time limit of {:.1f} s: the guest or "
                                                  "the VMM hung{}",
                                                  duration<double>(spec.timeout).count(), hint));
    case End::flood:
      return finish(Outcome::output_flood,
                    fmt::format("{} passed the output limit of {} bytes: an endless print loop?", run.flood_channel,
                                spec.output_limit));
    default: break;
  }
  if (run.exit_code == 77)
    return finish(Outcome::launch_failed, "the program cannot run on this machine" + hint);
  return finish(Outcome::crashed, fmt::format("the program ended ({}) without the exit marker{}", describe_exit(run), hint));
}

}  // namespace hvlab::runner::detail
