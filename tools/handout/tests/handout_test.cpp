// Tests of the handout generator. hvlab: verbatim (the marker lines below are test data).
#include "tools/handout/handout.hpp"

#include <gtest/gtest.h>

using namespace hvlab::handout;

namespace {
const char* kCpp = R"(int keep() { return 1; }
Action on_cli(VCpu& v, const Event& e) {
  // BEGIN SOLUTION lab01-e2
  v.eflags &= ~kIfMask;  // the virtual IF, never the real one
  return Action::advance;
  // STUB: return Action::stop;
  // END SOLUTION
}
)";
}  // namespace

TEST(Handout, StripsRegionIntoFailFastStub) {
  auto o = process("lab01/x.cpp", kCpp, 0);
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_NE(o.ok->text.find("  HV_NOT_IMPLEMENTED(\"lab01-e2\");\n  return Action::stop;\n"), std::string::npos)
      << o.ok->text;
  EXPECT_EQ(o.ok->text.find("kIfMask"), std::string::npos);
  EXPECT_EQ(o.ok->text.find("SOLUTION"), std::string::npos);
  EXPECT_NE(o.ok->text.find("int keep() { return 1; }"), std::string::npos);
  ASSERT_EQ(o.ok->stripped.size(), 1u);
  EXPECT_EQ(o.ok->stripped[0].exercise, "lab01-e2");
  EXPECT_EQ(o.ok->stripped[0].begin_line, 3);
  EXPECT_EQ(o.ok->stripped[0].end_line, 7);
}
TEST(Handout, UptoKeepsEarlierLabsWithoutMarkers) {
  auto o = process("lab01/x.cpp", kCpp, 1);
  ASSERT_TRUE(o.ok);
  EXPECT_NE(o.ok->text.find("v.eflags &= ~kIfMask;"), std::string::npos);
  EXPECT_EQ(o.ok->text.find("SOLUTION"), std::string::npos);
  EXPECT_EQ(o.ok->text.find("STUB"), std::string::npos);
  EXPECT_TRUE(o.ok->stripped.empty());
  EXPECT_EQ(o.ok->regions.size(), 1u);
}
TEST(Handout, KeepNamedExercisesOnly) {
  auto o = process("lab01/x.cpp", kCpp, 0, {"lab01-e2"});
  ASSERT_TRUE(o.ok);
  EXPECT_NE(o.ok->text.find("v.eflags &= ~kIfMask;"), std::string::npos);
  EXPECT_TRUE(o.ok->stripped.empty());
  auto other = process("lab01/x.cpp", kCpp, 0, {"lab01-e1"});
  ASSERT_TRUE(other.ok);
  EXPECT_EQ(other.ok->text.find("kIfMask"), std::string::npos);
  EXPECT_EQ(other.ok->stripped.size(), 1u);
}
TEST(Handout, HashAndMarkdownSyntax) {
  auto c = process("lab04/CMakeLists.txt", "a\n# BEGIN SOLUTION lab04-e1\nadd_thing()\n# END SOLUTION\nb\n", 0);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(c.ok->text, "a\n# lab04-e1: not implemented\nb\n");
  auto m = process("labs/lab01.md", "Q\n<!-- BEGIN SOLUTION lab01-q1 -->\nThe answer.\n<!-- END SOLUTION -->\n", 0);
  ASSERT_TRUE(m.ok) << m.error;
  EXPECT_EQ(m.ok->text, "Q\n<!-- lab01-q1: your answer here -->\n");
}
TEST(Handout, UnterminatedRegionIsAnError) {
  auto o = process("a.cpp", "// BEGIN SOLUTION lab01-e1\nx;\n", 0);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.error.find("a.cpp:1"), std::string::npos);
  EXPECT_NE(o.error.find("never closed"), std::string::npos);
}
TEST(Handout, NestedAndStrayMarkersAreErrors) {
  EXPECT_FALSE(process("a.cpp", "// BEGIN SOLUTION lab01-e1\n// BEGIN SOLUTION lab01-e2\n// END SOLUTION\n", 0).ok);
  auto o = process("a.cpp", "x\n// END SOLUTION\n", 0);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.error.find("a.cpp:2"), std::string::npos);
}
TEST(Handout, ExerciseIdIsRequired) {
  auto o = process("a.cpp", "// BEGIN SOLUTION\nx\n// END SOLUTION\n", 0);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.error.find("exercise id"), std::string::npos);
  EXPECT_EQ(lab_of("lab01-e3"), 1);
  EXPECT_EQ(lab_of("lab12-q1"), 12);
  EXPECT_EQ(lab_of("labx-e3"), 0);
  EXPECT_EQ(lab_of("lab01"), 0);
}
TEST(Handout, MarkersInUnknownFileTypesAreRefused) {
  EXPECT_FALSE(process("notes.txt", "BEGIN SOLUTION lab01-e1\n", 0).ok);
  EXPECT_TRUE(process("notes.txt", "plain text\n", 0).ok);
}
TEST(Handout, InstructorOnlyByGlobAndByMark) {
  std::vector<std::string> globs{"autograder/rubrics/hidden/*"};
  EXPECT_TRUE(instructor_only("autograder/rubrics/hidden/lab01.toml", "", globs));
  EXPECT_FALSE(instructor_only("autograder/rubrics/lab01.toml", "", globs));
  EXPECT_TRUE(instructor_only("x.md", "# Notes\n<!-- hvlab: instructor-only -->\n", {}));
  EXPECT_FALSE(instructor_only("x.md", "1\n2\n3\n4\n5\n6 hvlab: instructor-only\n", {}));
}
TEST(Handout, LeakCheckFindsSolutionLinesOutsideRegions) {
  auto o = process("lab01/x.cpp", kCpp, 0);
  ASSERT_TRUE(o.ok);
  EXPECT_TRUE(leaked_lines(o.ok->stripped, kCpp, o.ok->text).empty());
  std::string leaky = o.ok->text + "  v.eflags &= ~kIfMask;  // the virtual IF, never the real one\n";
  auto leaks = leaked_lines(o.ok->stripped, kCpp, leaky);
  ASSERT_EQ(leaks.size(), 1u);
}
TEST(Handout, LeakCheckIgnoresLinesThatAlsoStandOutsideRegions) {
  std::string src = "  return Action::advance;\n// BEGIN SOLUTION lab01-e1\n  return Action::advance;\n// END SOLUTION\n";
  auto o = process("a.cpp", src, 0);
  ASSERT_TRUE(o.ok);
  EXPECT_TRUE(leaked_lines(o.ok->stripped, src, o.ok->text).empty());
}
TEST(Handout, StubLinesAreNotLeaks) {
  // The stub may repeat a line of the solution: it is published on purpose.
  std::string src = "// BEGIN SOLUTION lab01-e1\n  return Reason::exception_taken;\n  // STUB: return Reason::exception_taken;\n// END SOLUTION\n";
  auto o = process("a.cpp", src, 0);
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_NE(o.ok->text.find("return Reason::exception_taken;"), std::string::npos);
  EXPECT_TRUE(leaked_lines(o.ok->stripped, src, o.ok->text).empty());
  ASSERT_EQ(o.ok->stripped.size(), 1u);
  EXPECT_EQ(o.ok->stripped[0].stubs, std::vector<std::string>{"  return Reason::exception_taken;"});
}
TEST(Handout, VerbatimFilesAreMarkedInTheirFirstLines) {
  EXPECT_TRUE(verbatim("// Tests. hvlab: verbatim\n// BEGIN SOLUTION lab01-e1\n"));
  EXPECT_FALSE(verbatim("1\n2\n3\n4\n5\n// hvlab: verbatim\n"));
}
