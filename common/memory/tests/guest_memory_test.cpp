#include "common/memory/guest_memory.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace hvlab::mem {
namespace {

constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB;

GuestPhysAddr gpa(std::uint64_t v) { return GuestPhysAddr(v); }
HostPhysAddr hpa(std::uint64_t v) { return HostPhysAddr(v); }

// A PC-like guest: RAM below 640 KiB and from 1 MiB to 2 MiB, each in its own host buffer
// at its own host-physical address, with the legacy hole (VGA, ROMs) unbacked between.
class GuestMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    low.assign(640 * KiB, 0);
    high.assign(1 * MiB, 0);
    ASSERT_TRUE(gm.add_region(gpa(0), low.size(), low.data(), hpa(0x4000000)).ok());
    ASSERT_TRUE(gm.add_region(gpa(1 * MiB), high.size(), high.data(), hpa(0x8000000)).ok());
  }
  std::vector<unsigned char> low, high;
  GuestMemory gm;
};

TEST_F(GuestMemoryTest, LookupTranslatesToHostPointerAndPhysical) {
  auto p = gm.host_ptr(gpa(0x1234));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value(), low.data() + 0x1234);
  auto q = gm.host_ptr(gpa(1 * MiB + 0x10));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q.value(), high.data() + 0x10);
  EXPECT_EQ(gm.host_phys(gpa(0x1234)).value(), hpa(0x4001234));
  EXPECT_EQ(gm.host_phys(gpa(1 * MiB + 0x5000)).value(), hpa(0x8005000));
  EXPECT_EQ(gm.host_virt(gpa(0x10)).value().value(), reinterpret_cast<std::uintptr_t>(low.data() + 0x10));
  ASSERT_NE(gm.find(gpa(0x9ffff)), nullptr);
  EXPECT_EQ(gm.find(gpa(0x9ffff))->gpa, gpa(0));
}

TEST_F(GuestMemoryTest, UnbackedAddressesFault) {
  EXPECT_EQ(gm.host_ptr(gpa(0xa0000)).error(), Error::fault);   // the VGA hole
  EXPECT_EQ(gm.host_phys(gpa(0xb8000)).error(), Error::fault);
  EXPECT_EQ(gm.host_ptr(gpa(2 * MiB)).error(), Error::fault);   // just past the end
  EXPECT_EQ(gm.find(gpa(0xa0000)), nullptr);
  EXPECT_FALSE(gm.contains(gpa(0x9f000), 0x2000));
  EXPECT_TRUE(gm.contains(gpa(0x9f000), 0x1000));
}

TEST_F(GuestMemoryTest, OverlappingRegionsAreRefused) {
  std::vector<unsigned char> buf(1 * MiB);
  EXPECT_EQ(gm.add_region(gpa(0), 4096, buf.data()).error(), Error::already_exists);          // same start
  EXPECT_EQ(gm.add_region(gpa(0x9f000), 0x2000, buf.data()).error(), Error::already_exists);  // tail
  EXPECT_EQ(gm.add_region(gpa(0xf0000), 0x20000, buf.data()).error(), Error::already_exists); // head of high
  EXPECT_EQ(gm.add_region(gpa(0x80000), 0x200000, buf.data()).error(), Error::already_exists); // covers both
  EXPECT_EQ(gm.add_region(gpa(1 * MiB + 4096), 4096, buf.data()).error(), Error::already_exists); // inside
  EXPECT_EQ(gm.regions().size(), 2u);
  // Touching is not overlapping: the hole 0xa0000..0x100000 is free.
  EXPECT_TRUE(gm.add_region(gpa(0xa0000), 0x60000, buf.data()).ok());
  EXPECT_EQ(gm.regions().size(), 3u);
}

TEST_F(GuestMemoryTest, BadRegionsAreRefused) {
  std::vector<unsigned char> buf(8192);
  EXPECT_EQ(gm.add_region(gpa(0x200800), 4096, buf.data()).error(), Error::invalid_argument);
  EXPECT_EQ(gm.add_region(gpa(0x200000), 100, buf.data()).error(), Error::invalid_argument);
  EXPECT_EQ(gm.add_region(gpa(0x200000), 0, buf.data()).error(), Error::invalid_argument);
  EXPECT_EQ(gm.add_region(gpa(0x200000), 4096, nullptr).error(), Error::invalid_argument);
  EXPECT_EQ(gm.add_region(gpa(0x200000), 4096, buf.data(), hpa(0x123)).error(), Error::invalid_argument);
  EXPECT_EQ(gm.add_region(gpa(~0ull & ~0xfffull), 8192, buf.data()).error(), Error::invalid_argument);
  EXPECT_EQ(gm.regions().size(), 2u);
}

TEST_F(GuestMemoryTest, TableFullAndRemove) {
  std::vector<unsigned char> buf(4096);
  for (std::size_t i = gm.regions().size(); i < GuestMemory::kMaxRegions; ++i) {
    ASSERT_TRUE(gm.add_region(gpa(0x10000000 + i * 0x10000), 4096, buf.data()).ok());
  }
  EXPECT_EQ(gm.add_region(gpa(0x20000000), 4096, buf.data()).error(), Error::out_of_memory);
  EXPECT_EQ(gm.remove_region(gpa(0x1234000)).error(), Error::not_found);
  ASSERT_TRUE(gm.remove_region(gpa(1 * MiB)).ok());
  EXPECT_EQ(gm.host_ptr(gpa(1 * MiB)).error(), Error::fault);
  EXPECT_TRUE(gm.add_region(gpa(0x20000000), 4096, buf.data()).ok());
  // Regions stay sorted by guest-physical address.
  auto rs = gm.regions();
  for (std::size_t i = 1; i < rs.size(); ++i) EXPECT_LT(rs[i - 1].gpa, rs[i].gpa);
}

TEST_F(GuestMemoryTest, CopyInAndOutRoundTrip) {
  const char msg[] = "hello, guest";
  ASSERT_TRUE(gm.copy_in(gpa(0x7c00), msg, sizeof msg).ok());
  EXPECT_EQ(std::memcmp(low.data() + 0x7c00, msg, sizeof msg), 0);
  char back[sizeof msg] = {};
  ASSERT_TRUE(gm.copy_out(back, gpa(0x7c00), sizeof back).ok());
  EXPECT_STREQ(back, msg);
}

TEST_F(GuestMemoryTest, CopyRunningOutOfARegionFailsAndWritesNothing) {
  std::vector<unsigned char> data(0x200, 0xaa);
  EXPECT_EQ(gm.copy_in(gpa(0xa0000 - 0x100), data.data(), data.size()).error(), Error::fault);
  EXPECT_EQ(low[0xa0000 - 0x100], 0);  // all or nothing
  EXPECT_EQ(low.back(), 0);
  std::vector<unsigned char> out(0x200, 0x55);
  EXPECT_EQ(gm.copy_out(out.data(), gpa(2 * MiB - 0x100), out.size()).error(), Error::fault);
  EXPECT_EQ(gm.copy_in(gpa(~0ull - 4), data.data(), 16).error(), Error::fault);  // wraps
}

TEST_F(GuestMemoryTest, CopyAcrossAdjacentRegionsSplitsBetweenHostBuffers) {
  std::vector<unsigned char> mid(0x60000);
  ASSERT_TRUE(gm.add_region(gpa(0xa0000), mid.size(), mid.data()).ok());
  std::vector<unsigned char> data(0x3000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 7);
  // From 0x800 below the end of `mid` to 0x2800 into `high`.
  ASSERT_TRUE(gm.copy_in(gpa(0x100000 - 0x800), data.data(), data.size()).ok());
  EXPECT_EQ(std::memcmp(mid.data() + mid.size() - 0x800, data.data(), 0x800), 0);
  EXPECT_EQ(std::memcmp(high.data(), data.data() + 0x800, 0x2800), 0);
  std::vector<unsigned char> back(data.size());
  ASSERT_TRUE(gm.copy_out(back.data(), gpa(0x100000 - 0x800), back.size()).ok());
  EXPECT_EQ(back, data);
  // A single pointer cannot span two host buffers.
  EXPECT_EQ(gm.host_ptr(gpa(0x100000 - 0x800), 0x1000).error(), Error::fault);
  EXPECT_TRUE(gm.host_ptr(gpa(0x100000 - 0x800), 0x800).ok());
}

TEST_F(GuestMemoryTest, TypedReadAndWrite) {
  struct Descriptor {
    std::uint32_t lo, hi;
  };
  ASSERT_TRUE(gm.write<std::uint32_t>(gpa(0x1000), 0xdeadbeef).ok());
  EXPECT_EQ(low[0x1000], 0xef);  // little-endian, byte for byte where we put it
  EXPECT_EQ(gm.read<std::uint32_t>(gpa(0x1000)).value(), 0xdeadbeefu);
  ASSERT_TRUE(gm.write(gpa(0x2004), Descriptor{0x0000ffff, 0x00cf9a00}).ok());
  auto d = gm.read<Descriptor>(gpa(0x2004));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value().hi, 0x00cf9a00u);
  EXPECT_EQ(gm.read<std::uint64_t>(gpa(0xa0000 - 4)).error(), Error::fault);  // 4 of 8 bytes backed
  EXPECT_EQ(gm.write<std::uint16_t>(gpa(0xa0000), 1).error(), Error::fault);
}

TEST_F(GuestMemoryTest, FillZeroesGuestRam) {
  std::memset(high.data(), 0xff, high.size());
  ASSERT_TRUE(gm.fill(gpa(1 * MiB + 0x10), 0, 0x20).ok());
  EXPECT_EQ(high[0xf], 0xff);
  EXPECT_EQ(high[0x10], 0);
  EXPECT_EQ(high[0x2f], 0);
  EXPECT_EQ(high[0x30], 0xff);
  EXPECT_EQ(gm.fill(gpa(2 * MiB - 8), 0, 16).error(), Error::fault);
  EXPECT_EQ(high.back(), 0xff);
}

TEST_F(GuestMemoryTest, OwnershipOfHostFrames) {
  EXPECT_TRUE(gm.owns_host_frame(hpa(0x4000000)));
  EXPECT_TRUE(gm.owns_host_frame(hpa(0x409ffff)));
  EXPECT_FALSE(gm.owns_host_frame(hpa(0x40a0000)));  // just past the low region
  EXPECT_FALSE(gm.owns_host_frame(hpa(0x3fff000)));
  EXPECT_FALSE(gm.owns_host_frame(hpa(0x100000)));   // the monitor's own memory
  EXPECT_EQ(gm.guest_phys(hpa(0x8001234)).value(), gpa(1 * MiB + 0x1234));
  EXPECT_EQ(gm.guest_phys(hpa(0x9000000)).error(), Error::not_found);
}

TEST_F(GuestMemoryTest, RegionsWithoutHostPhysicalAddress) {
  std::vector<unsigned char> buf(4096);
  ASSERT_TRUE(gm.add_region(gpa(0x10000000), buf.size(), buf.data()).ok());
  EXPECT_EQ(gm.host_phys(gpa(0x10000000)).error(), Error::unsupported);
  EXPECT_TRUE(gm.host_ptr(gpa(0x10000fff)).ok());
  EXPECT_FALSE(gm.owns_host_frame(hpa(0)));
}

TEST_F(GuestMemoryTest, ServesAsGuestPhysicalMemoryForWalkers) {
  GuestPhysicalMemory& pm = gm;
  EXPECT_EQ(pm.frame_ptr(gpa(1 * MiB + 0x3000)), high.data() + 0x3000);
  EXPECT_EQ(pm.frame_ptr(gpa(0xa0000)), nullptr);
  EXPECT_EQ(pm.frame_ptr(gpa(0x1800)), nullptr);  // not a frame address
  ASSERT_TRUE(pm.write32(gpa(0x3ffc), 0x12345678).ok());
  EXPECT_EQ(gm.read<std::uint32_t>(gpa(0x3ffc)).value(), 0x12345678u);
  ASSERT_TRUE(pm.write64(gpa(0x4000), 0x1122334455667788ull).ok());
  EXPECT_EQ(pm.read64(gpa(0x4000)).value(), 0x1122334455667788ull);
  EXPECT_EQ(pm.read32(gpa(0x4002)).error(), Error::invalid_argument);  // misaligned word
  EXPECT_EQ(pm.read32(gpa(0xa0000)).error(), Error::fault);
}

TEST(BumpFrameSource, HandsOutFramesInOrderUntilExhausted) {
  BumpFrameSource<GuestPhysAddr> src(gpa(0x1800), 3 * 4096);  // first whole frame is 0x2000
  EXPECT_EQ(src.alloc_frame().value(), gpa(0x2000));
  EXPECT_EQ(src.alloc_frame().value(), gpa(0x3000));
  EXPECT_EQ(src.alloc_frame().error(), Error::out_of_memory);  // 0x4000..0x5000 runs past 0x4800
  EXPECT_EQ(src.used(), 2u);
  EXPECT_TRUE(src.free_frame(gpa(0x2000)).ok());
  EXPECT_EQ(src.free_frame(gpa(0x9000)).error(), Error::invalid_argument);
}

}  // namespace
}  // namespace hvlab::mem
