#include "autograder/grader/report.hpp"

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include <fmt/color.h>
#include <fmt/format.h>

namespace hvlab::grader {
namespace {

using nlohmann::json;

std::string emulators_text(const std::vector<EmuOutcome>& outs) {
  std::string s;
  for (const auto& o : outs) s += (s.empty() ? "" : "+") + std::string(emu_name(o.emu));
  return s;
}

std::string emulators_text(const std::vector<Emulator>& emus) {
  std::string s;
  for (Emulator e : emus) s += (s.empty() ? "" : "+") + std::string(emu_name(e));
  return s;
}

std::string points(double v) { return fmt::format("{:g}", v); }

json nullable(const std::string& s) { return s.empty() ? json(nullptr) : json(clean_text(s)); }

// XML character data or attribute value: escaped, and only characters XML 1.0 allows.
std::string xml(std::string_view s, bool attribute) {
  std::string clean = clean_text(s);
  std::string out;
  out.reserve(clean.size());
  for (char c : clean) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += attribute ? "&quot;" : "\""; break;
      case '\'': out += attribute ? "&apos;" : "'"; break;
      case '\n': out += attribute ? "&#10;" : "\n"; break;
      case '\t': out += attribute ? "&#9;" : "\t"; break;
      default: out += c;
    }
  }
  return out;
}

bool lab_has_tests(const LabResult& lab) { return lab.status != LabStatus::not_selected; }

}  // namespace

std::string exercise_line(const ExerciseResult& e) {
  std::string line = fmt::format("{}: {} / {} points", e.exercise, points(e.score), points(e.max_score));
  if (!e.first_failure.empty()) {
    std::string why = e.first_failure_reason;
    std::replace(why.begin(), why.end(), '\n', ' ');
    line += fmt::format(" - first failure: {}{}{}", e.first_failure, why.empty() ? "" : ": ", why);
  }
  return clean_text(line);
}

namespace {

std::string truncate(std::string s, std::size_t width) {
  if (width == 0 || s.size() <= width) return s;
  if (width <= 3) return s.substr(0, width);
  // Cut on a character boundary.
  std::size_t cut = width - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

// Display width of UTF-8 text (code points; the table only holds narrow characters).
std::size_t display_width(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string pad(std::string s, std::size_t width) {
  std::size_t w = display_width(s);
  if (w < width) s.append(width - w, ' ');
  return s;
}

}  // namespace

std::string clean_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  constexpr std::string_view replacement = "\xEF\xBF\xBD";
  for (std::size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x80) {
      if (c == '\r') {
      } else if (c < 0x20 && c != '\t' && c != '\n') {
        out += '?';
      } else if (c == 0x7F) {
        out += '?';
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (ok) {
      const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= min[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE && cp != 0xFFFF &&
           !(cp >= 0x80 && cp < 0xA0);  // C1 controls
    }
    if (!ok) {
      out += replacement;
      ++i;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

std::string dump_json(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::string test_details(const TestResult& t) {
  // The headline, unless it only strings together the emulators' own reasons, which follow.
  bool headline = !t.reason.empty();
  if (t.status == TestStatus::failed && t.per_emu.size() > 1)
    for (const auto& o : t.per_emu)
      if (!o.reason.empty() && o.reason != t.reason) headline = false;
  std::string out;
  if (headline) out += t.reason + "\n";
  for (const auto& o : t.per_emu) {
    out += fmt::format("{}: {}", emu_name(o.emu), o.label);
    if (!o.reason.empty() && o.reason != t.reason) out += " - " + o.reason;
    out += "\n";
    if (o.verdict != Verdict::passed)  // a pass needs no evidence
      for (const auto& d : o.diagnostics) out += "    # " + d + "\n";
    if (!o.log_dir.empty()) out += "    logs: " + o.log_dir + "\n";
  }
  return clean_text(out);
}

json to_json(const SessionResult& session) {
  json root;
  root["grader"] = "hvlab-grade";
  root["format"] = 1;
  root["score"] = session.score();
  root["max_score"] = session.max_score();
  root["full_marks"] = session.all_full_marks();
  root["cancelled"] = session.cancelled;
  root["wall_seconds"] = session.wall_seconds;
  root["calibration"] = json::array();
  for (const auto& c : session.calibration) {
    root["calibration"].push_back({{"emulator", emu_name(c.emu)},
                                   {"attempted", c.attempted},
                                   {"usable", c.usable},
                                   {"measured_seconds", c.measured_s},
                                   {"reference_seconds", c.reference_s},
                                   {"factor", c.factor},
                                   {"problem", nullable(c.problem)}});
  }
  root["reference_boots"] = json::object();
  for (const auto& [e, t] : session.reference_boots)
    root["reference_boots"][emu_name(e)] = {{"boots", t.boots}, {"seconds", t.seconds}};

  root["labs"] = json::array();
  for (const auto& lab : session.labs) {
    json l;
    l["lab"] = lab.name;
    l["title"] = clean_text(lab.title);
    l["folder"] = lab.folder;
    l["status"] = lab_status_name(lab.status);
    l["status_reason"] = nullable(lab.status_reason);
    l["score"] = lab.score;
    l["max_score"] = lab.max_score;
    l["full_marks"] = lab.full_marks();
    l["emulators"] = json::array();
    for (Emulator e : lab.emulators) l["emulators"].push_back(emu_name(e));
    l["errors"] = json::array();
    for (const auto& e : lab.errors) l["errors"].push_back(clean_text(e));
    l["notes"] = json::array();
    for (const auto& n : lab.notes) l["notes"].push_back(clean_text(n));
    l["timing"] = json::object();
    for (const auto& [e, t] : lab.timing) l["timing"][emu_name(e)] = {{"boots", t.boots}, {"seconds", t.seconds}};
    l["boots"] = json::array();
    for (const auto& run : lab.runs) {
      for (std::size_t i = 0; i < run.boots.size(); ++i) {
        const BootRecord& b = run.boots[i];
        l["boots"].push_back({{"emulator", emu_name(run.emu)},
                              {"guest", run.guest},
                              {"boot", i + 1},
                              {"first", b.first},
                              {"seed", run.seed ? json(fmt::format("{:016x}", run.seed)) : json(nullptr)},
                              {"outcome", outcome_text(b.outcome)},
                              {"exit_status", b.exit_status},
                              {"seconds", b.seconds},
                              {"results", b.results},
                              {"summary", clean_text(b.summary)},
                              {"trace_events", b.trace.events.size()},
                              {"trace_malformed", b.trace.malformed},
                              {"log_dir", nullable(b.log_dir)}});
      }
    }
    l["exercises"] = json::array();
    for (const auto& e : lab.exercises)
      l["exercises"].push_back({{"exercise", e.exercise},
                                {"score", e.score},
                                {"max_score", e.max_score},
                                {"items", e.items},
                                {"passed", e.passed},
                                {"first_failure", nullable(e.first_failure)},
                                {"first_failure_reason", nullable(e.first_failure_reason)}});
    l["tests"] = json::array();
    for (const auto& t : lab.tests) {
      json j;
      j["name"] = clean_text(t.name);
      j["guest"] = t.guest;
      j["number"] = t.number;
      j["check"] = t.is_check;
      j["status"] = status_name(t.status);
      j["score"] = t.score;
      j["max_score"] = t.max_score;
      j["exercise"] = nullable(t.exercise);
      j["visibility"] = visibility_name(t.visibility);
      j["expect"] = expect_name(t.expect);
      j["duration"] = t.seconds;
      j["reason"] = nullable(t.reason);
      j["emulator"] = emulators_text(t.per_emu);
      j["per_emulator"] = json::object();
      for (const auto& o : t.per_emu) {
        json d;
        d["status"] = o.label;
        d["verdict"] = verdict_name(o.verdict);
        d["success"] = o.success;
        d["reason"] = nullable(o.reason);
        d["diagnostics"] = json::array();
        for (const auto& diag : o.diagnostics) d["diagnostics"].push_back(clean_text(diag));
        d["duration"] = o.seconds;
        d["log_dir"] = nullable(o.log_dir);
        j["per_emulator"][emu_name(o.emu)] = std::move(d);
      }
      l["tests"].push_back(std::move(j));
    }
    root["labs"].push_back(std::move(l));
  }
  return root;
}

std::string to_junit(const SessionResult& session) {
  struct Counts { std::size_t tests = 0, failures = 0, errors = 0, skipped = 0; double time = 0; };
  std::string body;
  Counts total;
  for (const auto& lab : session.labs) {
    if (!lab_has_tests(lab)) continue;
    Counts c;
    std::string cases;
    const std::string classname = "hvlab." + lab.name;
    auto add_case = [&](const std::string& name, double time, const std::string& inner) {
      cases += fmt::format("    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3f}\"", xml(name, true),
                           xml(classname, true), time);
      cases += inner.empty() ? "/>\n" : ">\n" + inner + "    </testcase>\n";
      ++c.tests;
      c.time += time;
    };
    if (lab.status != LabStatus::graded) {
      add_case(lab.name + " (lab)", 0,
               fmt::format("      <error message=\"{}\" type=\"{}\"/>\n", xml(lab.status_reason, true),
                           lab_status_name(lab.status)));
      ++c.errors;
    }
    if (!lab.errors.empty()) {
      std::string all;
      for (const auto& e : lab.errors) all += e + "\n";
      add_case(lab.name + " (grader errors)", 0,
               fmt::format("      <error message=\"{}\" type=\"grader\">{}</error>\n",
                           xml(fmt::format("{} error(s) in the rubric or the guest's output", lab.errors.size()), true),
                           xml(all, false)));
      ++c.errors;
    }
    for (const auto& t : lab.tests) {
      std::string inner;
      if (t.status == TestStatus::unscored || t.status == TestStatus::not_graded) {
        inner = fmt::format("      <skipped message=\"{}\"/>\n", xml(t.reason, true));
        ++c.skipped;
      } else if (t.status != TestStatus::passed) {
        inner = fmt::format("      <failure message=\"{}\" type=\"{}\">{}</failure>\n", xml(t.reason, true),
                            status_name(t.status), xml(test_details(t), false));
        ++c.failures;
      } else if (t.expect == Expect::fail) {
        inner = fmt::format("      <system-out>{}</system-out>\n", xml(test_details(t), false));
      }
      add_case(t.name, t.seconds, inner);
    }
    std::string props = fmt::format(
        "    <properties>\n      <property name=\"score\" value=\"{}\"/>\n      <property name=\"max_score\" "
        "value=\"{}\"/>\n      <property name=\"emulators\" value=\"{}\"/>\n    </properties>\n",
        points(lab.score), points(lab.max_score), emulators_text(lab.emulators));
    std::string notes;
    if (!lab.notes.empty()) {
      std::string all;
      for (const auto& n : lab.notes) all += n + "\n";
      notes = fmt::format("    <system-out>{}</system-out>\n", xml(all, false));
    }
    body += fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n{}{}{}"
        "  </testsuite>\n",
        xml(lab.name, true), c.tests, c.failures, c.errors, c.skipped, c.time, props, cases, notes);
    total.tests += c.tests;
    total.failures += c.failures;
    total.errors += c.errors;
    total.skipped += c.skipped;
  }
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<testsuites name=\"hvlab\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n{}"
      "</testsuites>\n",
      total.tests, total.failures, total.errors, total.skipped, session.wall_seconds, body);
}

json to_gradescope(const SessionResult& session) {
  std::size_t graded_labs = 0;
  for (const auto& lab : session.labs) graded_labs += lab_has_tests(lab);
  json root;
  root["score"] = session.score();
  root["execution_time"] = static_cast<long long>(session.wall_seconds + 0.5);
  root["stdout_visibility"] = "hidden";
  root["tests"] = json::array();
  std::string output;
  for (const auto& lab : session.labs) {
    if (!lab_has_tests(lab)) continue;
    output += fmt::format("{}: {} / {} points", lab.name, points(lab.score), points(lab.max_score));
    if (lab.status != LabStatus::graded) output += " - " + lab.status_reason;
    output += "\n";
    for (const auto& e : lab.errors) output += "  error: " + e + "\n";
    for (const auto& e : lab.exercises) output += "  " + exercise_line(e) + "\n";
    for (const auto& t : lab.tests) {
      if (t.status == TestStatus::unscored || t.status == TestStatus::not_graded) continue;
      json j;
      j["name"] = clean_text(graded_labs > 1 ? lab.name + ": " + t.name : t.name);
      j["score"] = t.score;
      j["max_score"] = t.max_score;
      j["status"] = t.status == TestStatus::passed ? "passed" : "failed";
      j["visibility"] = visibility_name(t.visibility);
      j["output"] = test_details(t);
      if (!t.exercise.empty()) j["tags"] = json::array({t.exercise});
      root["tests"].push_back(std::move(j));
    }
  }
  root["output"] = clean_text(output);
  return root;
}

std::vector<std::string> validate_gradescope(const json& results) {
  std::vector<std::string> problems;
  auto bad = [&](std::string what) { problems.push_back(std::move(what)); };
  if (!results.is_object()) {
    bad("the top level is not a JSON object");
    return problems;
  }
  const std::vector<std::string> visibilities = {"hidden", "after_due_date", "after_published", "visible"};
  const std::vector<std::string> formats = {"text", "html", "simple_format", "md", "ansi"};
  auto one_of = [&](const json& v, const std::vector<std::string>& allowed, const std::string& where) {
    if (!v.is_string() || std::find(allowed.begin(), allowed.end(), v.get<std::string>()) == allowed.end())
      bad(fmt::format("{} is {}, not one of the documented values", where, v.dump()));
  };
  auto number = [&](const json& v, const std::string& where) {
    if (!v.is_number()) bad(fmt::format("{} is {}, not a number", where, v.dump()));
  };
  auto string = [&](const json& v, const std::string& where) {
    if (!v.is_string()) bad(fmt::format("{} is not a string", where));
  };
  for (const auto& [key, v] : results.items()) {
    if (key == "score" || key == "execution_time") number(v, key);
    else if (key == "output") string(v, key);
    else if (key == "output_format" || key == "test_output_format" || key == "test_name_format") one_of(v, formats, key);
    else if (key == "visibility" || key == "stdout_visibility") one_of(v, visibilities, key);
    else if (key == "extra_data") { if (!v.is_object()) bad("extra_data is not an object"); }
    else if (key == "tests" || key == "leaderboard") { if (!v.is_array()) bad(key + " is not an array"); }
    else bad(fmt::format("unknown top-level field '{}'", key));
  }
  const bool top_score = results.contains("score");
  if (results.contains("tests") && results["tests"].is_array()) {
    std::size_t i = 0;
    for (const auto& t : results["tests"]) {
      const std::string where = fmt::format("tests[{}]", i++);
      if (!t.is_object()) {
        bad(where + " is not an object");
        continue;
      }
      for (const auto& [key, v] : t.items()) {
        const std::string w = where + "." + key;
        if (key == "score" || key == "max_score") number(v, w);
        else if (key == "status") one_of(v, {"passed", "failed"}, w);
        else if (key == "name" || key == "number" || key == "output") string(v, w);
        else if (key == "name_format" || key == "output_format") one_of(v, formats, w);
        else if (key == "visibility") one_of(v, visibilities, w);
        else if (key == "extra_data") { if (!v.is_object()) bad(w + " is not an object"); }
        else if (key == "tags") {
          if (!v.is_array()) bad(w + " is not an array");
          else
            for (const auto& tag : v)
              if (!tag.is_string()) bad(w + " holds a tag that is not a string");
        } else {
          bad(fmt::format("unknown field '{}' in {}", key, where));
        }
      }
      if (!top_score && !t.contains("score")) bad(where + " has no score, and there is no top-level score");
      if (t.contains("score") && t.contains("max_score") && t["score"].is_number() && t["max_score"].is_number() &&
          t["score"].get<double>() > t["max_score"].get<double>() + 1e-9)
        bad(where + ".score is above its max_score");
    }
  } else if (!top_score) {
    bad("neither a top-level score nor tests with scores");
  }
  if (results.contains("leaderboard") && results["leaderboard"].is_array()) {
    for (const auto& e : results["leaderboard"]) {
      if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("value"))
        bad("a leaderboard entry needs a name and a value");
      else if (e.contains("order"))
        one_of(e["order"], {"asc", "desc"}, "leaderboard order");
    }
  }
  return problems;
}

std::string autolab_line(const SessionResult& session) {
  json scores = json::object();
  for (const auto& lab : session.labs)
    if (lab_has_tests(lab)) scores[lab.name] = lab.score;
  return json{{"scores", scores}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

void write_text_file(const std::filesystem::path& path, std::string_view text) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(fmt::format("cannot write {}", path.string()));
  out << text;
  out.flush();
  if (!out) throw std::runtime_error(fmt::format("cannot write {}", path.string()));
}

void print_report(std::FILE* out, const SessionResult& session, const TableStyle& style) {
  auto paint = [&](const std::string& text, fmt::text_style ts) {
    return style.colour ? fmt::format(ts, "{}", text) : text;
  };
  const auto green = fmt::fg(fmt::terminal_color::green);
  const auto red = fmt::fg(fmt::terminal_color::red) | fmt::emphasis::bold;
  const auto yellow = fmt::fg(fmt::terminal_color::yellow);
  const auto dim = fmt::fg(fmt::terminal_color::bright_black);
  auto label_style = [&](const EmuOutcome& o) { return o.success ? green : (o.verdict == Verdict::skipped ? yellow : red); };

  for (const auto& lab : session.labs) {
    std::string head = lab.name;
    if (!lab.title.empty() && lab.title != lab.name) head += " - " + lab.title;
    if (!lab.folder.empty()) head += " (" + lab.folder + ")";
    fmt::print(out, "\n{}\n", paint(clean_text(head), fmt::emphasis::bold));
    if (lab.status == LabStatus::not_selected || lab.status == LabStatus::rubric_error) {
      fmt::print(out, "  {}: {}\n", lab_status_name(lab.status), clean_text(lab.status_reason));
      for (const auto& e : lab.errors) fmt::print(out, "  {} {}\n", paint("error:", red), clean_text(e));
      continue;
    }
    if (lab.status != LabStatus::graded) {
      // Not built (or interrupted): one line says it all; the tests are in the files.
      fmt::print(out, "  {}\n", paint(clean_text(lab.status_reason), red));
      fmt::print(out, "{}\n", paint(fmt::format("{}: {} / {} points ({})", lab.name, points(lab.score),
                                                 points(lab.max_score), lab_status_name(lab.status)), red));
      for (const auto& e : lab.errors) fmt::print(out, "  {} {}\n", paint("error:", red), clean_text(e));
      continue;
    }

    std::size_t name_w = 4;
    for (const auto& t : lab.tests) name_w = std::max(name_w, display_width(clean_text(t.name)));
    name_w = std::min<std::size_t>(name_w, 36);
    const std::size_t emu_w = 17;
    const std::size_t pts_w = 8;
    if (!lab.tests.empty()) {
      std::string h = "  " + pad("test", name_w) + "  ";
      for (Emulator e : lab.emulators) h += pad(emu_name(e), emu_w) + " ";
      h += pad("points", pts_w) + " reason";
      fmt::print(out, "{}\n", paint(h, dim));
    }
    const std::size_t used = 2 + name_w + 2 + lab.emulators.size() * (emu_w + 1) + pts_w + 1;
    const std::size_t reason_w = style.width > used + 10 ? style.width - used : 0;
    for (const auto& t : lab.tests) {
      std::string line = "  " + pad(truncate(clean_text(t.name), name_w), name_w) + "  ";
      for (Emulator e : lab.emulators) {
        auto it = std::find_if(t.per_emu.begin(), t.per_emu.end(), [&](const EmuOutcome& o) { return o.emu == e; });
        if (it == t.per_emu.end()) {
          line += pad("-", emu_w) + " ";
        } else if (t.status == TestStatus::unscored) {
          line += paint(pad(it->label, emu_w), dim) + " ";
        } else {
          line += paint(pad(it->label, emu_w), label_style(*it)) + " ";
        }
      }
      std::string pts = t.status == TestStatus::unscored ? "-" : t.status == TestStatus::not_graded ? "n/a"
                      : fmt::format("{}/{}", points(t.score), points(t.max_score));
      line += pad(pts, pts_w) + " ";
      std::string reason = clean_text(t.reason);
      std::replace(reason.begin(), reason.end(), '\n', ' ');
      line += truncate(reason, style.width == 0 ? 0 : (reason_w ? reason_w : 40));
      while (!line.empty() && line.back() == ' ') line.pop_back();
      fmt::print(out, "{}\n", line);
    }

    std::size_t passed = 0, failed = 0, disagree = 0, unscored = 0;
    for (const auto& t : lab.tests) {
      passed += t.status == TestStatus::passed;
      failed += t.status == TestStatus::failed;
      disagree += t.status == TestStatus::disagree;
      unscored += t.status == TestStatus::unscored;
    }
    std::string total = fmt::format("{}: {} / {} points ({} passed, {} failed", lab.name, points(lab.score),
                                    points(lab.max_score), passed, failed);
    if (disagree) total += fmt::format(", {} disagree", disagree);
    if (unscored) total += fmt::format(", {} unscored", unscored);
    total += ")";
    if (!lab.errors.empty()) total += fmt::format(", {} error(s)", lab.errors.size());
    fmt::print(out, "{}\n", paint(total, lab.full_marks() ? green | fmt::emphasis::bold : red));

    // Per exercise: points, and the first test that lost some, with its diagnostic.
    if (!lab.exercises.empty()) {
      fmt::print(out, "  {}\n", paint("exercises:", dim));
      std::size_t id_w = 0;
      for (const auto& e : lab.exercises) id_w = std::max(id_w, display_width(e.exercise));
      for (const auto& e : lab.exercises) {
        const bool full = e.score + 1e-9 >= e.max_score;
        std::string line = fmt::format("    {}  {:>7}", pad(e.exercise, id_w),
                                       fmt::format("{}/{}", points(e.score), points(e.max_score)));
        std::string why;
        if (!e.first_failure.empty()) {
          why = clean_text(e.first_failure + ": " + e.first_failure_reason);
          std::replace(why.begin(), why.end(), '\n', ' ');
          const std::size_t used = display_width(line) + 2;
          why = truncate(why, style.width > used + 20 ? style.width - used : 0);
        }
        fmt::print(out, "{}{}\n", paint(line, full ? green : red), why.empty() ? "" : "  " + why);
      }
    }

    // What went wrong, once per distinct story: a monitor that never starts fails every
    // test for the same reason, which is worth reading once, not a hundred times.
    std::vector<std::pair<std::string, std::vector<std::string>>> stories;
    for (const auto& t : lab.tests) {
      if (t.status != TestStatus::failed && t.status != TestStatus::disagree) continue;
      std::string d = test_details(t);
      auto it = std::find_if(stories.begin(), stories.end(), [&](const auto& s) { return s.first == d; });
      if (it == stories.end()) stories.push_back({d, {clean_text(t.name)}});
      else it->second.push_back(clean_text(t.name));
    }
    if (!stories.empty()) fmt::print(out, "  what went wrong:\n");
    for (const auto& [details, names] : stories) {
      std::string who;
      for (std::size_t i = 0; i < names.size() && i < 6; ++i) who += (i ? ", " : "") + names[i];
      if (names.size() > 6) who += fmt::format(" and {} more", names.size() - 6);
      if (names.size() > 1) who += fmt::format(" ({} tests)", names.size());
      fmt::print(out, "  - {}\n", who);
      std::size_t pos = 0;
      while (pos < details.size()) {
        std::size_t nl = details.find('\n', pos);
        if (nl == std::string::npos) nl = details.size();
        fmt::print(out, "      {}\n", details.substr(pos, nl - pos));
        pos = nl + 1;
      }
    }
    for (const auto& e : lab.errors) fmt::print(out, "  {} {}\n", paint("error:", red), clean_text(e));
    for (const auto& n : lab.notes) fmt::print(out, "  {} {}\n", paint("note:", yellow), clean_text(n));
  }

  // Timing.
  fmt::print(out, "\n{}\n", paint("timing", fmt::emphasis::bold));
  std::map<Emulator, EmuTiming> per_emu;
  for (const auto& lab : session.labs)
    for (const auto& [e, t] : lab.timing) {
      per_emu[e].boots += t.boots;
      per_emu[e].seconds += t.seconds;
    }
  for (const auto& [e, t] : per_emu) {
    if (t.boots == 0 && !session.reference_boots.count(e)) continue;
    std::string line = fmt::format("  {:<6} {} boot(s), {:.1f} s in boots", emu_name(e), t.boots, t.seconds);
    if (t.boots) line += fmt::format(" ({:.2f} s per boot)", t.seconds / t.boots);
    if (auto it = session.reference_boots.find(e); it != session.reference_boots.end())
      line += fmt::format(", plus {} reference boot(s) {:.1f} s", it->second.boots, it->second.seconds);
    fmt::print(out, "{}\n", line);
  }
  for (const auto& c : session.calibration) {
    if (c.measured_s > 0)
      fmt::print(out, "  {:<6} calibration {:.2f} s against {:.2f} s reference: timeouts x{:.2f}\n", emu_name(c.emu),
                 c.measured_s, c.reference_s, c.factor);
    else if (!c.problem.empty())
      fmt::print(out, "  {:<6} calibration: {}\n", emu_name(c.emu), clean_text(c.problem));
  }
  fmt::print(out, "  wall time {:.1f} s\n", session.wall_seconds);
  if (session.cancelled) fmt::print(out, "{}\n", paint("interrupted", red));
}

}  // namespace hvlab::grader
