#include "slides/tool/census.hpp"

#include <fmt/format.h>

#include <cctype>
#include <regex>

namespace hvlab::demo {

namespace {

constexpr std::string_view kRowPrefix = "# census: ";

std::string value_of(std::string_view fields, std::string_view key) {
  std::string k = std::string(" ") + std::string(key) + "=";
  std::string padded = " " + std::string(fields);
  std::size_t at = padded.find(k);
  if (at == std::string::npos) return {};
  std::size_t start = at + k.size();
  std::size_t end = padded.find(' ', start);
  return padded.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// "IF=1 (ring 0: 0)" says ring 0 differed; "IF=1" alone says it was the same as at ring 0.
bool flag_from(const std::string& text, std::string_view flag, int* here, int* ring0) {
  std::regex re(std::string("\\b") + std::string(flag) + "=([0-9])( \\(ring 0: ([0-9])\\))?");
  std::smatch m;
  if (!std::regex_search(text, m, re)) return false;
  *here = std::stoi(m[1].str());
  *ring0 = m[3].matched ? std::stoi(m[3].str()) : *here;
  return true;
}

void parse_popf_evidence(CensusReport& r) {
  // "r0 runs | r1 eflags IF=1 (ring 0: 0) IOPL=0 (ring 0: 3) | r3 eflags ..."
  std::string ev = r.popf_evidence;
  std::size_t p1 = ev.find("| r1 "), p3 = ev.find("| r3 ");
  if (p1 == std::string::npos || p3 == std::string::npos || p3 < p1) return;
  std::string r1 = ev.substr(p1 + 5, p3 - p1 - 5);
  std::string r3 = ev.substr(p3 + 5);
  std::size_t more = r3.find(" | ");
  if (more != std::string::npos) r3.resize(more);
  int r0a = -1, r0b = -1;
  if (flag_from(r1, "IF", &r.popf_if.ring1, &r0a) && flag_from(r3, "IF", &r.popf_if.ring3, &r0b) && r0a == r0b) {
    r.popf_if.ring0 = r0a;
  }
  if (flag_from(r1, "IOPL", &r.popf_iopl.ring1, &r0a) && flag_from(r3, "IOPL", &r.popf_iopl.ring3, &r0b) &&
      r0a == r0b) {
    r.popf_iopl.ring0 = r0a;
  }
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string joined(const std::vector<std::string>& names, std::string_view sep = " ") {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : std::string(sep)) + n;
  return out;
}

Tone tone_of(std::string_view cls) {
  if (cls == "privileged") return Tone::good;
  if (cls == "sensitive") return Tone::bad;
  if (cls == "innocuous") return Tone::dim;
  return Tone::warn;
}

const char* kColumnNames[] = {"ring 1", "ring 3", "ring 1, CR4.UMIP=1", "ring 3, CR4.UMIP=1"};

std::vector<Column> columns_of(const CensusReport& r) {
  if (r.umip) return {Column::ring1, Column::ring3, Column::umip1, Column::umip3};
  return {Column::ring1, Column::ring3};
}

// "0 ignored" when the deprivileged ring kept its old value where ring 0 took the new one.
std::string flag_cell(int value, int ring0) {
  return value == ring0 ? fmt::format("{}", value) : fmt::format("{}  ignored", value);
}

// At ring 0 POPF takes what it pops, so ring 0's result is the image the probe popped.
std::string popped_heading(const CensusReport& r) {
  std::string h = fmt::format("POPF of EFLAGS with IF={}", r.popf_if.ring0);
  if (r.popf_iopl.known()) h += fmt::format(", IOPL={}", r.popf_iopl.ring0);
  return h;
}

}  // namespace

std::optional<CensusReport> parse_census(std::string_view com1, std::string* error) {
  CensusReport r;
  bool in_evidence = false;
  for (std::string_view l : lines_of(com1)) {
    if (l.substr(0, kRowPrefix.size()) == kRowPrefix) {
      std::string_view rest = l.substr(kRowPrefix.size());
      std::size_t sp = rest.find(' ');
      if (sp == std::string_view::npos) continue;
      CensusRow row;
      row.name = std::string(rest.substr(0, sp));
      std::string_view fields = rest.substr(sp + 1);
      row.ring1 = value_of(fields, "ring1");
      row.ring3 = value_of(fields, "ring3");
      row.umip1 = value_of(fields, "umip1");
      row.umip3 = value_of(fields, "umip3");
      row.reference = value_of(fields, "ri");
      if (row.ring1.empty() || row.ring3.empty()) continue;
      r.rows.push_back(std::move(row));
    } else if (l.find("UMIP: supported") == 0) {
      r.umip = true;
    } else if (l.find("evidence (") == 0) {
      in_evidence = true;
    } else if (in_evidence && l.empty()) {
      in_evidence = false;
    } else if (in_evidence && l.find("  popf ") == 0) {
      std::string_view ev = l.substr(7);
      while (!ev.empty() && ev.front() == ' ') ev.remove_prefix(1);
      r.popf_evidence = std::string(ev);
    } else if (l == "census: done") {
      r.done = true;
    }
  }
  if (r.rows.empty()) {
    *error = "the census printed no \"# census:\" rows";
    return std::nullopt;
  }
  if (!r.done) {
    *error = "the census did not finish (no \"census: done\")";
    return std::nullopt;
  }
  parse_popf_evidence(r);
  return r;
}

const std::string& cell(const CensusRow& row, Column c) {
  switch (c) {
    case Column::ring1: return row.ring1;
    case Column::ring3: return row.ring3;
    case Column::umip1: return row.umip1;
    case Column::umip3: return row.umip3;
  }
  return row.ring3;
}

ClassCounts count_classes(const CensusReport& r, Column c) {
  ClassCounts n;
  for (const auto& row : r.rows) {
    const std::string& v = cell(row, c);
    if (v == "privileged") ++n.privileged;
    else if (v == "sensitive") ++n.sensitive;
    else if (v == "innocuous") ++n.innocuous;
    else ++n.other;
  }
  return n;
}

std::vector<std::string> names_in_class(const CensusReport& r, Column c, std::string_view cls) {
  std::vector<std::string> out;
  for (const auto& row : r.rows) {
    if (cell(row, c) == cls) out.push_back(row.name);
  }
  return out;
}

void show_census(const CensusReport& r, const Screen& s) {
  s.title("demo-census: which x86 instructions trap when a kernel runs deprivileged?");
  s.para(fmt::format(
      "lab01's census kernel ran {} instructions at ring 0, ring 1 and ring 3 under QEMU. A fault "
      "is privileged (a monitor hears of it); a different result with no fault is sensitive (it "
      "does not); the same result is innocuous.",
      r.rows.size()));
  s.line();

  const CensusRow* popf = nullptr;
  for (const auto& row : r.rows) {
    if (row.name == "popf") popf = &row;
  }
  if (popf) {
    if (r.popf_if.known()) {
      s.line(s.paint(Tone::title, popped_heading(r) + ":"));
      s.line(fmt::format("  {:<16}{:<10}{:<16}{}", "", "ring 0", "ring 1", "ring 3"));
      auto row = [&](std::string_view what, const FlagAfter& f) {
        std::string c1 = fmt::format("{:<16}", flag_cell(f.ring1, f.ring0));
        std::string c3 = flag_cell(f.ring3, f.ring0);
        s.line(fmt::format("  {:<16}{:<10}{}{}", what, f.ring0, s.paint(f.ring1 == f.ring0 ? Tone::plain : Tone::bad, c1),
                           s.paint(f.ring3 == f.ring0 ? Tone::plain : Tone::bad, c3)));
      };
      row("IF after POPF", r.popf_if);
      if (r.popf_iopl.known()) row("IOPL after POPF", r.popf_iopl);
    } else {
      s.line(s.paint(Tone::title, "POPF:"));
      s.para("evidence: " + r.popf_evidence, 2, 4);
    }
    std::string c1 = fmt::format("{:<16}", popf->ring1);
    s.line(fmt::format("  {:<16}{:<10}{}{}", "class", "-", s.paint(tone_of(popf->ring1), c1),
                       s.paint(tone_of(popf->ring3), popf->ring3)));
    if (popf->ring1 == "sensitive" && popf->ring3 == "sensitive") {
      s.para("POPF does not trap at ring 1 or ring 3: the guest kernel's \"interrupts off\" is silently "
             "lost, and a trap-and-emulate monitor never hears of it.",
             2, 2, Tone::bad);
    } else {
      s.para(fmt::format("POPF was {} at ring 1 and {} at ring 3.", popf->ring1, popf->ring3), 2, 2);
    }
    s.line();
  }

  s.line(s.paint(Tone::title, fmt::format("{:<24}{:>12}{:>11}{:>11}{:>8}", "classes", "privileged",
                                           "sensitive", "innocuous", "other")));
  for (Column c : columns_of(r)) {
    ClassCounts n = count_classes(r, c);
    s.line(fmt::format("  {:<22}{}{}{}{:>8}", kColumnNames[static_cast<int>(c)],
                       s.paint(Tone::good, fmt::format("{:>12}", n.privileged)),
                       s.paint(Tone::bad, fmt::format("{:>11}", n.sensitive)), fmt::format("{:>11}", n.innocuous),
                       n.other));
  }
  auto sensitive3 = names_in_class(r, Column::ring3, "sensitive");
  s.para("sensitive at ring 3: " + joined(sensitive3), 0, 2);
  if (r.umip) {
    std::vector<std::string> fixed;
    for (const auto& row : r.rows) {
      if (row.ring3 == "sensitive" && row.umip3 == "privileged") fixed.push_back(row.name);
    }
    if (!fixed.empty()) {
      s.para(fmt::format("with CR4.UMIP=1 these fault instead: {}; the rest stay sensitive.", joined(fixed)), 0, 2);
    }
  }
  s.line();
  s.para(fmt::format("Popek and Goldberg: trap and emulate needs every sensitive instruction to be "
                     "privileged. On x86, {} are not.",
                     sensitive3.size()),
         0, 0, Tone::title);
  s.line(s.paint(Tone::dim, "The whole table, with the evidence for each row: make census"));
}

std::vector<std::pair<std::string, std::string>> census_figures(const CensusReport& r) {
  std::string classes = "| measured | privileged | sensitive | innocuous | other |\n|:--|--:|--:|--:|--:|\n";
  for (Column c : columns_of(r)) {
    ClassCounts n = count_classes(r, c);
    classes += fmt::format("| {} | {} | {} | {} | {} |\n", kColumnNames[static_cast<int>(c)], n.privileged,
                           n.sensitive, n.innocuous, n.other);
  }
  std::vector<std::string> upper_names;
  for (const auto& n : names_in_class(r, Column::ring3, "sensitive")) upper_names.push_back(upper(n));
  classes += fmt::format("\nSensitive at ring 3 ({} of {}): {}.\n", upper_names.size(), r.rows.size(),
                         joined(upper_names, ", "));

  std::string popf = "```\n";
  const CensusRow* row = nullptr;
  for (const auto& x : r.rows) {
    if (x.name == "popf") row = &x;
  }
  if (r.popf_if.known()) {
    popf += popped_heading(r) + "\n";
    popf += fmt::format("{:<17}{:<9}{:<13}{}\n", "", "ring 0", "ring 1", "ring 3");
    auto flag_row = [&](std::string_view what, const FlagAfter& f) {
      popf += fmt::format("{:<17}{:<9}{:<13}{}\n", what, f.ring0, flag_cell(f.ring1, f.ring0),
                          flag_cell(f.ring3, f.ring0));
    };
    flag_row("IF after POPF", r.popf_if);
    if (r.popf_iopl.known()) flag_row("IOPL after POPF", r.popf_iopl);
  } else {
    popf += "POPF: " + r.popf_evidence + "\n";
  }
  if (row) popf += fmt::format("{:<17}{:<9}{:<13}{}\n", "class", "-", row->ring1, row->ring3);
  popf += "```\n";
  return {{"classes", classes}, {"popf", popf}};
}

}  // namespace hvlab::demo
