#include "common/decoder/decoder.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using hvlab::decoder::Decoder;
using hvlab::decoder::Mode;

namespace {
std::string text(const Decoder& d, std::vector<std::uint8_t> bytes, unsigned* len = nullptr) {
  auto r = d.decode(bytes.data(), bytes.size());
  if (!r.ok()) return "<error>";
  if (len) *len = r.value().length();
  char buf[96];
  EXPECT_TRUE(d.format(r.value(), 0x1000, buf, sizeof buf));
  return buf;
}
}  // namespace

TEST(Decoder, PrivilegedInstructions32) {
  Decoder d(Mode::k32);
  EXPECT_EQ(text(d, {0xfa}), "cli");
  EXPECT_EQ(text(d, {0xfb}), "sti");
  EXPECT_EQ(text(d, {0xf4}), "hlt");
  EXPECT_EQ(text(d, {0x0f, 0x22, 0xd8}), "mov cr3, eax");
  EXPECT_EQ(text(d, {0x0f, 0x20, 0xc0}), "mov eax, cr0");
  EXPECT_EQ(text(d, {0x0f, 0x01, 0x10}), "lgdt [eax]");
}
TEST(Decoder, PortIo) {
  Decoder d;
  EXPECT_EQ(text(d, {0xec}), "in al, dx");
  EXPECT_EQ(text(d, {0xe6, 0x80}), "out 0x80, al");
  EXPECT_EQ(text(d, {0x66, 0xed}), "in ax, dx");
}
TEST(Decoder, SensitiveUnprivileged) {
  Decoder d;
  EXPECT_EQ(text(d, {0x9c}), "pushfd");
  EXPECT_EQ(text(d, {0x9d}), "popfd");
  EXPECT_EQ(text(d, {0x0f, 0x01, 0x00}), "sgdt [eax]");
  EXPECT_EQ(text(d, {0x0f, 0x00, 0xc8}), "str eax");
}
TEST(Decoder, VmxInstructions) {
  Decoder d;
  EXPECT_EQ(text(d, {0x0f, 0x01, 0xc2}), "vmlaunch");
  EXPECT_EQ(text(d, {0x0f, 0x01, 0xc1}), "vmcall");
}
TEST(Decoder, LengthsIncludeImmediatesAndPrefixes) {
  Decoder d;
  unsigned len = 0;
  text(d, {0xb8, 0x78, 0x56, 0x34, 0x12}, &len);
  EXPECT_EQ(len, 5u);
  text(d, {0x66, 0xb8, 0x34, 0x12}, &len);
  EXPECT_EQ(len, 4u);
}
TEST(Decoder, RejectsInvalidAndTruncated) {
  Decoder d;
  std::vector<std::uint8_t> ud{0x0f, 0xff};
  EXPECT_FALSE(d.decode(ud.data(), ud.size()).ok());
  std::vector<std::uint8_t> truncated{0xb8, 0x01};
  EXPECT_FALSE(d.decode(truncated.data(), truncated.size()).ok());
  EXPECT_FALSE(d.decode(nullptr, 4).ok());
}
TEST(Decoder, PrivilegeAttribute) {
  Decoder d;
  std::vector<std::uint8_t> hlt{0xf4}, nop{0x90}, mov_cr{0x0f, 0x22, 0xd8};
  EXPECT_TRUE(d.decode(hlt.data(), 1).value().is_cpl0_only());
  EXPECT_TRUE(d.decode(mov_cr.data(), 3).value().is_cpl0_only());
  EXPECT_FALSE(d.decode(nop.data(), 1).value().is_cpl0_only());
}
TEST(Decoder, BlockEnds) {
  Decoder d;
  std::vector<std::uint8_t> jmp{0xeb, 0xfe}, ret{0xc3}, add{0x01, 0xc0}, iret{0xcf}, intn{0xcd, 0x80};
  EXPECT_TRUE(d.decode(jmp.data(), 2).value().ends_block());
  EXPECT_TRUE(d.decode(ret.data(), 1).value().ends_block());
  EXPECT_TRUE(d.decode(iret.data(), 1).value().ends_block());
  EXPECT_TRUE(d.decode(intn.data(), 2).value().ends_block());
  EXPECT_FALSE(d.decode(add.data(), 2).value().ends_block());
}
TEST(Decoder, ModesDiffer) {
  Decoder d16(Mode::k16), d64(Mode::k64);
  EXPECT_EQ(text(d16, {0xb8, 0x34, 0x12}), "mov ax, 0x1234");
  EXPECT_EQ(text(d64, {0x48, 0x89, 0xc3}), "mov rbx, rax");
}
