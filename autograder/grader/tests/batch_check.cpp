// hvlab_batch_check: checks what batch grading wrote (make test's handout tests). Reads a
// results folder (gradebook.csv, <student>/report.json and results.json) or one grader JSON
// (--grade-json) and checks what the options ask; prints every failed check, exits 1 if any.
//
//   --out DIR                       the results folder of `autograder/grade --submissions`
//   --expect NAME=PERCENT           NAME's percent in the gradebook (and in its report)
//   --every-failure NAME=REGEX      every lost point of NAME (each failed test and check, each
//                                   exercise's first failure, each unbuilt lab) has a reason
//                                   matching REGEX
//   --lab-reason NAME:LAB=REGEX     LAB of NAME is not built and its reason matches REGEX
//   --feedback NAME=REGEX           NAME's Gradescope output matches REGEX
//   --ignored NAME=PATH             PATH is listed among NAME's ignored files
//   --same-max A,B                  every lab has the same max_score for A and B
//   --max-seconds NAME=S            NAME was graded (built and booted) in under S seconds
//   --grade-json FILE               check one `hvlab-grade --json` report instead (NAME: "-")
//   --full-marks LAB                in --grade-json, LAB has full marks

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "autograder/grader/report.hpp"
#include "autograder/grader/submission.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

int failures = 0;

void fail(const std::string& what) {
  std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  ++failures;
}
void pass(const std::string& what) { std::printf("ok: %s\n", what.c_str()); }

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::pair<std::string, std::string> split(const std::string& s, char sep) {
  const auto at = s.find(sep);
  if (at == std::string::npos) return {s, ""};
  return {s.substr(0, at), s.substr(at + 1)};
}

// Every reason a student loses points for, with where it comes from.
std::vector<std::pair<std::string, std::string>> lost_points(const json& report) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& lab : report.value("labs", json::array())) {
    const std::string name = lab.value("lab", "?");
    // A lab skipped for what the machine lacks (lab05 without a usable KVM) loses nothing: it
    // is not graded.
    if (lab.value("status", "") == "not_selected" || lab.value("status", "") == "skipped") continue;
    if (lab.value("status", "") != "graded")
      out.push_back({name + " (lab)", lab["status_reason"].is_string() ? lab["status_reason"].get<std::string>() : ""});
    for (const auto& t : lab.value("tests", json::array())) {
      const std::string st = t.value("status", "");
      if (st == "failed" || st == "disagree")
        out.push_back({name + ": " + t.value("name", "?"), t["reason"].is_string() ? t["reason"].get<std::string>() : ""});
    }
    for (const auto& e : lab.value("exercises", json::array()))
      if (e.value("score", 0.0) + 1e-9 < e.value("max_score", 0.0))
        out.push_back({name + ": exercise " + e.value("exercise", "?"),
                       e["first_failure_reason"].is_string() ? e["first_failure_reason"].get<std::string>() : ""});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir, grade_json;
  std::vector<std::pair<std::string, std::string>> opts;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--out") out_dir = v;
    else if (k == "--grade-json") grade_json = v;
    else opts.push_back({k, v});
  }
  if (out_dir.empty() && grade_json.empty()) {
    std::fprintf(stderr, "usage: hvlab_batch_check --out DIR | --grade-json FILE [checks...] (see the source)\n");
    return 2;
  }

  std::map<std::string, json> reports, results;
  std::map<std::string, std::vector<std::string>> csv_rows;
  if (!grade_json.empty()) {
    try {
      reports["-"] = json::parse(read(grade_json));
      pass("the grader's JSON parses");
    } catch (const std::exception& e) {
      fail(grade_json + " is not valid JSON: " + e.what());
      return 1;
    }
  } else {
    const std::string csv = read(fs::path(out_dir) / "gradebook.csv");
    auto rows = hvlab::grader::batch::parse_csv(csv);
    if (!rows || rows->empty()) {
      fail("gradebook.csv is missing or not valid CSV");
    } else {
      const auto& header = rows->front();
      bool same = true;
      for (const auto& r : *rows) same = same && r.size() == header.size();
      if (!same) fail("gradebook.csv: rows do not all have as many fields as the header");
      else pass("gradebook.csv is valid CSV with " + std::to_string(rows->size() - 1) + " student row(s)");
      if (header.size() < 6 || header[0] != "student" || header[1] != "score" || header[3] != "percent" ||
          header.back() != "reason")
        fail("gradebook.csv: unexpected header");
      for (std::size_t i = 1; i < rows->size(); ++i) csv_rows[(*rows)[i][0]] = (*rows)[i];
    }
    for (const auto& [name, row] : csv_rows) {
      const fs::path dir = fs::path(out_dir) / name;
      try {
        reports[name] = json::parse(read(dir / "report.json"));
      } catch (const std::exception& e) {
        fail(name + "/report.json is not valid JSON: " + e.what());
        continue;
      }
      try {
        results[name] = json::parse(read(dir / "results.json"));
      } catch (const std::exception& e) {
        fail(name + "/results.json is not valid JSON: " + e.what());
        continue;
      }
      const auto problems = hvlab::grader::validate_gradescope(results[name]);
      for (const auto& p : problems) fail(name + "/results.json: " + p);
      if (problems.empty()) pass(name + "/results.json has only Gradescope's documented fields, with valid values");
      const double gs = results[name].value("score", -1.0), rep = reports[name].value("score", -2.0);
      if (std::abs(gs - rep) > 1e-6) fail(name + ": results.json and report.json disagree on the score");
      double sum = 0;
      for (const auto& t : results[name].value("tests", json::array())) sum += t.value("score", 0.0);
      if (std::abs(sum - gs) > 1e-6) fail(name + ": results.json's tests do not add up to its score");
      if (row[1] != fmt::format("{:g}", rep)) fail(name + ": the gradebook's score is not the report's");
    }
  }

  for (const auto& [k, v] : opts) {
    if (k == "--expect") {
      auto [name, pct] = split(v, '=');
      if (!csv_rows.count(name)) {
        fail("no gradebook row for " + name);
        continue;
      }
      const double want = std::stod(pct), got = std::stod(csv_rows[name][3].empty() ? "-1" : csv_rows[name][3]);
      if (std::abs(want - got) > 0.05) fail(fmt::format("{}: {}% in the gradebook, expected {}%", name, got, want));
      else pass(fmt::format("{}: {}% as expected", name, got));
    } else if (k == "--every-failure") {
      auto [name, re] = split(v, '=');
      if (!reports.count(name)) {
        fail("no report for " + name);
        continue;
      }
      const std::regex rx(re);
      auto lost = lost_points(reports[name]);
      std::size_t bad = 0;
      for (const auto& [where, why] : lost)
        if (!std::regex_search(why, rx)) {
          if (++bad <= 5) fail(fmt::format("{}: {}: reason '{}' does not match /{}/", name, where, why, re));
        }
      if (lost.empty()) fail(name + ": no lost points at all (expected failures)");
      else if (!bad) pass(fmt::format("{}: all {} lost-point reasons match /{}/", name, lost.size(), re));
    } else if (k == "--lab-reason") {
      auto [who, rest] = split(v, ':');
      auto [lab, re] = split(rest, '=');
      bool found = false;
      for (const auto& l : reports[who].value("labs", json::array()))
        if (l.value("lab", "") == lab) {
          found = true;
          const std::string why = l["status_reason"].is_string() ? l["status_reason"].get<std::string>() : "";
          if (l.value("status", "") != "not_built" || !std::regex_search(why, std::regex(re)))
            fail(fmt::format("{}: {} is {} ('{}'), expected not built matching /{}/", who, lab, l.value("status", ""), why, re));
          else
            pass(fmt::format("{}: {} not built: {}", who, lab, why));
        }
      if (!found) fail(who + ": no lab " + lab);
    } else if (k == "--feedback") {
      auto [name, re] = split(v, '=');
      const std::string text = results[name].value("output", "");
      if (!std::regex_search(text, std::regex(re))) fail(fmt::format("{}: the Gradescope output does not match /{}/", name, re));
      else pass(fmt::format("{}: the Gradescope output matches /{}/", name, re));
    } else if (k == "--ignored") {
      auto [name, path] = split(v, '=');
      bool found = false;
      for (const auto& f : reports[name]["submission"].value("ignored", json::array())) found = found || f.value("path", "") == path;
      if (!found) fail(fmt::format("{}: {} is not listed as ignored", name, path));
      else pass(fmt::format("{}: {} ignored", name, path));
    } else if (k == "--same-max") {
      auto [a, b] = split(v, ',');
      std::map<std::string, double> ma;
      for (const auto& l : reports[a].value("labs", json::array())) ma[l.value("lab", "")] = l.value("max_score", 0.0);
      bool ok = !ma.empty();
      for (const auto& l : reports[b].value("labs", json::array()))
        if (std::abs(ma[l.value("lab", "")] - l.value("max_score", 0.0)) > 1e-9) {
          ok = false;
          fail(fmt::format("{} and {} have different maxima for {}", a, b, l.value("lab", "")));
        }
      if (ok) pass(fmt::format("{} and {} are graded out of the same points", a, b));
    } else if (k == "--max-seconds") {
      auto [name, s] = split(v, '=');
      const json& r = reports[name];
      const double secs = r.contains("submission") ? r["submission"].value("seconds", 1e9) : r.value("wall_seconds", 1e9);
      if (secs > std::stod(s)) fail(fmt::format("{}: graded in {:.1f} s, more than {} s", name, secs, s));
      else pass(fmt::format("{}: graded in {:.1f} s (limit {} s)", name, secs, s));
    } else if (k == "--full-marks") {
      bool found = false;
      for (const auto& [name, r] : reports)
        for (const auto& l : r.value("labs", json::array()))
          if (l.value("lab", "") == v) {
            found = true;
            if (!l.value("full_marks", false)) fail(fmt::format("{}: {} has {} / {}, not full marks", name, v, l.value("score", 0.0), l.value("max_score", 0.0)));
            else pass(fmt::format("{}: {} has full marks", name, v));
          }
      if (!found) fail("no lab " + v);
    } else {
      fail("unknown option " + k);
    }
  }
  std::printf("%s\n", failures ? "batch check: FAILED" : "batch check: all checks passed");
  return failures ? 1 : 0;
}
