#pragma once
// Rubric files: autograder/rubrics/<lab>.toml. The format is documented in the comment
// header of autograder/rubrics/native.toml; this is its in-memory form.

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "autograder/grader/trace.hpp"
#include "autograder/runner/boot.hpp"

namespace hvlab::grader {

using runner::Emulator;

/// Gradescope's names for when a student sees a test.
enum class Visibility { visible, hidden, after_due_date, after_published };
/// What theory predicts the guest reports for a test under this lab.
enum class Expect { pass, fail };

const char* visibility_name(Visibility v);
const char* expect_name(Expect e);
const char* emu_name(Emulator e);  ///< "qemu" / "bochs" / "host" (the grader's own, no runner link)
std::optional<Emulator> parse_emu(std::string_view name);

/// A [[test]] entry: scores the suite tests whose name it matches.
struct TestEntry {
  std::string pattern;  ///< a test name, or a glob ("sens_*", "exc_[dg]*")
  double points = 0;
  std::string exercise;
  Visibility visibility = Visibility::visible;
  Expect expect = Expect::pass;
  std::vector<Emulator> emulators;  ///< empty: every emulator of the lab
  std::string guest;                ///< only tests of this guest image; empty: any
  std::vector<EventAssertion> events;
  std::string why;                  ///< shown with the result, e.g. why a failure is expected
  std::size_t index = 0;            ///< 1-based position among [[test]] entries
  std::size_t line = 0;             ///< line in the rubric file

  bool is_glob() const;
  /// How narrow a glob is: its characters other than * and ? ([..] counts as one).
  std::size_t specificity() const;
  bool matches(std::string_view guest_image, std::string_view test) const;
  bool runs_on(Emulator e) const;
};

/// A [[check]] entry: a scored item on the event trace alone, over every boot of the lab.
struct CheckEntry {
  std::string name;
  double points = 0;
  std::string exercise;
  Visibility visibility = Visibility::visible;
  std::vector<Emulator> emulators;
  std::string guest;
  std::vector<EventAssertion> events;
  std::string why;
  std::size_t index = 0;
  std::size_t line = 0;

  bool runs_on(Emulator e) const;
};

/// A [[guest]] entry: a test guest image booted under the lab's monitor (or bare).
struct GuestImage {
  std::string image;                ///< `build/autograder/guests/<image>.elf`
  std::string name;                 ///< how its tests are shown and matched; empty: the image
  std::string cmdline;              ///< the grader appends first=K and nonce=HEX
  std::optional<std::string> monitor_cmdline;  ///< the monitor's own command line for this guest
  std::vector<Emulator> emulators;  ///< empty: every emulator of the lab
  bool reference = true;            ///< may be booted bare to learn test names a crash hid
  std::size_t line = 0;

  bool runs_on(Emulator e) const;
  const std::string& label() const { return name.empty() ? image : name; }
};

struct Rubric {
  std::filesystem::path file;
  std::string name;                    ///< "native", "lab01", ...
  std::string title;
  std::string folder;                  ///< "lab01-trap-and-emulate"; empty for native
  std::optional<std::string> monitor;  ///< relative to the build dir; nullopt: boot bare
  std::string monitor_cmdline;
  std::vector<std::string> requirements;  ///< what the machine must offer ("kvm"), else the lab is skipped
  std::vector<Emulator> emulators;
  std::map<Emulator, double> timeout_seconds;  ///< per boot, before calibration scaling
  unsigned max_boots = 8;              ///< boots per guest and emulator, resumes included
  unsigned memory_mib = 64;
  std::string qemu_cpu = "max";
  /// Whether QEMU's execution evidence applies: false for a monitor that never runs the
  /// guest's kernel code at its own addresses (lab02 runs it from a translation cache).
  bool execution_evidence = true;
  std::size_t output_limit = std::size_t{1} << 20;
  /// The order the handout gives the exercises in (the ladder: each one done raises the
  /// grade); empty: by their ids. The exercise summary follows it.
  std::vector<std::string> order;
  std::vector<GuestImage> guests;
  std::vector<TestEntry> tests;
  std::vector<CheckEntry> checks;

  bool runs_on(Emulator e) const;
  bool bare() const { return !monitor.has_value(); }
  /// The entry that scores `test` of `guest_image`: an exact name wins over globs; among
  /// globs the most specific wins ("sens_*" over "*"), and among equally specific ones the
  /// first in the file. nullptr: the test is unscored.
  const TestEntry* entry_for(std::string_view guest_image, std::string_view test) const;
};

/// A rubric that cannot be used. what() names the file, the line and the key.
class RubricError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses rubric text; source names the file in messages. Throws RubricError.
Rubric parse_rubric(std::string_view text, std::string_view source);
/// Reads and parses a file, and checks that [lab] name matches the file name.
Rubric load_rubric(const std::filesystem::path& file);
/// The lab names (file stems) of the *.toml files in dir: native first, then sorted.
std::vector<std::string> list_rubrics(const std::filesystem::path& dir);

}  // namespace hvlab::grader
