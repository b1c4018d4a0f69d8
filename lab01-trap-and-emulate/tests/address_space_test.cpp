// The monitor's window in the two address spaces (issue: a ring-1 guest is supervisor for
// paging, so on an emulator that ignores segment limits only what its page tables leave
// unmapped protects the monitor).
#include "lab01-trap-and-emulate/src/address_space.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "common/memory/frame_allocator.hpp"

namespace hvlab::lab01 {
namespace {

namespace pg = x86::page;

struct AddressSpaceTest : ::testing::Test {
  // 64 frames of "host RAM" at 16 MiB for the page tables.
  static constexpr std::uint64_t kBase = 16u << 20, kFrames = 64;
  void SetUp() override {
    storage.assign(mem::FrameAllocator::storage_words((kBase >> 12) + kFrames), 0);
    mem::MemoryRange map[] = {{HostPhysAddr(kBase), kFrames * kPageSize, mem::MemoryType::available}};
    ASSERT_TRUE(frames.init(storage, map).ok());
    auto t = mem::HostPageTable32::create(host, frames);
    ASSERT_TRUE(t.ok());
    pd = t.value();
  }
  // The lab01 monitor's trap pages: code, stack, IDT/LDT/TSS, GDT.
  const TrapPages runs[4] = {{"trap code", HostPhysAddr(0x101000), 2, false},
                             {"trap stack", HostPhysAddr(0x200000), 1, true},
                             {"IDT, LDT and TSS", HostPhysAddr(0x210000), 1, false},
                             {"GDT", HostPhysAddr(0x220000), 16, false}};
  std::vector<unsigned char> ram = std::vector<unsigned char>(kFrames * kPageSize);
  mem::WindowPhysicalMemory<HostPhysAddr> host{ram.data(), HostPhysAddr(kBase), kFrames * kPageSize};
  std::vector<std::uint32_t> storage;
  mem::FrameAllocator frames;
  mem::HostPageTable32 pd;
};

TEST_F(AddressSpaceTest, TheTrapPagesSitAtTheTopFirstRunHighest) {
  std::uint32_t at[4];
  ASSERT_TRUE(place_trap_pages(runs, at));
  EXPECT_EQ(at[0], 0xffffe000u);
  EXPECT_EQ(at[1], 0xffffd000u);
  EXPECT_EQ(at[2], 0xffffc000u);
  EXPECT_EQ(at[3], 0xfffec000u);
  // More than the window's last 4 MiB does not fit, and an empty run is a mistake.
  TrapPages huge[] = {{"too much", HostPhysAddr(0), 1025, false}};
  EXPECT_FALSE(place_trap_pages(huge, at));
  TrapPages empty[] = {{"nothing", HostPhysAddr(0), 0, false}};
  EXPECT_FALSE(place_trap_pages(empty, at));
}

TEST_F(AddressSpaceTest, TheGuestSeesNothingOfTheWindowButTheTrapPagesReadOnly) {
  std::uint32_t at[4];
  ASSERT_TRUE(place_trap_pages(runs, at));
  ASSERT_TRUE(map_trap_pages(pd, runs, at).ok());
  unsigned pages = 0;
  ASSERT_TRUE(pd.for_each_mapping([&](HostVirtAddr va, const mem::Translation<HostPhysAddr>& t) {
                  ++pages;
                  EXPECT_GE(va.value(), 0xfffec000u);  // the bottom of the window is unmapped
                  EXPECT_FALSE(t.user);
                  EXPECT_TRUE(t.accessed);
                  bool stack = va.value() == 0xffffd000u;
                  EXPECT_EQ(t.writable, stack) << std::hex << va.value();
                  EXPECT_EQ(t.dirty, stack);
                }).ok());
  EXPECT_EQ(pages, 20u);
  EXPECT_EQ(pd.translate(HostVirtAddr(0xffffe123)).value().phys, HostPhysAddr(0x101123));
  EXPECT_EQ(pd.translate(HostVirtAddr(0xfffec000)).value().phys, HostPhysAddr(0x220000));
  for (std::uint64_t la = kMonitorBase; la < 0xfffec000u; la += x86::kPage4M)
    EXPECT_EQ(pd.translate(HostVirtAddr(la)).error(), Error::not_found) << std::hex << la;
}

TEST_F(AddressSpaceTest, HostRamIsMappedForTheMonitorUpToItsReachAndNoFurther) {
  // A machine with 512 MiB: 252 MiB of it at 0xF0000000, nothing over the trap pages' PDE.
  ASSERT_TRUE(map_host_ram(pd, 512u << 20, false).ok());
  auto low = pd.translate(HostVirtAddr(kMonitorBase + 0x123456));
  ASSERT_TRUE(low.ok());
  EXPECT_EQ(low.value().phys, HostPhysAddr(0x123456));
  EXPECT_EQ(low.value().size, mem::PageSize::k4M);
  EXPECT_FALSE(low.value().user);
  EXPECT_TRUE(pd.translate(HostVirtAddr(kTrapWindow - 1)).ok());
  EXPECT_EQ(pd.translate(HostVirtAddr(kTrapWindow)).error(), Error::not_found);
  EXPECT_EQ(pd.translate(HostVirtAddr(0)).error(), Error::not_found);  // no identity map asked for
  // The trap pages still fit beside it.
  std::uint32_t at[4];
  ASSERT_TRUE(place_trap_pages(runs, at));
  EXPECT_TRUE(map_trap_pages(pd, runs, at).ok());
}

TEST_F(AddressSpaceTest, ASmallMachineIsMappedWholeAndTheIdentityForTheSwitch) {
  ASSERT_TRUE(map_host_ram(pd, 62u << 20, true).ok());  // rounded up to 64 MiB
  EXPECT_TRUE(pd.translate(HostVirtAddr(kMonitorBase + (63u << 20))).ok());
  EXPECT_EQ(pd.translate(HostVirtAddr(kMonitorBase + (64u << 20))).error(), Error::not_found);
  EXPECT_TRUE(pd.translate(HostVirtAddr(0x100000)).ok());
  EXPECT_TRUE(pd.unmap_directory(HostVirtAddr(0), kMonitorBase).ok());
  EXPECT_EQ(pd.translate(HostVirtAddr(0x100000)).error(), Error::not_found);
  EXPECT_TRUE(pd.translate(HostVirtAddr(kMonitorBase)).ok());
}

}  // namespace
}  // namespace hvlab::lab01
