#pragma once
// Boots one kernel (a monitor, or a bare test guest) under QEMU or Bochs, with a timeout and
// bounded output capture, and reports what happened. Shared by the boot tests, `make run`
// and the grader. Host-only (uses the C++ standard library).
//
// Channels, the same on both emulators:
//   COM1 (0x3f8)  the guest's console: KTAP lines
//   COM2 (0x2f8)  the monitor's structured event trace
//   port 0xE9     the debug console (monitor diagnostics, and the exit marker below)
// Stopping: a kernel writes "hvlab-exit: N" on its own line to port 0xE9, then writes N to
// the isa-debug-exit port 0xf4 (QEMU exits with (N<<1)|1), then "Shutdown" to port 0x8900
// (Bochs exits, always with status 1). The marker is what the runner trusts on both. A
// kernel that never stops (xv6) can be driven by a console script instead, ending when COM1
// shows a given text (BootSpec::console_script, stop_when_com1).
//
// Disks: the IDE primary slave holds BootSpec::disk, or by default the kit's test disk, so a
// guest's disk test reads the same sectors bare and under a monitor that serves that disk.
//
// What the kernel is given, the same on both emulators: the command line
// "boot/kernel.elf CMDLINE" and, for each module, the string "boot/NAME ARGS", where NAME is
// the module file's basename (characters outside [A-Za-z0-9._-] become '_'; an "N-" prefix
// keeps names unique). Runs of blanks become one space (an empty CMDLINE still leaves the
// blank after the path). Bochs boots through GRUB, which also puts a backslash before ', "
// and \: keep command lines to plain words.
//
// Guests must program the UARTs (8 data bits: Bochs resets LCR to 5 bits and drops the top
// bits), wait for THRE before each byte (Bochs drops a byte written while one is pending),
// and wait for TEMT on COM1 and COM2 before stopping (Bochs loses what is still queued).

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hvlab::runner {

class Sandbox;

/// How a kernel runs: under QEMU or Bochs, or, for `host`, as a Linux program that is itself
/// the machine (a hosted VMM, lab05): BootSpec::kernel is then that program, modules[0] the
/// guest it runs. It is started, in a fresh work directory with standard input from
/// /dev/null, as
///
///   PROGRAM --com1 /dev/fd/3 --com2 /dev/fd/4 --debugcon /dev/fd/5 -- [CMDLINE WORDS]
///           MODULE [MODULE ARGS]
///
/// and writes the guest's COM1, its event trace and its debug console there, ending with the
/// same exit marker on the debug console; its standard error joins the debug console (a
/// handout stub's "not implemented" panic is found there), its standard output is its log.
enum class Emulator { qemu, bochs, host };
const char* emulator_name(Emulator e);
/// "qemu", "bochs" or "host" (as emulator_name returns them); nothing for anything else.
std::optional<Emulator> emulator_from_name(std::string_view name);

struct Module {
  std::filesystem::path path;
  std::string cmdline;  ///< passed to the kernel after the module's path
};

/// One step of a console script: once COM1 shows `expect` (in what arrived after the
/// previous step's match), `send` is typed on COM1.
struct ConsoleStep {
  std::string expect;
  std::string send;
};

struct BootSpec {
  Emulator emu = Emulator::qemu;
  std::filesystem::path kernel;  ///< multiboot1 ELF
  std::string cmdline;           ///< kernel command line
  std::vector<Module> modules;   ///< multiboot modules (a guest image for a monitor)
  /// Wall-clock limit for the emulator process. Under Bochs it includes BIOS and GRUB (about
  /// 1 s); the boot ISO is built before it starts, under a limit of its own. Once the exit
  /// marker is seen the emulator gets 1 s more to stop by itself, then is killed (still
  /// `exited`).
  std::chrono::milliseconds timeout{10000};
  std::size_t output_limit = 1 << 20;  ///< per channel; more is a flood and stops the run
  bool icount = false;                 ///< QEMU -icount shift=0,sleep=off (deterministic)
  unsigned memory_mib = 64;
  std::string qemu_cpu = "max";   ///< QEMU -cpu
  /// Scratch directory; a fresh one under $TMPDIR (removed unless keep_workdir) if empty. A
  /// given one is kept, and the runner's own names in it (boot/, iso/, boot.iso, bochsrc,
  /// cmds, qemu.log, com1.txt, com2.txt, debugcon.txt, emulator.log, command.txt) are replaced.
  std::filesystem::path workdir;
  bool keep_workdir = false;
  std::optional<unsigned> gdb_port;  ///< QEMU only: -gdb tcp:127.0.0.1:PORT -S (waits for GDB)
  /// Bochs only: commands for Bochs' debugger instead of "c" (run). With `interactive`, the
  /// debugger's output is on our stdout and it reads our stdin after the commands.
  std::string bochs_commands;
  /// COM1 copied to our stdout as it arrives (make run); a flood does not stop the run (the
  /// captures stay bounded by output_limit).
  bool interactive = false;
  /// The emulator program; empty: "qemu-system-i386" or "bochs", searched in PATH.
  std::filesystem::path emulator_binary;
  /// Run the emulator (and grub-mkrescue) confined: it then sees only the work directory,
  /// where the kernel and modules are copied (sandbox.hpp). Not owned; null: not confined.
  const Sandbox* sandbox = nullptr;
  /// QEMU only: a TCG plugin, copied into the work directory's plugin/ folder with its input
  /// files, and given `args` (",name=value,..."; inputs are `plugin/<name>`). The file it
  /// writes in the work directory, `output`, is read back into BootResult::plugin_output.
  struct QemuPlugin {
    std::filesystem::path library;
    std::vector<std::pair<std::string, std::string>> inputs;  ///< (file name, content)
    std::string args;
    std::string output;
  };
  std::optional<QemuPlugin> qemu_plugin;
  /// Typed on COM1, step by step, while the kernel runs (a shell's commands). With a script,
  /// or when interactive (our stdin is typed on COM1 as it comes), the emulator's COM1 is a
  /// pseudo-terminal instead of a file, so the guest can read from it; everything else stays
  /// the same. Under Bochs the bytes are typed at a typist's pace (one every 15 ms): its UART
  /// drops what arrives while its receive FIFO is full.
  std::vector<ConsoleStep> console_script;
  /// Once every step is typed and COM1 then shows this text, the run is complete: the
  /// emulator is stopped and the boot counts as exited with status 0 (for kernels such as
  /// xv6 that never stop by themselves). Empty: the kernel must write the exit marker.
  std::string stop_when_com1;
  /// QEMU: a VGA card (-device VGA), as a PC has; without it the CGA text buffer and the CRT
  /// controller are absent, which guests that print to the screen (xv6) do not survive. Bochs
  /// always has one.
  bool vga = false;
  /// A raw disk image for the emulator's IDE primary slave (read-only: the guest's writes
  /// are kept in a temporary overlay); empty: the kit's test disk
  /// (common/devices/test_disk.hpp), written to the work directory.
  std::filesystem::path disk;
};

enum class Outcome {
  exited,         ///< the kernel wrote the exit marker
  timeout,        ///< still running at the deadline: killed
  output_flood,   ///< a channel passed output_limit: killed
  crashed,        ///< the emulator ended without the marker (triple fault, emulator error)
  launch_failed,  ///< the emulator could not be started (missing binary, bad image)
};
const char* outcome_name(Outcome o);

struct BootResult {
  Outcome outcome = Outcome::launch_failed;
  int exit_status = -1;      ///< N from the exit marker, when outcome == exited
  std::string com1;          ///< guest console (truncated at output_limit)
  std::string com2;          ///< event trace
  std::string debugcon;      ///< port 0xE9
  std::string emulator_log;  ///< the emulator's own stderr / log tail, for diagnostics
  std::chrono::milliseconds elapsed{0};
  std::string reason;                     ///< one line a person can act on, when not exited/0
  std::vector<std::string> command;       ///< the emulator's argv, run in `workdir`
  std::filesystem::path workdir;          ///< where it ran, if kept (empty once removed)
  std::optional<int> emulator_exit_code;  ///< how the emulator process ended
  std::optional<int> emulator_signal;
  int emulator_pid = 0;           ///< also its process group; gone when boot() returns
  bool output_truncated = false;  ///< some channel held more than output_limit
  /// Time from the start of boot() to the first "KTAP version" on COM1, if it came.
  std::optional<std::chrono::milliseconds> first_ktap_line;
  /// What BootSpec::qemu_plugin wrote (at most 1 MiB); empty without a plugin.
  std::string plugin_output;
  /// Console script steps whose `expect` COM1 showed (and whose `send` was typed).
  std::size_t script_steps_done = 0;
  /// The run ended because COM1 showed BootSpec::stop_when_com1 after the script.
  bool stopped_on_text = false;
};

/// Boots spec.kernel and waits for it to stop. Never throws for guest misbehaviour; throws
/// std::runtime_error only for a programming error in the spec (no kernel path).
BootResult boot(const BootSpec& spec);

namespace detail {
/// boot() for Emulator::host (host.cpp).
BootResult boot_host(const BootSpec& spec);
}  // namespace detail

/// Kills every emulator process started by boot() that is still running (for SIGINT handlers).
/// Async-signal-safe. The boot() calls concerned then return (as `crashed`, or
/// `launch_failed` while a Bochs boot ISO was being built).
void kill_all_children();

}  // namespace hvlab::runner
