#include "slides/tool/census.hpp"

#include <gtest/gtest.h>

namespace hvlab::demo {
namespace {

// The shape of `make census` output: rows, evidence, the machine-readable lines, the end.
constexpr const char* kCensus = R"(hvlab census: x86 instructions at ring 0, 1 and 3 (IOPL=0)
UMIP: supported by this CPU (CPUID.7.0:ECX[2]=1): a second pass runs with CR4.UMIP=1

evidence (ring 0 | ring 1 | ring 3 | with UMIP, where it changes):
  lgdt         r0 runs | r1 #GP(0000) at the instruction | r3 #GP(0000) at the instruction
  pushf        r0 runs | r1 pushed IF=1 IOPL=0: the real values | r3 pushed IF=1 IOPL=0: the real values
  popf         r0 runs | r1 eflags IF=1 (ring 0: 0) IOPL=0 (ring 0: 3) | r3 eflags IF=1 (ring 0: 0) IOPL=0 (ring 0: 3)

# census: lgdt ring3=privileged ring1=privileged umip3=privileged umip1=privileged ri=privileged agree=yes
# census: sgdt ring3=sensitive ring1=sensitive umip3=privileged umip1=privileged ri=sensitive agree=yes
# census: pushf ring3=sensitive ring1=sensitive umip3=sensitive umip1=sensitive ri=sensitive agree=yes
# census: popf ring3=sensitive ring1=sensitive umip3=sensitive umip1=sensitive ri=sensitive agree=yes
# census: lret_user ring3=sensitive ring1=innocuous umip3=sensitive umip1=innocuous ri=sensitive agree=yes
# census: rdpmc ring3=unsupported ring1=unsupported umip3=unsupported umip1=unsupported ri=privileged agree=no
# census: add ring3=innocuous ring1=innocuous umip3=innocuous umip1=innocuous ri=innocuous agree=yes
census: done
)";

TEST(Census, ParsesRowsAndCountsEachColumn) {
  std::string error;
  auto r = parse_census(kCensus, &error);
  ASSERT_TRUE(r) << error;
  EXPECT_TRUE(r->umip);
  ASSERT_EQ(r->rows.size(), 7u);
  ClassCounts ring3 = count_classes(*r, Column::ring3);
  EXPECT_EQ(ring3.privileged, 1u);
  EXPECT_EQ(ring3.sensitive, 4u);
  EXPECT_EQ(ring3.innocuous, 1u);
  EXPECT_EQ(ring3.other, 1u);
  ClassCounts ring1 = count_classes(*r, Column::ring1);
  EXPECT_EQ(ring1.sensitive, 3u);
  EXPECT_EQ(ring1.innocuous, 2u);
  ClassCounts umip3 = count_classes(*r, Column::umip3);
  EXPECT_EQ(umip3.privileged, 2u);
  EXPECT_EQ(names_in_class(*r, Column::ring3, "sensitive"),
            (std::vector<std::string>{"sgdt", "pushf", "popf", "lret_user"}));
}

TEST(Census, ReadsWhatPopfDidToIfAndIoplAtEachRing) {
  std::string error;
  auto r = parse_census(kCensus, &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->popf_if.ring0, 0);
  EXPECT_EQ(r->popf_if.ring1, 1);
  EXPECT_EQ(r->popf_if.ring3, 1);
  EXPECT_EQ(r->popf_iopl.ring0, 3);
  EXPECT_EQ(r->popf_iopl.ring1, 0);
}

TEST(Census, FiguresCarryTheMeasuredCountsAndPopf) {
  std::string error;
  auto r = parse_census(kCensus, &error);
  ASSERT_TRUE(r) << error;
  auto figs = census_figures(*r);
  ASSERT_EQ(figs.size(), 2u);
  EXPECT_EQ(figs[0].first, "classes");
  EXPECT_NE(figs[0].second.find("| ring 3 | 1 | 4 | 1 | 1 |"), std::string::npos) << figs[0].second;
  EXPECT_NE(figs[0].second.find("SGDT, PUSHF, POPF, LRET_USER"), std::string::npos);
  EXPECT_EQ(figs[1].first, "popf");
  EXPECT_NE(figs[1].second.find("POPF of EFLAGS with IF=0, IOPL=3"), std::string::npos) << figs[1].second;
  EXPECT_NE(figs[1].second.find("1  ignored"), std::string::npos);
}

TEST(Census, AnUnfinishedCensusIsAnError) {
  std::string text = kCensus;
  text.erase(text.find("census: done"));
  std::string error;
  EXPECT_FALSE(parse_census(text, &error));
  EXPECT_NE(error.find("did not finish"), std::string::npos);
  EXPECT_FALSE(parse_census("garbage\n", &error));
  EXPECT_NE(error.find("no \"# census:\" rows"), std::string::npos);
}

TEST(Census, AFlagWithoutARing0ValueWasTheSameAsAtRing0) {
  std::string text = kCensus;
  std::string from = "r1 eflags IF=1 (ring 0: 0) IOPL=0 (ring 0: 3) | r3 eflags IF=1 (ring 0: 0) IOPL=0 (ring 0: 3)";
  text.replace(text.find(from), from.size(), "r1 eflags IF=1 IOPL=0 | r3 eflags IF=1 IOPL=0");
  std::string error;
  auto r = parse_census(text, &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->popf_if.ring0, 1);
  EXPECT_EQ(r->popf_if.ring1, 1);
}

}  // namespace
}  // namespace hvlab::demo
