#include "common/arch/x86.hpp"

#include <gtest/gtest.h>

#include "common/arch/fake_intrinsics.hpp"

using namespace hvlab::x86;

TEST(X86, FlatCodeDescriptorEncoding) {
  // The classic flat ring-0 code segment: 0x00cf9a000000ffff.
  auto d = SegmentDescriptor::make(0, 0xffffffff, desc_type::kCodeRX, 0);
  EXPECT_EQ(d.raw(), 0x00cf9a000000ffffull);
  EXPECT_EQ(d.limit(), 0xffffffffu);
  EXPECT_EQ(d.base(), 0u);
}
TEST(X86, UserDataDescriptorEncoding) {
  EXPECT_EQ(SegmentDescriptor::make(0, 0xffffffff, desc_type::kDataRW, 3).raw(), 0x00cff2000000ffffull);
}
TEST(X86, ByteGranularTssDescriptor) {
  auto d = SegmentDescriptor::make(0x12345678, 103, desc_type::kTss32Available, 0, false, false);
  EXPECT_EQ(d.base(), 0x12345678u);
  EXPECT_EQ(d.limit(), 103u);
  EXPECT_EQ(d.g, 0u);
  EXPECT_EQ(d.s, 0u);
  EXPECT_EQ(d.raw(), 0x1200893456780067ull);
}
TEST(X86, DescriptorRoundTrip) {
  std::uint64_t raw = 0x00cf92000000ffffull;
  EXPECT_EQ(SegmentDescriptor::from(raw).raw(), raw);
  EXPECT_EQ(SegmentDescriptor::from(raw).dpl, 0u);
  EXPECT_EQ(SegmentDescriptor::from(raw).type, desc_type::kDataRW);
}
TEST(X86, InterruptGateEncoding) {
  auto g = GateDescriptor::make(0x00101234, 0x08, desc_type::kInterruptGate32, 3);
  EXPECT_EQ(g.raw(), 0x0010ee0000081234ull);
  EXPECT_EQ(g.offset(), 0x00101234u);
}
TEST(X86, SelectorFields) {
  auto s = Selector::from(0x1b);
  EXPECT_EQ(s.index, 3u);
  EXPECT_EQ(s.rpl, 3u);
  EXPECT_EQ(s.ti, 0u);
  EXPECT_EQ(Selector::make(5, 1, true).raw(), (5 << 3) | 4 | 1);
}
TEST(X86, Cr0BitsMatchMasks) {
  auto c = Cr0::from(cr0::PE | cr0::PG | cr0::WP);
  EXPECT_TRUE(c.pe);
  EXPECT_TRUE(c.pg);
  EXPECT_TRUE(c.wp);
  EXPECT_FALSE(c.ts);
  c.ts = 1;
  EXPECT_EQ(c.raw(), cr0::PE | cr0::PG | cr0::WP | cr0::TS);
}
TEST(X86, EflagsIopl) {
  EXPECT_EQ(eflags::iopl(0x3202), 3u);
  EXPECT_EQ(eflags::iopl(0x1202), 1u);
  EXPECT_EQ(eflags::iopl(0x0202), 0u);
}
TEST(X86, VectorsWithErrorCodes) {
  EXPECT_TRUE(vector::has_error_code(vector::GP));
  EXPECT_TRUE(vector::has_error_code(vector::PF));
  EXPECT_FALSE(vector::has_error_code(vector::UD));
  EXPECT_FALSE(vector::has_error_code(vector::BP));
  EXPECT_STREQ(vector::name(vector::GP), "#GP general protection");
}
TEST(X86, FakeIntrinsicsRecordPortIo) {
  fake::reset();
  fake::machine().port_values[0x3fd] = 0x60;
  outb(0x3f8, 'A');
  EXPECT_EQ(inb(0x3fd), 0x60);
  ASSERT_EQ(fake::machine().port_log.size(), 2u);
  EXPECT_TRUE(fake::machine().port_log[0].write);
  EXPECT_EQ(fake::machine().port_log[0].value, static_cast<std::uint32_t>('A'));
  cli();
  EXPECT_EQ(read_eflags() & eflags::IF, 0u);
}
