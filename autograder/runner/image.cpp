// File checks and text handling for the runner (see image.hpp).

#include "autograder/runner/image.hpp"

#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>

namespace hvlab::runner::detail {
namespace {

std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

std::optional<std::string> check_readable_file(const std::filesystem::path& p, const char* what) {
  std::error_code ec;
  auto st = std::filesystem::status(p, ec);
  if (ec || !std::filesystem::exists(st)) {
    return std::string(what) + " " + p.string() + " does not exist";
  }
  if (!std::filesystem::is_regular_file(st)) {
    return std::string(what) + " " + p.string() + " is not a regular file";
  }
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::string(what) + " " + p.string() + " cannot be read: " + std::strerror(errno);
  return std::nullopt;
}

constexpr std::string_view kMarker = "hvlab-exit: ";

// The status of one line (without its '\n') if it is an exit marker.
std::optional<int> marker_status(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.substr(0, kMarker.size()) != kMarker) return std::nullopt;
  std::string_view digits = line.substr(kMarker.size());
  if (digits.empty() || digits.size() > 11) return std::nullopt;
  int value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Length of "(N).[T] [0x" at text[pos], the start of the line Bochs' debugger prints for the
// instruction it stopped at, or 0.
std::size_t debugger_stop_line_at(std::string_view text, std::size_t pos) {
  std::size_t i = pos;
  auto expect = [&](std::string_view s) {
    if (text.substr(i, s.size()) != s) return false;
    i += s.size();
    return true;
  };
  auto digits = [&] {
    std::size_t from = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    return i > from;
  };
  if (!expect("(") || !digits() || !expect(").[") || !digits() || !expect("] [0x")) return 0;
  return i - pos;
}

}  // namespace

std::optional<std::string> check_kernel(const std::filesystem::path& kernel) {
  if (auto why = check_readable_file(kernel, "the kernel")) return why;
  std::ifstream in(kernel, std::ios::binary);
  std::array<unsigned char, 8192> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  const auto n = static_cast<std::size_t>(in.gcount());
  const std::string name = kernel.string();
  if (n < 52 || std::memcmp(head.data(),
                            "\x7f"
                            "ELF",
                            4) != 0) {
    char bytes[32];
    std::snprintf(bytes, sizeof bytes, "%02x %02x %02x %02x", n > 0 ? head[0] : 0,
                  n > 1 ? head[1] : 0, n > 2 ? head[2] : 0, n > 3 ? head[3] : 0);
    return "the kernel " + name + " is not an ELF file (it starts with " + bytes +
           "): pass the multiboot .elf the build produced";
  }
  if (head[4] != 1) {
    return "the kernel " + name +
           " is a 64-bit ELF: multiboot1 loaders need a 32-bit (ELFCLASS32) kernel";
  }
  const unsigned machine = head[18] | head[19] << 8;
  if (machine != 3) {
    return "the kernel " + name + " is an ELF for machine " + std::to_string(machine) +
           ", not i386 (3): build it with -m32";
  }
  // Every loadable segment must lie inside the file: a truncated image would make QEMU
  // refuse it at once but leave Bochs' GRUB waiting out the whole time limit.
  {
    std::error_code ec;
    const std::uintmax_t size = std::filesystem::file_size(kernel, ec);
    const std::uint32_t phoff = le32(&head[28]);
    const unsigned phentsize = head[42] | head[43] << 8, phnum = head[44] | head[45] << 8;
    auto truncated = [&](std::uintmax_t needed) {
      return "the kernel " + name + " is truncated: it needs " + std::to_string(needed) + " bytes, the file has " +
             std::to_string(size) + " (a build or copy that was cut short?)";
    };
    const std::uintmax_t table_end = std::uintmax_t{phoff} + std::uintmax_t{phentsize} * phnum;
    if (!ec && table_end > size) return truncated(table_end);
    if (!ec && phentsize >= 32) {
      std::ifstream ph(kernel, std::ios::binary);
      for (unsigned i = 0; i < phnum && i < 256; ++i) {
        unsigned char e[32];
        ph.seekg(static_cast<std::streamoff>(phoff + std::uintmax_t{phentsize} * i));
        if (!ph.read(reinterpret_cast<char*>(e), sizeof e)) return truncated(table_end);
        const std::uintmax_t end = std::uintmax_t{le32(&e[4])} + le32(&e[16]);  // p_offset + p_filesz
        if (le32(&e[0]) == 1 && end > size) return truncated(end);
      }
    }
  }
  bool bad_checksum = false;
  for (std::size_t off = 0; off + 12 <= n; off += 4) {
    if (le32(&head[off]) != 0x1BADB002u) continue;
    if (static_cast<std::uint32_t>(le32(&head[off]) + le32(&head[off + 4]) +
                                   le32(&head[off + 8])) == 0) {
      return std::nullopt;
    }
    bad_checksum = true;
  }
  if (bad_checksum) {
    return "the kernel " + name +
           " has the multiboot1 magic 0x1BADB002 but a wrong checksum (magic + flags + "
           "checksum must be 0)";
  }
  return "the kernel " + name +
         " has no multiboot1 header (0x1BADB002) in its first 8 KiB: put the header in its own "
         "section, first in the linker script";
}

std::optional<std::string> check_module(const std::filesystem::path& module) {
  return check_readable_file(module, "the module");
}

void MarkerScanner::feed(std::string_view chunk) {
  // Only short lines can be markers; a long line is skipped without being stored.
  constexpr std::size_t kLongest = 32;
  for (char c : chunk) {
    if (c == '\n') {
      if (!overlong_) {
        if (auto s = marker_status(line_)) last_ = s;
      }
      line_.clear();
      overlong_ = false;
    } else if (!overlong_) {
      line_.push_back(c);
      if (line_.size() > kLongest) {
        overlong_ = true;
        line_.clear();
      }
    }
  }
}

std::optional<int> MarkerScanner::last(bool final) const {
  if (final && !overlong_) {
    if (auto s = marker_status(line_)) return s;
  }
  return last_;
}

std::optional<int> find_exit_marker(std::string_view text) {
  MarkerScanner scan;
  scan.feed(text);
  return scan.last(true);
}

BochsStdout split_bochs_stdout(std::string_view raw) {
  BochsStdout out;
  // The debugger announces where it starts ("Next at t=0") and the first instruction on the
  // next line; the guest runs only after that, on the rc file's "c".
  std::size_t next = 0;
  if (raw.substr(0, 10) != "Next at t=") {
    next = raw.find("\nNext at t=");
    if (next != std::string_view::npos) ++next;
  }
  std::size_t nl1 = next == std::string_view::npos ? next : raw.find('\n', next);
  std::size_t nl2 = nl1 == std::string_view::npos ? nl1 : raw.find('\n', nl1 + 1);
  if (nl2 == std::string_view::npos) {
    out.chatter = std::string(raw);  // the guest never ran
    return out;
  }
  const std::size_t start = nl2 + 1;
  std::string_view rest = raw.substr(start);
  // The guest's bytes end where the debugger prints the instruction the simulation stopped
  // at: "(0).[73764705] [0x00000010002b] 0010:...". A guest is unlikely to print that.
  std::size_t cut = rest.size();
  for (std::size_t p = rest.find('('); p != std::string_view::npos; p = rest.find('(', p + 1)) {
    if (debugger_stop_line_at(rest, p) > 0) {
      cut = p;
      break;
    }
  }
  out.debugcon = std::string(rest.substr(0, cut));
  out.chatter = std::string(raw.substr(next, start - next)) + std::string(rest.substr(cut));
  return out;
}

std::string grub_words(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size()) break;
    if (!out.empty()) out += ' ';
    out += '\'';
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) {
      if (text[i] == '\'') {
        out += "'\\''";
      } else {
        out += text[i];
      }
      ++i;
    }
    out += '\'';
  }
  return out;
}

std::string normalize_words(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size()) break;
    if (!out.empty()) out += ' ';
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) out += text[i++];
  }
  return out;
}

std::string qemu_escape_commas(std::string_view text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

std::vector<std::string> staged_module_names(const std::vector<Module>& modules) {
  std::vector<std::string> names;
  std::set<std::string> used = {"kernel.elf", "grub"};
  for (std::size_t i = 0; i < modules.size(); ++i) {
    std::string base = modules[i].path.filename().string();
    for (char& c : base) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
    }
    if (base.empty() || base == "." || base == "..") base = "module";
    std::string name = base;
    for (std::size_t k = 1; used.count(name) != 0; ++k) name = std::to_string(k) + "-" + base;
    used.insert(name);
    names.push_back(name);
  }
  return names;
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string tail_lines(std::string_view text, std::size_t max_lines, std::size_t max_bytes) {
  if (text.size() > max_bytes) {
    text = text.substr(text.size() - max_bytes);
    std::size_t nl = text.find('\n');
    if (nl != std::string_view::npos && nl + 1 < text.size()) text = text.substr(nl + 1);
  }
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (std::size_t lines = 0; pos > 0; --pos) {
    if (text[pos - 1] == '\n' && ++lines == max_lines) break;
  }
  return std::string(text.substr(pos));
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty();
    for (char c : a) {
      plain = plain && (std::isalnum(static_cast<unsigned char>(c)) ||
                        std::strchr("@%+=:,./_-", c) != nullptr);
    }
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

}  // namespace hvlab::runner::detail
