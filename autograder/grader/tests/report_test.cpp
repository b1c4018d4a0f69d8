// Every output format parses back, whatever bytes the guest printed.

#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include <expat.h>

#include "autograder/grader/report.hpp"
#include "autograder/grader/tests/fake_guest.hpp"

namespace hvlab::grader {
namespace {

using nlohmann::json;
using testing::Behaviour;
using testing::FakeGuest;

// A session with a lab that has a pass, an expected failure, a crash whose diagnostics hold
// markup and invalid UTF-8, a disagreement, an unscored test, plus a lab that is not built.
SessionResult sample_session() {
  Rubric rb = parse_rubric(R"(
[lab]
name = "lab01"
title = "Trap & emulate <ring 1>"
folder = "lab01-trap-and-emulate"
[[guest]]
image = "suite"
[[test]]
test = "priv_*"
points = 1
exercise = "lab01-e1"
[[test]]
test = "sens_*"
points = 2
expect = "fail"
visibility = "after_due_date"
[[test]]
test = "exc_*"
points = 1
visibility = "hidden"
)", "rubrics/lab01.toml");
  FakeGuest g;
  g.names = {"priv_lgdt", "sens_sgdt", "exc_de", "exc_gp", "smc_rewrite"};
  g.behaviour["sens_sgdt"] = {Behaviour::fail, "sgdt: saw <0xffe000> & \"base\" 'x' \xff\xfe\x01"};
  g.behaviour["exc_de"] = {Behaviour::crash, "triple fault \x80\x81"};
  g.on_bochs["exc_gp"] = {Behaviour::fail, "#GP error code 0x10, expected 0"};
  std::vector<GuestRun> runs;
  for (Emulator e : {Emulator::qemu, Emulator::bochs}) {
    RunSettings s;
    s.spec.emu = e;
    runs.push_back(run_guest("suite", s, [&](const runner::BootSpec& spec) { return g(spec); }));
  }
  Catalog catalog;
  catalog["suite"].plan = 5;
  for (unsigned i = 0; i < g.names.size(); ++i) catalog["suite"].names[i + 1] = g.names[i];

  SessionResult session;
  session.labs.push_back(score_lab(rb, {Emulator::qemu, Emulator::bochs}, std::move(runs), catalog));
  LabResult nb;
  nb.name = "lab02";
  nb.status = LabStatus::not_built;
  nb.status_reason = "not built: build/lab02-binary-translation/monitor.elf is missing";
  session.labs.push_back(nb);
  session.calibration.push_back({Emulator::qemu, true, true, 0.4, 0.35, 1.14, ""});
  session.wall_seconds = 12.5;
  return session;
}

const json* find_test(const json& lab, const std::string& name) {
  for (const auto& t : lab["tests"])
    if (t["name"] == name) return &t;
  return nullptr;
}

TEST(Report, CleanTextIsValidUtf8WithoutControls) {
  EXPECT_EQ(clean_text("ok\r\n\ttab"), "ok\n\ttab");
  EXPECT_EQ(clean_text("a\x01" "b\x7f"), "a?b?");
  EXPECT_EQ(clean_text("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(clean_text("\xff"), "\xEF\xBF\xBD");
  EXPECT_EQ(clean_text("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD") << "overlong encodings are rejected";
  EXPECT_EQ(clean_text("\xe2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD") << "a cut sequence";
}

TEST(Report, JsonParsesBackWithEveryField) {
  SessionResult s = sample_session();
  json j = json::parse(dump_json(to_json(s)));
  EXPECT_EQ(j["grader"], "hvlab-grade");
  ASSERT_EQ(j["labs"].size(), 2u);
  const json& lab = j["labs"][0];
  EXPECT_EQ(lab["lab"], "lab01");
  EXPECT_EQ(lab["status"], "graded");
  EXPECT_EQ(lab["max_score"], 5.0);
  EXPECT_EQ(lab["score"], 3.0);
  const json* t = find_test(lab, "sens_sgdt");
  ASSERT_NE(t, nullptr);
  for (const char* key : {"name", "status", "score", "max_score", "exercise", "duration", "reason", "emulator"})
    EXPECT_TRUE(t->contains(key)) << key;
  EXPECT_EQ((*t)["status"], "passed");
  EXPECT_EQ((*t)["score"], 2.0);
  EXPECT_EQ((*t)["emulator"], "qemu+bochs");
  EXPECT_EQ((*t)["per_emulator"]["qemu"]["status"], "fail (expected)");
  const json* crash = find_test(lab, "exc_de");
  ASSERT_NE(crash, nullptr);
  EXPECT_EQ((*crash)["status"], "failed");
  EXPECT_NE((*crash)["reason"].get<std::string>().find("triple fault"), std::string::npos);
  EXPECT_EQ((*find_test(lab, "priv_lgdt"))["exercise"], "lab01-e1");
  EXPECT_TRUE((*find_test(lab, "exc_gp"))["exercise"].is_null());
  EXPECT_EQ((*find_test(lab, "exc_gp"))["status"], "disagree");
  EXPECT_EQ((*find_test(lab, "smc_rewrite"))["status"], "unscored");
  EXPECT_EQ(j["labs"][1]["status"], "not_built");
  EXPECT_FALSE(j["full_marks"].get<bool>());
  EXPECT_EQ(j["calibration"][0]["emulator"], "qemu");
}

struct XmlCounts {
  std::map<std::string, int> elements;
  std::map<std::string, std::string> first_failure_message;
  std::string current_case;
};

void XMLCALL on_start(void* data, const XML_Char* name, const XML_Char** attrs) {
  auto* c = static_cast<XmlCounts*>(data);
  c->elements[name]++;
  std::string n = name;
  for (int i = 0; attrs[i]; i += 2) {
    if (n == "testcase" && std::string(attrs[i]) == "name") c->current_case = attrs[i + 1];
    if (n == "failure" && std::string(attrs[i]) == "message") c->first_failure_message[c->current_case] = attrs[i + 1];
  }
}
void XMLCALL on_end(void*, const XML_Char*) {}

TEST(Report, JunitIsWellFormedXml) {
  SessionResult s = sample_session();
  std::string xml = to_junit(s);
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
  XML_Parser p = XML_ParserCreate("UTF-8");
  XmlCounts counts;
  XML_SetUserData(p, &counts);
  XML_SetElementHandler(p, on_start, on_end);
  const auto status = XML_Parse(p, xml.data(), static_cast<int>(xml.size()), 1);
  EXPECT_EQ(status, XML_STATUS_OK) << XML_ErrorString(XML_GetErrorCode(p)) << " at line "
                                   << XML_GetCurrentLineNumber(p) << "\n" << xml;
  XML_ParserFree(p);
  EXPECT_EQ(counts.elements["testsuites"], 1);
  EXPECT_EQ(counts.elements["testsuite"], 2);
  // lab01: 5 tests; lab02: one case for "not built".
  EXPECT_EQ(counts.elements["testcase"], 6);
  EXPECT_EQ(counts.elements["failure"], 2);  // the crash and the disagreement
  EXPECT_EQ(counts.elements["skipped"], 1);  // the unscored test
  EXPECT_EQ(counts.elements["error"], 1);    // lab02 not built
  EXPECT_NE(counts.first_failure_message["exc_de"].find("triple fault"), std::string::npos);
}

TEST(Report, JunitEscapesMarkup) {
  SessionResult s = sample_session();
  std::string xml = to_junit(s);
  EXPECT_EQ(xml.find("<ring 1>"), std::string::npos);
  EXPECT_EQ(xml.find("<0xffe000>"), std::string::npos);
  EXPECT_EQ(xml.find('\x01'), std::string::npos);
}

TEST(Report, GradescopeResultsParseBack) {
  SessionResult s = sample_session();
  json j = json::parse(dump_json(to_gradescope(s)));
  EXPECT_EQ(j["score"], 3.0) << "priv_lgdt 1 + sens_sgdt 2 (its predicted failure)";
  EXPECT_TRUE(j.contains("execution_time"));
  EXPECT_TRUE(j["output"].get<std::string>().find("lab02: 0 / 0 points - not built") != std::string::npos)
      << j["output"];
  ASSERT_EQ(j["tests"].size(), 4u) << "the unscored test is left out";
  for (const auto& t : j["tests"]) {
    for (const char* key : {"name", "score", "max_score", "visibility", "output"}) EXPECT_TRUE(t.contains(key)) << key;
    EXPECT_EQ(t["name"].get<std::string>().rfind("lab01: ", 0), 0u) << "two labs: names carry the lab";
  }
  std::map<std::string, std::string> vis;
  for (const auto& t : j["tests"]) vis[t["name"]] = t["visibility"];
  EXPECT_EQ(vis["lab01: sens_sgdt"], "after_due_date");
  EXPECT_EQ(vis["lab01: exc_de"], "hidden");
  EXPECT_EQ(vis["lab01: priv_lgdt"], "visible");
}

TEST(Report, AutolabLineIsOneJsonObject) {
  SessionResult s = sample_session();
  std::string line = autolab_line(s);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  json j = json::parse(line);
  EXPECT_EQ(j["scores"]["lab01"], s.labs[0].score);
  EXPECT_EQ(j["scores"]["lab02"], 0.0);
}

TEST(Report, TerminalTableHasOneRowPerTestAndATotal) {
  SessionResult s = sample_session();
  char* buf = nullptr;
  std::size_t size = 0;
  std::FILE* f = open_memstream(&buf, &size);
  print_report(f, s, {.colour = false, .width = 0});
  std::fclose(f);
  std::string out(buf, size);
  std::free(buf);
  EXPECT_EQ(out.find("\x1b["), std::string::npos) << "no colour when asked for none";
  EXPECT_NE(out.find("sens_sgdt"), std::string::npos);
  EXPECT_NE(out.find("fail (expected)"), std::string::npos);
  EXPECT_NE(out.find("lab01: 3 / 5 points (2 passed, 1 failed, 1 disagree, 1 unscored)"), std::string::npos) << out;
  EXPECT_NE(out.find("not built: build/lab02-binary-translation/monitor.elf is missing"), std::string::npos);
  EXPECT_NE(out.find("timing"), std::string::npos);
  EXPECT_NE(out.find("what went wrong"), std::string::npos);
  EXPECT_NE(out.find("  - exc_de\n      the guest stopped during this test: triple fault"), std::string::npos) << out;
}

TEST(Report, WritesFilesOrSaysWhichItCouldNot) {
  auto dir = std::filesystem::temp_directory_path() / ("hvlab-report-" + std::to_string(::getpid()));
  write_text_file(dir / "sub" / "r.json", "{}");
  EXPECT_TRUE(std::filesystem::exists(dir / "sub" / "r.json"));
  try {
    write_text_file("/proc/hvlab-cannot-write/x.json", "{}");
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/hvlab-cannot-write/x.json"), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hvlab::grader
