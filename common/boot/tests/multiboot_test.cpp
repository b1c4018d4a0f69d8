#include "common/boot/multiboot.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

// The parser follows 32-bit physical addresses, so these tests only run where host pointers
// fit in 32 bits... unless the buffers are below 4 GiB. Instead, the tests build the
// structures in a buffer and rely on the parser's pointer conversion only on 32-bit hosts;
// on 64-bit hosts they check the option parser and the paths that need no pointers.

using namespace hvlab;

TEST(Multiboot, WrongMagicGivesEmptyInfo) {
  multiboot::Info info{};
  info.flags = multiboot::info_flags::MEMORY;
  info.mem_lower = 639;
  BootInfo bi = parse_multiboot(0x12345678, &info);
  EXPECT_EQ(bi.mem_lower_kib, 0u);
  EXPECT_EQ(bi.range_count, 0u);
}
TEST(Multiboot, MemoryFieldsWithoutMapGiveTwoRanges) {
  multiboot::Info info{};
  info.flags = multiboot::info_flags::MEMORY;
  info.mem_lower = 639;
  info.mem_upper = 64512;
  BootInfo bi = parse_multiboot(multiboot::kBootloaderMagic, &info);
  ASSERT_EQ(bi.range_count, 2u);
  EXPECT_EQ(bi.ranges[0].length, 639u * 1024);
  EXPECT_EQ(bi.ranges[1].base, 0x100000u);
  EXPECT_EQ(bi.ranges[1].length, 64512ull * 1024);
  EXPECT_EQ(bi.module_count, 0u);
}
TEST(Multiboot, StructLayouts) {
  EXPECT_EQ(offsetof(multiboot::Info, mmap_length), 44u);
  EXPECT_EQ(offsetof(multiboot::Info, mods_addr), 24u);
  EXPECT_EQ(sizeof(multiboot::MmapEntry), 24u);
}
TEST(Multiboot, FindOption) {
  char buf[16];
  EXPECT_TRUE(find_option("first=7 nonce=abcd", "nonce", buf, sizeof buf));
  EXPECT_STREQ(buf, "abcd");
  EXPECT_TRUE(find_option("first=7 nonce=abcd", "first", buf, sizeof buf));
  EXPECT_STREQ(buf, "7");
  EXPECT_FALSE(find_option("firstx=7", "first", buf, sizeof buf));
  EXPECT_FALSE(find_option("xfirst=7", "first", buf, sizeof buf));
  EXPECT_FALSE(find_option("", "first", buf, sizeof buf));
  EXPECT_FALSE(find_option(nullptr, "first", buf, sizeof buf));
}
TEST(Multiboot, FindOptionTruncatesToBuffer) {
  char buf[4];
  EXPECT_TRUE(find_option("  key=abcdefgh ", "key", buf, sizeof buf));
  EXPECT_STREQ(buf, "abc");
}
TEST(Multiboot, EmptyValue) {
  char buf[8] = "x";
  EXPECT_TRUE(find_option("a= b=2", "a", buf, sizeof buf));
  EXPECT_STREQ(buf, "");
}
TEST(Multiboot, FindUnsignedOption) {
  std::uint32_t v = 99;
  bool bad = true;
  EXPECT_TRUE(find_unsigned_option("n=10000 only=x", "n", &v, &bad));
  EXPECT_EQ(v, 10000u);
  EXPECT_FALSE(bad);
  EXPECT_TRUE(find_unsigned_option("n=4294967295", "n", &v));
  EXPECT_EQ(v, 4294967295u);
  EXPECT_TRUE(find_unsigned_option("n=0", "n", &v));
  EXPECT_EQ(v, 0u);
  // Absent: false, not malformed, value untouched.
  v = 7;
  EXPECT_FALSE(find_unsigned_option("m=3", "n", &v, &bad));
  EXPECT_FALSE(bad);
  EXPECT_EQ(v, 7u);
  // Present but not a 32-bit decimal number: false and malformed.
  for (const char* s : {"n=abc", "n=12x", "n=", "n=-1", "n=4294967296", "n=123456789012345678901", "n=000000000000000000001"}) {
    bad = false;
    EXPECT_FALSE(find_unsigned_option(s, "n", &v, &bad)) << s;
    EXPECT_TRUE(bad) << s;
    EXPECT_EQ(v, 7u) << s;
  }
}
