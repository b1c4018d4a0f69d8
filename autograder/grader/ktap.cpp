#include "autograder/grader/ktap.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace hvlab::grader {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool starts_with_word(std::string_view s, std::string_view word) {
  if (s.size() < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(s[i])) != std::toupper(static_cast<unsigned char>(word[i])))
      return false;
  }
  return s.size() == word.size() || std::isspace(static_cast<unsigned char>(s[word.size()]));
}

// Reads a decimal number of at most nine digits at the front of s.
std::optional<unsigned> take_number(std::string_view& s) {
  std::size_t n = 0;
  while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
  if (n == 0 || n > 9) return std::nullopt;
  unsigned v = 0;
  for (std::size_t i = 0; i < n; ++i) v = v * 10 + static_cast<unsigned>(s[i] - '0');
  s.remove_prefix(n);
  return v;
}

std::optional<unsigned> parse_plan(std::string_view s) {
  if (s.substr(0, 3) != "1..") return std::nullopt;
  s.remove_prefix(3);
  auto n = take_number(s);
  if (!n) return std::nullopt;
  s = trim(s);
  if (!s.empty() && s.front() != '#') return std::nullopt;  // "1..3 # SKIP ..." is fine
  return n;
}

std::optional<unsigned> parse_header(std::string_view s) {
  for (std::string_view prefix : {"KTAP version ", "TAP version "}) {
    if (s.substr(0, prefix.size()) == prefix) {
      s.remove_prefix(prefix.size());
      return take_number(s);
    }
  }
  return std::nullopt;
}

// A result line, without its indentation. nullopt if the line is not one; a result with
// number 0 if it is one but names no test number (a protocol error).
std::optional<KtapResult> parse_result(std::string_view s) {
  KtapResult r;
  if (starts_with_word(s, "ok")) {
    r.ok = true;
    s.remove_prefix(2);
  } else if (s.substr(0, 6) == "not ok" && (s.size() == 6 || s[6] == ' ')) {
    r.ok = false;
    s.remove_prefix(6);
  } else {
    return std::nullopt;
  }
  s = trim(s);
  if (auto n = take_number(s)) r.number = *n;
  s = trim(s);
  if (s.substr(0, 2) == "- ") s.remove_prefix(2);
  // The directive starts at the first '#' that follows whitespace or opens the text.
  std::size_t hash = std::string_view::npos;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '#' && (i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1])))) {
      hash = i;
      break;
    }
  }
  r.name = std::string(trim(s.substr(0, hash)));
  if (hash != std::string_view::npos) {
    std::string_view d = trim(s.substr(hash + 1));
    struct Known { std::string_view word; Directive kind; };
    for (Known k : {Known{"SKIP", Directive::skip}, Known{"TODO", Directive::todo},
                    Known{"XFAIL", Directive::xfail}}) {
      if (starts_with_word(d, k.word)) {
        r.directive = k.kind;
        r.directive_reason = std::string(trim(d.substr(k.word.size())));
        break;
      }
    }
  }
  return r;
}

struct Frame {
  std::vector<KtapResult> results;
  std::vector<std::string> pending;
};

}  // namespace

const char* directive_name(Directive d) {
  switch (d) {
    case Directive::none: return "";
    case Directive::skip: return "SKIP";
    case Directive::todo: return "TODO";
    case Directive::xfail: return "XFAIL";
  }
  return "";
}

const KtapResult* KtapLog::find(unsigned number) const {
  for (const auto& r : results)
    if (r.number == number) return &r;
  return nullptr;
}

KtapLog parse_ktap(std::string_view text, const KtapOptions& options) {
  KtapLog log;
  std::vector<Frame> frames(1);
  std::size_t line_no = 0;
  std::size_t pos = 0;

  auto garbage = [&](std::string_view line) {
    ++log.garbage_lines;
    if (log.garbage_sample.size() < options.garbage_sample_limit) {
      std::string sample(line.substr(0, 120));
      if (line.size() > 120) sample += "...";
      log.garbage_sample.push_back(std::move(sample));
    }
  };

  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos && !options.accept_unterminated_last_line) break;
    std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view raw = text.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    log.lines = line_no;

    while (!raw.empty() && (raw.back() == '\r' || raw.back() == ' ' || raw.back() == '\t'))
      raw.remove_suffix(1);
    if (raw.empty()) continue;
    std::size_t spaces = 0;
    while (spaces < raw.size() && raw[spaces] == ' ') ++spaces;
    const std::size_t depth = spaces / 4;
    const std::string_view line = raw.substr(spaces);
    if (frames.size() < depth + 1) frames.resize(depth + 1);

    if (auto version = parse_header(line)) {
      if (depth > 0) continue;  // a subtest's own header
      if (log.header || log.plan || !log.results.empty()) {
        log.restart_line = line_no;
        log.errors.push_back({line_no, fmt::format(
            "the guest started over: a second 'KTAP version' line at line {} (the machine "
            "reset, e.g. after a triple fault); output after it is ignored", line_no)});
        break;
      }
      log.header = true;
      log.version = *version;
      continue;
    }
    if (auto plan = parse_plan(line)) {
      if (depth > 0) continue;  // subtest plans are not checked
      if (log.plan) {
        log.errors.push_back({line_no, fmt::format(
            "a second plan '1..{}' at line {} (the first, at line {}, said 1..{})", *plan,
            line_no, log.plan_line, *log.plan)});
      } else {
        log.plan = *plan;
        log.plan_line = line_no;
      }
      continue;
    }
    if (line.substr(0, 9) == "Bail out!") {
      if (depth > 0) continue;
      log.bailed_out = true;
      log.bail_reason = std::string(trim(line.substr(9)));
      break;
    }
    if (line.front() == '#') {
      std::string_view body = line.substr(1);
      if (!body.empty() && body.front() == ' ') body.remove_prefix(1);
      if (depth == 0 && body.substr(0, 6) == "nonce ") {
        log.nonces.emplace_back(trim(body.substr(6)));
      } else if (body.substr(0, 8) != "Subtest:") {
        frames[depth].pending.emplace_back(body);
      }
      continue;
    }
    if (auto result = parse_result(line)) {
      result->line = line_no;
      result->diagnostics = std::move(frames[depth].pending);
      frames[depth].pending.clear();
      if (frames.size() > depth + 1) {
        result->subtests = std::move(frames[depth + 1].results);
        frames.resize(depth + 1);
      }
      if (depth > 0) {
        frames[depth].results.push_back(std::move(*result));
        continue;
      }
      if (result->number == 0) {
        log.errors.push_back({line_no, fmt::format(
            "line {} is a result without a test number: '{}'", line_no,
            std::string(line.substr(0, 80)))});
        continue;
      }
      if (const KtapResult* earlier = log.find(result->number)) {
        log.errors.push_back({line_no, fmt::format(
            "test {} is reported twice (lines {} and {})", result->number, earlier->line,
            line_no)});
        log.duplicated.push_back(result->number);
        continue;
      }
      log.results.push_back(std::move(*result));
      continue;
    }
    garbage(raw);
  }

  // The plan may come last in KTAP, so results outside it are weeded out at the end.
  if (log.plan) {
    const unsigned n = *log.plan;
    auto outside = [&](const KtapResult& r) { return r.number > n; };
    for (const auto& r : log.results) {
      if (outside(r))
        log.errors.push_back({r.line, fmt::format(
            "line {} reports test {} ('{}'), outside the plan 1..{}", r.line, r.number,
            r.name, n)});
    }
    std::erase_if(log.results, outside);
  }
  log.trailing = std::move(frames[0].pending);
  return log;
}

}  // namespace hvlab::grader
