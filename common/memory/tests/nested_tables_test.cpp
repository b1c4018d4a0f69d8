// The EPT, PAE and nested 32-bit table builders and walkers, over memory the test owns.

#include "common/memory/ept_table.hpp"
#include "common/memory/page_table_pae.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace hvlab::mem {
namespace {

// Host "physical" memory: 8 MiB at host-physical 16 MiB; the first MiB of it holds tables.
struct EptTableTest : ::testing::Test {
  static constexpr std::uint64_t kBase = 16ull << 20, kSize = 8ull << 20;
  std::vector<unsigned char> backing = std::vector<unsigned char>(kSize);
  WindowPhysicalMemory<HostPhysAddr> phys{backing.data(), HostPhysAddr(kBase), kSize};
  BumpFrameSource<HostPhysAddr> frames{HostPhysAddr(kBase), 1ull << 20};
  EptTable ept = EptTable::create(phys, frames).value();
};

TEST_F(EptTableTest, ALargePageIsOnePdeWithItsMemoryType) {
  ASSERT_TRUE(ept.map_large(GuestPhysAddr(0), HostPhysAddr(kBase + (2 << 20))).ok());
  EXPECT_EQ(ept.tables_allocated(), 3u);  // PML4, PDPT, PD
  auto t = ept.translate(GuestPhysAddr(0x123456));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value().phys.value(), kBase + (2 << 20) + 0x123456);
  EXPECT_EQ(t.value().size, PageSize::k2M);
  // SDM 29.3.2 table 29-4: R/W/X, memory type WB in bits 5:3, bit 7 set.
  EXPECT_EQ(t.value().leaf & 0xff, 0x80u | (x86::ept::kWriteBack << 3) | 7u);
  EXPECT_EQ(ept.translate(GuestPhysAddr(2 << 20)).error(), Error::not_found);
  // The EPTP: write-back, walk length 4 (bits 5:3 = 3), the PML4's address.
  EXPECT_EQ(ept.eptp(), ept.pml4().value() | (3u << 3) | x86::ept::kWriteBack);
}

TEST_F(EptTableTest, SmallPagesAndTheirRights) {
  ASSERT_TRUE(ept.map(GuestPhysAddr(0x1000), HostPhysAddr(kBase + 0x200000), x86::ept::R).ok());
  ASSERT_TRUE(ept.map(GuestPhysAddr(0x2000), HostPhysAddr(kBase + 0x201000)).ok());
  EXPECT_EQ(ept.tables_allocated(), 4u);
  auto ro = ept.translate(GuestPhysAddr(0x1010));
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ(ro.value().phys.value(), kBase + 0x200010);
  EXPECT_FALSE(ro.value().writable);
  EXPECT_TRUE(ept.translate(GuestPhysAddr(0x2000)).value().writable);
  EXPECT_EQ(ept.translate(GuestPhysAddr(0x3000)).error(), Error::not_found);
}

TEST_F(EptTableTest, RefusesWhatWouldBeAMisconfigurationOrAnOverlap) {
  EXPECT_EQ(ept.map(GuestPhysAddr(0x1000), HostPhysAddr(kBase), x86::ept::W).error(), Error::invalid_argument);
  EXPECT_EQ(ept.map(GuestPhysAddr(0x1000), HostPhysAddr(kBase), 0).error(), Error::invalid_argument);
  EXPECT_EQ(ept.map(GuestPhysAddr(0x1001), HostPhysAddr(kBase)).error(), Error::invalid_argument);
  EXPECT_EQ(ept.map_large(GuestPhysAddr(0x1000), HostPhysAddr(kBase)).error(), Error::invalid_argument);
  ASSERT_TRUE(ept.map(GuestPhysAddr(0x1000), HostPhysAddr(kBase + 0x200000)).ok());
  EXPECT_EQ(ept.map(GuestPhysAddr(0x1000), HostPhysAddr(kBase + 0x300000)).error(), Error::already_exists);
  ASSERT_TRUE(ept.map_large(GuestPhysAddr(4 << 20), HostPhysAddr(kBase + (4 << 20))).ok());
  EXPECT_EQ(ept.map(GuestPhysAddr((4 << 20) + 0x1000), HostPhysAddr(kBase)).error(), Error::already_exists);
}

TEST_F(EptTableTest, WithoutFramesNewTablesAreUnsupported) {
  EptTable borrowed(phys, ept.pml4());
  EXPECT_EQ(borrowed.map(GuestPhysAddr(0x1000), HostPhysAddr(kBase + 0x200000)).error(), Error::unsupported);
  EXPECT_EQ(EptTable().map(GuestPhysAddr(0), HostPhysAddr(0)).error(), Error::invalid_argument);
}

TEST(NestedPageTable32, MapsGuestPhysicalToHostPhysical) {
  std::vector<unsigned char> backing(1 << 20);
  WindowPhysicalMemory<HostPhysAddr> phys{backing.data(), HostPhysAddr(0x400000), backing.size()};
  BumpFrameSource<HostPhysAddr> frames{HostPhysAddr(0x400000), 64 * 1024};
  auto npt = NestedPageTable32::create(phys, frames);
  ASSERT_TRUE(npt.ok());
  ASSERT_TRUE(npt.value().map(GuestPhysAddr(0x7000), HostPhysAddr(0x480000), x86::page::RW | x86::page::US).ok());
  auto t = npt.value().translate(GuestPhysAddr(0x7123));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value().phys.value(), 0x480123u);
  EXPECT_EQ(npt.value().translate(GuestPhysAddr(0x8000)).error(), Error::not_found);
}

}  // namespace
}  // namespace hvlab::mem

namespace hvlab::mem {
namespace {

struct PaeTest : ::testing::Test {
  std::vector<unsigned char> backing = std::vector<unsigned char>(1 << 20);
  WindowPhysicalMemory<HostPhysAddr> phys{backing.data(), HostPhysAddr(0x400000), backing.size()};
  BumpFrameSource<HostPhysAddr> frames{HostPhysAddr(0x400000), 256 * 1024};
};

TEST_F(PaeTest, CreateMakesFourDirectoriesWithPresentOnlyPdptes) {
  auto t = NestedPageTablePae::create(phys, frames);
  ASSERT_TRUE(t.ok());
  for (unsigned i = 0; i < 4; ++i) {
    auto e = phys.read64(t.value().pdpt() + i * 8u);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e.value() & 0xfff, x86::page::P) << i;  // R/W and U/S are reserved in a PDPTE
  }
  EXPECT_EQ(t.value().cr3(), 0x400000u);
}

TEST_F(PaeTest, SmallAndLargePagesTranslate) {
  auto t = NestedPageTablePae::create(phys, frames).value();
  ASSERT_TRUE(t.map(GuestPhysAddr(0xfee00000), HostPhysAddr(0x1'2345'6000ull), x86::page::RW | x86::page::US).ok());
  ASSERT_TRUE(t.map_large(GuestPhysAddr(0xc0000000), HostPhysAddr(0x200000), x86::page::US).ok());
  auto small = t.translate(GuestPhysAddr(0xfee00020));
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small.value().phys.value(), 0x1'2345'6020ull);  // above 4 GiB: what PAE is for
  EXPECT_TRUE(small.value().writable);
  auto big = t.translate(GuestPhysAddr(0xc0012345));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big.value().phys.value(), 0x212345u);
  EXPECT_EQ(big.value().size, PageSize::k2M);
  EXPECT_FALSE(big.value().writable);
  EXPECT_EQ(t.translate(GuestPhysAddr(0x1000)).error(), Error::not_found);
  EXPECT_EQ(t.map(GuestPhysAddr(0xc0001000), HostPhysAddr(0x1000), 0).error(), Error::already_exists);
  EXPECT_EQ(t.map(GuestPhysAddr(0x1000), HostPhysAddr(0x1000), 1u << 7).error(), Error::invalid_argument);
}

TEST_F(PaeTest, MapRangeUsesLargePagesWhereAligned) {
  auto t = HostPageTablePae::create(phys, frames).value();
  ASSERT_TRUE(t.map_range(HostVirtAddr(0x1ff000), HostPhysAddr(0x1ff000), 0x402000, x86::page::RW, true).ok());
  EXPECT_EQ(t.translate(HostVirtAddr(0x1ff000)).value().size, PageSize::k4K);
  EXPECT_EQ(t.translate(HostVirtAddr(0x200000)).value().size, PageSize::k2M);
  EXPECT_EQ(t.translate(HostVirtAddr(0x600000)).value().size, PageSize::k4K);
  EXPECT_EQ(t.translate(HostVirtAddr(0x601000)).error(), Error::not_found);
}

}  // namespace
}  // namespace hvlab::mem
