#pragma once
// A parser for the KTAP output a test guest prints on COM1 (the Linux kernel's test format,
// Documentation/dev-tools/ktap.rst):
//
//   KTAP version 1
//   1..3
//   # nonce 5f3a9c0e12b4d6a8
//   ok 1 priv_lgdt
//   # sgdt: expected base 0x00104000, saw 0x00ffe000
//   not ok 2 sens_sgdt
//   ok 3 dev_uart_loopback # SKIP no second UART
//
// Diagnostic lines ("# ...") attach to the next result line at the same depth: the guest
// prints the reason for a failure just before the "not ok" line. Subtests are indented by
// four spaces per level and attach to the next result one level up. Anything else is
// garbage: counted, sampled, and otherwise ignored, because a monitor may write to COM1 too.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hvlab::grader {

enum class Directive { none, skip, todo, xfail };

struct KtapResult {
  unsigned number = 0;
  std::string name;
  bool ok = false;
  Directive directive = Directive::none;
  std::string directive_reason;          ///< text after SKIP/TODO, trimmed
  std::vector<std::string> diagnostics;  ///< "# " lines printed before the result, "# " removed
  std::vector<KtapResult> subtests;      ///< indented results printed before this one
  std::size_t line = 0;                  ///< 1-based line number in the console text
};

struct KtapProblem {
  std::size_t line = 0;
  std::string message;
};

struct KtapLog {
  bool header = false;                    ///< "KTAP version N" (or "TAP version N") seen
  unsigned version = 0;
  std::optional<unsigned> plan;           ///< N of the top-level plan "1..N"
  std::size_t plan_line = 0;
  std::vector<KtapResult> results;        ///< top-level results, in the order printed
  std::vector<std::string> nonces;        ///< values of "# nonce HEX" lines
  std::vector<std::string> trailing;      ///< top-level diagnostics after the last result
  std::vector<KtapProblem> errors;        ///< protocol errors (duplicates, out of plan, ...)
  std::vector<unsigned> duplicated;       ///< test numbers reported more than once
  std::size_t garbage_lines = 0;          ///< lines that are not KTAP at all
  std::vector<std::string> garbage_sample;///< the first few of them
  bool bailed_out = false;                ///< "Bail out!" seen
  std::string bail_reason;
  std::optional<std::size_t> restart_line;///< a second header: the machine reset, output after it ignored
  std::size_t lines = 0;                  ///< complete lines read

  /// True if anything KTAP-shaped was seen (header, plan or a result).
  bool any_ktap() const { return header || plan || !results.empty(); }
  /// The result for test `number`, the first one printed if there are several.
  const KtapResult* find(unsigned number) const;
};

struct KtapOptions {
  /// Parse a last line that has no newline. Off for runs that were cut short: a line cut in
  /// the middle ("ok 5 pag") must not count as a result.
  bool accept_unterminated_last_line = false;
  std::size_t garbage_sample_limit = 5;
};

/// Parses COM1 text. Never throws; problems are reported in KtapLog::errors.
KtapLog parse_ktap(std::string_view text, const KtapOptions& options = {});

const char* directive_name(Directive d);

}  // namespace hvlab::grader
