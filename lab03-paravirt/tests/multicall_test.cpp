// Exercise e6: the multicall, a batch of hypercalls in one entry into the monitor.

#include <gtest/gtest.h>

#include "lab03-paravirt/src/errors.hpp"
#include "lab03-paravirt/tests/pv_fixture.hpp"

namespace hvlab::lab03 {
namespace {

using testing::PvFixture;
constexpr std::uint32_t kCalls = 0x6000;

hvlab_pv_multicall_entry entry(std::uint32_t op, std::uint32_t a0 = 0, std::uint32_t a1 = 0, std::uint32_t a2 = 0) {
  hvlab_pv_multicall_entry e{};
  e.op = op;
  e.result = 0x7777;
  e.args[0] = a0, e.args[1] = a1, e.args[2] = a2;
  return e;
}

TEST(E6Multicall, RunsEachEntryAndWritesItsResult) {
  PvFixture f;
  f.put(0x2000, 'a');
  f.put(kCalls, entry(HVLAB_PV_console_write, 0x2000, 1));
  f.put(kCalls + 32, entry(HVLAB_PV_version));
  f.put(kCalls + 64, entry(HVLAB_PV_stack_switch, 0, 0));  // refused: its own result only
  f.put(kCalls + 96, entry(HVLAB_PV_console_write, 0x2000, 1));
  EXPECT_EQ(f.call(HVLAB_PV_multicall, kCalls, 4), 0);
  EXPECT_EQ(f.console.bytes, "aa");
  EXPECT_EQ(f.get<hvlab_pv_multicall_entry>(kCalls).result, 1);
  EXPECT_EQ(f.get<hvlab_pv_multicall_entry>(kCalls + 32).result, static_cast<std::int32_t>(HVLAB_PV_ABI_VERSION));
  EXPECT_EQ(f.get<hvlab_pv_multicall_entry>(kCalls + 64).result, err(HVLAB_PV_EINVAL));
  EXPECT_EQ(f.get<hvlab_pv_multicall_entry>(kCalls + 96).result, 1);
  EXPECT_EQ(f.domain.calls[HVLAB_PV_console_write], 2u) << "each entry counts as its own call";
}

TEST(E6Multicall, RefusesNestingLargeBatchesAndBadPointers) {
  PvFixture f;
  f.put(kCalls, entry(HVLAB_PV_multicall, kCalls, 1));
  EXPECT_EQ(f.call(HVLAB_PV_multicall, kCalls, 1), 0);
  EXPECT_EQ(f.get<hvlab_pv_multicall_entry>(kCalls).result, err(HVLAB_PV_EINVAL)) << "no multicall in a multicall";
  EXPECT_EQ(f.call(HVLAB_PV_multicall, kCalls, HVLAB_PV_MAX_MULTICALLS + 1), err(HVLAB_PV_E2BIG));
  EXPECT_EQ(f.call(HVLAB_PV_multicall, 0x3ffe0, 2), err(HVLAB_PV_EFAULT)) << "the second entry is past RAM";
  f.put(kCalls, entry(HVLAB_PV_NR_HYPERCALLS + 3));
  EXPECT_EQ(f.call(HVLAB_PV_multicall, kCalls, 1), 0);
  EXPECT_EQ(f.get<hvlab_pv_multicall_entry>(kCalls).result, err(HVLAB_PV_ENOSYS));
}

TEST(E6Multicall, StopsAfterAnEntryThatEndsTheGuest) {
  PvFixture f;
  f.put(kCalls, entry(HVLAB_PV_sched_op, HVLAB_PV_SCHEDOP_shutdown, 3));
  f.put(kCalls + 32, entry(HVLAB_PV_version));
  EXPECT_EQ(f.call(HVLAB_PV_multicall, kCalls, 2), 0);
  EXPECT_TRUE(f.board.guest_exited());
  EXPECT_EQ(f.get<hvlab_pv_multicall_entry>(kCalls + 32).result, 0x7777) << "not run";
}

TEST(E6Multicall, PageTableUpdatesAndTheirFlushInOneEntry) {
  PvFixture f;
  f.build_identity();
  ASSERT_EQ(f.start_paging(), 0);
  f.put(0x3000, hvlab_pv_mmu_update{11u << 12 | 7 * 4, 0});
  f.put(0x3008, hvlab_pv_mmu_update{11u << 12 | 8 * 4, 0});
  f.put(0x3800, hvlab_pv_mmuext_op{HVLAB_PV_MMUEXT_tlb_flush_local, 0});
  f.put(kCalls, entry(HVLAB_PV_mmu_update, 0x3000, 2, 0));
  f.put(kCalls + 32, entry(HVLAB_PV_mmuext_op, 0x3800, 1, 0));
  const unsigned flushes = f.observer.full_flushes;
  EXPECT_EQ(f.call(HVLAB_PV_multicall, kCalls, 2), 0);
  EXPECT_EQ(f.entry(11, 7), 0u);
  EXPECT_EQ(f.entry(11, 8), 0u);
  EXPECT_EQ(f.observer.full_flushes, flushes + 1);
  EXPECT_EQ(f.domain.largest_batch, 2u);
  EXPECT_EQ(f.invariants(), "");
}

}  // namespace
}  // namespace hvlab::lab03
