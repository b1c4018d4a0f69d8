// Exercise e4: validated page-table updates. Each refusal must return its error and change
// nothing; after every call the type counts must equal the references the tables hold.

#include <gtest/gtest.h>

#include <vector>

#include "lab03-paravirt/src/errors.hpp"
#include "lab03-paravirt/tests/pv_fixture.hpp"

namespace hvlab::lab03 {
namespace {

using testing::PvFixture;
namespace page = x86::page;
constexpr std::uint32_t kPd = 10, kPt = 11;
constexpr std::uint32_t pte_addr(std::uint32_t table, unsigned i) { return table << 12 | i * 4; }

struct PagingFixture : PvFixture {
  PagingFixture() {
    build_identity();
    EXPECT_EQ(start_paging(), 0);
    EXPECT_EQ(invariants(), "");
  }
  // A refused update: the error, the same memory, the same counts.
  void expect_refused(std::uint32_t ptr, std::uint32_t val, int want, const char* what) {
    put(0x3000, hvlab_pv_mmu_update{ptr, val});
    const std::vector<std::uint8_t> before = ram;
    const std::vector<FrameInfo> types = frames;
    EXPECT_EQ(call(HVLAB_PV_mmu_update, 0x3000, 1, 0), want) << what;
    EXPECT_TRUE(before == ram) << what << ": memory changed";
    for (std::size_t i = 0; i < frames.size(); ++i)
      EXPECT_EQ(frames[i].count, types[i].count) << what << ": the count of frame " << i << " changed";
    EXPECT_EQ(invariants(), "") << what;
  }
};

// The monitor writes the shared info page before every entry: were it a page table, those
// writes would change entries behind the type counts (the fuzzer found this).
TEST(E4PageTables, TheSharedInfoFrameNeverBecomesATable) {
  PagingFixture f;
  constexpr std::uint32_t kShared = 12;
  ASSERT_TRUE(f.domain.attach_shared(GuestPhysAddr(kShared << 12)));
  // The guest drops its writable mapping of the frame first: nothing else holds it then.
  f.put(0x3000, hvlab_pv_mmu_update{pte_addr(kPt, kShared), kShared << 12 | page::P});
  ASSERT_EQ(f.call(HVLAB_PV_mmu_update, 0x3000, 1, 0), 0);
  ASSERT_EQ(f.frames[kShared].count, 0u);
  EXPECT_EQ(f.mmuext(HVLAB_PV_MMUEXT_pin_l1_table, kShared << 12), err(HVLAB_PV_EBUSY));
  EXPECT_EQ(f.mmuext(HVLAB_PV_MMUEXT_pin_l2_table, kShared << 12), err(HVLAB_PV_EBUSY));
  EXPECT_EQ(f.mmuext(HVLAB_PV_MMUEXT_new_baseptr, kShared << 12), err(HVLAB_PV_EBUSY));
  f.expect_refused(pte_addr(kPd, 5), kShared << 12 | page::P | page::RW, err(HVLAB_PV_EBUSY),
                   "a directory entry naming the shared info frame as a table");
  EXPECT_EQ(f.frames[kShared].count, 0u);
  EXPECT_EQ(f.invariants(), "");
}

TEST(E4PageTables, PinningAndTheBasePointerTypeTheTables) {
  PagingFixture f;
  EXPECT_EQ(f.frames[kPd].type, PageType::l2);
  EXPECT_EQ(f.frames[kPd].count, 2u) << "the pin and the base pointer";
  EXPECT_EQ(f.frames[kPt].type, PageType::l1);
  EXPECT_EQ(f.frames[kPt].count, 1u) << "one PDE";
  EXPECT_EQ(f.frames[5].type, PageType::writable);
  EXPECT_EQ(f.frames[40].type, PageType::none) << "not mapped at all";
  EXPECT_EQ(f.vcpu().cr3, kPd << 12);
  ASSERT_FALSE(f.observer.bases.empty());
  EXPECT_EQ(f.observer.bases.back(), kPd << 12);
}

TEST(E4PageTables, AFrameTheGuestDoesNotOwnIsNeverMapped) {
  PagingFixture f;  // 64 frames of RAM
  f.expect_refused(pte_addr(kPt, 100), 64u << 12 | page::P, err(HVLAB_PV_EPERM), "the first frame past RAM");
  f.expect_refused(pte_addr(kPt, 100), 0xfffff000u | page::P | page::RW, err(HVLAB_PV_EPERM), "the top frame");
  f.expect_refused(pte_addr(kPd, 1), 64u << 12 | page::P, err(HVLAB_PV_EPERM), "a PDE naming a frame past RAM");
  EXPECT_EQ(f.update(pte_addr(kPt, 100), 63u << 12 | page::P | page::RW), 0) << "the last frame is the guest's";
  EXPECT_EQ(f.update(64u << 12, 0), err(HVLAB_PV_EPERM)) << "an entry outside RAM";
  EXPECT_EQ(f.invariants(), "");
}

TEST(E4PageTables, APageTableIsNeverMappedWritable) {
  PagingFixture f;
  f.expect_refused(pte_addr(kPt, 200), kPt << 12 | page::P | page::RW, err(HVLAB_PV_EBUSY), "the page table itself");
  f.expect_refused(pte_addr(kPt, 200), kPd << 12 | page::P | page::RW, err(HVLAB_PV_EBUSY), "the page directory");
  EXPECT_EQ(f.update(pte_addr(kPt, 200), kPt << 12 | page::P), 0) << "read-only is fine";
  // And a frame mapped writable cannot become a table: frame 20 is, through PTE 20.
  f.expect_refused(pte_addr(kPd, 1), 20u << 12 | page::P | page::RW, err(HVLAB_PV_EBUSY), "a writable frame as a table");
  EXPECT_EQ(f.mmuext(HVLAB_PV_MMUEXT_pin_l1_table, 20u << 12), err(HVLAB_PV_EBUSY));
}

TEST(E4PageTables, TheMonitorsSlotsStayEmpty) {
  PagingFixture f;
  const unsigned slot = HVLAB_PV_HYPERVISOR_VIRT_START >> 22;
  f.expect_refused(pte_addr(kPd, slot), kPt << 12 | page::P, err(HVLAB_PV_EPERM), "the first monitor slot");
  f.expect_refused(pte_addr(kPd, 1023), kPt << 12 | page::P, err(HVLAB_PV_EPERM), "the last slot");
  f.expect_refused(pte_addr(kPd, 1), 0x400000u | page::P | page::PS | page::RW, err(HVLAB_PV_EINVAL), "a 4 MiB page");
  EXPECT_EQ(f.update(pte_addr(kPd, slot - 1), kPt << 12 | page::P), 0) << "just below the monitor";
  EXPECT_EQ(f.frames[kPt].count, 2u);
  EXPECT_EQ(f.update(pte_addr(kPd, slot), 0x12345000), 0) << "not present: anything goes";
  // A directory that reaches the monitor cannot be pinned or become the base.
  for (unsigned i = 0; i < 1024; ++i) f.set_entry(30, i, 0);
  f.set_entry(30, slot, kPt << 12 | page::P);
  ASSERT_EQ(f.update(pte_addr(kPt, 30), 30u << 12 | page::P), 0) << "frame 30 read-only first";
  EXPECT_EQ(f.mmuext(HVLAB_PV_MMUEXT_pin_l2_table, 30u << 12), err(HVLAB_PV_EPERM));
  EXPECT_EQ(f.mmuext(HVLAB_PV_MMUEXT_new_baseptr, 30u << 12), err(HVLAB_PV_EPERM));
  EXPECT_EQ(f.domain.mmu.base(), kPd << 12) << "the base pointer stays";
  EXPECT_EQ(f.invariants(), "");
}

TEST(E4PageTables, CountsFollowTheEntries) {
  PagingFixture f;
  EXPECT_EQ(f.frames[20].count, 1u);
  ASSERT_EQ(f.update(pte_addr(kPt, 300), 20u << 12 | page::P | page::RW), 0);
  EXPECT_EQ(f.frames[20].count, 2u);
  ASSERT_EQ(f.update(pte_addr(kPt, 300), 20u << 12 | page::P), 0) << "RW dropped";
  EXPECT_EQ(f.frames[20].count, 1u);
  ASSERT_EQ(f.update(pte_addr(kPt, 20), 0), 0);
  EXPECT_EQ(f.frames[20].count, 0u);
  EXPECT_EQ(f.frames[20].type, PageType::none);
  // Now it can be a table: read-only elsewhere, it validates and takes the L1 type.
  for (unsigned i = 0; i < 1024; ++i) f.set_entry(20, i, 0);
  ASSERT_EQ(f.update(pte_addr(kPd, 1), 20u << 12 | page::P | page::RW), 0);
  EXPECT_EQ(f.frames[20].type, PageType::l1);
  EXPECT_EQ(f.invariants(), "");
  // Replacing the PDE releases it again.
  ASSERT_EQ(f.update(pte_addr(kPd, 1), 0), 0);
  EXPECT_EQ(f.frames[20].type, PageType::none);
  EXPECT_EQ(f.invariants(), "");
  ASSERT_FALSE(f.observer.writes.empty());
  EXPECT_EQ(f.observer.writes.back().entry, pte_addr(kPd, 1)) << "the back end hears of live entries";
}

TEST(E4PageTables, UnpinAndANewBaseDevalidateWhatNoLongerCounts) {
  PagingFixture f;
  // A second address space: directory 30 sharing page table 11.
  for (unsigned i = 0; i < 1024; ++i) f.set_entry(30, i, 0);
  f.set_entry(30, 0, kPt << 12 | page::P | page::RW);
  ASSERT_EQ(f.update(pte_addr(kPt, 30), 30u << 12 | page::P), 0);
  ASSERT_EQ(f.mmuext(HVLAB_PV_MMUEXT_new_baseptr, 30u << 12), 0);
  EXPECT_EQ(f.frames[30].type, PageType::l2);
  EXPECT_EQ(f.frames[kPt].count, 2u);
  EXPECT_EQ(f.frames[kPd].count, 1u) << "only its pin now";
  ASSERT_EQ(f.mmuext(HVLAB_PV_MMUEXT_unpin_table, kPd << 12), 0);
  EXPECT_EQ(f.frames[kPd].type, PageType::none);
  EXPECT_EQ(f.frames[kPt].count, 1u);
  EXPECT_EQ(f.mmuext(HVLAB_PV_MMUEXT_unpin_table, kPd << 12), err(HVLAB_PV_EINVAL)) << "not pinned";
  EXPECT_EQ(f.invariants(), "");
  // Frame 10 is ordinary memory again: it may be mapped writable.
  EXPECT_EQ(f.update(pte_addr(kPt, 301), kPd << 12 | page::P | page::RW), 0);
  EXPECT_EQ(f.invariants(), "");
}

TEST(E4PageTables, PinsWaitForPagingAndAreValidatedWhenItStarts) {
  PvFixture f;
  f.build_identity();
  f.set_entry(kPt, 40, kPt << 12 | page::P | page::RW);  // a writable alias of the table
  ASSERT_EQ(f.mmuext(HVLAB_PV_MMUEXT_pin_l2_table, kPd << 12), 0) << "paging off: remembered";
  ASSERT_EQ(f.mmuext(HVLAB_PV_MMUEXT_new_baseptr, kPd << 12), 0);
  EXPECT_EQ(f.frames[kPd].count, 0u);
  EXPECT_EQ(f.mmuext(HVLAB_PV_MMUEXT_pin_l2_table, kPd << 12), err(HVLAB_PV_EEXIST));
  EXPECT_EQ(f.domain.mmu.enable_paging(), err(HVLAB_PV_EBUSY));
  EXPECT_FALSE(f.domain.mmu.paging());
  EXPECT_EQ(f.invariants(), "") << "nothing stays typed after a failed start";
  f.set_entry(kPt, 40, 0);  // paging is off: the guest writes memory directly
  EXPECT_EQ(f.domain.mmu.enable_paging(), 0);
  EXPECT_EQ(f.invariants(), "");
  f.domain.mmu.disable_paging();
  EXPECT_EQ(f.frames[kPd].count, 0u);
  EXPECT_EQ(f.invariants(), "");
}

TEST(E4PageTables, ABatchStopsAtTheFirstRefusalAndSaysHowFarItGot) {
  PagingFixture f;
  const hvlab_pv_mmu_update reqs[] = {
      {pte_addr(kPt, 400), 21u << 12 | page::P | page::RW},
      {pte_addr(kPt, 401), 22u << 12 | page::P | page::RW},
      {pte_addr(kPt, 402), kPt << 12 | page::P | page::RW},  // refused
      {pte_addr(kPt, 403), 23u << 12 | page::P | page::RW},
  };
  for (unsigned i = 0; i < 4; ++i) f.put(0x3000 + 8 * i, reqs[i]);
  f.put(0x2000, 0xffffffffu);
  EXPECT_EQ(f.call(HVLAB_PV_mmu_update, 0x3000, 4, 0x2000), err(HVLAB_PV_EBUSY));
  EXPECT_EQ(f.get<std::uint32_t>(0x2000), 2u);
  EXPECT_EQ(f.entry(kPt, 401), 22u << 12 | page::P | page::RW);
  EXPECT_EQ(f.entry(kPt, 402), 0u);
  EXPECT_EQ(f.entry(kPt, 403), 0u);
  EXPECT_EQ(f.domain.largest_batch, 2u);
  EXPECT_EQ(f.invariants(), "");
  EXPECT_EQ(f.call(HVLAB_PV_mmu_update, 0x3000, HVLAB_PV_MAX_MMU_UPDATES + 1, 0x2000), err(HVLAB_PV_E2BIG));
  EXPECT_EQ(f.call(HVLAB_PV_mmu_update, 0x3000, 1, kPt << 12), err(HVLAB_PV_EFAULT)) << "done in a read-only page";
  EXPECT_EQ(f.call(HVLAB_PV_mmu_update, 0x3000, 1, 0xF0000000u), err(HVLAB_PV_EFAULT));
  EXPECT_EQ(f.update(pte_addr(kPt, 404) | 1, 0), err(HVLAB_PV_EINVAL)) << "unknown command";
}

TEST(E4PageTables, UpdateVaMappingFindsThePteAndFlushes) {
  PagingFixture f;
  ASSERT_EQ(f.call(HVLAB_PV_update_va_mapping, 0x5000, 25u << 12 | page::P | page::RW, HVLAB_PV_UVMF_INVLPG), 0);
  EXPECT_EQ(f.entry(kPt, 5), 25u << 12 | page::P | page::RW);
  ASSERT_FALSE(f.observer.flushed_pages.empty());
  EXPECT_EQ(f.observer.flushed_pages.back(), 0x5000u);
  const unsigned full = f.observer.full_flushes;
  ASSERT_EQ(f.call(HVLAB_PV_update_va_mapping, 0x5000, 0, HVLAB_PV_UVMF_TLB_FLUSH), 0);
  EXPECT_EQ(f.observer.full_flushes, full + 1);
  EXPECT_EQ(f.call(HVLAB_PV_update_va_mapping, 0x400000, 0, 0), err(HVLAB_PV_EINVAL)) << "no page table there";
  EXPECT_EQ(f.call(HVLAB_PV_update_va_mapping, 0xF0000000u, 0, 0), err(HVLAB_PV_EPERM));
  EXPECT_EQ(f.call(HVLAB_PV_update_va_mapping, 0x5000, 0, 3), err(HVLAB_PV_EINVAL));
  EXPECT_EQ(f.call(HVLAB_PV_update_va_mapping, 0x5000, kPd << 12 | page::P | page::RW, 0), err(HVLAB_PV_EBUSY));
  EXPECT_EQ(f.mmuext(HVLAB_PV_MMUEXT_invlpg_local, 0xF0001000u), err(HVLAB_PV_EPERM));
  EXPECT_EQ(f.mmuext(99, 0), err(HVLAB_PV_EINVAL));
  EXPECT_EQ(f.invariants(), "");
}

}  // namespace
}  // namespace hvlab::lab03
