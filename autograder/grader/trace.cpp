#include "autograder/grader/trace.hpp"

#include <fnmatch.h>

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

namespace hvlab::grader {
namespace {

using nlohmann::json;

const json* lookup(const json& event, std::string_view path) {
  const json* node = &event;
  while (true) {
    if (!node->is_object()) return nullptr;
    const std::size_t dot = path.find('.');
    auto it = node->find(std::string(path.substr(0, dot)));
    if (it == node->end()) return nullptr;
    node = &*it;
    if (dot == std::string_view::npos) return node;
    path.remove_prefix(dot + 1);
  }
}

// A number held by a JSON number or by a string in any C base ("0x0d", "13", "-2").
std::optional<double> as_number(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long i = std::strtoll(s.c_str(), &end, 0);
  if (errno == 0 && end && *end == '\0') return static_cast<double>(i);
  errno = 0;
  double d = std::strtod(s.c_str(), &end);
  if (errno == 0 && end && *end == '\0') return d;
  return std::nullopt;
}

bool value_matches(const json& actual, const json& expected) {
  if (expected.is_array()) {
    for (const auto& e : expected)
      if (value_matches(actual, e)) return true;
    return false;
  }
  if (expected.is_string()) {
    std::string text = actual.is_string() ? actual.get<std::string>() : actual.dump();
    return fnmatch(expected.get_ref<const std::string&>().c_str(), text.c_str(), 0) == 0;
  }
  if (expected.is_boolean()) return actual.is_boolean() && actual == expected;
  if (expected.is_number()) {
    auto a = as_number(actual);
    return a && *a == expected.get<double>();
  }
  return actual == expected;
}

std::string show_value(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) out += (out.empty() ? "" : "|") + show_value(e);
    return out;
  }
  return v.dump();
}

}  // namespace

const json* Trace::summary() const {
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    auto kind = it->find("kind");
    if (kind != it->end() && *kind == "summary") return &*it;
  }
  return nullptr;
}

Trace parse_trace(std::string_view text, bool accept_unterminated) {
  Trace trace;
  std::size_t pos = 0;
  std::size_t line_no = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos && !accept_unterminated) break;
    std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    ++trace.lines;
    json event = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded() || !event.is_object()) {
      ++trace.malformed;
      if (trace.malformed_lines.size() < 5) trace.malformed_lines.push_back(line_no);
      continue;
    }
    trace.events.push_back(std::move(event));
  }
  return trace;
}

bool event_matches(const json& event, const EventAssertion& assertion) {
  for (const auto& [field, expected] : assertion.where) {
    const json* actual = lookup(event, field);
    if (!actual || !value_matches(*actual, expected)) return false;
  }
  return true;
}

std::string describe_filter(const EventAssertion& assertion) {
  if (!assertion.description.empty()) return assertion.description;
  std::string out;
  for (const auto& [field, expected] : assertion.where)
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", field, show_value(expected));
  return out.empty() ? "any event" : out;
}

AssertionOutcome check_assertion(const EventAssertion& assertion,
                                 const std::vector<const Trace*>& traces) {
  AssertionOutcome out;
  for (const Trace* trace : traces) {
    for (const auto& event : trace->events) {
      if (!event_matches(event, assertion)) continue;
      if (assertion.sum.empty()) {
        out.observed += 1;
      } else if (const json* v = lookup(event, assertion.sum)) {
        out.observed += as_number(*v).value_or(0);
      }
    }
  }
  const bool low = assertion.min && out.observed < *assertion.min;
  const bool high = assertion.max && out.observed > *assertion.max;
  out.ok = !low && !high;

  std::string bound;
  if (assertion.min && assertion.max)
    bound = fmt::format("between {} and {}", *assertion.min, *assertion.max);
  else if (assertion.min)
    bound = fmt::format("at least {}", *assertion.min);
  else if (assertion.max)
    bound = fmt::format("at most {}", *assertion.max);
  else
    bound = "any number of";
  if (assertion.sum.empty())
    out.message = fmt::format("expected {} event(s) matching {}, saw {}", bound,
                              describe_filter(assertion), out.observed);
  else
    out.message = fmt::format("expected the sum of '{}' over events matching {} to be {}, saw {}",
                              assertion.sum, describe_filter(assertion), bound, out.observed);
  return out;
}

}  // namespace hvlab::grader
