#pragma once
// The monitor's structured event trace on COM2: JSON Lines, one object per trap, exit or
// hypercall, the last one {"kind":"summary",...}:
//
//   {"kind":"trap","vector":13,"cpl":1,"eip":"0x00101234","insn":"cli","outcome":"emulated"}
//
// Rubric entries assert on it: "at least one trap with insn=lgdt", "at most 500 hypercalls".
// Malformed lines are counted and reported; they never stop grading.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hvlab::grader {

struct Trace {
  std::vector<nlohmann::json> events;        ///< every well-formed object, the summary included
  std::size_t lines = 0;                     ///< non-empty lines read
  std::size_t malformed = 0;                 ///< lines that are not a JSON object
  std::vector<std::size_t> malformed_lines;  ///< line numbers of the first few

  /// The last event whose kind is "summary", or null.
  const nlohmann::json* summary() const;
};

/// Parses COM2 text. A last line without a newline is parsed only if accept_unterminated
/// (a run cut short may end in half an object, which would count as malformed otherwise).
Trace parse_trace(std::string_view text, bool accept_unterminated = true);

/// One assertion of a rubric entry: the number of events matching every `where` filter
/// (or, with `sum`, the sum of that field over them) must lie in [min, max].
///
/// A filter is field = value. The field may be a dotted path into nested objects. The
/// value matches when equal; a string value is a glob pattern (`mov*cr*`); an integer
/// also matches a string holding the same number in any C base ("0x0d" = 13); an array
/// matches if any of its elements does.
struct EventAssertion {
  std::vector<std::pair<std::string, nlohmann::json>> where;
  std::optional<double> min;
  std::optional<double> max;
  std::string sum;          ///< field to add up instead of counting events
  std::string description;  ///< optional text for reports; generated if empty
};

struct AssertionOutcome {
  bool ok = false;
  double observed = 0;
  std::string message;  ///< "expected at least 1 event matching kind=trap insn=lgdt, saw 0"
};

bool event_matches(const nlohmann::json& event, const EventAssertion& assertion);

/// Evaluates the assertion over the events of all the given traces taken together.
AssertionOutcome check_assertion(const EventAssertion& assertion,
                                 const std::vector<const Trace*>& traces);

/// "kind=trap insn=lgdt" (or the assertion's own description).
std::string describe_filter(const EventAssertion& assertion);

}  // namespace hvlab::grader
