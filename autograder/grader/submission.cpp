#include "autograder/grader/submission.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "autograder/grader/score.hpp"

namespace hvlab::grader::batch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

const char* const kTarSuffixes[] = {".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar.zst", ".tar"};

// Folders never searched or copied: version control, and builds at the top of a tree.
bool skipped_dir(const fs::path& rel_dir) {
  const std::string name = rel_dir.filename().string();
  if (name == ".git") return true;
  const bool top = !rel_dir.has_parent_path() || rel_dir.parent_path().empty();
  return top && (name == "build" || name.rfind("build-", 0) == 0);
}

bool same_content(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(b, ec))) return false;
  if (fs::file_size(a, ec) != fs::file_size(b, ec) || ec) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  char ba[65536], bb[65536];
  while (fa && fb) {
    fa.read(ba, sizeof ba);
    fb.read(bb, sizeof bb);
    if (fa.gcount() != fb.gcount() || std::char_traits<char>::compare(ba, bb, static_cast<std::size_t>(fa.gcount())) != 0)
      return false;
  }
  return fa.eof() && fb.eof();
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string line(text.substr(pos, nl - pos));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    pos = nl + 1;
  }
  return lines;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

// "[12/70] Building CXX object ..." : Ninja's progress lines.
bool progress_line(const std::string& l) {
  if (l.size() < 5 || l[0] != '[') return false;
  std::size_t i = 1;
  while (i < l.size() && std::isdigit(static_cast<unsigned char>(l[i]))) ++i;
  return i > 1 && i < l.size() && l[i] == '/';
}

std::string points(double v) { return fmt::format("{:g}", v); }

}  // namespace

ArchiveKind archive_kind(const fs::path& p) {
  const std::string name = lower(p.filename().string());
  if (ends_with(name, ".zip")) return ArchiveKind::zip;
  for (const char* s : kTarSuffixes)
    if (ends_with(name, s)) return ArchiveKind::tar;
  return ArchiveKind::none;
}

std::string student_id(const fs::path& entry) {
  std::string name = entry.filename().string();
  if (name.empty()) name = entry.parent_path().filename().string();
  const std::string low = lower(name);
  if (ends_with(low, ".zip")) name.resize(name.size() - 4);
  for (const char* s : kTarSuffixes)
    if (ends_with(lower(name), s)) {
      name.resize(name.size() - std::string_view(s).size());
      break;
    }
  std::string out;
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
    out += ok ? c : '_';
  }
  while (!out.empty() && (out.front() == '.' || out.front() == '-')) out.erase(out.begin());
  if (out.size() > 100) out.resize(100);
  return out.empty() ? "submission" : out;
}

std::vector<fs::path> list_submissions(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    // The folder is the instructor's: a link in it (to a student's clone) is followed.
    std::error_code ec;
    const auto st = fs::status(e.path(), ec);
    if (fs::is_directory(st) || (fs::is_regular_file(st) && archive_kind(e.path()) != ArchiveKind::none))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> lab_folders(const fs::path& tree) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(tree, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 6 && name.rfind("lab", 0) == 0 && std::isdigit(static_cast<unsigned char>(name[3])) &&
        std::isdigit(static_cast<unsigned char>(name[4])) && name[5] == '-' &&
        fs::is_directory(fs::symlink_status(e.path(), ec)))
      out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<fs::path> find_tree_root(const fs::path& dir, const std::vector<std::string>& labs) {
  std::vector<fs::path> level = {dir};
  for (int depth = 0; depth <= 4 && !level.empty(); ++depth) {
    std::vector<fs::path> next;
    for (const auto& d : level) {
      std::error_code ec;
      for (const auto& lab : labs)
        if (fs::is_directory(fs::symlink_status(d / lab, ec))) return d;
      for (const auto& e : fs::directory_iterator(d, ec)) {
        const std::string name = e.path().filename().string();
        if (name == ".git" || name == "__MACOSX" || name == "build" || name.rfind("build-", 0) == 0) continue;
        if (fs::is_directory(fs::symlink_status(e.path(), ec))) next.push_back(e.path());
      }
    }
    std::sort(next.begin(), next.end());
    if (next.size() > 2000) next.resize(2000);
    level = std::move(next);
  }
  return std::nullopt;
}

const char* verdict_text(FileVerdict v) {
  switch (v) {
    case FileVerdict::taken: return "taken";
    case FileVerdict::build_rule: return "a build file: the handout's is used";
    case FileVerdict::outside_labs: return "outside the lab folders: the handout's is used";
    case FileVerdict::not_source: return "not a source file: the autograder does not use it";
    case FileVerdict::too_large: return "larger than 1 MiB";
    case FileVerdict::not_regular: return "a symbolic link or special file";
  }
  return "?";
}

FileVerdict classify(std::string_view rel, const std::vector<std::string>& labs) {
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (pos <= rel.size()) {
    std::size_t slash = rel.find('/', pos);
    if (slash == std::string_view::npos) slash = rel.size();
    parts.emplace_back(rel.substr(pos, slash - pos));
    pos = slash + 1;
  }
  const std::string& name = parts.back();
  const std::string low = lower(name);
  const bool build_rule = name == "CMakeLists.txt" || ends_with(low, ".cmake") || name == "Makefile" ||
                          name == "GNUmakefile" || ends_with(low, ".mk") || ends_with(low, ".ld") ||
                          ends_with(low, ".lds");
  for (const auto& p : parts)
    if (p.empty() || p == "." || p == "..") return FileVerdict::not_source;
  if (parts.size() < 2 || std::find(labs.begin(), labs.end(), parts.front()) == labs.end())
    return build_rule ? FileVerdict::build_rule : FileVerdict::outside_labs;
  if (build_rule) return FileVerdict::build_rule;
  for (const auto& p : parts)
    if (p[0] == '.') return FileVerdict::not_source;
  static const char* const kSources[] = {".cpp", ".cc", ".c", ".h", ".hpp", ".inc", ".s"};
  if (ends_with(name, ".S")) return FileVerdict::taken;
  for (const char* s : kSources)
    if (ends_with(name, s)) return FileVerdict::taken;
  return FileVerdict::not_source;
}

Overlay overlay_submission(const fs::path& root, const fs::path& base, const fs::path& work_tree,
                           const std::vector<std::string>& labs) {
  Overlay out;
  constexpr std::size_t kListed = 100;
  auto ignore = [&](std::string rel, FileVerdict v) {
    ++out.ignored_total;
    if (out.ignored.size() < kListed) out.ignored.push_back({std::move(rel), verdict_text(v)});
  };
  std::size_t seen = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) throw std::runtime_error(fmt::format("cannot read {}: {}", root.string(), ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) throw std::runtime_error(fmt::format("cannot read {}: {}", root.string(), ec.message()));
    const fs::path rel_path = it->path().lexically_relative(root);
    const auto st = fs::symlink_status(it->path(), ec);
    if (fs::is_directory(st)) {
      if (skipped_dir(rel_path)) it.disable_recursion_pending();
      continue;
    }
    if (++seen > kMaxFiles) {
      out.truncated = true;
      break;
    }
    const std::string rel = rel_path.generic_string();
    FileVerdict v = classify(rel, labs);
    if (!fs::is_regular_file(st)) {
      if (v == FileVerdict::taken) ignore(rel, FileVerdict::not_regular);
      continue;
    }
    if (v == FileVerdict::taken && fs::file_size(it->path(), ec) > kMaxSourceBytes) v = FileVerdict::too_large;
    if (v != FileVerdict::taken) {
      if (!same_content(it->path(), base / rel_path)) ignore(rel, v);
      continue;
    }
    const fs::path dest = work_tree / rel_path;
    fs::create_directories(dest.parent_path(), ec);
    // Never write through a link the handout might hold at that place.
    if (fs::is_symlink(fs::symlink_status(dest, ec))) fs::remove(dest, ec);
    if (!fs::copy_file(it->path(), dest, fs::copy_options::overwrite_existing, ec) || ec)
      throw std::runtime_error(fmt::format("cannot copy {} into the work tree: {}", rel, ec.message()));
    fs::permissions(dest, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read,
                    ec);
    out.taken.push_back(rel);
  }
  std::sort(out.taken.begin(), out.taken.end());
  return out;
}

void copy_tree(const fs::path& from, const fs::path& to, bool hard_links, const std::vector<std::string>& skip) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create {}: {}", to.string(), ec.message()));
  fs::recursive_directory_iterator it(from, ec), end;
  if (ec) throw std::runtime_error(fmt::format("cannot read {}: {}", from.string(), ec.message()));
  bool links = hard_links;
  for (; it != end; it.increment(ec)) {
    if (ec) throw std::runtime_error(fmt::format("cannot read {}: {}", from.string(), ec.message()));
    const fs::path rel = it->path().lexically_relative(from);
    const fs::path dest = to / rel;
    const auto st = fs::symlink_status(it->path(), ec);
    if (std::find(skip.begin(), skip.end(), rel.generic_string()) != skip.end()) {
      if (fs::is_directory(st)) it.disable_recursion_pending();
      continue;
    }
    if (fs::is_directory(st)) {
      if (skipped_dir(rel)) {
        it.disable_recursion_pending();
        continue;
      }
      fs::create_directories(dest, ec);
    } else if (fs::is_symlink(st)) {
      fs::remove(dest, ec);
      fs::copy_symlink(it->path(), dest, ec);
    } else if (fs::is_regular_file(st)) {
      fs::remove(dest, ec);
      ec.clear();
      if (links) {
        fs::create_hard_link(it->path(), dest, ec);
        if (ec) links = false;  // another file system: copy from now on
      }
      if (!links) fs::copy_file(it->path(), dest, fs::copy_options::overwrite_existing, ec);
    }
    if (ec) throw std::runtime_error(fmt::format("cannot copy {} to {}: {}", it->path().string(), dest.string(), ec.message()));
  }
}

namespace {

// "file:12:3: error: ..." (the column is optional): a compiler diagnostic's first line.
std::string_view diagnostic_kind(const std::string& l) {
  for (std::string_view kind : {": fatal error: ", ": error: ", ": warning: ", ": note: "}) {
    const std::size_t at = l.find(kind);
    if (at == std::string::npos || at == 0 || l[0] == ' ') continue;
    // file:LINE[:COL] right before it
    std::size_t i = at;
    while (i > 0 && (std::isdigit(static_cast<unsigned char>(l[i - 1])) || l[i - 1] == ':')) --i;
    if (i < at && l[i] == ':') return kind.substr(2, kind.size() - 4);
  }
  return {};
}

// "file: In function 'f':", "In file included from ...": where the next diagnostic is.
bool context_line(const std::string& l) {
  if (l.rfind("In file included from ", 0) == 0 || l.rfind("                 from ", 0) == 0) return true;
  return !l.empty() && l.back() == ':' && l[0] != ' ' &&
         (l.find(": In ") != std::string::npos || l.find(": At ") != std::string::npos);
}

}  // namespace

std::string compiler_message(std::string_view log, const std::string& source_root, std::size_t max_lines) {
  std::string text(log);
  if (!source_root.empty()) {
    std::string root = source_root;
    if (root.back() != '/') root += '/';
    replace_all(text, root, "");
  }
  replace_all(text, "../src/", "");
  const std::vector<std::string> lines = split_lines(text);
  auto cut = [](const std::string& l) { return l.size() > 300 ? l.substr(0, 297) + "..." : l; };

  // The output of each failed step, without the command line.
  std::vector<std::string> failed;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("FAILED: ", 0) != 0) continue;
    std::size_t j = i + 2;
    for (; j < lines.size(); ++j) {
      const std::string& l = lines[j];
      if (l.rfind("FAILED: ", 0) == 0 || l.rfind("ninja: ", 0) == 0 || progress_line(l)) break;
      failed.push_back(l);
    }
    i = j - 1;
  }

  std::vector<std::string> keep;
  if (!failed.empty()) {
    // Diagnostics as groups (context lines, the diagnostic, its code excerpt and notes), the
    // errors first: the stubs' warnings must not push the error out of the message.
    struct Group {
      std::vector<std::string> lines;
      bool error = false;
    };
    std::vector<Group> groups;
    std::vector<std::string> context;
    for (const auto& l : failed) {
      const std::string_view kind = diagnostic_kind(l);
      if (context_line(l)) {
        context.push_back(l);
      } else if (!kind.empty() && kind != "note") {
        Group g;
        g.lines = std::move(context);
        context.clear();
        g.lines.push_back(l);
        g.error = kind != "warning";
        groups.push_back(std::move(g));
      } else if (!groups.empty() && context.empty()) {
        groups.back().lines.push_back(l);
      } else {
        context.push_back(l);
      }
    }
    if (!context.empty()) groups.push_back({std::move(context), false});
    const bool any_error = std::any_of(groups.begin(), groups.end(), [](const Group& g) { return g.error; });
    std::size_t warnings = 0;
    for (const auto& g : groups) {
      if (any_error && !g.error) {
        warnings += std::count_if(g.lines.begin(), g.lines.end(),
                                  [](const std::string& l) { return diagnostic_kind(l) == "warning"; });
        continue;
      }
      for (const auto& l : g.lines)
        if (keep.size() < max_lines) keep.push_back(cut(l));
    }
    if (warnings) keep.push_back(fmt::format("({} warning(s) not shown)", warnings));
  }
  if (keep.empty()) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::string& l = lines[i];
      if (l.find("CMake Error") != std::string::npos || l.rfind("ninja: error", 0) == 0 ||
          l.find("error:") != std::string::npos) {
        for (std::size_t j = i; j < lines.size() && j < i + 8; ++j) keep.push_back(cut(lines[j]));
        break;
      }
    }
  }
  if (keep.empty()) {
    std::vector<std::string> tail;
    for (const auto& l : lines)
      if (!l.empty()) tail.push_back(l);
    const std::size_t from = tail.size() > 15 ? tail.size() - 15 : 0;
    for (std::size_t i = from; i < tail.size(); ++i) keep.push_back(cut(tail[i]));
  }
  while (!keep.empty() && keep.back().empty()) keep.pop_back();
  std::string out;
  for (const auto& l : keep) out += l + "\n";
  return out;
}

std::string first_error_line(std::string_view message) {
  const auto lines = split_lines(message);
  for (const auto& l : lines) {
    const std::string_view kind = diagnostic_kind(l);
    if (kind == "error" || kind == "fatal error") return l;
  }
  for (const auto& l : lines)
    if (l.find("error") != std::string::npos || l.find("Error") != std::string::npos) return l;
  for (const auto& l : lines)
    if (!l.empty()) return l;
  return {};
}

std::string csv_field(std::string_view s) {
  std::string v(s);
  if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r'))
    v = "'" + v;
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string gradebook_csv(const std::vector<json>& reports) {
  std::vector<std::string> labs, exercises;
  for (const auto& r : reports)
    for (const auto& l : r.value("labs", json::array())) {
      const std::string name = l.value("lab", "");
      if (l.value("status", "") == "not_selected") continue;
      if (std::find(labs.begin(), labs.end(), name) == labs.end()) labs.push_back(name);
      for (const auto& e : l.value("exercises", json::array())) {
        const std::string id = e.value("exercise", "");
        if (std::find(exercises.begin(), exercises.end(), id) == exercises.end()) exercises.push_back(id);
      }
    }
  std::sort(exercises.begin(), exercises.end(), [](const std::string& a, const std::string& b) { return natural_less(a, b); });

  std::vector<std::string> header = {"student", "score", "max_score", "percent", "status"};
  header.insert(header.end(), labs.begin(), labs.end());
  header.insert(header.end(), exercises.begin(), exercises.end());
  header.push_back("reason");
  std::string out;
  auto row = [&](const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + csv_field(fields[i]);
    out += "\r\n";
  };
  row(header);
  for (const auto& r : reports) {
    const double score = r.value("score", 0.0), max = r.value("max_score", 0.0);
    std::vector<std::string> f = {r.value("student", "?"), points(score), points(max),
                                  max > 0 ? fmt::format("{:.1f}", 100.0 * score / max) : "",
                                  r.contains("submission") ? r["submission"].value("status", "graded") : "graded"};
    std::map<std::string, std::string> lab_score, ex_score;
    std::vector<std::string> reasons;
    if (r.contains("submission") && r["submission"].value("error", json()).is_string())
      reasons.push_back(r["submission"]["error"].get<std::string>());
    for (const auto& l : r.value("labs", json::array())) {
      const std::string name = l.value("lab", "");
      if (l.value("status", "") == "not_selected") continue;
      lab_score[name] = points(l.value("score", 0.0));
      for (const auto& e : l.value("exercises", json::array()))
        ex_score[e.value("exercise", "")] = points(e.value("score", 0.0));
      if (l.value("full_marks", false)) continue;
      std::string why;
      if (l.value("status", "") != "graded" && l["status_reason"].is_string()) {
        why = l["status_reason"].get<std::string>();
      } else {
        for (const auto& e : l.value("exercises", json::array()))
          if (e["first_failure_reason"].is_string()) {
            why = fmt::format("{}: {}", e.value("exercise", ""), e["first_failure_reason"].get<std::string>());
            break;
          }
        if (why.empty())
          for (const auto& t : l.value("tests", json::array()))
            if (t.value("status", "") != "passed" && t["reason"].is_string()) {
              why = fmt::format("{}: {}", t.value("name", ""), t["reason"].get<std::string>());
              break;
            }
      }
      std::replace(why.begin(), why.end(), '\n', ' ');
      reasons.push_back(fmt::format("{}: {}", name, why.empty() ? "not full marks" : why));
    }
    for (const auto& l : labs) f.push_back(lab_score.count(l) ? lab_score[l] : "");
    for (const auto& e : exercises) f.push_back(ex_score.count(e) ? ex_score[e] : "");
    std::string reason;
    for (const auto& s : reasons) reason += (reason.empty() ? "" : " | ") + s;
    if (reason.size() > 600) reason = reason.substr(0, 597) + "...";
    f.push_back(reason);
    row(f);
  }
  return out;
}

std::optional<std::vector<std::vector<std::string>>> parse_csv(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, in_quotes = false, field_started = false;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    quoted = in_quotes = field_started = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        field += c;
      }
      continue;
    }
    if (c == '"') {
      if (field_started) return std::nullopt;  // a quote inside an unquoted field
      quoted = in_quotes = field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_field();
      rows.push_back(std::move(row));
      row.clear();
    } else {
      if (quoted) return std::nullopt;  // text after the closing quote
      field += c;
      field_started = true;
    }
  }
  if (in_quotes) return std::nullopt;
  if (field_started || !row.empty()) {
    end_field();
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace hvlab::grader::batch
