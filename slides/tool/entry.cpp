#include "slides/tool/entry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "slides/tool/decode.hpp"

namespace hvlab::demo {

namespace {

const std::regex& field_assignment() {
  // "GUEST_TR_AR_BYTES = 0x0089", and "HOST_TR_SELECTOR is 0" in a sentence.
  static const std::regex re("\\b([A-Z][A-Z0-9_]{3,})\\s+(?:=|is)\\s+(0x[0-9a-fA-F]+|[0-9]+)\\b");
  return re;
}

void collect_fields(const std::string& text, std::map<std::string, std::uint64_t>& fields) {
  for (std::sregex_iterator it(text.begin(), text.end(), field_assignment()), end; it != end; ++it) {
    fields.emplace((*it)[1].str(), std::stoull((*it)[2].str(), nullptr, 0));
  }
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

void add_wrapped(std::string& out, std::string_view label, std::string_view text, std::size_t width) {
  auto lines = wrap(text, width, 0, label.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += (i == 0 ? std::string(label) : std::string()) + lines[i] + "\n";
  }
}

std::string field_line(const EntryFailure& f, const std::string& name) {
  std::uint64_t v = f.fields.at(name);
  std::string decoded = decode_vmcs_field(name, v);
  return fmt::format("{} = 0x{:x}{}", name, v, decoded.empty() ? "" : ": " + decoded);
}

}  // namespace

std::vector<std::string> related_fields(const EntryFailure& f, std::string_view name) {
  // GUEST_TR_AR_BYTES -> the other GUEST_TR_ fields the monitor dumped.
  std::size_t first = name.find('_');
  std::size_t second = first == std::string_view::npos ? first : name.find('_', first + 1);
  if (second == std::string_view::npos) return {};
  std::string prefix(name.substr(0, second + 1));
  std::vector<std::string> out;
  for (const auto& [n, v] : f.fields) {
    if (n != name && n.rfind(prefix, 0) == 0) out.push_back(n);
  }
  return out;
}

std::optional<EntryFailure> parse_entry_failure(std::string_view com1, std::string_view emulator_log,
                                                std::string* error) {
  EntryFailure f;
  // The monitor's diagnostics are KTAP comments on COM1, its own lines prefixed "lab04: ".
  constexpr std::string_view kComment = "# ", kMonitor = "lab04: ";
  for (std::string_view l : lines_of(com1)) {
    if (l.substr(0, kComment.size()) != kComment) continue;
    l.remove_prefix(kComment.size());
    if (l.substr(0, kMonitor.size()) == kMonitor) l.remove_prefix(kMonitor.size());
    std::string text = trimmed(l);
    if (text.rfind("VM entry failed:", 0) == 0) {
      f.headline = text;
    } else if (text.rfind("check failed", 0) == 0) {
      f.checks.push_back(text);
    }
    if (!f.headline.empty()) collect_fields(text, f.fields);
  }
  for (std::string_view l : lines_of(emulator_log)) {
    std::size_t at = l.find("VMENTER FAIL");
    if (at == std::string_view::npos) at = l.find("VMFAIL");
    if (at != std::string_view::npos) f.cpu.push_back(trimmed(l.substr(at)));
  }
  if (f.headline.empty()) {
    *error = "the monitor reported no failed VM entry (no \"VM entry failed:\" on COM1)";
    return std::nullopt;
  }
  return f;
}

std::vector<std::string> fields_named(const EntryFailure& f, std::string_view check) {
  std::vector<std::string> out;
  static const std::regex word("\\b[A-Z][A-Z0-9_]{3,}\\b");
  std::string text(check);
  for (std::sregex_iterator it(text.begin(), text.end(), word), end; it != end; ++it) {
    std::string name = it->str();
    if (f.fields.count(name) && std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

void show_entry_failure(const EntryFailure& f, std::string_view breakage, const Screen& s) {
  s.title(fmt::format("demo-entry-fail: a VMCS broken on purpose (break={}), then VMLAUNCH", breakage));
  s.para("lab04's VT-x monitor under Bochs, with one VMCS field made wrong before the first VM "
         "entry. ARGS=tr|ctls|host|link|cr0 picks the field.");
  s.line();
  s.line(s.paint(Tone::title, "The CPU refused to enter the guest. Bochs' own words:"));
  if (f.cpu.empty()) s.para("(Bochs logged no VMENTER FAIL / VMFAIL line)", 2, 4, Tone::dim);
  for (const auto& c : f.cpu) s.para(c, 2, 4, Tone::bad);
  s.line();
  s.line(s.paint(Tone::title, "The monitor's diagnostic, naming the check that failed:"));
  s.para(f.headline, 2, 4);
  for (const auto& c : f.checks) s.para(c, 2, 4, Tone::warn);
  std::vector<std::string> named;
  for (const auto& c : f.checks) {
    for (auto& n : fields_named(f, c)) {
      if (std::find(named.begin(), named.end(), n) == named.end()) named.push_back(n);
    }
  }
  if (!named.empty()) {
    s.line();
    s.line(s.paint(Tone::title, named.size() == 1 ? "The field, decoded:" : "The fields, decoded:"));
    for (const auto& n : named) s.para(field_line(f, n), 2, 4, Tone::code);
    std::vector<std::string> related;
    for (const auto& n : named) {
      for (const auto& r : related_fields(f, n)) {
        if (std::find(named.begin(), named.end(), r) == named.end()) related.push_back(r);
      }
    }
    if (!related.empty()) {
      s.line(s.paint(Tone::title, "Beside it in the VMCS:"));
      for (const auto& r : related) s.para(field_line(f, r), 2, 4, Tone::dim);
    }
  }
}

std::vector<std::pair<std::string, std::string>> entry_failure_figures(const EntryFailure& f,
                                                                       std::string_view breakage) {
  constexpr std::size_t kWidth = 60;
  std::string fig = "```\n";
  fig += fmt::format("lab04, break={}: one VMCS field made wrong, then VMLAUNCH\n", breakage);
  for (const auto& c : f.cpu) add_wrapped(fig, "Bochs:   ", c, kWidth);
  add_wrapped(fig, "lab04:   ", f.headline, kWidth);
  for (const auto& c : f.checks) add_wrapped(fig, "         ", c, kWidth);
  for (const auto& c : f.checks) {
    for (const auto& n : fields_named(f, c)) add_wrapped(fig, "decoded: ", field_line(f, n), kWidth);
  }
  fig += "```\n";
  return {{"diagnostic", fig}};
}

}  // namespace hvlab::demo
