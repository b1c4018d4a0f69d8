#pragma once
// Internal to the runner: checks on the files to boot, and the text handling around the
// emulators (the exit marker, Bochs' stdout, quoting for GRUB and QEMU). Pure functions,
// unit-tested without an emulator.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "autograder/runner/boot.hpp"

namespace hvlab::runner::detail {

/// Why `kernel` cannot be booted as a multiboot1 kernel (unreadable, not a 32-bit x86 ELF,
/// no valid multiboot1 header in its first 8 KiB), or nothing if it looks bootable.
std::optional<std::string> check_kernel(const std::filesystem::path& kernel);

/// Why a module cannot be passed to the kernel (missing, unreadable, not a file).
std::optional<std::string> check_module(const std::filesystem::path& module);

/// Reads "hvlab-exit: N" lines as output arrives, in chunks of any size.
class MarkerScanner {
 public:
  void feed(std::string_view chunk);
  /// The last marker seen on a complete line (or on the unterminated last line, if `final`).
  std::optional<int> last(bool final = false) const;

 private:
  std::string line_;
  bool overlong_ = false;
  std::optional<int> last_;
};

/// The status of the last exit marker in `text`: a line "hvlab-exit: N" (a trailing CR is
/// allowed; the last line need not end in a newline).
std::optional<int> find_exit_marker(std::string_view text);

/// Bochs' stdout is its banner, the debugger's start-up lines, then the guest's port 0xE9
/// bytes (port_e9_hack), then the debugger's line for the instruction it stopped at.
struct BochsStdout {
  std::string debugcon;  ///< the guest's bytes only
  std::string chatter;   ///< Bochs' own text, banner excluded
};
BochsStdout split_bochs_stdout(std::string_view raw);

/// A GRUB script word list for `text`: each whitespace-separated word single-quoted, so
/// '$', ';', '#' and quotes reach the kernel unchanged (runs of blanks become one space).
std::string grub_words(std::string_view text);

/// The whitespace-separated words of `text` joined by single spaces (what GRUB makes of a
/// command line; applied for QEMU too, so both give the kernel the same string).
std::string normalize_words(std::string_view text);

/// Doubles every ',' (QEMU's option syntax, as in -initrd "a,,b").
std::string qemu_escape_commas(std::string_view text);

/// File names for the modules inside the boot directory: the basename with characters
/// other than [A-Za-z0-9._-] replaced by '_', made unique with an "N-" prefix if needed.
std::vector<std::string> staged_module_names(const std::vector<Module>& modules);

/// `text` with C escapes replaced (\\n, \\r, \\t, \\\\, \\xNN), for text typed on a console
/// that a command line gives; anything else after a backslash is kept as it is.
std::string unescape(std::string_view text);

/// `text` for a terminal: printable ASCII, newlines and tabs as they are, other bytes as \\xNN.
std::string printable(std::string_view text);

/// The last `max_lines` lines of `text`, at most `max_bytes` bytes (cut at a line start).
std::string tail_lines(std::string_view text, std::size_t max_lines, std::size_t max_bytes);

/// `argv` as one line a POSIX shell would run (for command.txt and messages).
std::string shell_join(const std::vector<std::string>& argv);

}  // namespace hvlab::runner::detail
