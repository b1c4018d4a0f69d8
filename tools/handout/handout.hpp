#pragma once
// The handout generator: the student tree is the reference tree with every solution region
// replaced by a stub that fails fast and names its exercise (labs/README.md has the marker
// convention). Host tool.

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hvlab::handout {

/// How a file's markers are written, from its name.
enum class Syntax { cpp, hash, markdown, none };
Syntax syntax_for(const std::string& path);

struct Region {
  std::string exercise;  ///< e.g. "lab01-e3"
  int lab = 0;           ///< 1 for lab01
  int begin_line = 0, end_line = 0;  ///< 1-based, the marker lines
  std::vector<std::string> body;     ///< the solution lines (markers and STUB lines excluded)
  std::vector<std::string> stubs;    ///< the STUB lines, uncommented: what the handout shows
  /// `BEGIN SOLUTION id degraded`: the stub notes the exercise once and goes on with the STUB
  /// lines (HV_NOT_DONE) instead of stopping (common/runtime/exercise.hpp).
  bool degraded = false;
};

struct Processed {
  std::string text;             ///< the handout version of the file
  std::vector<Region> regions;  ///< every region found, kept or stripped
  std::vector<Region> stripped; ///< the regions replaced by stubs
};

/// Processes one file's text. Regions of labs <= keep_upto, and those of the exercises named
/// in `keep` (the ladder's steps: a student who has done exactly those), keep their solution
/// (markers removed); the others become stubs. Returns an error message instead on malformed markers
/// (unterminated, nested, END without BEGIN, missing or malformed exercise id).
struct Outcome {
  std::optional<Processed> ok;
  std::string error;
};
Outcome process(const std::string& path, const std::string& text, int keep_upto,
                const std::set<std::string>& keep = {});

/// The lab number of an exercise id ("lab01-e3" -> 1), or 0 if it is not of that form.
int lab_of(const std::string& exercise);

/// True if the file must not reach students: it says `hvlab: instructor-only` in its first
/// five lines, or matches one of the glob patterns (fnmatch, '/' matched literally).
bool instructor_only(const std::string& path, const std::string& text, const std::vector<std::string>& globs);

/// True if the file says `hvlab: verbatim` in its first five lines: it is copied as it is,
/// markers included (the generator's own tests hold marker lines in string literals).
bool verbatim(const std::string& text);

/// Solution lines that still appear in `handout_text` (a leak), ignoring short or trivial
/// lines (braces, `return;`, `break;`) that any code contains, lines that also stand outside
/// every region, and lines that equal a STUB line (the stub is published on purpose).
std::vector<std::string> leaked_lines(const std::vector<Region>& stripped, const std::string& original_text,
                                      const std::string& handout_text);

}  // namespace hvlab::handout
