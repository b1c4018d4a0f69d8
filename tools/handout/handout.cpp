#include "tools/handout/handout.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>

namespace hvlab::handout {

namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string indent_of(const std::string& s) { return s.substr(0, s.find_first_not_of(" \t")); }

const char* comment_prefix(Syntax s) {
  switch (s) {
    case Syntax::cpp: return "//";
    case Syntax::hash: return "#";
    case Syntax::markdown: return "<!--";
    case Syntax::none: break;
  }
  return "";
}

// A marker line: optional indent, the comment leader, then the keyword.
bool is_marker(const std::string& line, Syntax syn, const char* keyword, std::string* rest) {
  std::string t = trim(line);
  std::string lead = comment_prefix(syn);
  if (t.rfind(lead, 0) != 0) return false;
  t = trim(t.substr(lead.size()));
  std::string kw = keyword;
  if (t.rfind(kw, 0) != 0) return false;
  if (rest) {
    std::string r = trim(t.substr(kw.size()));
    if (syn == Syntax::markdown && r.size() >= 3 && r.compare(r.size() - 3, 3, "-->") == 0) r = trim(r.substr(0, r.size() - 3));
    *rest = r;
  }
  return true;
}

}  // namespace

Syntax syntax_for(const std::string& path) {
  auto ends = [&](const char* suffix) {
    std::string s = suffix;
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".cpp") || ends(".hpp") || ends(".h") || ends(".cc") || ends(".c") || ends(".ld")) return Syntax::cpp;
  if (ends(".S") || ends(".s") || ends(".cmake") || ends("CMakeLists.txt") || ends(".sh") || ends(".toml") ||
      ends("Makefile") || ends(".mk")) {
    return Syntax::hash;
  }
  if (ends(".md")) return Syntax::markdown;
  return Syntax::none;
}

int lab_of(const std::string& exercise) {
  static const std::regex re(R"(^lab0*([0-9]+)-[A-Za-z0-9_.-]+$)");
  std::smatch m;
  if (!std::regex_match(exercise, m, re)) return 0;
  return std::stoi(m[1]);
}

Outcome process(const std::string& path, const std::string& text, int keep_upto, const std::set<std::string>& keep_ids) {
  Syntax syn = syntax_for(path);
  Processed out;
  if (syn == Syntax::none) {
    if (text.find("BEGIN SOLUTION") != std::string::npos) {
      return {std::nullopt, path + ": solution markers in a file of unknown syntax"};
    }
    out.text = text;
    return {out, ""};
  }
  auto lines = split_lines(text);
  std::ostringstream result;
  std::optional<Region> open;
  std::string open_indent;
  std::vector<std::string> stubs;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    int lineno = static_cast<int>(i + 1);
    std::string rest;
    auto where = [&] { return path + ":" + std::to_string(lineno) + ": "; };
    if (is_marker(line, syn, "BEGIN SOLUTION", &rest)) {
      if (open) return {std::nullopt, where() + "BEGIN SOLUTION inside the region " + open->exercise + " opened at line " + std::to_string(open->begin_line)};
      std::string id = rest.substr(0, rest.find_first_of(" \t:"));
      const std::string after = trim(rest.substr(id.size()));
      const bool degraded = after == "degraded" || after.rfind("degraded ", 0) == 0;
      if (lab_of(id) == 0) return {std::nullopt, where() + "BEGIN SOLUTION needs an exercise id like lab01-e3, got '" + id + "'"};
      open = Region{id, lab_of(id), lineno, 0, {}};
      open->degraded = degraded;
      open_indent = indent_of(line);
      stubs.clear();
      continue;
    }
    if (is_marker(line, syn, "END SOLUTION", nullptr)) {
      if (!open) return {std::nullopt, where() + "END SOLUTION without BEGIN SOLUTION"};
      open->end_line = lineno;
      bool keep = open->lab <= keep_upto || keep_ids.count(open->exercise) != 0;
      if (keep) {
        for (auto& b : open->body) result << b << '\n';
      } else {
        if (syn == Syntax::cpp) {
          result << open_indent << (open->degraded ? "HV_NOT_DONE(\"" : "HV_NOT_IMPLEMENTED(\"") << open->exercise
                 << "\");\n";
        } else if (syn == Syntax::markdown) {
          result << open_indent << "<!-- " << open->exercise << ": your answer here -->\n";
        } else {
          result << open_indent << "# " << open->exercise << ": not implemented\n";
        }
        for (auto& s : stubs) result << s << '\n';
        open->stubs = stubs;
        out.stripped.push_back(*open);
      }
      out.regions.push_back(*open);
      open.reset();
      continue;
    }
    if (open) {
      if (is_marker(line, syn, "STUB:", &rest) || is_marker(line, syn, "STUB", &rest)) {
        // Keep the STUB line's own indentation.
        std::string r = line.substr(line.find("STUB") + 4);
        if (!r.empty() && r[0] == ':') r = r.substr(1);
        if (!r.empty() && r[0] == ' ') r = r.substr(1);
        stubs.push_back(indent_of(line) + r);
      } else {
        open->body.push_back(line);
      }
      continue;
    }
    result << line << '\n';
  }
  if (open) return {std::nullopt, path + ":" + std::to_string(open->begin_line) + ": region " + open->exercise + " is never closed (END SOLUTION)"};
  out.text = result.str();
  // Keep a missing final newline missing.
  if (!text.empty() && text.back() != '\n' && !out.text.empty()) out.text.pop_back();
  return {out, ""};
}

bool instructor_only(const std::string& path, const std::string& text, const std::vector<std::string>& globs) {
  for (auto& g : globs) {
    if (fnmatch(g.c_str(), path.c_str(), FNM_PATHNAME) == 0) return true;
  }
  auto lines = split_lines(text.substr(0, 2000));
  for (std::size_t i = 0; i < lines.size() && i < 5; ++i) {
    if (lines[i].find("hvlab: instructor-only") != std::string::npos) return true;
  }
  return false;
}

bool verbatim(const std::string& text) {
  auto lines = split_lines(text.substr(0, 2000));
  for (std::size_t i = 0; i < lines.size() && i < 5; ++i)
    if (lines[i].find("hvlab: verbatim") != std::string::npos) return true;
  return false;
}

std::vector<std::string> leaked_lines(const std::vector<Region>& stripped, const std::string& original_text,
                                      const std::string& handout_text) {
  std::set<std::string> handout;
  for (auto& l : split_lines(handout_text)) handout.insert(trim(l));
  // Lines that also stand outside every region are not secrets.
  std::multiset<std::string> all;
  for (auto& l : split_lines(original_text)) all.insert(trim(l));
  // What the stubs print is public by design ("return Action::stop;" may also be a line of
  // the solution).
  std::set<std::string> stub_lines;
  for (auto& r : stripped)
    for (auto& s : r.stubs) stub_lines.insert(trim(s));
  std::vector<std::string> leaks;
  for (auto& r : stripped) {
    for (auto& l : r.body) {
      std::string t = trim(l);
      if (t.size() < 12) continue;  // braces, `return;`, `break;`, short comments
      if (stub_lines.count(t)) continue;
      std::size_t in_regions = 0;
      for (auto& rr : stripped) in_regions += std::count_if(rr.body.begin(), rr.body.end(), [&](auto& x) { return trim(x) == t; });
      if (all.count(t) > in_regions) continue;  // also outside the regions
      if (handout.count(t)) leaks.push_back(t);
    }
  }
  return leaks;
}

}  // namespace hvlab::handout
