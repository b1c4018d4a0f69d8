#include "common/runtime/string.hpp"

#include <gtest/gtest.h>

#include <cstring>

using namespace hvlab::rt;

TEST(String, CopyAlignedAndUnaligned) {
  char src[32], dst[40] = {};
  for (int i = 0; i < 32; ++i) src[i] = static_cast<char>('a' + i % 26);
  mem_copy(dst + 1, src + 3, 20);
  EXPECT_EQ(std::memcmp(dst + 1, src + 3, 20), 0);
  EXPECT_EQ(dst[0], 0);
  EXPECT_EQ(dst[21], 0);
  alignas(4) char a[16] = "0123456789abcde";
  alignas(4) char b[16] = {};
  mem_copy(b, a, 15);
  EXPECT_STREQ(b, "0123456789abcde");
}
TEST(String, MoveHandlesOverlapBothWays) {
  char s[] = "abcdefgh";
  mem_move(s + 2, s, 5);
  EXPECT_STREQ(s, "ababcdeh");
  char t[] = "abcdefgh";
  mem_move(t, t + 2, 5);
  EXPECT_STREQ(t, "cdefgfgh");
}
TEST(String, SetAndCompare) {
  unsigned char b[8];
  mem_set(b, 0x1ab, sizeof b);
  for (auto c : b) EXPECT_EQ(c, 0xab);
  unsigned char x[] = {1, 2, 3}, y[] = {1, 2, 4};
  EXPECT_LT(mem_compare(x, y, 3), 0);
  EXPECT_GT(mem_compare(y, x, 3), 0);
  EXPECT_EQ(mem_compare(x, y, 2), 0);
}
TEST(String, LengthAndCompare) {
  EXPECT_EQ(str_length("hello"), 5u);
  EXPECT_EQ(str_length_bounded("hello", 3), 3u);
  EXPECT_EQ(str_compare("abc", "abc"), 0);
  EXPECT_LT(str_compare("abc", "abd"), 0);
  EXPECT_GT(str_compare("abcd", "abc"), 0);
  EXPECT_EQ(str_compare_n("abcX", "abcY", 3), 0);
  EXPECT_NE(str_compare_n("abcX", "abcY", 4), 0);
}
TEST(String, Find) {
  EXPECT_STREQ(str_find("hello world", "wor"), "world");
  EXPECT_EQ(str_find("hello", "xyz"), nullptr);
}
