#pragma once
// How a demo writes: at most 80 columns, colour only where a terminal shows it, and the
// same findings as Markdown for the deck's figures.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace hvlab::demo {

enum class Tone { plain, title, good, bad, warn, dim, code };

/// Word-wraps `text` to `width` columns: the first line after `first_indent` spaces, the
/// others after `indent`. Words longer than a line are cut.
std::vector<std::string> wrap(std::string_view text, std::size_t width, std::size_t first_indent,
                              std::size_t indent);

/// Columns a line takes on a terminal: ANSI colour sequences take none.
std::size_t visible_width(std::string_view line);

class Screen {
 public:
  static constexpr std::size_t kWidth = 80;

  explicit Screen(bool colour) : colour_(colour) {}
  /// --color auto|always|never: auto means stdout is a terminal, TERM is not "dumb" and
  /// NO_COLOR is unset.
  static bool colour_wanted(std::string_view mode);

  bool colour() const { return colour_; }
  /// `text` in the tone's colour (unchanged when colour is off). Pad before painting.
  std::string paint(Tone tone, std::string_view text) const;
  /// One line as it is (callers keep it within kWidth).
  void line(std::string_view text = {}) const;
  /// A paragraph, word-wrapped to kWidth.
  void para(std::string_view text, std::size_t first_indent = 0, std::size_t indent = 0,
            Tone tone = Tone::plain) const;
  void title(std::string_view text) const { para(text, 0, 0, Tone::title); }

 private:
  bool colour_;
};

/// Writes DIR/NAME.md; false (with `error` set) when it cannot.
bool write_figure(const std::filesystem::path& dir, std::string_view name, std::string_view markdown,
                  std::string* error);

/// Reads a whole file; false (with `error` set) when it cannot.
bool read_file(const std::filesystem::path& path, std::string* out, std::string* error);

/// Splits text into lines, without their "\n" (and "\r").
std::vector<std::string_view> lines_of(std::string_view text);

}  // namespace hvlab::demo
