#include "common/memory/page_table.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "common/memory/frame_allocator.hpp"
#include "common/memory/guest_memory.hpp"

namespace hvlab::mem {
namespace {

namespace pg = x86::page;
constexpr std::uint64_t MiB = 1024 * 1024;

// 64 frames of "physical RAM" at 1 MiB, the frame allocator over them, and an empty tree.
class PageTableTest : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kRamBase = 0x100000;
  static constexpr std::uint64_t kFrames = 64;

  void SetUp() override {
    ram = std::make_unique<unsigned char[]>(kFrames * 4096);
    mem = std::make_unique<WindowPhysicalMemory<HostPhysAddr>>(ram.get(), HostPhysAddr(kRamBase),
                                                               kFrames * 4096);
    storage.assign(FrameAllocator::storage_words(1024), 0);
    MemoryRange map[] = {{HostPhysAddr(kRamBase), kFrames * 4096, MemoryType::available}};
    ASSERT_TRUE(frames.init(storage, map).ok());
    auto t = HostPageTable32::create(*mem, frames);
    ASSERT_TRUE(t.ok());
    pt = t.value();
  }

  // Reads an entry straight from "RAM", bypassing the code under test.
  std::uint32_t raw_at(HostPhysAddr pa) {
    std::uint32_t v;
    std::memcpy(&v, ram.get() + (pa.value() - kRamBase), 4);
    return v;
  }

  static HostVirtAddr va(std::uint64_t v) { return HostVirtAddr(v); }
  static HostPhysAddr pa(std::uint64_t v) { return HostPhysAddr(v); }

  std::unique_ptr<unsigned char[]> ram;
  std::unique_ptr<WindowPhysicalMemory<HostPhysAddr>> mem;
  std::vector<std::uint32_t> storage;
  FrameAllocator frames;
  HostPageTable32 pt;
};

TEST_F(PageTableTest, CreateGivesAnEmptyDirectoryFromTheAllocator) {
  EXPECT_TRUE(frames.is_allocated(pt.directory()));
  EXPECT_EQ(pt.cr3(), pt.directory().low32());
  EXPECT_EQ(frames.used_frames(), 1u);
  for (std::uint32_t i = 0; i < 1024; ++i) ASSERT_EQ(raw_at(pt.directory() + i * 4), 0u);
  EXPECT_EQ(pt.translate(va(0x400000)).error(), Error::not_found);
}

TEST_F(PageTableTest, MapThenTranslate4K) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x1234000), pg::RW).ok());
  auto t = pt.translate(va(0x400abc));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value().phys, pa(0x1234abc));
  EXPECT_EQ(t.value().page, pa(0x1234000));
  EXPECT_EQ(t.value().size, PageSize::k4K);
  EXPECT_TRUE(t.value().writable);
  EXPECT_FALSE(t.value().user);
  // The PTE really is where the SDM says: PD[1] -> table, table[0].
  std::uint32_t pde = raw_at(pt.directory() + 1 * 4);
  EXPECT_EQ(pde & 0xfff, pg::P | pg::RW | pg::US);
  EXPECT_EQ(raw_at(HostPhysAddr(pde & 0xfffff000)), 0x1234000u | pg::P | pg::RW);
  EXPECT_EQ(t.value().leaf_address, HostPhysAddr(pde & 0xfffff000));
  // Neighbours stay unmapped.
  EXPECT_EQ(pt.translate(va(0x401000)).error(), Error::not_found);
  EXPECT_EQ(pt.translate(va(0x3ff000)).error(), Error::not_found);
}

TEST_F(PageTableTest, OnePageTablePerFourMegabytes) {
  ASSERT_TRUE(pt.map(va(0x800000), pa(0x10000), 0).ok());
  EXPECT_EQ(frames.used_frames(), 2u);
  ASSERT_TRUE(pt.map(va(0xbff000), pa(0x11000), 0).ok());  // same PDE
  EXPECT_EQ(frames.used_frames(), 2u);
  ASSERT_TRUE(pt.map(va(0xc00000), pa(0x12000), 0).ok());  // next PDE
  EXPECT_EQ(frames.used_frames(), 3u);
}

TEST_F(PageTableTest, MapRejectsMisalignmentReachAndBadFlags) {
  EXPECT_EQ(pt.map(va(0x400800), pa(0x1000), 0).error(), Error::invalid_argument);
  EXPECT_EQ(pt.map(va(0x400000), pa(0x1001), 0).error(), Error::invalid_argument);
  EXPECT_EQ(pt.map(va(0x400000), pa(0x100000000ull), 0).error(), Error::invalid_argument);
  EXPECT_EQ(pt.map(va(0x100000000ull), pa(0x1000), 0).error(), Error::invalid_argument);
  EXPECT_EQ(pt.map(va(0x400000), pa(0x1000), 0x1000).error(), Error::invalid_argument);
  EXPECT_EQ(frames.used_frames(), 1u);  // no table allocated for a refused call
}

TEST_F(PageTableTest, MappingTwiceIsRefusedAndKeepsTheFirst) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x5000), pg::RW).ok());
  EXPECT_EQ(pt.map(va(0x400000), pa(0x6000), 0).error(), Error::already_exists);
  EXPECT_EQ(pt.translate(va(0x400000)).value().phys, pa(0x5000));
}

TEST_F(PageTableTest, UnmapReturnsTheFrameAndRemovesTheMapping) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x5000), pg::RW).ok());
  ASSERT_TRUE(pt.map(va(0x401000), pa(0x6000), pg::RW).ok());
  auto r = pt.unmap(va(0x400000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), pa(0x5000));
  EXPECT_EQ(pt.translate(va(0x400000)).error(), Error::not_found);
  EXPECT_TRUE(pt.translate(va(0x401000)).ok());
  EXPECT_EQ(pt.unmap(va(0x400000)).error(), Error::not_found);
  EXPECT_EQ(pt.unmap(va(0x400010)).error(), Error::invalid_argument);
  // The slot can be reused.
  EXPECT_TRUE(pt.map(va(0x400000), pa(0x7000), 0).ok());
}

TEST_F(PageTableTest, FourMegabytePage) {
  ASSERT_TRUE(pt.map_large(va(0xc0000000), pa(0x800000), pg::RW | pg::G).ok());
  auto t = pt.translate(va(0xc0123456));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value().phys, pa(0x923456));
  EXPECT_EQ(t.value().size, PageSize::k4M);
  EXPECT_TRUE(t.value().global);
  std::uint32_t pde = raw_at(pt.directory() + 0x300 * 4);
  EXPECT_EQ(pde, 0x800000u | pg::P | pg::RW | pg::PS | pg::G);
  EXPECT_EQ(frames.used_frames(), 1u);  // no page table needed
  auto r = pt.unmap(va(0xc0000000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), pa(0x800000));
  EXPECT_EQ(pt.translate(va(0xc0123456)).error(), Error::not_found);
}

TEST_F(PageTableTest, LargePagePatBitMovesToBit12) {
  ASSERT_TRUE(pt.map_large(va(0x400000), pa(0x400000), pg::PAT).ok());
  EXPECT_EQ(pt.pde(va(0x400000)).value(), 0x400000u | pg::P | pg::PS | pg::PAT_LARGE);
}

TEST_F(PageTableTest, LargePageAbove4GiBUsesPse36Bits) {
  ASSERT_TRUE(pt.map_large(va(0x800000), pa(0x12'0040'0000ull), 0).ok());
  EXPECT_EQ(pt.translate(va(0x800010)).value().phys, pa(0x12'0040'0010ull));
  // With MAXPHYADDR 36 that address does not exist.
  PagingControls c;
  c.max_phys_bits = 36;
  pt.set_controls(c);
  EXPECT_EQ(pt.map_large(va(0xc00000), pa(0x12'0040'0000ull), 0).error(), Error::invalid_argument);
  EXPECT_TRUE(pt.map_large(va(0xc00000), pa(0x2'0040'0000ull), 0).ok());
}

TEST_F(PageTableTest, LargePageConflictsAndMisalignment) {
  EXPECT_EQ(pt.map_large(va(0x401000), pa(0x400000), 0).error(), Error::invalid_argument);
  EXPECT_EQ(pt.map_large(va(0x400000), pa(0x401000), 0).error(), Error::invalid_argument);
  ASSERT_TRUE(pt.map(va(0x800000), pa(0x1000), 0).ok());
  EXPECT_EQ(pt.map_large(va(0x800000), pa(0x400000), 0).error(), Error::already_exists);
  ASSERT_TRUE(pt.map_large(va(0xc00000), pa(0x400000), 0).ok());
  EXPECT_EQ(pt.map(va(0xc01000), pa(0x1000), 0).error(), Error::already_exists);
  EXPECT_EQ(pt.unmap(va(0xc01000)).error(), Error::invalid_argument);  // would split it
  EXPECT_TRUE(pt.translate(va(0xc01000)).ok());
}

TEST_F(PageTableTest, WithoutPsePsBitIsIgnored) {
  PagingControls no_pse;
  no_pse.pse = false;
  pt.set_controls(no_pse);
  EXPECT_EQ(pt.map_large(va(0x400000), pa(0x400000), 0).error(), Error::unsupported);
  // A PDE with PS set and a table address walks as a page table when CR4.PSE = 0.
  auto table = frames.alloc();
  ASSERT_TRUE(table.ok());
  ASSERT_TRUE(mem->zero_frame(table.value()).ok());
  ASSERT_TRUE(mem->write32(table.value() + 5 * 4, 0x777000u | pg::P).ok());
  ASSERT_TRUE(pt.set_pde(va(0), table.value().low32() | pg::P | pg::PS).ok());
  auto t = pt.translate(va(0x5123));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value().phys, pa(0x777123));
  EXPECT_EQ(t.value().size, PageSize::k4K);
  // The same PDE with PSE on maps a 4 MiB page instead.
  pt.set_controls(PagingControls{});
  EXPECT_EQ(pt.translate(va(0x5123)).value().size, PageSize::k4M);
}

TEST_F(PageTableTest, RightsAreTheAndOfPdeAndPte) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x5000), pg::RW | pg::US).ok());
  auto t = pt.translate(va(0x400000));
  EXPECT_TRUE(t.value().writable && t.value().user);
  std::uint32_t pde = pt.pde(va(0x400000)).value();
  ASSERT_TRUE(pt.set_pde(va(0x400000), pde & ~pg::RW).ok());
  t = pt.translate(va(0x400000));
  EXPECT_FALSE(t.value().writable);
  EXPECT_TRUE(t.value().user);
  ASSERT_TRUE(pt.set_pde(va(0x400000), (pde | pg::RW) & ~pg::US).ok());
  t = pt.translate(va(0x400000));
  EXPECT_TRUE(t.value().writable);
  EXPECT_FALSE(t.value().user);
  // The access check sees the PDE's restriction although the PTE allows everything.
  auto r = pt.access(va(0x400000), Access::user_read());
  ASSERT_TRUE(r.page_fault());
  EXPECT_EQ(r.error_code, pf::P | pf::U);
}

TEST_F(PageTableTest, NotPresentErrorCodes) {
  // No PDE at all.
  auto r = pt.access(va(0x400000), Access::supervisor_read());
  ASSERT_TRUE(r.page_fault());
  EXPECT_EQ(r.error, Error::fault);
  EXPECT_EQ(r.error_code, 0u);
  r = pt.access(va(0x400000), Access::user_write());
  EXPECT_EQ(r.error_code, pf::W | pf::U);
  // PDE present, PTE not.
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x5000), pg::RW).ok());
  r = pt.access(va(0x401000), Access::supervisor_write());
  ASSERT_TRUE(r.page_fault());
  EXPECT_EQ(r.error_code, pf::W);
  // Without SMEP or NXE, a fetch does not set I/D.
  r = pt.access(va(0x401000), Access::user_fetch());
  EXPECT_EQ(r.error_code, pf::U);
}

TEST_F(PageTableTest, WriteProtectFaultsDependOnCr0Wp) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x5000), 0).ok());  // read-only, supervisor
  auto r = pt.access(va(0x400000), Access::supervisor_write());
  ASSERT_TRUE(r.page_fault());
  EXPECT_EQ(r.error_code, pf::P | pf::W);
  EXPECT_TRUE(pt.access(va(0x400000), Access::supervisor_read()).ok());
  PagingControls no_wp;
  no_wp.wp = false;
  pt.set_controls(no_wp);
  r = pt.access(va(0x400000), Access::supervisor_write());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.phys, pa(0x5000));
}

TEST_F(PageTableTest, UserAccessToSupervisorAndReadOnlyPages) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x5000), pg::RW).ok());       // supervisor page
  ASSERT_TRUE(pt.map(va(0x401000), pa(0x6000), pg::US).ok());       // user, read-only
  ASSERT_TRUE(pt.map(va(0x402000), pa(0x7000), pg::US | pg::RW).ok());
  EXPECT_EQ(pt.access(va(0x400000), Access::user_read()).error_code, pf::P | pf::U);
  EXPECT_EQ(pt.access(va(0x400000), Access::user_write()).error_code, pf::P | pf::W | pf::U);
  EXPECT_TRUE(pt.access(va(0x401000), Access::user_read()).ok());
  EXPECT_EQ(pt.access(va(0x401000), Access::user_write()).error_code, pf::P | pf::W | pf::U);
  // CR0.WP does not excuse user writes.
  PagingControls no_wp;
  no_wp.wp = false;
  pt.set_controls(no_wp);
  EXPECT_TRUE(pt.access(va(0x401000), Access::user_write()).page_fault());
  auto ok = pt.access(va(0x402abc), Access::user_write());
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.translation.phys, pa(0x7abc));
}

TEST_F(PageTableTest, SmepAndSmap) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x5000), pg::US | pg::RW).ok());
  EXPECT_TRUE(pt.access(va(0x400000), Access::supervisor_fetch()).ok());
  EXPECT_TRUE(pt.access(va(0x400000), Access::supervisor_read()).ok());
  pt.set_controls(PagingControls::from_registers(x86::cr0::PG | x86::cr0::WP,
                                                 x86::cr4::PSE | x86::cr4::SMEP | x86::cr4::SMAP));
  auto r = pt.access(va(0x400000), Access::supervisor_fetch());
  ASSERT_TRUE(r.page_fault());
  EXPECT_EQ(r.error_code, pf::P | pf::I);
  EXPECT_EQ(pt.access(va(0x400000), Access::supervisor_write()).error_code, pf::P | pf::W);
  Access with_ac = Access::supervisor_write();
  with_ac.ac = true;
  EXPECT_TRUE(pt.access(va(0x400000), with_ac).ok());
  EXPECT_TRUE(pt.access(va(0x400000), Access::user_fetch()).ok());  // SMEP is for supervisor
}

TEST_F(PageTableTest, ReservedBitInLargePdeIsARsvdFault) {
  ASSERT_TRUE(pt.set_pde(va(0x400000), 0x400000u | pg::P | pg::PS | (1u << 21)).ok());
  auto r = pt.access(va(0x400000), Access::user_write());
  ASSERT_TRUE(r.page_fault());
  EXPECT_EQ(r.error_code, pf::P | pf::RSVD | pf::W | pf::U);
  EXPECT_EQ(pt.translate(va(0x400000)).error(), Error::fault);
  // Bits 20:13 above MAXPHYADDR are reserved too.
  ASSERT_TRUE(pt.set_pde(va(0x800000), 0x800000u | pg::P | pg::PS | (1u << 20)).ok());
  EXPECT_TRUE(pt.access(va(0x800000), Access::supervisor_read()).ok());  // M = 40: bit 20 is address bit 39
  PagingControls m36;
  m36.max_phys_bits = 36;
  pt.set_controls(m36);
  EXPECT_EQ(pt.access(va(0x800000), Access::supervisor_read()).error_code, pf::P | pf::RSVD);
}

TEST_F(PageTableTest, AccessSetsAccessedThenDirty) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x5000), pg::RW).ok());
  HostPhysAddr pde_at = pt.directory() + 1 * 4;
  HostPhysAddr pte_at = pt.translate(va(0x400000)).value().leaf_address;
  EXPECT_EQ(raw_at(pte_at) & (pg::A | pg::D), 0u);
  auto r = pt.access(va(0x400000), Access::supervisor_read());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.translation.accessed);
  EXPECT_FALSE(r.translation.dirty);
  EXPECT_EQ(raw_at(pte_at) & (pg::A | pg::D), pg::A);
  EXPECT_TRUE(raw_at(pde_at) & pg::A);
  r = pt.access(va(0x400000), Access::supervisor_write());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(raw_at(pte_at) & (pg::A | pg::D), pg::A | pg::D);
  EXPECT_FALSE(raw_at(pde_at) & pg::D);  // D only in the leaf
  EXPECT_TRUE(pt.dirty(va(0x400000)).value());
}

TEST_F(PageTableTest, DirtyBitOfLargePageIsInThePde) {
  ASSERT_TRUE(pt.map_large(va(0x400000), pa(0x400000), pg::RW).ok());
  ASSERT_TRUE(pt.access(va(0x7fffff), Access::supervisor_write()).ok());
  EXPECT_EQ(pt.pde(va(0x400000)).value() & (pg::A | pg::D), pg::A | pg::D);
}

TEST_F(PageTableTest, FaultsAndCheckOnlyWalksLeaveMemoryAlone) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x5000), 0).ok());
  std::uint32_t pte = pt.pte(va(0x400000)).value();
  std::uint32_t pde = pt.pde(va(0x400000)).value();
  EXPECT_TRUE(pt.access(va(0x400000), Access::supervisor_write()).page_fault());
  EXPECT_TRUE(pt.access(va(0x400000), Access::supervisor_read(), /*update_ad=*/false).ok());
  EXPECT_EQ(pt.pte(va(0x400000)).value(), pte);
  EXPECT_EQ(pt.pde(va(0x400000)).value(), pde);
}

TEST_F(PageTableTest, SetAndClearAccessedDirtyAndFlags) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x5000), 0).ok());
  ASSERT_TRUE(pt.set_dirty(va(0x400000), true).ok());
  ASSERT_TRUE(pt.set_accessed(va(0x400000), true).ok());
  EXPECT_TRUE(pt.dirty(va(0x400000)).value());
  EXPECT_TRUE(pt.accessed(va(0x400000)).value());
  ASSERT_TRUE(pt.set_accessed(va(0x400000), false).ok());
  EXPECT_FALSE(pt.accessed(va(0x400000)).value());
  EXPECT_TRUE(pt.dirty(va(0x400000)).value());
  ASSERT_TRUE(pt.update_flags(va(0x400000), pg::RW | pg::US, pg::D).ok());
  EXPECT_EQ(pt.pte(va(0x400000)).value(), 0x5000u | pg::P | pg::RW | pg::US);
  EXPECT_EQ(pt.update_flags(va(0x400000), 0, pg::P).error(), Error::invalid_argument);
  EXPECT_EQ(pt.set_dirty(va(0x900000), true).error(), Error::not_found);
  EXPECT_EQ(pt.accessed(va(0x900000)).error(), Error::not_found);
}

TEST_F(PageTableTest, ForEachMappingVisitsLeavesInOrder) {
  ASSERT_TRUE(pt.map(va(0x401000), pa(0x9000), pg::RW).ok());
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x8000), 0).ok());
  ASSERT_TRUE(pt.map_large(va(0xc0000000), pa(0x1000000), 0).ok());
  std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;
  ASSERT_TRUE(pt.for_each_mapping([&](HostVirtAddr v, const Translation<HostPhysAddr>& t) {
                  seen.emplace_back(v.value(), t.phys.value());
                }).ok());
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(std::uint64_t{0x400000}, std::uint64_t{0x8000}));
  EXPECT_EQ(seen[1], std::make_pair(std::uint64_t{0x401000}, std::uint64_t{0x9000}));
  EXPECT_EQ(seen[2], std::make_pair(std::uint64_t{0xc0000000}, std::uint64_t{0x1000000}));
  int calls = 0;
  ASSERT_TRUE(pt.for_each_mapping([&](HostVirtAddr, const Translation<HostPhysAddr>&) { return ++calls < 2; }).ok());
  EXPECT_EQ(calls, 2);  // returning false stopped the walk
}

TEST_F(PageTableTest, MapRangeUsesLargePagesWhereAligned) {
  // 3.5 MiB .. 12.5 MiB identity: 4 KiB pages up to 4 MiB, two 4 MiB pages, 4 KiB pages after.
  ASSERT_TRUE(pt.map_range(va(0x380000), pa(0x380000), 9 * MiB, pg::RW, true).ok());
  int small = 0, large = 0;
  ASSERT_TRUE(pt.for_each_mapping([&](HostVirtAddr v, const Translation<HostPhysAddr>& t) {
                  EXPECT_EQ(v.value(), t.phys.value());
                  (t.size == PageSize::k4M ? large : small)++;
                }).ok());
  EXPECT_EQ(large, 2);
  EXPECT_EQ(small, 128 + 128);
  EXPECT_EQ(pt.translate(va(0xc7ffff)).value().phys, pa(0xc7ffff));
  EXPECT_EQ(pt.translate(va(0xc80000)).error(), Error::not_found);
}

TEST_F(PageTableTest, MapRangeRollsBackOnConflict) {
  ASSERT_TRUE(pt.map(va(0x405000), pa(0x1000), 0).ok());
  EXPECT_EQ(pt.map_range(va(0x400000), pa(0x800000), 8 * 4096, pg::RW).error(), Error::already_exists);
  for (std::uint64_t p = 0x400000; p < 0x408000; p += 4096) {
    if (p == 0x405000) continue;
    EXPECT_EQ(pt.translate(va(p)).error(), Error::not_found) << std::hex << p;
  }
  EXPECT_EQ(pt.translate(va(0x405000)).value().phys, pa(0x1000));
}

TEST_F(PageTableTest, RunningOutOfFramesForTables) {
  while (frames.alloc().ok()) {
  }
  EXPECT_EQ(pt.map(va(0x400000), pa(0x1000), 0).error(), Error::out_of_memory);
  EXPECT_EQ(pt.pde(va(0x400000)).value(), 0u);
  HostPageTable32 no_source(*mem, pt.directory());
  EXPECT_EQ(no_source.map(va(0x400000), pa(0x1000), 0).error(), Error::unsupported);
}

TEST_F(PageTableTest, DestroyReturnsTablesButNotMappedFrames) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x5000), 0).ok());
  ASSERT_TRUE(pt.map(va(0x800000), pa(0x6000), 0).ok());
  ASSERT_TRUE(pt.map_large(va(0xc00000), pa(0xc00000), 0).ok());
  EXPECT_EQ(frames.used_frames(), 3u);
  ASSERT_TRUE(pt.destroy().ok());
  EXPECT_EQ(frames.used_frames(), 0u);
  EXPECT_EQ(pt.translate(va(0x400000)).error(), Error::invalid_argument);  // detached
}

TEST_F(PageTableTest, TablesOutsideBackedMemoryAreReportedNotFaulted) {
  ASSERT_TRUE(pt.set_pde(va(0x400000), 0x40000000u | pg::P | pg::RW).ok());  // table at 1 GiB: no RAM
  EXPECT_EQ(pt.translate(va(0x400000)).error(), Error::invalid_argument);
  auto r = pt.access(va(0x400000), Access::supervisor_read());
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.page_fault());
  EXPECT_EQ(r.error, Error::invalid_argument);
  EXPECT_EQ(pt.for_each_mapping([](HostVirtAddr, const Translation<HostPhysAddr>&) {}).error(),
            Error::invalid_argument);
}

TEST(PagingControls, FromRegisters) {
  auto c = PagingControls::from_registers(x86::cr0::PG | x86::cr0::PE, x86::cr4::PSE | x86::cr4::SMAP);
  EXPECT_FALSE(c.wp);
  EXPECT_TRUE(c.pse);
  EXPECT_FALSE(c.smep);
  EXPECT_TRUE(c.smap);
  c = PagingControls::from_registers(x86::cr0::WP, x86::cr4::SMEP, x86::msr::efer::NXE);
  EXPECT_TRUE(c.wp && c.smep && c.nxe);
  EXPECT_FALSE(c.pse || c.smap);
}

TEST(CheckRights, NoExecuteAppliesOnlyWithNxe) {
  PagingControls nxe;
  nxe.nxe = true;
  Rights no_exec{true, true, false};
  EXPECT_EQ(check_rights(no_exec, Access::user_fetch(), nxe), pf::P | pf::U | pf::I);
  EXPECT_EQ(check_rights(no_exec, Access::supervisor_fetch(), nxe), pf::P | pf::I);
  EXPECT_EQ(check_rights(no_exec, Access::user_write(), nxe), 0u);
  EXPECT_EQ(access_error_bits(Access::user_fetch(), PagingControls{}), pf::U);
}

// The guest's own tables, built in and walked through GuestMemory: a monitor emulating
// the guest's MMU sees guest-physical addresses and updates A/D in guest RAM.
TEST(GuestPageTable, WalksAndUpdatesTablesInGuestMemory) {
  std::vector<unsigned char> ram(64 * 4096);
  GuestMemory gm;
  ASSERT_TRUE(gm.add_region(GuestPhysAddr(0), ram.size(), ram.data(), HostPhysAddr(0x10000000)).ok());
  // Page tables in the top 16 KiB of guest RAM.
  BumpFrameSource<GuestPhysAddr> tables(GuestPhysAddr(60 * 4096), 4 * 4096);
  auto t = GuestPageTable32::create(gm, tables);
  ASSERT_TRUE(t.ok());
  GuestPageTable32 pt = t.value();
  ASSERT_TRUE(pt.map_range(GuestVirtAddr(0xc0000000), GuestPhysAddr(0), 16 * 4096, pg::RW).ok());
  EXPECT_EQ(tables.used(), 2u);

  // A second handle from the guest's CR3, as a monitor would make it, sees the same tree.
  GuestPageTable32 from_cr3(gm, GuestPhysAddr(pt.cr3() & 0xfffff000u));
  auto r = from_cr3.access(GuestVirtAddr(0xc0003010), Access::supervisor_write());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.phys, GuestPhysAddr(0x3010));
  // The dirty bit landed in guest RAM, where the guest's OS will look for it.
  auto pte = gm.read<std::uint32_t>(r.translation.leaf_address);
  ASSERT_TRUE(pte.ok());
  EXPECT_EQ(pte.value(), 0x3000u | pg::P | pg::RW | pg::A | pg::D);
  // And the host frame behind it is the guest's.
  auto hpa = gm.host_phys(r.translation.phys);
  ASSERT_TRUE(hpa.ok());
  EXPECT_EQ(hpa.value(), HostPhysAddr(0x10003010));
  auto unmapped = from_cr3.access(GuestVirtAddr(0xc0010000), Access::supervisor_read());
  EXPECT_TRUE(unmapped.page_fault());
  EXPECT_EQ(unmapped.error_code, 0u);
}

TEST_F(PageTableTest, RemapReplacesAFourKiBMappingButNotALargePage) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x200000), 0).ok());
  EXPECT_EQ(pt.map(va(0x400000), pa(0x201000), pg::RW).error(), Error::already_exists);
  ASSERT_TRUE(pt.remap(va(0x400000), pa(0x201000), pg::RW | pg::D).ok());
  auto t = pt.translate(va(0x400123));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value().phys, pa(0x201123));
  EXPECT_TRUE(t.value().writable);
  EXPECT_TRUE(t.value().dirty);
  // A page not mapped yet: remap maps it, with a new table if need be.
  ASSERT_TRUE(pt.remap(va(0x800000), pa(0x202000), 0).ok());
  EXPECT_EQ(pt.translate(va(0x800000)).value().phys, pa(0x202000));
  // A 4 MiB page is not split behind the caller's back.
  ASSERT_TRUE(pt.map_large(va(0xc00000), pa(0x400000), pg::RW).ok());
  EXPECT_EQ(pt.remap(va(0xc01000), pa(0x203000), 0).error(), Error::already_exists);
  EXPECT_EQ(pt.remap(va(0x400001), pa(0x203000), 0).error(), Error::invalid_argument);
}

TEST_F(PageTableTest, UnmapDirectoryDropsWholePdesAndLeavesTheRest) {
  ASSERT_TRUE(pt.map(va(0x400000), pa(0x200000), 0).ok());
  ASSERT_TRUE(pt.map_large(va(0x800000), pa(0x400000), 0).ok());
  ASSERT_TRUE(pt.map(va(0xc00000), pa(0x201000), 0).ok());
  const auto used = frames.used_frames();
  ASSERT_TRUE(pt.unmap_directory(va(0x400000), 8 * MiB).ok());
  EXPECT_EQ(pt.translate(va(0x400000)).error(), Error::not_found);
  EXPECT_EQ(pt.translate(va(0x800000)).error(), Error::not_found);
  EXPECT_EQ(pt.pde(va(0x400000)).value(), 0u);
  EXPECT_TRUE(pt.translate(va(0xc00000)).ok());       // outside the range: kept
  EXPECT_EQ(frames.used_frames(), used);              // the tables' frames stay the caller's
  EXPECT_EQ(pt.unmap_directory(va(0x401000), 4 * MiB).error(), Error::invalid_argument);
  EXPECT_EQ(pt.unmap_directory(va(0x400000), 4096).error(), Error::invalid_argument);
  EXPECT_EQ(pt.unmap_directory(va(0xffc00000), 8 * MiB).error(), Error::invalid_argument);
  EXPECT_TRUE(pt.unmap_directory(va(0xffc00000), 4 * MiB).ok());
}

// Shadow tables: guest-virtual to host-physical, in host memory.
TEST(ShadowPageTable, MapsGuestVirtualToHostPhysical) {
  std::vector<unsigned char> host(8 * 4096);
  WindowPhysicalMemory<HostPhysAddr> mem(host.data(), HostPhysAddr(0x200000), host.size());
  BumpFrameSource<HostPhysAddr> src(HostPhysAddr(0x200000), host.size());
  auto t = ShadowPageTable32::create(mem, src);
  ASSERT_TRUE(t.ok());
  ShadowPageTable32 spt = t.value();
  ASSERT_TRUE(spt.map(GuestVirtAddr(0x8048000), HostPhysAddr(0x10003000), pg::US).ok());
  auto r = spt.access(GuestVirtAddr(0x8048123), Access::user_read());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.phys, HostPhysAddr(0x10003123));
  EXPECT_EQ(spt.access(GuestVirtAddr(0x8048123), Access::user_write()).error_code, pf::P | pf::W | pf::U);
}

}  // namespace
}  // namespace hvlab::mem
