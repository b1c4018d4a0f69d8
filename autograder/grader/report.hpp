#pragma once
// What the grader writes: its own JSON, JUnit XML, Gradescope's results.json, Autolab's
// closing line, and the table a person reads in a terminal.

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograder/grader/session.hpp"

namespace hvlab::grader {

/// Valid UTF-8 with no control characters but tab and newline: console text from a
/// misbehaving guest can hold anything, and every format written must stay valid.
std::string clean_text(std::string_view s);

/// The grader's own report: per lab and per test name, status, score, max_score, exercise,
/// duration, reason, emulator, plus per-emulator detail, boots and calibration.
nlohmann::json to_json(const SessionResult& session);

/// JUnit XML: testsuites > testsuite (one per lab) > testcase (one per test or check).
std::string to_junit(const SessionResult& session);

/// Gradescope's results.json.
nlohmann::json to_gradescope(const SessionResult& session);

/// Problems with a results.json against Gradescope's documented fields (top level: score,
/// execution_time, output, output_format, test_output_format, test_name_format, visibility,
/// stdout_visibility, extra_data, tests, leaderboard; per test: score, max_score, status,
/// name, name_format, number, output, output_format, tags, visibility, extra_data). Empty
/// when it is valid.
std::vector<std::string> validate_gradescope(const nlohmann::json& results);

/// "lab04-e3: 0 / 12 points - first failure: sens_sgdt: not implemented: lab04-e3 (...)"
std::string exercise_line(const ExerciseResult& e);

/// Autolab's closing line: {"scores": {"lab01": 42, ...}}.
std::string autolab_line(const SessionResult& session);

/// The multi-line feedback for one test (reason, each emulator, diagnostics, logs).
std::string test_details(const TestResult& t);

struct TableStyle {
  bool colour = false;
  unsigned width = 0;  ///< terminal columns; 0: do not truncate
};

/// The per-lab tables, totals, details of failures, errors, notes and timing.
void print_report(std::FILE* out, const SessionResult& session, const TableStyle& style);

/// Writes text to a file (creating its directory); throws std::runtime_error naming the file.
void write_text_file(const std::filesystem::path& path, std::string_view text);

/// JSON text that stays valid whatever bytes the strings hold.
std::string dump_json(const nlohmann::json& j, int indent = 2);

}  // namespace hvlab::grader
