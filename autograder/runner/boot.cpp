// boot(): stage the kernel and modules in a work directory, start QEMU or Bochs with every
// guest channel on a pipe, supervise it, and turn what happened into a BootResult.

#include "autograder/runner/boot.hpp"

#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "autograder/runner/image.hpp"
#include "autograder/runner/process.hpp"
#include "autograder/runner/sandbox.hpp"
#include "common/devices/test_disk.hpp"

namespace hvlab::runner {

const char* emulator_name(Emulator e) {
  switch (e) {
    case Emulator::qemu: return "qemu";
    case Emulator::bochs: return "bochs";
    case Emulator::host: return "host";
  }
  return "?";
}

std::optional<Emulator> emulator_from_name(std::string_view name) {
  if (name == "qemu") return Emulator::qemu;
  if (name == "bochs") return Emulator::bochs;
  if (name == "host") return Emulator::host;
  return std::nullopt;
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::exited: return "exited";
    case Outcome::timeout: return "timeout";
    case Outcome::output_flood: return "output_flood";
    case Outcome::crashed: return "crashed";
    case Outcome::launch_failed: return "launch_failed";
  }
  return "?";
}

void kill_all_children() { detail::kill_registered(); }

namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using detail::Channel;

constexpr std::string_view kDebugconName = "the debug console (port 0xE9)";
constexpr std::size_t kLogKeep = 256 * 1024;     // emulator logs: the last this many bytes
constexpr std::size_t kBannerSlack = 64 * 1024;  // Bochs' stdout beyond the guest's bytes
constexpr milliseconds kIsoTimeout{60000};
constexpr milliseconds kBochsTypingPace{15};
constexpr const char* kGrubPcDir = "/usr/lib/grub/i386-pc";

// Names this runner writes in a work directory (removed first from one it is given).
const char* const kOwnFiles[] = {"boot",         "iso",          "boot.iso",    "bochsrc",      "cmds",
                                 "qemu.log",     "com1.txt",     "com2.txt",    "debugcon.txt", "emulator.log",
                                 "command.txt",  "testdisk.img", "disk.img",    "plugin"};

std::string seconds(milliseconds ms) { return fmt::format("{:.1f} s", ms.count() / 1000.0); }

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool write_text(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  return static_cast<bool>(out);
}

std::string last_nonempty_line(std::string_view text) {
  std::size_t end = text.size();
  while (end > 0) {
    while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r')) --end;
    std::size_t begin = text.rfind('\n', end == 0 ? 0 : end - 1);
    begin = begin == std::string_view::npos ? 0 : begin + 1;
    std::string_view line = text.substr(begin, end - begin);
    if (line.find_first_not_of(" \t") != std::string_view::npos) {
      std::string shown = detail::printable(line);
      if (shown.size() > 100) shown = shown.substr(0, 100) + "...";
      return shown;
    }
    end = begin;
  }
  return {};
}

// The first line of `text` containing `needle`, from `needle` on, or empty.
std::string line_with(std::string_view text, std::string_view needle) {
  std::size_t at = text.find(needle);
  if (at == std::string_view::npos) return {};
  std::size_t end = text.find('\n', at);
  std::string_view line = text.substr(at, end == std::string_view::npos ? end : end - at);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  return std::string(line);
}

// A work directory: a fresh one under $TMPDIR (removed at the end unless kept) or the
// caller's (kept).
class Workdir {
 public:
  std::optional<std::string> open(const BootSpec& spec) {
    std::error_code ec;
    if (spec.workdir.empty()) {
      fs::path tmp = fs::temp_directory_path(ec);
      if (ec) tmp = "/tmp";
      std::string templ = (tmp / "hvlab-boot-XXXXXX").string();
      if (::mkdtemp(templ.data()) == nullptr) {
        return fmt::format("cannot create a work directory in {}: {}", tmp.string(),
                           std::strerror(errno));
      }
      path_ = templ;
      remove_ = !spec.keep_workdir;
      return std::nullopt;
    }
    path_ = fs::absolute(spec.workdir, ec);
    fs::create_directories(path_, ec);
    if (!fs::is_directory(path_)) {
      return fmt::format("cannot create the work directory {}: {}", path_.string(),
                         ec ? ec.message() : "not a directory");
    }
    for (const char* name : kOwnFiles) fs::remove_all(path_ / name, ec);
    return std::nullopt;
  }
  ~Workdir() {
    std::error_code ec;
    if (remove_ && !path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  bool removed_at_end() const { return remove_; }

 private:
  fs::path path_;
  bool remove_ = false;
};

// Places `from` at `to` (a symlink or a copy), creating the folder.
std::optional<std::string> stage(const fs::path& from, const fs::path& to, bool copy) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::path source = fs::absolute(from, ec);
  if (copy) {
    fs::copy_file(source, to, fs::copy_options::overwrite_existing, ec);
  } else {
    fs::create_symlink(source, to, ec);
  }
  if (ec)
    return fmt::format("cannot place {} in the work directory: {}", from.string(), ec.message());
  return std::nullopt;
}

// The IDE primary slave's image in the work directory: the caller's disk (a link to it), or
// the kit's test disk written out. Its name, relative to the work directory.
std::optional<std::string> stage_disk(const BootSpec& spec, const fs::path& dir, std::string* name) {
  if (!spec.disk.empty()) {
    *name = "disk.img";
    return stage(spec.disk, dir / *name, false);
  }
  *name = "testdisk.img";
  std::string bytes(hvlab::dev::kTestDiskSectors * hvlab::dev::kSectorSize, '\0');
  for (std::uint32_t lba = 0; lba < hvlab::dev::kTestDiskSectors; ++lba) {
    for (std::uint32_t i = 0; i < hvlab::dev::kSectorSize; ++i)
      bytes[lba * hvlab::dev::kSectorSize + i] = static_cast<char>(hvlab::dev::test_disk_byte(lba, i));
  }
  if (!write_text(dir / *name, bytes)) return "cannot write the test disk in the work directory";
  return std::nullopt;
}

// COM1 takes input (a pseudo-terminal) when something will be typed on it.
bool com1_takes_input(const BootSpec& spec) { return spec.interactive || !spec.console_script.empty(); }

// The console script's progress, fed with COM1's output as it arrives.
class ConsoleScript {
 public:
  ConsoleScript(const BootSpec& spec, std::shared_ptr<std::string> input)
      : steps_(spec.console_script), stop_(spec.stop_when_com1), input_(std::move(input)) {}

  void feed(std::string_view chunk) {
    seen_.append(chunk);
    while (true) {
      if (done_ < steps_.size()) {
        const std::size_t at = seen_.find(steps_[done_].expect);
        if (at == std::string::npos) break;
        input_->append(steps_[done_].send);
        seen_.erase(0, at + steps_[done_].expect.size());
        ++done_;
        continue;
      }
      if (!stop_.empty() && !stopped_ && seen_.find(stop_) != std::string::npos) stopped_ = true;
      break;
    }
    // Only a window that can still hold a match is kept.
    constexpr std::size_t kKeep = 64 * 1024;
    if (seen_.size() > 2 * kKeep) seen_.erase(0, seen_.size() - kKeep);
  }
  std::size_t steps_done() const { return done_; }
  bool stopped() const { return stopped_; }
  // What the script waits for now, for a message.
  std::string waiting_for() const {
    if (done_ < steps_.size())
      return fmt::format("\"{}\" (step {} of {})", detail::printable(steps_[done_].expect), done_ + 1, steps_.size());
    if (!stop_.empty() && !stopped_) return fmt::format("\"{}\" (the text that ends the run)", detail::printable(stop_));
    return {};
  }

 private:
  std::vector<ConsoleStep> steps_;
  std::string stop_;
  std::shared_ptr<std::string> input_;
  std::string seen_;
  std::size_t done_ = 0;
  bool stopped_ = false;
};

// The emulator run: its command, channels, and what boot() reads back.
struct Launch {
  detail::Command cmd;
  std::vector<Channel> channels;
  int com1 = -1, com2 = -1, debugcon = -1, out = -1, err = -1, log = -1;
  std::shared_ptr<detail::MarkerScanner> marker = std::make_shared<detail::MarkerScanner>();
};

Channel guest_channel(std::string name, int fd, const BootSpec& spec, std::size_t slack = 0) {
  Channel ch;
  ch.name = std::move(name);
  ch.child_fds = {fd};
  ch.keep = spec.output_limit + slack;
  if (!spec.interactive) ch.flood_limit = spec.output_limit + slack;
  return ch;
}

Channel log_channel(std::string name, std::vector<int> fds) {
  Channel ch;
  ch.name = std::move(name);
  ch.child_fds = std::move(fds);
  ch.keep = kLogKeep;
  ch.keep_tail = true;
  return ch;
}

int add(Launch& l, Channel ch) {
  l.channels.push_back(std::move(ch));
  return static_cast<int>(l.channels.size()) - 1;
}

std::optional<std::string> plan_qemu(const BootSpec& spec, const fs::path& program,
                                     const fs::path& dir, Launch& l) {
  // A confined emulator sees only the work directory: copies, not links.
  const bool copy = spec.sandbox && spec.sandbox->confined();
  if (auto why = stage(spec.kernel, dir / "boot" / "kernel.elf", copy)) return why;
  auto names = detail::staged_module_names(spec.modules);
  std::string initrd;
  for (std::size_t i = 0; i < spec.modules.size(); ++i) {
    if (auto why = stage(spec.modules[i].path, dir / "boot" / names[i], copy)) return why;
    if (!initrd.empty()) initrd += ',';
    std::string entry = "boot/" + names[i];
    if (auto args = detail::normalize_words(spec.modules[i].cmdline); !args.empty()) {
      entry += " " + args;
    }
    initrd += detail::qemu_escape_commas(entry);
  }
  auto& a = l.cmd.argv;
  a = {program.string(), "-kernel", "boot/kernel.elf"};
  // QEMU passes "boot/kernel.elf " + the -append text, a blank included even when empty.
  if (auto words = detail::normalize_words(spec.cmdline); !words.empty()) {
    a.insert(a.end(), {"-append", words});
  }
  if (!initrd.empty()) a.insert(a.end(), {"-initrd", initrd});
  std::string disk;
  if (auto why = stage_disk(spec, dir, &disk)) return why;
  // COM1 on a terminal QEMU opens as a serial line when something is typed on it.
  if (com1_takes_input(spec)) {
    a.insert(a.end(), {"-chardev", "serial,id=com1,path=/dev/fd/3", "-serial", "chardev:com1"});
  } else {
    a.insert(a.end(), {"-serial", "file:/dev/fd/3"});
  }
  a.insert(a.end(), {"-m",         std::to_string(spec.memory_mib),
                     "-cpu",       spec.qemu_cpu,
                     "-display",   "none",
                     "-no-reboot", "-nodefaults",
                     "-drive",     "file=" + disk + ",if=ide,index=1,media=disk,format=raw,snapshot=on",
                     "-serial",    "file:/dev/fd/4",
                     "-debugcon",  "file:/dev/fd/5",
                     "-device",    "isa-debug-exit,iobase=0xf4,iosize=4",
                     "-d",         "cpu_reset",
                     "-D",         "qemu.log"});
  if (spec.vga) a.insert(a.end(), {"-device", "VGA"});
  if (spec.icount) a.insert(a.end(), {"-icount", "shift=0,sleep=off"});
  if (spec.qemu_plugin) {
    std::error_code ec;
    fs::create_directories(dir / "plugin", ec);
    const fs::path lib = dir / "plugin" / spec.qemu_plugin->library.filename();
    fs::copy_file(spec.qemu_plugin->library, lib, fs::copy_options::overwrite_existing, ec);
    if (ec) return fmt::format("cannot place the QEMU plugin {}: {}", spec.qemu_plugin->library.string(), ec.message());
    for (const auto& [name, text] : spec.qemu_plugin->inputs)
      if (!write_text(dir / "plugin" / name, text)) return "cannot write the QEMU plugin's input " + name;
    a.insert(a.end(), {"-plugin", "file=plugin/" + lib.filename().string() + spec.qemu_plugin->args});
  }
  if (spec.gdb_port) {
    a.insert(a.end(), {"-gdb", fmt::format("tcp:127.0.0.1:{}", *spec.gdb_port), "-S"});
  }
  l.cmd.program = program;
  l.cmd.cwd = dir;
  l.com1 = add(l, guest_channel("COM1", 3, spec));
  l.channels[static_cast<std::size_t>(l.com1)].terminal = com1_takes_input(spec);
  l.com2 = add(l, guest_channel("COM2", 4, spec));
  l.debugcon = add(l, guest_channel(std::string(kDebugconName), 5, spec));
  l.err = add(l, log_channel("QEMU's output", {1, 2}));
  auto marker = l.marker;
  l.channels[static_cast<std::size_t>(l.debugcon)].observe = [marker](std::string_view s) {
    marker->feed(s);
  };
  return std::nullopt;
}

// The command as the spec's sandbox runs it: it sees the work directory and the toolchain.
detail::Command confine(const BootSpec& spec, const detail::Command& cmd, const fs::path& dir) {
  if (!spec.sandbox) return cmd;
  SandboxPolicy policy;
  policy.read_write = {dir};
  policy.cwd = dir;
  policy.file_size = std::uint64_t{256} << 20;  // qemu.log, the ISO
  return spec.sandbox->wrap(cmd, policy);
}

std::optional<std::string> build_iso(const BootSpec& spec, const fs::path& dir) {
  auto names = detail::staged_module_names(spec.modules);
  const fs::path iso = dir / "iso";
  if (auto why = stage(spec.kernel, iso / "boot" / "kernel.elf", true)) return why;
  // The first word after each file is its path again: GRUB passes only the words after the
  // file, while QEMU passes the whole string; so both give "boot/NAME ARGS". An empty
  // command line is an empty word, for QEMU's "boot/kernel.elf " with its blank.
  std::string cfg = "set timeout=0\nset default=0\nmenuentry \"hvlab\" {\n";
  cfg += "  multiboot /boot/kernel.elf boot/kernel.elf ";
  auto words = detail::grub_words(spec.cmdline);
  cfg += words.empty() ? "''" : words;
  cfg += "\n";
  for (std::size_t i = 0; i < spec.modules.size(); ++i) {
    if (auto why = stage(spec.modules[i].path, iso / "boot" / names[i], true)) return why;
    cfg += fmt::format("  module /boot/{0} boot/{0}", names[i]);
    if (auto w = detail::grub_words(spec.modules[i].cmdline); !w.empty()) cfg += " " + w;
    cfg += "\n";
  }
  cfg += "  boot\n}\n";
  std::error_code ec;
  fs::create_directories(iso / "boot" / "grub", ec);
  if (!write_text(iso / "boot" / "grub" / "grub.cfg", cfg)) {
    return "cannot write grub.cfg in the work directory";
  }
  auto mkrescue = detail::find_program("grub-mkrescue");
  if (!mkrescue) {
    return "grub-mkrescue is not installed (Bochs boots the kernel from a GRUB ISO): install "
           "grub-pc-bin, grub-common, xorriso and mtools";
  }
  if (!fs::is_directory(kGrubPcDir, ec)) {
    return fmt::format(
        "{} is missing (GRUB's BIOS modules, for Bochs' boot ISO): install grub-pc-bin",
        kGrubPcDir);
  }
  // A BIOS-only image with just the modules needed: 0.8 MB instead of 9.5 MB, and Bochs
  // gets through GRUB in 30 M instructions instead of 57 M (about 0.4 s less).
  detail::Command cmd;
  cmd.program = *mkrescue;
  cmd.argv = {"grub-mkrescue", "-d",
              kGrubPcDir,      "--install-modules=multiboot normal iso9660 biosdisk configfile",
              "--fonts=",      "--locales=",
              "--themes=",     "-o",
              "boot.iso",      "iso"};
  cmd.cwd = dir;
  std::vector<Channel> channels{log_channel("grub-mkrescue", {1, 2})};
  detail::Limits limits;
  limits.timeout = kIsoTimeout;
  auto run = detail::run(confine(spec, cmd, dir), channels, limits);
  if (run.end == detail::End::spawn_failed) return "cannot run grub-mkrescue: " + run.error;
  if (run.end != detail::End::exited || run.exit_code != 0 || !fs::exists(dir / "boot.iso")) {
    return fmt::format("grub-mkrescue could not build the boot ISO ({}): {}",
                       detail::describe_exit(run), last_nonempty_line(channels[0].data));
  }
  return std::nullopt;
}

std::optional<std::string> plan_bochs(const BootSpec& spec, const fs::path& program,
                                      const fs::path& dir, Launch& l) {
  if (auto why = build_iso(spec, dir)) return why;
  std::string disk;
  if (auto why = stage_disk(spec, dir, &disk)) return why;
  std::string rc = fmt::format(
      "megs: {}\n"
      "cpu: model=corei7_skylake_x, reset_on_triple_fault=0\n"
      "romimage: file=/usr/share/bochs/BIOS-bochs-latest\n"
      "vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest\n"
      "display_library: term\n"
      "ata0-master: type=cdrom, path=boot.iso, status=inserted\n"
      "ata0-slave: type=disk, path={}, mode=volatile\n"
      "boot: cdrom\n"
      "port_e9_hack: enabled=1\n"
      "com1: enabled=1, mode={}, dev=/dev/fd/3\n"
      "com2: enabled=1, mode=file, dev=/dev/fd/4\n"
      "clock: sync=none\n"
      "vga: extension=vbe, update_freq=1\n"
      "log: /dev/fd/5\n",
      spec.memory_mib, disk, com1_takes_input(spec) ? "term" : "file");
  const std::string cmds = spec.bochs_commands.empty() ? "c\n" : spec.bochs_commands;
  if (!write_text(dir / "bochsrc", rc) || !write_text(dir / "cmds", cmds)) {
    return "cannot write bochsrc in the work directory";
  }
  l.cmd.program = program;
  l.cmd.argv = {program.string(), "-q", "-f", "bochsrc", "-rc", "cmds"};
  l.cmd.cwd = dir;
  // The term display draws on a pseudo-terminal of its own that nobody reads, but curses
  // still needs a terminal type it knows: without one Bochs stops at once.
  l.cmd.env = {"TERM=xterm"};
  l.cmd.drain_own_pty = true;
  l.cmd.forward_stdin = spec.interactive && !spec.bochs_commands.empty();
  l.out = add(l, guest_channel(std::string(kDebugconName), 1, spec, kBannerSlack));
  l.com1 = add(l, guest_channel("COM1", 3, spec));
  l.channels[static_cast<std::size_t>(l.com1)].terminal = com1_takes_input(spec);
  l.com2 = add(l, guest_channel("COM2", 4, spec));
  l.err = add(l, log_channel("Bochs' stderr", {2}));
  l.log = add(l, log_channel("Bochs' log", {5}));
  auto marker = l.marker;
  l.channels[static_cast<std::size_t>(l.out)].observe = [marker](std::string_view s) {
    marker->feed(s);
  };
  return std::nullopt;
}

// Bochs' stderr without the noise every run has (plugin loading, ALSA probing).
std::string bochs_stderr(std::string_view err) {
  std::string out;
  std::size_t pos = 0;
  while (pos < err.size()) {
    std::size_t nl = err.find('\n', pos);
    std::string_view line = err.substr(pos, nl == std::string_view::npos ? nl : nl - pos + 1);
    pos = nl == std::string_view::npos ? err.size() : nl + 1;
    if (line.substr(0, 8) == "ALSA lib" || line.substr(0, 13) == "00000000000i[" ||
        line.find("connected to screen") != std::string_view::npos ||
        line.find_first_not_of(" \n") == std::string_view::npos) {
      continue;
    }
    out += line;
  }
  return out;
}

// Why an emulator that stopped by itself, without the marker, stopped.
struct Diagnosis {
  Outcome outcome = Outcome::crashed;
  std::string reason;
};

Diagnosis diagnose_qemu(const detail::RunResult& run, std::string_view output,
                        std::string_view qemu_log, bool guest_output) {
  Diagnosis d;
  const std::string error = line_with(output, "qemu-system");
  if (run.signal) {
    d.reason = fmt::format("QEMU died from {} without the exit marker", detail::describe_exit(run));
  } else if (qemu_log.find("Triple fault") != std::string_view::npos) {
    d.reason =
        "triple fault: an exception hit while delivering a double fault, and QEMU reset the "
        "machine (check the IDT, the GDT, the TSS and the stack)";
  } else if (run.exit_code == 1 && !error.empty()) {
    if (!guest_output) d.outcome = Outcome::launch_failed;
    d.reason = "QEMU stopped with an error: " + error;
  } else if (run.exit_code && (*run.exit_code & 1) != 0) {
    d.reason = fmt::format(
        "the kernel wrote {} to the debug-exit port 0xf4 without first writing the exit marker "
        "\"hvlab-exit: N\" to port 0xE9",
        *run.exit_code >> 1);
  } else if (run.exit_code == 0) {
    d.reason = "the guest reset or powered off the machine without writing the exit marker";
  } else {
    d.reason = fmt::format("QEMU stopped ({}) without the exit marker{}",
                           detail::describe_exit(run), error.empty() ? "" : ": " + error);
  }
  return d;
}

Diagnosis diagnose_bochs(const detail::RunResult& run, std::string_view err, std::string_view log,
                         bool guest_ran) {
  Diagnosis d;
  std::string panic = line_with(log, ">>PANIC<< ");
  if (!panic.empty()) panic = panic.substr(10);
  std::string exiting;
  if (std::size_t at = err.find("Bochs is exiting with the following message:");
      at != std::string_view::npos) {
    std::size_t nl = err.find('\n', at);
    if (nl != std::string_view::npos) exiting = line_with(err.substr(nl + 1), "");
  }
  const std::string message = !panic.empty() ? panic : exiting;
  const bool shutdown = message.find("Shutdown port: shutdown requested") != std::string::npos;
  if (run.signal) {
    d.reason =
        fmt::format("Bochs died from {} without the exit marker", detail::describe_exit(run));
  } else if (message.find("exception with no resolution") != std::string::npos ||
             message.find("triple fault") != std::string::npos) {
    d.reason = fmt::format(
        "triple fault: an exception hit while delivering a double fault (check the IDT, the "
        "GDT, the TSS and the stack); Bochs: {}",
        message);
  } else if (!guest_ran) {
    d.outcome = Outcome::launch_failed;
    d.reason = "Bochs could not start: " + (message.empty() ? last_nonempty_line(err) : message);
  } else if (!message.empty() && !shutdown) {
    d.reason = "Bochs stopped without the exit marker: " + message;
  } else {
    d.reason =
        "the guest shut Bochs down (port 0x8900) without writing the exit marker "
        "\"hvlab-exit: N\" to port 0xE9";
  }
  return d;
}

}  // namespace

BootResult boot(const BootSpec& spec) {
  if (spec.kernel.empty())
    throw std::runtime_error("hvlab::runner::boot: BootSpec.kernel is empty");
  if (spec.emu == Emulator::host) return detail::boot_host(spec);
  const auto start = steady_clock::now();
  BootResult r;
  auto finish = [&](Outcome o, std::string reason) {
    r.outcome = o;
    r.reason = std::move(reason);
    r.elapsed = duration_cast<milliseconds>(steady_clock::now() - start);
    return r;
  };

  // Everything that can be checked before an emulator starts.
  if (auto why = detail::check_kernel(spec.kernel)) return finish(Outcome::launch_failed, *why);
  for (const auto& m : spec.modules) {
    if (auto why = detail::check_module(m.path)) return finish(Outcome::launch_failed, *why);
  }
  const bool qemu = spec.emu == Emulator::qemu;
  if (!qemu && spec.gdb_port) {
    return finish(Outcome::launch_failed, "GDB is only available with QEMU (--emu qemu)");
  }
  if (qemu && !spec.bochs_commands.empty()) {
    return finish(Outcome::launch_failed, "Bochs' debugger commands need Bochs (--emu bochs)");
  }
  const std::string wanted = !spec.emulator_binary.empty() ? spec.emulator_binary.string()
                             : qemu                        ? "qemu-system-i386"
                                                           : "bochs";
  auto program = detail::find_program(wanted);
  if (!program) {
    return finish(
        Outcome::launch_failed,
        fmt::format("{} was not found or is not executable: install {}", wanted,
                    qemu ? "qemu-system-x86" : "bochs, bochsbios, vgabios and bochs-term"));
  }

  Workdir wd;
  if (auto why = wd.open(spec)) return finish(Outcome::launch_failed, *why);
  if (!wd.removed_at_end()) r.workdir = wd.path();
  const fs::path& dir = wd.path();

  // A confined emulator writes its files as the sandbox's user.
  if (spec.sandbox) spec.sandbox->hand_over(dir);
  Launch l;
  if (auto why = qemu ? plan_qemu(spec, *program, dir, l) : plan_bochs(spec, *program, dir, l)) {
    return finish(Outcome::launch_failed, *why);
  }
  if (spec.sandbox) spec.sandbox->hand_over(dir);
  Channel& com1 = l.channels[static_cast<std::size_t>(l.com1)];
  // Bochs' UART drops what arrives while its 16-byte FIFO is full; a guest that polls it
  // (or a monitor that relays it) only every few milliseconds needs a typist's pace.
  if (!qemu) com1.input_pace = kBochsTypingPace;
  if (spec.interactive) {
    com1.echo_fd = STDOUT_FILENO;
    com1.forward_fd = STDIN_FILENO;  // what a person types reaches the guest's COM1
  }
  auto script = std::make_shared<ConsoleScript>(spec, com1.input = std::make_shared<std::string>());
  if (!spec.console_script.empty() || !spec.stop_when_com1.empty()) {
    auto prev = com1.observe;
    com1.observe = [prev, script](std::string_view chunk) {
      if (prev) prev(chunk);
      script->feed(chunk);
    };
  }
  // Bochs' debugger talks on its stdout, with the port 0xE9 bytes.
  if (spec.interactive && !spec.bochs_commands.empty())
    l.channels[static_cast<std::size_t>(l.out)].echo_fd = STDOUT_FILENO;
  r.command = l.cmd.argv;

  // Boot-to-first-KTAP-line: when "KTAP version" first shows on COM1 (the emulator's start-up,
  // BIOS, loader and the kernel's own set-up, before any test runs).
  {
    auto& com1 = l.channels[static_cast<std::size_t>(l.com1)];
    auto seen = std::make_shared<std::string>();
    auto prev = com1.observe;
    com1.observe = [prev, seen, &r, start](std::string_view chunk) {
      if (prev) prev(chunk);
      if (r.first_ktap_line) return;
      seen->append(chunk);
      if (seen->find("KTAP version") != std::string::npos) {
        r.first_ktap_line = duration_cast<milliseconds>(steady_clock::now() - start);
      } else if (seen->size() > 4096) {
        seen->erase(0, seen->size() - 16);
      }
    };
  }

  detail::Limits limits;
  limits.timeout = spec.timeout;
  auto marker = l.marker;
  limits.finished = [marker, script] { return marker->last().has_value() || script->stopped(); };
  const auto run = detail::run(confine(spec, l.cmd, dir), l.channels, limits);
  r.script_steps_done = script->steps_done();

  auto data = [&](int i) -> std::string& { return l.channels[static_cast<std::size_t>(i)].data; };
  r.emulator_pid = run.pid;
  r.emulator_exit_code = run.exit_code;
  r.emulator_signal = run.signal;
  r.com1 = std::move(data(l.com1));
  r.com2 = std::move(data(l.com2));
  std::string chatter;
  if (qemu) {
    r.debugcon = std::move(data(l.debugcon));
  } else {
    auto split = detail::split_bochs_stdout(data(l.out));
    r.debugcon = std::move(split.debugcon);
    chatter = std::move(split.chatter);
  }
  for (int i : {l.com1, l.com2, l.debugcon, l.out}) {
    if (i >= 0 && l.channels[static_cast<std::size_t>(i)].total >
                      l.channels[static_cast<std::size_t>(i)].keep) {
      r.output_truncated = true;
    }
  }
  if (r.debugcon.size() > spec.output_limit) {
    r.debugcon.resize(spec.output_limit);
    r.output_truncated = true;
  }

  // The emulator's own view, for diagnostics.
  const std::string status_line =
      fmt::format("{}: {}\n", emulator_name(spec.emu), detail::describe_exit(run));
  std::string qemu_log;
  if (qemu && spec.qemu_plugin && !spec.qemu_plugin->output.empty()) {
    std::ifstream in(dir / spec.qemu_plugin->output, std::ios::binary);
    std::string buf(1 << 20, '\0');
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    buf.resize(static_cast<std::size_t>(in.gcount()));
    r.plugin_output = std::move(buf);
  }
  if (qemu) {
    qemu_log = read_text(dir / "qemu.log");
    r.emulator_log = status_line + detail::tail_lines(data(l.err), 30, 4096);
    // qemu.log (-d cpu_reset) holds register dumps of the resets at power-on only: with
    // -no-reboot the reset after a triple fault is not dumped.
    if (qemu_log.find("Triple fault") != std::string::npos) {
      r.emulator_log +=
          "qemu.log: Triple fault (for the CPU state at the fault, boot under Bochs, or run "
          "the command with -d int)\n";
    }
  } else {
    r.emulator_log = status_line + detail::tail_lines(bochs_stderr(data(l.err)), 20, 2048);
    if (!chatter.empty()) r.emulator_log += detail::tail_lines(chatter, 5, 1024);
    r.emulator_log += "--- bochs log ---\n" + detail::tail_lines(data(l.log), 30, 4096);
  }
  if (!r.workdir.empty()) {
    write_text(dir / "com1.txt", r.com1);
    write_text(dir / "com2.txt", r.com2);
    write_text(dir / "debugcon.txt", r.debugcon);
    write_text(dir / "emulator.log", r.emulator_log);
    write_text(dir / "command.txt", detail::shell_join(r.command) + "\n");
  }

  if (run.end == detail::End::spawn_failed) return finish(Outcome::launch_failed, run.error);

  std::optional<int> status = l.marker->last(true);
  if (!status) status = detail::find_exit_marker(r.debugcon);
  if (!status && script->stopped()) {
    r.stopped_on_text = true;
    r.exit_status = 0;
    return finish(Outcome::exited,
                  fmt::format("stopped when COM1 showed \"{}\" after the console script (the kernel does not stop "
                              "by itself)",
                              detail::printable(spec.stop_when_com1)));
  }
  if (status) {
    r.exit_status = *status;
    std::string reason;
    if (*status != 0) reason = fmt::format("the kernel exited with status {}", *status);
    // QEMU's own exit status carries the low byte the kernel wrote to port 0xf4.
    if (qemu && run.exit_code && (*run.exit_code & 1) != 0 &&
        (*run.exit_code >> 1) != (*status & 0xff)) {
      reason += fmt::format("{}note: the debug-exit port said {}", reason.empty() ? "" : "; ",
                            *run.exit_code >> 1);
    }
    return finish(Outcome::exited, reason);
  }

  const std::string com1_hint = [&] {
    std::string line = last_nonempty_line(r.com1);
    if (const std::string w = script->waiting_for(); !w.empty()) {
      return fmt::format("; the console script was waiting for {}; last line on COM1: \"{}\"", w, line);
    }
    if (!line.empty()) return "; last line on COM1: \"" + line + "\"";
    if (!qemu && r.debugcon.empty()) {
      return std::string("; nothing on COM1 (Bochs spends about 1 s in its BIOS and GRUB first)");
    }
    return std::string("; nothing on COM1");
  }();
  switch (run.end) {
    case detail::End::timeout:
      return finish(Outcome::timeout,
                    fmt::format("no exit marker within the time limit of {}: the kernel hung or "
                                "is too slow{}",
                                seconds(spec.timeout), com1_hint));
    case detail::End::flood:
      return finish(Outcome::output_flood,
                    fmt::format("{} passed the output limit of {} bytes after {}: an endless "
                                "print loop?",
                                run.flood_channel, spec.output_limit, seconds(run.elapsed)));
    case detail::End::finished:  // unreachable: finished needs a marker
    case detail::End::limit:     // no watch is set
    case detail::End::exited:
    case detail::End::spawn_failed: break;
  }
  const bool guest_output = !r.com1.empty() || !r.com2.empty() || !r.debugcon.empty();
  Diagnosis d = qemu ? diagnose_qemu(run, data(l.err), qemu_log, guest_output)
                     : diagnose_bochs(run, data(l.err), data(l.log),
                                      data(l.out).find("Next at t=") != std::string::npos);
  if (d.outcome == Outcome::crashed) d.reason += com1_hint;
  return finish(d.outcome, d.reason);
}

}  // namespace hvlab::runner
