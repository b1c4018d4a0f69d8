// The shadow descriptor tables: deprivileging (lab01-e8), mirroring the guest's GDT and LDT
// into the real ones, and the checks the back end makes before an IRET.
#include "lab01-trap-and-emulate/src/descriptors.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "lab01-trap-and-emulate/src/address_space.hpp"

namespace hvlab::lab01 {
namespace {

using x86::SegmentDescriptor;
namespace dt = x86::desc_type;

/// Flat guest memory at linear 0 that counts its reads.
struct Memory final : GuestReader {
  std::vector<std::uint8_t> bytes = std::vector<std::uint8_t>(1 << 20);
  bool mapped = true;
  bool read_guest(std::uint32_t la, void* dst, std::size_t n) override {
    if (!mapped || la + n > bytes.size()) return false;
    std::memcpy(dst, &bytes[la], n);
    return true;
  }
  const void* view_guest(std::uint32_t la, std::size_t n) override {
    if (!mapped || la + n > bytes.size() || (la & 0xfff) + n > 4096) return nullptr;
    return &bytes[la];
  }
  void put(std::uint32_t at, SegmentDescriptor d) {
    std::uint64_t raw = d.raw();
    std::memcpy(&bytes[at], &raw, 8);
  }
};

struct DescriptorsTest : ::testing::Test {
  std::unique_ptr<CpuTables> t = std::make_unique<CpuTables>();
  ShadowDescriptors shadow{*t};
  Memory mem;
  vmm::VCpu v;
  void guest_gdt(unsigned slots) {
    mem.put(0x1008, SegmentDescriptor::make(0, 0xffffffff, dt::kCodeRX, 0));
    mem.put(0x1010, SegmentDescriptor::make(0, 0xffffffff, dt::kDataRW, 0));
    mem.put(0x1018, SegmentDescriptor::make(0, 0xffffffff, dt::kCodeRX, 3));
    mem.put(0x1020, SegmentDescriptor::make(0x2000, 0xfff, dt::kDataRW, 3));
    v.gdtr = {static_cast<std::uint16_t>(slots * 8 - 1), 0x1000};
    shadow.gdt_loaded();
  }
};

TEST(Deprivilege, RingZeroBecomesOneBelowTheMonitor) {
  auto d = deprivilege_descriptor(SegmentDescriptor::make(0, 0xffffffff, dt::kDataRW, 0));
  EXPECT_EQ(d.dpl, 1u);
  EXPECT_EQ(d.limit(), kGuestLinearLimit);
  EXPECT_TRUE(d.type & 1);  // accessed already
  auto u = deprivilege_descriptor(SegmentDescriptor::make(0, 0xffffffff, dt::kCodeRX, 3));
  EXPECT_EQ(u.dpl, 3u);
  auto high = deprivilege_descriptor(SegmentDescriptor::make(0xf8000000, 0xfff, dt::kDataRW, 0));
  EXPECT_FALSE(high.p);
  auto tss = deprivilege_descriptor(SegmentDescriptor::make(0x3000, 103, dt::kTss32Available, 0, false, false));
  EXPECT_EQ(tss.raw(), 0u);
  auto np = SegmentDescriptor::make(0, 0xfff, dt::kDataRW, 0);
  np.p = 0;
  EXPECT_EQ(deprivilege_descriptor(np).dpl, 1u);  // #NP, not #GP, when loaded at CPL 1
  // A byte-granular segment reaching the monitor switches to pages to say where it ends.
  auto bytes = deprivilege_descriptor(SegmentDescriptor::make(0xeff00000, 0xfffff, dt::kDataRW, 0));
  EXPECT_EQ(bytes.base() + bytes.limit(), kGuestLinearLimit);
}

TEST_F(DescriptorsTest, TheBootSegmentsAreFlatRingOneUntilTheGuestLoadsAGdt) {
  EXPECT_TRUE(shadow.selector_usable(0x09, true, false));
  EXPECT_TRUE(shadow.selector_usable(0x11, false, true));
  EXPECT_EQ(t->gdt[1].dpl, 1u);
  std::uint32_t base = 1, limit = 0;
  EXPECT_TRUE(shadow.guest_segment(0x10, &base, &limit));
  EXPECT_EQ(base, 0u);
  EXPECT_EQ(limit, 0xffffffffu);
  shadow.sync(v, mem);  // no GDT of its own yet: nothing read
  EXPECT_EQ(t->gdt[1].dpl, 1u);
}

TEST_F(DescriptorsTest, TheGuestsGdtIsMirroredDeprivilegedAndAccessed) {
  guest_gdt(5);
  shadow.sync(v, mem);
  EXPECT_EQ(t->gdt[1].dpl, 1u);
  EXPECT_EQ(t->gdt[4].base(), 0x2000u);
  for (unsigned i = 1; i < 5; ++i) EXPECT_TRUE(t->gdt[i].type & 1) << i;  // the real GDT is read-only
  EXPECT_EQ(shadow.segment_base(0x23), 0x2000u);
  std::uint32_t base = 0, limit = 0;
  ASSERT_TRUE(shadow.guest_segment(0x20, &base, &limit));
  EXPECT_EQ(limit, 0xfffu);  // the guest's own view
  EXPECT_FALSE(shadow.guest_segment(0x28, &base, &limit));
}

TEST_F(DescriptorsTest, UserCodeIsHiddenWhileTheGuestKernelRuns) {
  guest_gdt(5);
  v.cpl = 0;
  shadow.sync(v, mem);
  EXPECT_FALSE(t->gdt[3].p);  // an IRET to user mode traps (#NP)
  EXPECT_FALSE(shadow.selector_usable(0x1b, true, false));
  v.cpl = 3;
  shadow.sync(v, mem);
  EXPECT_TRUE(t->gdt[3].p);
  EXPECT_TRUE(shadow.selector_usable(0x1b, true, false));
}

TEST_F(DescriptorsTest, AnEditInPlaceIsSeenAtTheNextSync) {
  guest_gdt(5);
  shadow.sync(v, mem);
  mem.put(0x1020, SegmentDescriptor::make(0x5000, 0xfff, dt::kDataRW, 3));
  shadow.sync(v, mem);
  EXPECT_EQ(shadow.segment_base(0x23), 0x5000u);
  // A shorter GDT drops what lies beyond it.
  v.gdtr.limit = 3 * 8 - 1;
  shadow.sync(v, mem);
  EXPECT_EQ(t->gdt[4].raw(), 0u);
  EXPECT_FALSE(shadow.selector_usable(0x23, false, false));
}

TEST_F(DescriptorsTest, ATableThatIsNotMappedNowKeepsItsLastMirror) {
  guest_gdt(5);
  shadow.sync(v, mem);
  mem.mapped = false;
  mem.put(0x1020, SegmentDescriptor::make(0x5000, 0xfff, dt::kDataRW, 3));
  shadow.sync(v, mem);
  EXPECT_EQ(shadow.segment_base(0x23), 0x2000u);
  mem.mapped = true;
  shadow.sync(v, mem);
  EXPECT_EQ(shadow.segment_base(0x23), 0x5000u);
}

TEST_F(DescriptorsTest, AnySelectorOfAFullSizeGdtWorksAndTheMonitorsSlotsStayItsOwn) {
  // A per-CPU segment at selector 0x2080 (slot 1040), as some kernels keep, across pages.
  guest_gdt(1041);
  mem.put(0x1000 + 1040 * 8, SegmentDescriptor::make(0x7000, 0xfff, dt::kDataRW, 0));
  shadow.sync(v, mem);
  EXPECT_TRUE(shadow.selector_usable(0x2080, false, false));
  EXPECT_EQ(shadow.segment_base(0x2080), 0x7000u);
  EXPECT_EQ(t->gdt[1040].dpl, 1u);
  // The largest GDT a guest can load stops short of the monitor's own slots.
  t->gdt[kMonitorCodeSlot] = SegmentDescriptor::make(kMonitorBase, kMonitorSegmentLimit, dt::kCodeRXAccessed, 0);
  v.gdtr.limit = 0xffff;
  shadow.sync(v, mem);
  EXPECT_EQ(t->gdt[kMonitorCodeSlot].base(), kMonitorBase);
  EXPECT_FALSE(shadow.selector_usable(kMonitorCS | 1, true, false));
}

TEST_F(DescriptorsTest, TheLdtIsMirroredToo) {
  guest_gdt(5);
  mem.put(0x3008, SegmentDescriptor::make(0x6000, 0xfff, dt::kDataRW, 0));
  shadow.ldt_loaded(0x3000, 15);
  shadow.sync(v, mem);
  EXPECT_EQ(shadow.segment_base(0x0c), 0x6000u);  // LDT slot 1, TI = 1
  EXPECT_TRUE(shadow.selector_usable(0x0c, false, false));
  shadow.ldt_loaded(0, 0);
  shadow.sync(v, mem);
  EXPECT_FALSE(shadow.selector_usable(0x0c, false, false));
}

TEST_F(DescriptorsTest, SelectorChecksBeforeTheIret) {
  guest_gdt(5);
  v.cpl = 3;
  shadow.sync(v, mem);
  EXPECT_TRUE(shadow.selector_usable(0, false, false));     // a null data selector
  EXPECT_FALSE(shadow.selector_usable(0, true, false));     // never CS
  EXPECT_FALSE(shadow.selector_usable(0x11, true, false));  // data is no code
  EXPECT_FALSE(shadow.selector_usable(0x13, false, true));  // SS needs RPL = DPL
  EXPECT_TRUE(shadow.selector_usable(0x23, false, true));
  EXPECT_FALSE(shadow.selector_usable(0x09 | 4, true, false));  // no LDT loaded
}

}  // namespace
}  // namespace hvlab::lab01
