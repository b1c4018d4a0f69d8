#include "common/runtime/format.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace {

std::string fmt(const char* f, auto... args) {
  char buf[128];
  hvlab::format(buf, sizeof buf, f, args...);
  return buf;
}

TEST(Format, PlainTextAndPercent) { EXPECT_EQ(fmt("a%%b"), "a%b"); }
TEST(Format, SignedDecimal) {
  EXPECT_EQ(fmt("%d %i", -42, 7), "-42 7");
  EXPECT_EQ(fmt("%d", INT32_MIN), "-2147483648");
}
TEST(Format, UnsignedAndHex) {
  EXPECT_EQ(fmt("%u %x %X", 4000000000u, 0xbeefu, 0xbeefu), "4000000000 beef BEEF");
  EXPECT_EQ(fmt("%#x %#o", 255u, 8u), "0xff 010");
}
TEST(Format, WidthAndZeroPad) {
  EXPECT_EQ(fmt("[%5d][%-5d][%05d]", 42, 42, -42), "[   42][42   ][-0042]");
  EXPECT_EQ(fmt("%08x", 0x1234u), "00001234");
}
TEST(Format, StarWidthAndPrecision) { EXPECT_EQ(fmt("[%*d][%.*s]", 4, 7, 2, "abcdef"), "[   7][ab]"); }
TEST(Format, IntegerPrecision) {
  EXPECT_EQ(fmt("%.3d", 5), "005");
  EXPECT_EQ(fmt("[%.0d]", 0), "[]");
}
TEST(Format, LengthModifiers) {
  EXPECT_EQ(fmt("%llu %lld", 1ull << 40, -(1ll << 40)), "1099511627776 -1099511627776");
  EXPECT_EQ(fmt("%hhu %hd", 0x1ff, 0x18000), "255 -32768");
  EXPECT_EQ(fmt("%zu", static_cast<std::size_t>(123)), "123");
}
TEST(Format, Strings) {
  EXPECT_EQ(fmt("[%s][%6s][%-6s]", "hi", "hi", "hi"), "[hi][    hi][hi    ]");
  EXPECT_EQ(fmt("%s", static_cast<const char*>(nullptr)), "(null)");
}
TEST(Format, CharAndSigns) { EXPECT_EQ(fmt("%c%3c|%+d|% d", 'x', 'y', 5, 5), "x  y|+5| 5"); }
TEST(Format, Pointer) {
  auto p = reinterpret_cast<void*>(static_cast<std::uintptr_t>(0xabc));
  std::string s = fmt("%p", p);
  EXPECT_EQ(s.substr(0, 2), "0x");
  EXPECT_EQ(s.size(), 2 + 2 * sizeof(void*));
  EXPECT_EQ(s.substr(s.size() - 3), "abc");
}
TEST(Format, UnknownConversionIsVisible) { EXPECT_EQ(fmt("%q|%"), "%q|%"); }
TEST(Format, TruncatesAndReportsFullLength) {
  char buf[6];
  std::size_t n = hvlab::format(buf, sizeof buf, "%s", "abcdefghij");
  EXPECT_EQ(n, 10u);
  EXPECT_STREQ(buf, "abcde");
  EXPECT_EQ(hvlab::format(nullptr, 0, "%d", 12345), 5u);
}
TEST(Format, CustomSinkCounts) {
  struct Collect : hvlab::FormatSink {
    std::string s;
    void put(char c) override { s += c; }
  } sink;
  EXPECT_EQ(hvlab::format_to(sink, "%s=%u", "n", 10u), 4u);
  EXPECT_EQ(sink.s, "n=10");
}

}  // namespace
