#include <gtest/gtest.h>

#include "autograder/grader/ktap.hpp"

namespace hvlab::grader {
namespace {

TEST(Ktap, ParsesHeaderPlanAndResults) {
  KtapLog log = parse_ktap("KTAP version 1\n1..3\nok 1 priv_lgdt\nnot ok 2 sens_popf_if\nok 3 - exc_de\n");
  EXPECT_TRUE(log.header);
  EXPECT_EQ(log.version, 1u);
  ASSERT_TRUE(log.plan);
  EXPECT_EQ(*log.plan, 3u);
  ASSERT_EQ(log.results.size(), 3u);
  EXPECT_TRUE(log.results[0].ok);
  EXPECT_EQ(log.results[0].name, "priv_lgdt");
  EXPECT_FALSE(log.results[1].ok);
  EXPECT_EQ(log.results[1].number, 2u);
  EXPECT_EQ(log.results[2].name, "exc_de");  // the optional "- " is not part of the name
  EXPECT_TRUE(log.errors.empty());
  EXPECT_EQ(log.garbage_lines, 0u);
}

TEST(Ktap, SkipAndTodoDirectives) {
  KtapLog log = parse_ktap(
      "KTAP version 1\n1..3\nok 1 dev_uart_loopback # SKIP no second UART\n"
      "not ok 2 tsc_monotonic # TODO flaky on bochs\nok 3 paging_wp #skip\n");
  ASSERT_EQ(log.results.size(), 3u);
  EXPECT_EQ(log.results[0].directive, Directive::skip);
  EXPECT_EQ(log.results[0].directive_reason, "no second UART");
  EXPECT_EQ(log.results[0].name, "dev_uart_loopback");
  EXPECT_EQ(log.results[1].directive, Directive::todo);
  EXPECT_EQ(log.results[1].directive_reason, "flaky on bochs");
  EXPECT_EQ(log.results[2].directive, Directive::skip);
  EXPECT_EQ(log.results[2].name, "paging_wp");
}

TEST(Ktap, DiagnosticsAttachToTheNextResult) {
  KtapLog log = parse_ktap(
      "KTAP version 1\n1..3\n# nonce 00ff\nok 1 priv_lgdt\n"
      "# sgdt: expected base 0x00104000, saw 0x00ffe000\n# second line\nnot ok 2 sens_sgdt\n"
      "ok 3 exc_de\n");
  ASSERT_EQ(log.results.size(), 3u);
  EXPECT_TRUE(log.results[0].diagnostics.empty()) << "the nonce line is not a diagnostic";
  ASSERT_EQ(log.results[1].diagnostics.size(), 2u);
  EXPECT_EQ(log.results[1].diagnostics[0], "sgdt: expected base 0x00104000, saw 0x00ffe000");
  EXPECT_EQ(log.results[1].diagnostics[1], "second line");
  EXPECT_TRUE(log.results[2].diagnostics.empty());
  ASSERT_EQ(log.nonces.size(), 1u);
  EXPECT_EQ(log.nonces[0], "00ff");
}

TEST(Ktap, GarbageBetweenLinesIsCountedAndIgnored) {
  KtapLog log = parse_ktap(
      "SeaBIOS (version 1.16)\r\nKTAP version 1\r\n1..2\r\nmonitor: trap 13 at 0x101234\r\n"
      "ok 1 priv_lgdt\r\n\x01\x02\xff garbage\r\nokay 2 no\r\nok 2 priv_lidt\r\n");
  EXPECT_EQ(log.results.size(), 2u);
  EXPECT_EQ(log.results[1].name, "priv_lidt");  // the \r is gone
  EXPECT_EQ(log.garbage_lines, 4u);
  ASSERT_FALSE(log.garbage_sample.empty());
  EXPECT_EQ(log.garbage_sample[0], "SeaBIOS (version 1.16)");
  EXPECT_TRUE(log.errors.empty());
}

TEST(Ktap, DuplicateResultIsAProtocolError) {
  KtapLog log = parse_ktap("KTAP version 1\n1..2\nnot ok 1 a\nok 1 a\nok 2 b\n");
  ASSERT_EQ(log.results.size(), 2u);
  EXPECT_FALSE(log.find(1)->ok) << "the first report is the one kept";
  ASSERT_EQ(log.duplicated.size(), 1u);
  EXPECT_EQ(log.duplicated[0], 1u);
  ASSERT_EQ(log.errors.size(), 1u);
  EXPECT_NE(log.errors[0].message.find("reported twice"), std::string::npos);
  EXPECT_EQ(log.errors[0].line, 4u);
}

TEST(Ktap, ResultOutsideThePlanIsAProtocolError) {
  KtapLog log = parse_ktap("KTAP version 1\n1..2\nok 1 a\nok 2 b\nok 7 c\n");
  EXPECT_EQ(log.results.size(), 2u);
  ASSERT_EQ(log.errors.size(), 1u);
  EXPECT_NE(log.errors[0].message.find("outside the plan 1..2"), std::string::npos);
}

TEST(Ktap, PlanMayComeLast) {
  KtapLog log = parse_ktap("KTAP version 1\nok 1 a\nok 2 b\nok 3 c\n1..2\n");
  ASSERT_TRUE(log.plan);
  EXPECT_EQ(log.results.size(), 2u);
  EXPECT_EQ(log.errors.size(), 1u);
}

TEST(Ktap, SecondPlanIsAProtocolError) {
  KtapLog log = parse_ktap("KTAP version 1\n1..2\n1..5\nok 1 a\n");
  EXPECT_EQ(*log.plan, 2u);
  ASSERT_EQ(log.errors.size(), 1u);
  EXPECT_NE(log.errors[0].message.find("second plan"), std::string::npos);
}

TEST(Ktap, TruncatedLastLineIsNotAResult) {
  const std::string text = "KTAP version 1\n1..3\nok 1 paging_wp\nok 2 pag";
  KtapLog cut = parse_ktap(text);
  ASSERT_EQ(cut.results.size(), 1u);
  KtapLog whole = parse_ktap(text, {.accept_unterminated_last_line = true});
  ASSERT_EQ(whole.results.size(), 2u);
  EXPECT_EQ(whole.results[1].name, "pag");
}

TEST(Ktap, IndentedSubtestsAttachToTheirParent) {
  KtapLog log = parse_ktap(
      "KTAP version 1\n1..2\n"
      "    KTAP version 1\n    # Subtest: intr_timer\n    1..2\n"
      "    ok 1 irq0_fires\n    # count: 0\n    not ok 2 irq0_rate\n"
      "not ok 1 intr_timer\n"
      "ok 2 exc_de\n");
  ASSERT_EQ(log.results.size(), 2u);
  const KtapResult& parent = log.results[0];
  EXPECT_EQ(parent.name, "intr_timer");
  ASSERT_EQ(parent.subtests.size(), 2u);
  EXPECT_EQ(parent.subtests[1].name, "irq0_rate");
  ASSERT_EQ(parent.subtests[1].diagnostics.size(), 1u);
  EXPECT_EQ(parent.subtests[1].diagnostics[0], "count: 0");
  EXPECT_TRUE(log.results[1].subtests.empty());
  EXPECT_TRUE(log.errors.empty()) << "subtest numbers do not clash with top-level ones";
  EXPECT_EQ(log.garbage_lines, 0u);
}

TEST(Ktap, SecondHeaderMeansTheMachineReset) {
  KtapLog log = parse_ktap("KTAP version 1\n1..3\nok 1 a\nKTAP version 1\n1..3\nok 1 a\nok 2 b\n");
  ASSERT_TRUE(log.restart_line);
  EXPECT_EQ(*log.restart_line, 4u);
  EXPECT_EQ(log.results.size(), 1u) << "output after the reset is ignored";
  EXPECT_TRUE(log.duplicated.empty());
}

TEST(Ktap, BailOutStopsParsing) {
  KtapLog log = parse_ktap("KTAP version 1\n1..3\nok 1 a\nBail out! no memory map\nok 2 b\n");
  EXPECT_TRUE(log.bailed_out);
  EXPECT_EQ(log.bail_reason, "no memory map");
  EXPECT_EQ(log.results.size(), 1u);
}

TEST(Ktap, ResultWithoutNumberIsAProtocolError) {
  KtapLog log = parse_ktap("KTAP version 1\n1..1\nok priv_lgdt\n");
  EXPECT_TRUE(log.results.empty());
  ASSERT_EQ(log.errors.size(), 1u);
  EXPECT_NE(log.errors[0].message.find("without a test number"), std::string::npos);
}

TEST(Ktap, TrailingDiagnosticsAreKeptForACrashedTest) {
  KtapLog log = parse_ktap("KTAP version 1\n1..3\nok 1 a\n# about to fault\n# cr2=0xdead\n");
  ASSERT_EQ(log.trailing.size(), 2u);
  EXPECT_EQ(log.trailing[1], "cr2=0xdead");
}

TEST(Ktap, EmptyAndNonKtapInput) {
  EXPECT_FALSE(parse_ktap("").any_ktap());
  KtapLog log = parse_ktap("\xde\xad\xbe\xef\nrandom noise\n");
  EXPECT_FALSE(log.any_ktap());
  EXPECT_EQ(log.garbage_lines, 2u);
}

TEST(Ktap, TapVersion13HeaderIsAccepted) {
  KtapLog log = parse_ktap("TAP version 13\n1..1\nok 1 a\n");
  EXPECT_TRUE(log.header);
  EXPECT_EQ(log.version, 13u);
}

}  // namespace
}  // namespace hvlab::grader
