// EPT construction (exercise lab04-e4), over memory the test owns.

#include <gtest/gtest.h>

#include <vector>

#include "common/arch/paging.hpp"
#include "lab04-vtx/src/ept.hpp"

namespace hvlab::lab04 {
namespace {

// Host "physical" memory: 8 MiB at host-physical 16 MiB; the first MiB of it holds tables.
struct EptFixture : ::testing::Test {
  static constexpr std::uint64_t kBase = 16ull << 20, kSize = 8ull << 20;
  std::vector<unsigned char> backing = std::vector<unsigned char>(kSize);
  mem::WindowPhysicalMemory<HostPhysAddr> phys{backing.data(), HostPhysAddr(kBase), kSize};
  mem::BumpFrameSource<HostPhysAddr> tables{HostPhysAddr(kBase), 1ull << 20};
  mem::GuestMemory guest;
};

TEST_F(EptFixture, MapsGuestRamAndNothingElse) {
  // 4 MiB of guest RAM at host-physical 18 MiB (2 MiB aligned): two 2 MiB pages.
  ASSERT_TRUE(guest.add_region(GuestPhysAddr(0), 4ull << 20, backing.data() + (2 << 20), HostPhysAddr(kBase + (2 << 20))).ok());
  EptStats stats;
  auto ept = build_ept(phys, tables, guest, true, &stats);
  ASSERT_TRUE(ept.ok());
  EXPECT_EQ(stats.pages_2m, 2u);
  EXPECT_EQ(stats.pages_4k, 0u);
  EXPECT_EQ(stats.tables, 3u);  // PML4, PDPT, PD
  EXPECT_EQ(ept.value().translate(GuestPhysAddr(0x123456)).value().phys.value(), kBase + (2 << 20) + 0x123456);
  EXPECT_EQ(ept.value().translate(GuestPhysAddr(4ull << 20)).error(), Error::not_found);
  EXPECT_EQ(ept.value().translate(GuestPhysAddr(0xfee00000)).error(), Error::not_found);
  // The leaf is write-back, R/W/X, a large page.
  EXPECT_EQ(ept.value().translate(GuestPhysAddr(0)).value().leaf & 0xff, 0x80u | (x86::ept::kWriteBack << 3) | 7u);
}

TEST_F(EptFixture, SmallPagesWhenUnaligned) {
  ASSERT_TRUE(guest.add_region(GuestPhysAddr(0), 64 * 1024, backing.data() + (2 << 20) + 4096,
                               HostPhysAddr(kBase + (2 << 20) + 4096)).ok());
  EptStats stats;
  auto ept = build_ept(phys, tables, guest, true, &stats);
  ASSERT_TRUE(ept.ok());
  EXPECT_EQ(stats.pages_4k, 16u);
  EXPECT_EQ(stats.tables, 4u);
  EXPECT_EQ(ept.value().translate(GuestPhysAddr(0x1010)).value().phys.value(), kBase + (2 << 20) + 0x2010);
}

TEST_F(EptFixture, SmallPagesWhenLargeOnesAreNotOffered) {
  ASSERT_TRUE(guest.add_region(GuestPhysAddr(0), 2ull << 20, backing.data() + (2 << 20), HostPhysAddr(kBase + (2 << 20))).ok());
  EptStats stats;
  ASSERT_TRUE(build_ept(phys, tables, guest, false, &stats).ok());
  EXPECT_EQ(stats.pages_2m, 0u);
  EXPECT_EQ(stats.pages_4k, 512u);
}

}  // namespace
}  // namespace hvlab::lab04
