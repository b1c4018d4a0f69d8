#include "common/devices/bus.hpp"

#include <gtest/gtest.h>

#include "common/devices/uart16550.hpp"
#include "common/devices/tests/test_support.hpp"

namespace hvlab::dev {
namespace {

// A device that remembers its last access and answers reads with a fixed pattern.
struct ProbeDevice final : Device {
  std::uint32_t last_offset = ~0u;
  unsigned last_size = 0;
  std::uint32_t last_value = 0;
  unsigned reads = 0, writes = 0;
  std::uint32_t answer = 0x12345678;
  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override {
    last_offset = offset;
    last_size = size;
    ++reads;
    return answer;
  }
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override {
    last_offset = offset;
    last_size = size;
    last_value = value;
    ++writes;
    return {};
  }
};

TEST(PortBus, DispatchesWithOffsetRelativeToBase) {
  PortBus bus;
  ProbeDevice dev;
  ASSERT_TRUE(bus.attach(0x3f8, 8, dev).ok());
  ASSERT_TRUE(bus.write(0x3fb, 1, 0x83).ok());
  EXPECT_EQ(dev.last_offset, 3u);
  EXPECT_EQ(dev.last_size, 1u);
  EXPECT_EQ(dev.last_value, 0x83u);
  Result<std::uint32_t> r = bus.read(0x3f8, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(dev.last_offset, 0u);
  EXPECT_EQ(dev.last_size, 2u);
  EXPECT_EQ(bus.device_at(0x3ff), &dev);
  EXPECT_EQ(bus.device_at(0x400), nullptr);
}

TEST(PortBus, ReadValueIsTruncatedToAccessWidth) {
  PortBus bus;
  ProbeDevice dev;  // answers 0x12345678 whatever the width
  ASSERT_TRUE(bus.attach(0x100, 4, dev).ok());
  EXPECT_EQ(bus.read(0x100, 1).value(), 0x78u);
  EXPECT_EQ(bus.read(0x100, 2).value(), 0x5678u);
  EXPECT_EQ(bus.read(0x100, 4).value(), 0x12345678u);
  ASSERT_TRUE(bus.write(0x100, 1, 0xabcd).ok());
  EXPECT_EQ(dev.last_value, 0xcdu);  // the device never sees bits above the width
}

TEST(PortBus, OverlappingAttachFailsButAdjacentSucceeds) {
  PortBus bus;
  ProbeDevice a, b, c;
  ASSERT_TRUE(bus.attach(0x60, 4, a).ok());         // 0x60-0x63
  EXPECT_EQ(bus.attach(0x63, 2, b).error(), Error::already_exists);
  EXPECT_EQ(bus.attach(0x5f, 2, b).error(), Error::already_exists);
  EXPECT_EQ(bus.attach(0x50, 0x20, b).error(), Error::already_exists);  // covers it entirely
  EXPECT_TRUE(bus.attach(0x64, 2, b).ok());
  EXPECT_TRUE(bus.attach(0x5e, 2, c).ok());
  EXPECT_EQ(bus.range_count(), 3u);
  EXPECT_EQ(bus.device_at(0x63), &a);  // the failed attaches changed nothing
}

TEST(PortBus, UnmappedPortIsNotFoundAndFloats) {
  PortBus bus;
  ProbeDevice dev;
  ASSERT_TRUE(bus.attach(0x70, 2, dev).ok());
  EXPECT_EQ(bus.read(0x80, 1).error(), Error::not_found);
  EXPECT_EQ(bus.write(0x80, 1, 0).error(), Error::not_found);
  EXPECT_EQ(bus.read_or_float(0x80, 1), 0xffu);
  EXPECT_EQ(bus.read_or_float(0x80, 2), 0xffffu);
  EXPECT_EQ(bus.read_or_float(0x80, 4), 0xffffffffu);
  EXPECT_EQ(dev.reads + dev.writes, 0u);
}

TEST(PortBus, InvalidWidthAndRefusedWidth) {
  PortBus bus;
  test::ByteRecorder out;
  Uart16550 uart(nullptr, 4, &out);
  ASSERT_TRUE(bus.attach(0x3f8, 8, uart).ok());
  EXPECT_EQ(bus.read(0x3f8, 3).error(), Error::invalid_argument);
  EXPECT_EQ(bus.read(0x3f8, 0).error(), Error::invalid_argument);
  // The UART is a byte device: a 16-bit OUT to THR is refused and transmits nothing.
  EXPECT_EQ(bus.write(0x3f8, 2, 0x4142).error(), Error::unsupported);
  EXPECT_EQ(bus.read(0x3fd, 4).error(), Error::unsupported);
  EXPECT_EQ(out.out, "");
  EXPECT_EQ(bus.read_or_float(0x3fd, 2), 0xffffu);
}

TEST(PortBus, AccessRunningPastTheRangeIsUnsupported) {
  PortBus bus;
  ProbeDevice a, b;
  ASSERT_TRUE(bus.attach(0x40, 4, a).ok());
  ASSERT_TRUE(bus.attach(0x44, 4, b).ok());
  EXPECT_EQ(bus.read(0x43, 2).error(), Error::unsupported);
  EXPECT_EQ(bus.write(0x42, 4, 0).error(), Error::unsupported);
  EXPECT_EQ(a.reads + a.writes + b.reads + b.writes, 0u);
  EXPECT_TRUE(bus.read(0x42, 2).ok());
  EXPECT_EQ(a.last_offset, 2u);
}

TEST(PortBus, RejectsEmptyAndWrappingRanges) {
  PortBus bus;
  ProbeDevice dev;
  EXPECT_EQ(bus.attach(0x10, 0, dev).error(), Error::invalid_argument);
  EXPECT_EQ(bus.attach(0xffff, 2, dev).error(), Error::invalid_argument);
  EXPECT_TRUE(bus.attach(0xffff, 1, dev).ok());
  EXPECT_EQ(bus.device_at(0xffff), &dev);
}

TEST(PortBus, FixedCapacity) {
  PortBus bus;
  ProbeDevice dev[PortBus::kCapacity + 1];
  for (unsigned i = 0; i < PortBus::kCapacity; ++i) {
    ASSERT_TRUE(bus.attach(static_cast<std::uint16_t>(i * 2), 2, dev[i]).ok()) << i;
  }
  EXPECT_EQ(bus.attach(0x1000, 1, dev[PortBus::kCapacity]).error(), Error::out_of_memory);
  ASSERT_TRUE(bus.detach(dev[3]).ok());
  EXPECT_TRUE(bus.attach(0x1000, 1, dev[PortBus::kCapacity]).ok());  // the freed slot is reused
}

TEST(PortBus, DetachUnmapsEveryRangeOfTheDevice) {
  PortBus bus;
  ProbeDevice dev, other;
  ASSERT_TRUE(bus.attach(0x20, 2, dev).ok());
  ASSERT_TRUE(bus.attach(0xa0, 2, dev).ok());
  ASSERT_TRUE(bus.attach(0x40, 4, other).ok());
  ASSERT_TRUE(bus.detach(dev).ok());
  EXPECT_EQ(bus.read(0x20, 1).error(), Error::not_found);
  EXPECT_EQ(bus.read(0xa1, 1).error(), Error::not_found);
  EXPECT_TRUE(bus.read(0x40, 1).ok());
  EXPECT_EQ(bus.detach(dev).error(), Error::not_found);
  EXPECT_TRUE(bus.attach(0x20, 2, other).ok());
}

TEST(MmioBus, RoutesGuestPhysicalRanges) {
  MmioBus bus;
  ProbeDevice ioapic, hpet;
  ASSERT_TRUE(bus.attach(GuestPhysAddr(0xfec00000), 0x1000, ioapic).ok());
  ASSERT_TRUE(bus.attach(GuestPhysAddr(0xfed00000), 0x400, hpet).ok());
  ASSERT_TRUE(bus.write(GuestPhysAddr(0xfec00010), 4, 0xdeadbeef).ok());
  EXPECT_EQ(ioapic.last_offset, 0x10u);
  EXPECT_EQ(ioapic.last_value, 0xdeadbeefu);
  EXPECT_TRUE(bus.is_mmio(GuestPhysAddr(0xfed003ff)));
  EXPECT_FALSE(bus.is_mmio(GuestPhysAddr(0xfed00400)));
  EXPECT_EQ(bus.read(GuestPhysAddr(0xfee00000), 4).error(), Error::not_found);
  EXPECT_EQ(bus.read(GuestPhysAddr(0xfed003fe), 4).error(), Error::unsupported);  // crosses the end
  EXPECT_EQ(bus.attach(GuestPhysAddr(0xfec00800), 0x1000, hpet).error(), Error::already_exists);
}

TEST(MmioBus, RangesAboveFourGigabytesAndLengthLimit) {
  MmioBus bus;
  ProbeDevice dev, big;
  ASSERT_TRUE(bus.attach(GuestPhysAddr(0x1'0000'0000ull), 0x100, dev).ok());
  ASSERT_TRUE(bus.read(GuestPhysAddr(0x1'0000'0040ull), 4).ok());
  EXPECT_EQ(dev.last_offset, 0x40u);
  EXPECT_EQ(bus.read(GuestPhysAddr(0x40), 4).error(), Error::not_found);  // no aliasing at 32 bits
  EXPECT_EQ(bus.attach(GuestPhysAddr(0x2'0000'0000ull), (1ull << 32) + 1, big).error(), Error::invalid_argument);
  EXPECT_EQ(bus.attach(GuestPhysAddr(~0ull - 4), 0x10, big).error(), Error::invalid_argument);
}

}  // namespace
}  // namespace hvlab::dev
