// hvlab-boot: boot one kernel under QEMU or Bochs and say what happened. Used by the boot
// tests and by `make run`. Exits 0 iff the kernel wrote the exit marker with the expected
// status and COM1 holds every expected substring.

#include <fmt/format.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>

#include "autograder/runner/boot.hpp"
#include "autograder/runner/sandbox.hpp"
#include "autograder/runner/image.hpp"

namespace {

namespace runner = hvlab::runner;

volatile sig_atomic_t g_interrupted = 0;

// The terminal's settings before an interactive run, put back however the run ends.
struct termios g_saved_tty;
volatile sig_atomic_t g_tty_changed = 0;

void restore_terminal() {
  if (g_tty_changed) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_tty);
  g_tty_changed = 0;
}

// Keys go to the guest as they are typed (it echoes them itself); Ctrl-C still stops the run.
void keys_to_the_guest() {
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &g_saved_tty) != 0) return;
  struct termios t = g_saved_tty;
  t.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) g_tty_changed = 1;
}

void on_signal(int sig) {
  g_interrupted = sig;
  runner::kill_all_children();
  restore_terminal();
}

void print_section(std::string_view title, std::string_view text) {
  if (text.empty()) return;
  std::string shown = hvlab::runner::detail::tail_lines(text, 60, 8192);
  fmt::print("--- {}{} ---\n{}", title, shown.size() < text.size() ? " (last lines)" : "",
             hvlab::runner::detail::printable(shown));
  if (shown.back() != '\n') fmt::print("\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Boot a multiboot1 kernel under QEMU or Bochs, with a time limit, and report "
      "how it stopped (the kernel writes \"hvlab-exit: N\" to port 0xE9)."};
  app.name("hvlab-boot");
  std::string emu = "qemu";
  std::string kernel;
  std::vector<std::string> modules;
  std::string cmdline;
  double timeout_s = 10.0;
  int expect_status = 0;
  std::vector<std::string> expect_com1;
  bool icount = false, interactive = false, keep_workdir = false, verbose = false;
  unsigned memory = 64;
  std::size_t output_limit = 1 << 20;
  std::string workdir;
  std::optional<unsigned> gdb_port;
  std::string bochs_debugger;
  std::string sandbox_mode = "none";
  std::vector<std::string> type_pairs;
  std::string until, disk;

  app.add_option("--emu", emu, "Emulator")
      ->check(CLI::IsMember({"qemu", "bochs", "host"}))
      ->capture_default_str();
  app.add_option("--kernel", kernel, "Multiboot1 ELF to boot (with --emu host: the hosted VMM program)")->required();
  app.add_option("--module", modules,
                 "Multiboot module, PATH or PATH=ARGS (the kernel sees \"boot/NAME ARGS\")");
  app.add_option("--cmdline", cmdline,
                 "Kernel command line (the kernel sees \"boot/kernel.elf CMDLINE\")");
  app.add_option("--timeout", timeout_s, "Time limit in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--expect-status", expect_status, "Exit status the kernel must report")
      ->capture_default_str();
  app.add_option("--expect-com1", expect_com1, "Text COM1 must contain (repeatable)");
  app.add_flag("--icount", icount, "QEMU: -icount shift=0,sleep=off (deterministic time)");
  app.add_flag("--interactive", interactive, "Show COM1 on the terminal as it arrives");
  app.add_flag("--keep-workdir", keep_workdir, "Keep the work directory (command, ISO, captures)");
  app.add_option("--workdir", workdir, "Work directory to use (kept)");
  app.add_option("--memory", memory, "Guest memory in MiB")->capture_default_str();
  app.add_option("--output-limit", output_limit,
                 "Bytes per channel before the run counts as a flood")
      ->capture_default_str();
  app.add_option("--gdb", gdb_port, "QEMU: wait for GDB on 127.0.0.1:PORT");
  app.add_option("--bochs-debugger", bochs_debugger,
                 "Bochs: run its debugger's commands from FILE (then, with --interactive, from stdin)")
      ->check(CLI::ExistingFile);
  app.add_flag("-v,--verbose", verbose, "Print the captured output even when the run passes");
  app.add_option("--sandbox", sandbox_mode, "Run the emulator confined: bwrap, user (root only) or none")
      ->check(CLI::IsMember({"bwrap", "user", "none"}))
      ->capture_default_str();

  app.add_option("--type", type_pairs,
                 "EXPECT INPUT: once COM1 shows EXPECT (after the previous --type's), type INPUT on COM1 "
                 "(C escapes: \\n \\r \\t \\\\ \\xNN); repeatable, in order")
      ->type_size(2)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--until", until,
                 "After the typing, stop the run once COM1 shows this text; the run then counts as "
                 "exited with status 0 (for kernels that never stop by themselves)");
  bool vga = false;
  app.add_flag("--vga", vga, "QEMU: a VGA card, as a PC has (xv6 needs its text display)");
  app.add_option("--disk", disk, "Raw disk image for the IDE primary slave (read-only; default: the kit's test disk)")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);

  runner::BootSpec spec;
  spec.emu = *runner::emulator_from_name(emu);
  spec.kernel = kernel;
  spec.cmdline = cmdline;
  for (const auto& m : modules) {
    auto eq = m.find('=');
    spec.modules.push_back({m.substr(0, eq), eq == std::string::npos ? "" : m.substr(eq + 1)});
  }
  spec.timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000.0));
  spec.icount = icount;
  spec.interactive = interactive;
  spec.keep_workdir = keep_workdir;
  spec.workdir = workdir;
  spec.memory_mib = memory;
  spec.output_limit = output_limit;
  spec.gdb_port = gdb_port;
  if (!bochs_debugger.empty()) {
    std::FILE* f = std::fopen(bochs_debugger.c_str(), "r");
    if (f) {
      char chunk[4096];
      for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) spec.bochs_commands.append(chunk, n);
      std::fclose(f);
    }
    if (spec.bochs_commands.empty()) {
      fmt::print(stderr, "hvlab-boot: {} holds no debugger commands\n", bochs_debugger);
      return 2;
    }
  }
  const bool debugging = gdb_port || !spec.bochs_commands.empty();
  std::string sandbox_problem;
  const runner::Sandbox sandbox =
      runner::Sandbox::make(*runner::sandbox_mode_from_name(sandbox_mode), &sandbox_problem);
  if (!sandbox_problem.empty()) {
    fmt::print(stderr, "hvlab-boot: cannot make the sandbox: {}\n", sandbox_problem);
    return 2;
  }
  if (sandbox.confined()) spec.sandbox = &sandbox;
  spec.disk = disk;
  spec.vga = vga;
  for (std::size_t i = 0; i + 1 < type_pairs.size(); i += 2)
    spec.console_script.push_back({runner::detail::unescape(type_pairs[i]), runner::detail::unescape(type_pairs[i + 1])});
  spec.stop_when_com1 = runner::detail::unescape(until);
  if (gdb_port) {
    fmt::print(stderr, "hvlab-boot: QEMU waits for GDB: target remote 127.0.0.1:{}\n", *gdb_port);
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (interactive) keys_to_the_guest();
  runner::BootResult r = runner::boot(spec);
  restore_terminal();
  std::fflush(stdout);

  std::vector<std::string> failures;
  // Under a debugger the student ends the session (quit, kill, Ctrl-C): that is no failure.
  const bool session_ended = debugging && (r.outcome == runner::Outcome::crashed || g_interrupted != 0);
  if (session_ended) {
    // nothing to report but the end itself (below)
  } else if (r.outcome != runner::Outcome::exited) {
    failures.push_back(fmt::format("the kernel did not exit: {}", runner::outcome_name(r.outcome)));
  } else if (r.exit_status != expect_status) {
    failures.push_back(fmt::format("exit status {}, expected {}", r.exit_status, expect_status));
  }
  if (r.script_steps_done < spec.console_script.size()) {
    failures.push_back(fmt::format("the console script got to step {} of {}: COM1 never showed \"{}\"",
                                   r.script_steps_done + 1, spec.console_script.size(),
                                   runner::detail::printable(spec.console_script[r.script_steps_done].expect)));
  }
  for (const auto& want : session_ended ? std::vector<std::string>{} : expect_com1) {
    if (r.com1.find(want) == std::string::npos) {
      failures.push_back(fmt::format("COM1 does not contain \"{}\"", want));
    }
  }

  std::string status =
      r.outcome == runner::Outcome::exited ? fmt::format(" (status {})", r.exit_status) : "";
  if (session_ended) {
    fmt::print("hvlab-boot: {}: the debugging session ended after {:.2f} s, before the kernel exited\n",
               runner::emulator_name(spec.emu), r.elapsed.count() / 1000.0);
    return 0;
  }
  fmt::print("hvlab-boot: {}: {}{} in {:.2f} s\n", runner::emulator_name(spec.emu),
             runner::outcome_name(r.outcome), status, r.elapsed.count() / 1000.0);
  if (r.first_ktap_line) {
    fmt::print("hvlab-boot: first KTAP line after {:.2f} s\n", r.first_ktap_line->count() / 1000.0);
  }
  if (!r.reason.empty()) fmt::print("hvlab-boot: {}\n", r.reason);
  if (!r.workdir.empty()) fmt::print("hvlab-boot: work directory kept: {}\n", r.workdir.string());
  if (!failures.empty() || verbose || interactive) {
    if (!interactive) print_section("COM1", r.com1);  // it is on the terminal already
    print_section("COM2", r.com2);
    print_section("debug console (port 0xE9)", r.debugcon);
    if (!failures.empty()) print_section("emulator", r.emulator_log);
  }
  for (const auto& f : failures) fmt::print("hvlab-boot: FAIL: {}\n", f);
  if (g_interrupted != 0) {
    fmt::print("hvlab-boot: interrupted by signal {}\n", static_cast<int>(g_interrupted));
    return 128 + g_interrupted;
  }
  return failures.empty() ? 0 : 1;
}
