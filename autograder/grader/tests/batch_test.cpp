// Batch grading's pure parts: submission names, where a tree starts, which files are taken
// (the isolation policy), the compiler's message, the gradebook, Gradescope's fields, the
// per-exercise summary and the handout stubs' panic messages.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "autograder/grader/report.hpp"
#include "autograder/grader/run.hpp"
#include "autograder/grader/score.hpp"
#include "autograder/grader/submission.hpp"

namespace hvlab::grader {
namespace {

namespace fs = std::filesystem;
using namespace batch;
using nlohmann::json;

class Tree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("hvlab-batch-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const fs::path& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  std::string read(const fs::path& rel) {
    std::ifstream in(root_ / rel);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  fs::path root_;
};

TEST(Batch, StudentIdsFromNames) {
  EXPECT_EQ(student_id("/x/alice.tar.gz"), "alice");
  EXPECT_EQ(student_id("/x/Bob Smith.ZIP"), "Bob_Smith");
  EXPECT_EQ(student_id("/x/carol/"), "carol");
  EXPECT_EQ(student_id("/x/..evil;rm -rf.tgz"), "evil_rm_-rf");
  EXPECT_EQ(student_id("/x/-flag.tar"), "flag");
  EXPECT_EQ(student_id("/x/.tar"), "submission");
  EXPECT_EQ(archive_kind("a.tar.xz"), ArchiveKind::tar);
  EXPECT_EQ(archive_kind("a.Zip"), ArchiveKind::zip);
  EXPECT_EQ(archive_kind("a.cpp"), ArchiveKind::none);
}

TEST(Batch, ThePolicyTakesLabSourcesOnly) {
  const std::vector<std::string> labs = {"lab01-trap-and-emulate", "lab04-vtx"};
  EXPECT_EQ(classify("lab04-vtx/src/vmx.cpp", labs), FileVerdict::taken);
  EXPECT_EQ(classify("lab04-vtx/kernel/vmx_entry.S", labs), FileVerdict::taken);
  EXPECT_EQ(classify("lab01-trap-and-emulate/core.hpp", labs), FileVerdict::taken);
  EXPECT_EQ(classify("lab04-vtx/CMakeLists.txt", labs), FileVerdict::build_rule);
  EXPECT_EQ(classify("lab04-vtx/kernel/monitor.ld", labs), FileVerdict::build_rule);
  EXPECT_EQ(classify("lab01-trap-and-emulate/boot_tests.cmake", labs), FileVerdict::build_rule);
  EXPECT_EQ(classify("CMakeLists.txt", labs), FileVerdict::build_rule);
  EXPECT_EQ(classify("Makefile", labs), FileVerdict::build_rule);
  EXPECT_EQ(classify("common/runtime/panic.cpp", labs), FileVerdict::outside_labs);
  EXPECT_EQ(classify("autograder/rubrics/lab04.toml", labs), FileVerdict::outside_labs);
  EXPECT_EQ(classify("tools/deps.sh", labs), FileVerdict::outside_labs);
  EXPECT_EQ(classify("lab04-vtx/README.md", labs), FileVerdict::not_source);
  EXPECT_EQ(classify("lab04-vtx/.hidden/x.cpp", labs), FileVerdict::not_source);
  EXPECT_EQ(classify("lab04-vtx/../common/x.cpp", labs), FileVerdict::not_source);
  EXPECT_EQ(classify("lab02-binary-translation/x.cpp", labs), FileVerdict::outside_labs);
}

TEST_F(Tree, FindsTheTreeUnderATopFolderWithoutFollowingLinks) {
  write("sub/hvlab/lab04-vtx/src/vmx.cpp", "x");
  write("sub/hvlab/README.md", "x");
  fs::create_directories(root_ / "sub/.git/lab04-vtx");
  auto r = find_tree_root(root_ / "sub", {"lab04-vtx"});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, root_ / "sub/hvlab");
  fs::create_directories(root_ / "elsewhere/lab01-x");
  fs::create_directories(root_ / "only-link");
  fs::create_directory_symlink(root_ / "elsewhere", root_ / "only-link/inner");
  EXPECT_FALSE(find_tree_root(root_ / "only-link", {"lab01-x"}));
  EXPECT_FALSE(find_tree_root(root_ / "sub", {"lab09-none"}));
  EXPECT_EQ(lab_folders(root_ / "sub/hvlab"), std::vector<std::string>{"lab04-vtx"});
}

TEST_F(Tree, OverlayCopiesSourcesAndListsWhatItIgnores) {
  // The handout, its work copy, and a student tree.
  write("base/lab04-vtx/src/vmx.cpp", "stub\n");
  write("base/lab04-vtx/CMakeLists.txt", "rules\n");
  write("base/common/x.cpp", "common\n");
  write("base/README.md", "same\n");
  copy_tree(root_ / "base", root_ / "work");
  write("student/lab04-vtx/src/vmx.cpp", "solution\n");
  write("student/lab04-vtx/src/helper.hpp", "new header\n");
  write("student/lab04-vtx/CMakeLists.txt", "skip the lab\n");
  write("student/common/x.cpp", "hacked\n");
  write("student/README.md", "same\n");
  write("student/build/lab04-vtx/monitor.elf", "old build\n");
  write("student/.git/config", "x\n");
  write("student/lab04-vtx/big.cpp", std::string(kMaxSourceBytes + 1, 'x'));
  fs::create_symlink("/etc/passwd", root_ / "student/lab04-vtx/src/link.cpp");
  Overlay o = overlay_submission(root_ / "student", root_ / "base", root_ / "work", {"lab04-vtx"});
  EXPECT_EQ(o.taken, (std::vector<std::string>{"lab04-vtx/src/helper.hpp", "lab04-vtx/src/vmx.cpp"}));
  EXPECT_EQ(read("work/lab04-vtx/src/vmx.cpp"), "solution\n");
  EXPECT_EQ(read("work/lab04-vtx/CMakeLists.txt"), "rules\n");
  EXPECT_EQ(read("work/common/x.cpp"), "common\n");
  EXPECT_FALSE(fs::exists(root_ / "work/lab04-vtx/src/link.cpp"));
  std::map<std::string, std::string> ignored;
  for (const auto& f : o.ignored) ignored[f.path] = f.why;
  EXPECT_EQ(ignored.size(), 4u);
  EXPECT_NE(ignored["lab04-vtx/CMakeLists.txt"].find("build file"), std::string::npos);
  EXPECT_NE(ignored["common/x.cpp"].find("outside the lab folders"), std::string::npos);
  EXPECT_NE(ignored["lab04-vtx/big.cpp"].find("1 MiB"), std::string::npos);
  EXPECT_NE(ignored["lab04-vtx/src/link.cpp"].find("symbolic link"), std::string::npos);
  EXPECT_FALSE(ignored.count("README.md")) << "unchanged files are not listed";
  EXPECT_FALSE(ignored.count("build/lab04-vtx/monitor.elf")) << "build folders are not looked at";
}

TEST(Batch, CompilerMessageKeepsTheDiagnosticsNotTheCommand) {
  const std::string log =
      "[1/3] Building CXX object a.o\n"
      "FAILED: lab04-vtx/CMakeFiles/x.dir/src/vmx.cpp.o \n"
      "/usr/bin/ccache /usr/bin/c++ -m32 -O2 -c ../src/lab04-vtx/src/vmx.cpp -o x.o\n"
      "../src/lab04-vtx/src/vmx.cpp: In function 'void f()':\n"
      "../src/lab04-vtx/src/vmx.cpp:12:3: error: expected ';' before '}' token\n"
      "   12 |   x = 1\n"
      "ninja: build stopped: subcommand failed.\n";
  const std::string m = compiler_message(log, "/work/alice/src");
  EXPECT_EQ(m.find("ccache"), std::string::npos) << m;
  EXPECT_NE(m.find("lab04-vtx/src/vmx.cpp:12:3: error: expected ';'"), std::string::npos) << m;
  EXPECT_EQ(m.find("../src/"), std::string::npos) << m;
  EXPECT_EQ(first_error_line(m), "lab04-vtx/src/vmx.cpp:12:3: error: expected ';' before '}' token");
  EXPECT_NE(compiler_message("ninja: error: unknown target 'lab09/monitor.elf'\n", "").find("unknown target"),
            std::string::npos);
  EXPECT_NE(compiler_message("/work/alice/src/CMakeLists.txt:3 (x):\nCMake Error at y\n", "/work/alice/src").find("CMake Error"),
            std::string::npos);
}

// The handout's stubs warn about unused parameters by the dozen; the error comes last in the
// log but first in the message, and is the one-line reason.
TEST(Batch, CompilerMessagePutsTheErrorBeforeTheStubsWarnings) {
  std::string log = "FAILED: lab01-trap-and-emulate/CMakeFiles/m.dir/core.cpp.o \n/usr/bin/c++ -c core.cpp\n";
  for (int i = 0; i < 40; ++i)
    log += fmt::format("../src/lab01-trap-and-emulate/core.cpp: In function 'void stub{0}(int)':\n"
                       "../src/lab01-trap-and-emulate/core.cpp:{0}:15: warning: unused parameter 'x' [-Wunused-parameter]\n"
                       "   {0} | void stub{0}(int x) {{\n      |               ~~~~^\n", i + 10);
  log += "../src/lab01-trap-and-emulate/core.cpp: In function 'void emulate()':\n"
         "../src/lab01-trap-and-emulate/core.cpp:300:5: error: 'undeclared' was not declared in this scope\n"
         "  300 |     undeclared();\n"
         "../src/lab01-trap-and-emulate/core.cpp:300:5: note: suggested alternative: 'declared'\n"
         "ninja: build stopped: subcommand failed.\n";
  const std::string m = compiler_message(log, "/work/alice/src", 30);
  EXPECT_EQ(m.rfind("lab01-trap-and-emulate/core.cpp: In function 'void emulate()':", 0), 0u) << m;
  EXPECT_NE(m.find("note: suggested alternative"), std::string::npos) << m;
  EXPECT_EQ(m.find("unused parameter"), std::string::npos) << m;
  EXPECT_NE(m.find("(40 warning(s) not shown)"), std::string::npos) << m;
  EXPECT_EQ(first_error_line(m),
            "lab01-trap-and-emulate/core.cpp:300:5: error: 'undeclared' was not declared in this scope");
}

TEST(Batch, CsvFieldsRoundTripAndDoNotRunAsFormulas) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\"\nnow"), "\"say \"\"hi\"\"\nnow\"");
  EXPECT_EQ(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
  const std::string text = csv_field("x,y") + "," + csv_field("q\"") + "\r\n" + "1,2\r\n";
  auto rows = parse_csv(text);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0], (std::vector<std::string>{"x,y", "q\""}));
  EXPECT_FALSE(parse_csv("\"open"));
  EXPECT_FALSE(parse_csv("a\"b\n"));
}

TEST(Batch, GradebookHasOneRowPerStudentAndAColumnPerExercise) {
  const json a = json::parse(R"({"student": "alice", "score": 3, "max_score": 4, "labs": [
      {"lab": "lab04", "status": "graded", "score": 3, "max_score": 4, "full_marks": false, "exercises": [
        {"exercise": "lab04-e10", "score": 1, "first_failure_reason": "x, \"y\""},
        {"exercise": "lab04-e2", "score": 2, "first_failure_reason": null}]}]})");
  const json b = json::parse(R"({"student": "bob", "score": 0, "max_score": 4,
      "submission": {"status": "build_failed"}, "labs": [
      {"lab": "lab04", "status": "not_built", "status_reason": "build failed: x.cpp:1: error: no",
       "score": 0, "max_score": 4, "full_marks": false}]})");
  auto rows = parse_csv(gradebook_csv({a, b}));
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0], (std::vector<std::string>{"student", "score", "max_score", "percent", "status", "lab04",
                                                  "lab04-e2", "lab04-e10", "reason"}));
  EXPECT_EQ((*rows)[1][3], "75.0");
  EXPECT_EQ((*rows)[1][6], "2");
  EXPECT_EQ((*rows)[1][8], "lab04: lab04-e10: x, \"y\"");
  EXPECT_EQ((*rows)[2][4], "build_failed");
  EXPECT_EQ((*rows)[2][8], "lab04: build failed: x.cpp:1: error: no");
}

TEST(Batch, GradescopeValidation) {
  json ok = {{"score", 3.0},
             {"execution_time", 12},
             {"output", "text"},
             {"stdout_visibility", "hidden"},
             {"tests", json::array({{{"score", 1}, {"max_score", 2}, {"name", "t"}, {"status", "failed"},
                                     {"visibility", "after_due_date"}, {"tags", {"lab04-e1"}}, {"output", "o"}}})}};
  EXPECT_TRUE(validate_gradescope(ok).empty());
  json bad = ok;
  bad["tests"][0]["visibility"] = "sometimes";
  bad["tests"][0]["score"] = 3;
  bad["colour"] = "red";
  bad["stdout_visibility"] = true;
  auto problems = validate_gradescope(bad);
  EXPECT_EQ(problems.size(), 4u);
  EXPECT_FALSE(validate_gradescope(json::array()).empty());
  EXPECT_FALSE(validate_gradescope(json::object()).empty()) << "no score anywhere";
}

TEST(Batch, ExercisesSortNaturally) {
  EXPECT_TRUE(natural_less("lab04-e2", "lab04-e10"));
  EXPECT_FALSE(natural_less("lab04-e10", "lab04-e2"));
  EXPECT_TRUE(natural_less("lab01-e9", "lab04-e1"));
  EXPECT_FALSE(natural_less("a", "a"));
}

TEST(Batch, StubPanicsAreFoundOnEitherConsole) {
  runner::BootResult r;
  r.com1 = "KTAP version 1\n1..3\nPANIC at lab04-vtx/src/vmx.cpp:38: not implemented: lab04-e3\n";
  auto ni = find_not_implemented(r);
  ASSERT_TRUE(ni);
  EXPECT_EQ(ni->exercise, "lab04-e3");
  EXPECT_EQ(ni->where, "lab04-vtx/src/vmx.cpp:38");
  EXPECT_EQ(ni->text(), "not implemented: lab04-e3 (at lab04-vtx/src/vmx.cpp:38)");
  r.com1.clear();
  r.debugcon = "lab04: starting\nnot implemented: lab01-e10.\n";
  ni = find_not_implemented(r);
  ASSERT_TRUE(ni);
  EXPECT_EQ(ni->text(), "not implemented: lab01-e10");
  r.debugcon = "feature not implemented: yet\n";
  EXPECT_FALSE(find_not_implemented(r));
}

}  // namespace
}  // namespace hvlab::grader
