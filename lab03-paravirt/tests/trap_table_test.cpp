// Exercise e3: the trap table (set_trap_table) and the delivery of exceptions, interrupts and
// INT n through it, the way the CPU delivers through an IDT.

#include <gtest/gtest.h>

#include "lab03-paravirt/src/errors.hpp"
#include "lab03-paravirt/tests/pv_fixture.hpp"

namespace hvlab::lab03 {
namespace {

using testing::PvFixture;
namespace fl = x86::eflags;

// A guest whose shared info page is frame 4, with a trap table set through the hypercall.
struct TrapFixture : PvFixture {
  TrapFixture() {
    EXPECT_TRUE(domain.attach_shared(GuestPhysAddr(0x4000)));
    domain.shared.set_upcall_mask(0);
  }
  int set_table(std::initializer_list<hvlab_pv_trap_info> entries) {
    std::uint32_t at = 0x6000;
    for (const auto& e : entries) put(at, e), at += sizeof e;
    return call(HVLAB_PV_set_trap_table, 0x6000, static_cast<std::uint32_t>(entries.size()));
  }
};

TEST(E3TrapTable, AnExceptionInTheKernelPushesEipCsEflagsAndTheErrorCode) {
  TrapFixture f;
  ASSERT_EQ(f.set_table({{14, HVLAB_PV_TI_MASK_EVENTS, 0x09, 0x2222}}), 0);
  auto& v = f.vcpu();
  v.eip = 0x1500;
  v.eflags = fl::FIXED1 | fl::IF | fl::TF;
  v.cr2 = 0xabc000;
  ASSERT_TRUE(deliver(f.machine, 14, Delivery::exception, true, 6));
  EXPECT_EQ(v.eip, 0x2222u);
  EXPECT_EQ(v.cs, 0x09u);
  EXPECT_EQ(v.regs.esp, 0x9000u - 16);
  EXPECT_EQ(f.get<std::uint32_t>(0x9000 - 16), 6u) << "error code";
  EXPECT_EQ(f.get<std::uint32_t>(0x9000 - 12), 0x1500u) << "EIP";
  EXPECT_EQ(f.get<std::uint32_t>(0x9000 - 8), 0x09u) << "CS";
  EXPECT_EQ(f.get<std::uint32_t>(0x9000 - 4), fl::FIXED1 | fl::IF | fl::TF) << "EFLAGS, IF = events were enabled";
  EXPECT_EQ(f.domain.shared.upcall_mask(), 1) << "an interrupt-gate entry masks events";
  EXPECT_FALSE(v.eflags & fl::IF);
  EXPECT_FALSE(v.eflags & fl::TF);
  EXPECT_EQ(f.get<hvlab_pv_shared_info>(0x4000).vcpu_info[0].cr2, 0xabc000u) << "CR2 for the guest to read";
}

TEST(E3TrapTable, FromUserModeTheFrameGoesOnTheStackOfStackSwitch) {
  TrapFixture f;
  ASSERT_EQ(f.set_table({{0x80, 3, 0x09, 0x3333}}), 0);
  auto& v = f.vcpu();
  v.cpl = 3;
  v.cs = 0x1b;
  v.ss = 0x23;
  v.regs.esp = 0x7ff0;
  v.eip = 0x4444;
  EXPECT_FALSE(deliver(f.machine, 0x80, Delivery::software)) << "no kernel stack named yet";
  EXPECT_EQ(f.board.state(), vmm::RunState::contained);

  TrapFixture g;
  ASSERT_EQ(g.set_table({{0x80, 3, 0x09, 0x3333}}), 0);
  ASSERT_EQ(g.call(HVLAB_PV_stack_switch, 0x11, 0xa000), 0);
  auto& w = g.vcpu();
  w.cpl = 3, w.cs = 0x1b, w.ss = 0x23, w.regs.esp = 0x7ff0, w.eip = 0x4444;
  ASSERT_TRUE(deliver(g.machine, 0x80, Delivery::software));
  EXPECT_EQ(w.cpl, 0);
  EXPECT_EQ(w.ss, 0x11u);
  EXPECT_EQ(w.regs.esp, 0xa000u - 20);
  EXPECT_EQ(g.get<std::uint32_t>(0xa000 - 20), 0x4444u);
  EXPECT_EQ(g.get<std::uint32_t>(0xa000 - 16), 0x1bu);
  EXPECT_EQ(g.get<std::uint32_t>(0xa000 - 8), 0x7ff0u) << "user ESP";
  EXPECT_EQ(g.get<std::uint32_t>(0xa000 - 4), 0x23u) << "user SS";
  EXPECT_EQ(g.domain.shared.upcall_mask(), 0) << "a trap-gate entry leaves events as they were";
}

TEST(E3TrapTable, IntNChecksTheEntrysDpl) {
  TrapFixture f;
  ASSERT_EQ(f.set_table({{0x81, 0, 0x09, 0x3333}, {13, 0, 0x09, 0x5555}}), 0);
  ASSERT_EQ(f.call(HVLAB_PV_stack_switch, 0x11, 0xa000), 0);
  auto& v = f.vcpu();
  v.cpl = 3, v.cs = 0x1b, v.ss = 0x23, v.regs.esp = 0x7ff0;
  ASSERT_TRUE(deliver(f.machine, 0x81, Delivery::software));
  EXPECT_EQ(v.eip, 0x5555u) << "a #GP instead";
  EXPECT_EQ(f.get<std::uint32_t>(0xa000 - 24), 0x81u * 8 + 2) << "its error code names the vector";
}

TEST(E3TrapTable, NoHandlerContainsTheGuestWithAReason) {
  TrapFixture f;
  EXPECT_FALSE(deliver(f.machine, 6, Delivery::exception));
  EXPECT_EQ(f.board.state(), vmm::RunState::contained);
  EXPECT_NE(std::string(f.board.stop_reason()).find("no handler for vector 6"), std::string::npos);
}

TEST(E3TrapTable, AStackTheGuestCannotWriteContainsIt) {
  TrapFixture f;
  ASSERT_EQ(f.set_table({{3, 0, 0x09, 0x2222}}), 0);
  f.vcpu().regs.esp = 0x40000 + 8;  // just past the end of RAM
  EXPECT_FALSE(deliver(f.machine, 3, Delivery::exception));
  EXPECT_NE(std::string(f.board.stop_reason()).find("kernel stack"), std::string::npos);
}

TEST(E3TrapTable, ABadEntryLeavesTheWholeTableAsItWas) {
  TrapFixture f;
  ASSERT_EQ(f.set_table({{1, 0, 0x09, 0x1111}}), 0);
  EXPECT_EQ(f.set_table({{1, 0, 0x09, 0x2222}, {2, 0, 0x1b, 0x3333}}), err(HVLAB_PV_EINVAL)) << "a ring-3 code selector";
  EXPECT_EQ(f.set_table({{1, 0, 0x09, 0x2222}, {2, 0, 0x09, 0xF0000010u}}), err(HVLAB_PV_EPERM)) << "the monitor";
  EXPECT_EQ(f.set_table({{1, 0x80, 0x09, 0x2222}}), err(HVLAB_PV_EINVAL)) << "unknown flag";
  EXPECT_EQ(f.domain.traps[1].address, 0x1111u);
  EXPECT_FALSE(f.domain.traps[2].valid());
  EXPECT_EQ(f.call(HVLAB_PV_set_trap_table, 0x6000, 257), err(HVLAB_PV_E2BIG));
  EXPECT_EQ(f.call(HVLAB_PV_set_trap_table, 0x3ff00, 64), err(HVLAB_PV_EFAULT)) << "past the end of RAM";
  // An entry with address 0 removes its vector; a null table clears all.
  ASSERT_EQ(f.set_table({{5, 0, 0x09, 0x5555}, {1, 0, 0, 0}}), 0);
  EXPECT_FALSE(f.domain.traps[1].valid());
  EXPECT_TRUE(f.domain.traps[5].valid());
  EXPECT_EQ(f.call(HVLAB_PV_set_trap_table, 0, 0), 0);
  EXPECT_FALSE(f.domain.traps[5].valid());
}

TEST(E3TrapTable, PendingEventsOfTheBoardGoThroughTheTable) {
  TrapFixture f;
  ASSERT_EQ(f.set_table({{0x20, HVLAB_PV_TI_MASK_EVENTS, 0x09, 0x2020}}), 0);
  vmm::PendingEvent e;
  e.valid = true;
  e.type = vmm::PendingEvent::Type::external_interrupt;
  e.vector = 0x20;
  f.vcpu().halted = true;
  ASSERT_TRUE(deliver(f.machine, e));
  EXPECT_EQ(f.vcpu().eip, 0x2020u);
  EXPECT_FALSE(f.vcpu().halted) << "an interrupt ends a HLT or a block";
}

}  // namespace
}  // namespace hvlab::lab03
