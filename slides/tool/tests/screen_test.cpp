#include "slides/tool/screen.hpp"

#include <gtest/gtest.h>

namespace hvlab::demo {
namespace {

TEST(Screen, WrapKeepsEveryLineWithinTheWidth) {
  std::string text;
  for (int i = 0; i < 60; ++i) text += "word" + std::to_string(i) + " ";
  auto lines = wrap(text, 30, 2, 4);
  ASSERT_GT(lines.size(), 5u);
  EXPECT_EQ(lines[0].rfind("  word0 ", 0), 0u);
  EXPECT_EQ(lines[1].rfind("    word", 0), 0u);
  for (const auto& l : lines) EXPECT_LE(l.size(), 30u) << l;
  std::string joined;
  for (const auto& l : lines) joined += l + " ";
  EXPECT_NE(joined.find("word59"), std::string::npos);
}

TEST(Screen, WrapCutsAWordLongerThanALine) {
  auto lines = wrap(std::string(50, 'x'), 20, 0, 0);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].size(), 20u);
  EXPECT_EQ(lines[2].size(), 10u);
}

TEST(Screen, ColourTakesNoColumns) {
  Screen colour(true), plain(false);
  std::string painted = colour.paint(Tone::bad, "sensitive");
  EXPECT_NE(painted, "sensitive");
  EXPECT_EQ(visible_width(painted), 9u);
  EXPECT_EQ(plain.paint(Tone::bad, "sensitive"), "sensitive");
  EXPECT_EQ(visible_width("\xe2\x8a\x86 a"), 3u);  // one UTF-8 character, a space, a letter
}

TEST(Screen, ColourModes) {
  EXPECT_TRUE(Screen::colour_wanted("always"));
  EXPECT_FALSE(Screen::colour_wanted("never"));
}

}  // namespace
}  // namespace hvlab::demo
