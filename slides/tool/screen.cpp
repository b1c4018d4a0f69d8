#include "slides/tool/screen.hpp"

#include <fmt/color.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace hvlab::demo {

std::vector<std::string> wrap(std::string_view text, std::size_t width, std::size_t first_indent,
                              std::size_t indent) {
  std::vector<std::string> out;
  std::string cur(first_indent, ' ');
  bool empty = true;
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && text[pos] == ' ') ++pos;
    if (pos >= text.size()) break;
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(pos, end - pos);
    pos = end;
    for (;;) {
      std::size_t need = cur.size() + (empty ? 0 : 1) + word.size();
      if (need <= width) {
        if (!empty) cur += ' ';
        cur += word;
        empty = false;
        break;
      }
      if (!empty) {  // the word goes on the next line
        out.push_back(cur);
        cur.assign(indent, ' ');
        empty = true;
        continue;
      }
      std::size_t room = width > cur.size() ? width - cur.size() : 1;  // a word wider than a line
      cur += word.substr(0, room);
      word.remove_prefix(room);
      out.push_back(cur);
      cur.assign(indent, ' ');
      if (word.empty()) break;
    }
  }
  if (!empty) out.push_back(cur);
  return out;
}

std::size_t visible_width(std::string_view line) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\x1b' && i + 1 < line.size() && line[i + 1] == '[') {
      i += 2;
      while (i < line.size() && !(line[i] >= '@' && line[i] <= '~')) ++i;
      continue;
    }
    // Count code points, not UTF-8 continuation bytes.
    if ((static_cast<unsigned char>(line[i]) & 0xc0) != 0x80) ++n;
  }
  return n;
}

bool Screen::colour_wanted(std::string_view mode) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  const char* no_colour = std::getenv("NO_COLOR");
  if (no_colour && *no_colour) return false;
  const char* term = std::getenv("TERM");
  if (!term || std::string_view(term) == "dumb") return false;
  return isatty(STDOUT_FILENO) == 1;
}

std::string Screen::paint(Tone tone, std::string_view text) const {
  if (!colour_ || tone == Tone::plain) return std::string(text);
  fmt::text_style style;
  switch (tone) {
    case Tone::title: style = fmt::emphasis::bold; break;
    case Tone::good: style = fmt::fg(fmt::terminal_color::bright_green); break;
    case Tone::bad: style = fmt::fg(fmt::terminal_color::bright_red) | fmt::emphasis::bold; break;
    case Tone::warn: style = fmt::fg(fmt::terminal_color::bright_yellow); break;
    case Tone::dim: style = fmt::fg(fmt::terminal_color::bright_black); break;
    case Tone::code: style = fmt::fg(fmt::terminal_color::bright_cyan); break;
    case Tone::plain: break;
  }
  return fmt::format(style, "{}", text);
}

void Screen::line(std::string_view text) const { fmt::print("{}\n", text); }

void Screen::para(std::string_view text, std::size_t first_indent, std::size_t indent, Tone tone) const {
  for (const auto& l : wrap(text, kWidth, first_indent, indent)) {
    std::size_t lead = l.find_first_not_of(' ');
    if (lead == std::string::npos) lead = l.size();
    line(l.substr(0, lead) + paint(tone, std::string_view(l).substr(lead)));
  }
}

bool write_figure(const std::filesystem::path& dir, std::string_view name, std::string_view markdown,
                  std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto path = dir / (std::string(name) + ".md");
  std::ofstream f(path);
  f << markdown;
  if (!markdown.empty() && markdown.back() != '\n') f << '\n';
  f.close();
  if (!f) {
    *error = fmt::format("cannot write {}", path.string());
    return false;
  }
  return true;
}

bool read_file(const std::filesystem::path& path, std::string* out, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = fmt::format("cannot read {}", path.string());
    return false;
  }
  std::ostringstream s;
  s << f.rdbuf();
  *out = s.str();
  return true;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view l = text.substr(0, nl);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    out.push_back(l);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace hvlab::demo
