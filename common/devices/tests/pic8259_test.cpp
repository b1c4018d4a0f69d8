#include "common/devices/pic8259.hpp"

#include <gtest/gtest.h>

#include "common/devices/tests/test_support.hpp"

namespace hvlab::dev {
namespace {

struct PicTest : ::testing::Test {
  PortBus bus;
  Pic8259Pair pic;

  void SetUp() override { ASSERT_TRUE(pic.attach(bus).ok()); }

  void out(std::uint16_t port, std::uint8_t v) { ASSERT_TRUE(bus.write(port, 1, v).ok()) << port; }
  std::uint8_t in(std::uint16_t port) {
    Result<std::uint32_t> r = bus.read(port, 1);
    EXPECT_TRUE(r.ok()) << port;
    return static_cast<std::uint8_t>(r.value());
  }

  // The classic remap: ICW1 (edge, cascade, ICW4), ICW2 base, ICW3 wiring, ICW4.
  void init(std::uint8_t master_base = 0x20, std::uint8_t slave_base = 0x28, std::uint8_t icw4 = 0x01,
            std::uint8_t master_icw1 = 0x11, std::uint8_t slave_icw1 = 0x11) {
    out(0x20, master_icw1);
    out(0x21, master_base);
    out(0x21, 0x04);
    out(0x21, icw4);
    out(0xa0, slave_icw1);
    out(0xa1, slave_base);
    out(0xa1, 0x02);
    out(0xa1, icw4);
  }
  std::uint8_t isr(std::uint16_t cmd) {
    out(cmd, 0x0b);
    return in(cmd);
  }
  std::uint8_t irr(std::uint16_t cmd) {
    out(cmd, 0x0a);
    return in(cmd);
  }
  void pulse(unsigned line) {
    pic.set_irq(line, true);
    pic.set_irq(line, false);
  }
  void eoi_master() { out(0x20, 0x20); }
  void eoi_slave() { out(0xa0, 0x20); }
};

TEST_F(PicTest, DeliversNothingBeforeInitialisationAndNeedsAFreshEdgeAfterIt) {
  pic.set_irq(1, true);
  EXPECT_FALSE(pic.has_pending());
  EXPECT_EQ(pic.pending_vector().error(), Error::not_found);
  init();
  // ICW1 resets the edge-sense circuit: a line already high must go low and high again.
  EXPECT_FALSE(pic.has_pending());
  pic.set_irq(1, false);
  pic.set_irq(1, true);
  EXPECT_TRUE(pic.has_pending());
}

TEST_F(PicTest, InitSequenceProgramsVectorBaseAndInta) {
  init(0x20, 0x28);
  EXPECT_TRUE(pic.master().initialized());
  EXPECT_TRUE(pic.slave().initialized());
  pulse(1);
  ASSERT_TRUE(pic.has_pending());
  EXPECT_EQ(pic.pending_vector().value(), 0x21);
  EXPECT_EQ(pic.acknowledge(), 0x21);
  EXPECT_EQ(isr(0x20), 0x02);  // INTA moved the request from IRR to ISR
  EXPECT_EQ(irr(0x20), 0x00);
  EXPECT_FALSE(pic.has_pending());
}

TEST_F(PicTest, Icw2LowBitsAreTheIrNumberNotPartOfTheBase) {
  init(0x27, 0x2f);
  EXPECT_EQ(pic.master().vector_base(), 0x20);
  pulse(3);
  EXPECT_EQ(pic.acknowledge(), 0x23);
}

TEST_F(PicTest, SingleModeWithoutIcw4SkipsIcw3AndIcw4) {
  out(0x20, 0x12);  // ICW1: SNGL, no IC4
  EXPECT_FALSE(pic.master().initialized());
  out(0x21, 0x40);  // ICW2, and that is the whole sequence
  EXPECT_TRUE(pic.master().initialized());
  out(0x21, 0xfe);  // so this is OCW1
  EXPECT_EQ(in(0x21), 0xfe);
  pulse(0);
  EXPECT_EQ(pic.acknowledge(), 0x40);
}

TEST_F(PicTest, FixedPriorityIr0HighestAndInServiceBlocksLower) {
  init();
  pulse(5);
  pulse(3);
  EXPECT_EQ(pic.acknowledge(), 0x23);
  EXPECT_FALSE(pic.has_pending());  // IR5 waits for IR3's EOI
  EXPECT_EQ(irr(0x20), 0x20);
  eoi_master();
  EXPECT_EQ(pic.acknowledge(), 0x25);
}

TEST_F(PicTest, HigherPriorityNestsAndNonSpecificEoiClearsTheHighest) {
  init();
  pulse(5);
  EXPECT_EQ(pic.acknowledge(), 0x25);
  pulse(1);
  ASSERT_TRUE(pic.has_pending());
  EXPECT_EQ(pic.acknowledge(), 0x21);
  EXPECT_EQ(isr(0x20), 0x22);
  eoi_master();
  EXPECT_EQ(isr(0x20), 0x20);  // IR1, the highest in service, went first
  eoi_master();
  EXPECT_EQ(isr(0x20), 0x00);
}

TEST_F(PicTest, SpecificEoiClearsOnlyTheNamedLevel) {
  init();
  pulse(5);
  pic.acknowledge();
  pulse(1);
  pic.acknowledge();
  out(0x20, 0x65);  // specific EOI, level 5
  EXPECT_EQ(isr(0x20), 0x02);
}

TEST_F(PicTest, Ocw1MaskHoldsRequestInIrr) {
  init();
  out(0x21, 0x02);
  EXPECT_EQ(in(0x21), 0x02);
  pulse(1);
  EXPECT_FALSE(pic.has_pending());
  EXPECT_EQ(irr(0x20), 0x02);  // requested, just masked
  out(0x21, 0x00);
  ASSERT_TRUE(pic.has_pending());
  EXPECT_EQ(pic.acknowledge(), 0x21);
}

TEST_F(PicTest, EdgeTriggeredInputNeedsANewRisingEdge) {
  init();
  pic.set_irq(4, true);
  EXPECT_EQ(pic.acknowledge(), 0x24);
  eoi_master();
  EXPECT_FALSE(pic.has_pending());  // still high, but no new edge
  pic.set_irq(4, true);
  EXPECT_FALSE(pic.has_pending());
  pic.set_irq(4, false);
  pic.set_irq(4, true);
  EXPECT_TRUE(pic.has_pending());
}

TEST_F(PicTest, EdgeRequestIsLatchedEvenIfTheLineDropsBeforeInta) {
  init();
  pulse(6);
  EXPECT_EQ(pic.pending_vector().value(), 0x26);
}

TEST_F(PicTest, LevelTriggeredInputFollowsTheLine) {
  init(0x20, 0x28, 0x01, 0x19);  // master ICW1.LTIM
  EXPECT_TRUE(pic.master().level_triggered());
  pic.set_irq(4, true);
  EXPECT_TRUE(pic.has_pending());
  pic.set_irq(4, false);
  EXPECT_FALSE(pic.has_pending());  // request withdrawn
  pic.set_irq(4, true);
  EXPECT_EQ(pic.acknowledge(), 0x24);
  eoi_master();
  EXPECT_TRUE(pic.has_pending());  // still asserted: requests again without an edge
}

TEST_F(PicTest, CascadeDeliversTheSlaveVector) {
  init(0x20, 0x28);
  pulse(12);
  ASSERT_TRUE(pic.has_pending());
  EXPECT_EQ(pic.pending_vector().value(), 0x2c);
  EXPECT_EQ(pic.acknowledge(), 0x2c);
  EXPECT_EQ(isr(0x20), 0x04);  // the master has the cascade IR2 in service
  EXPECT_EQ(isr(0xa0), 0x10);  // the slave has its IR4
  EXPECT_EQ(irr(0xa0), 0x00);
}

TEST_F(PicTest, SlaveLinesRankBetweenIr1AndIr3) {
  init();
  pulse(3);
  pulse(15);
  EXPECT_EQ(pic.acknowledge(), 0x2f);  // IR2 (the whole slave) beats IR3
  pulse(1);
  EXPECT_EQ(pic.acknowledge(), 0x21);  // IR1 beats the slave in service
  eoi_master();
  eoi_slave();
  eoi_master();
  EXPECT_EQ(pic.acknowledge(), 0x23);
}

TEST_F(PicTest, SlaveRequestsWaitForTheMasterEoi) {
  init();
  pulse(12);
  EXPECT_EQ(pic.acknowledge(), 0x2c);
  eoi_slave();
  pulse(9);
  EXPECT_FALSE(pic.has_pending());  // master IR2 still in service (fully nested mode)
  EXPECT_EQ(irr(0xa0), 0x02);
  eoi_master();
  EXPECT_EQ(pic.acknowledge(), 0x29);
}

TEST_F(PicTest, AutoEoiLeavesNothingInService) {
  init(0x20, 0x28, 0x03);  // ICW4: 8086 mode + AEOI
  EXPECT_TRUE(pic.master().auto_eoi());
  pulse(1);
  EXPECT_EQ(pic.acknowledge(), 0x21);
  EXPECT_EQ(isr(0x20), 0x00);
  pulse(6);  // lower priority, yet deliverable straight away: nothing in service
  EXPECT_EQ(pic.acknowledge(), 0x26);
}

TEST_F(PicTest, AcknowledgeWithNothingPendingIsSpuriousIrq7) {
  init();
  EXPECT_FALSE(pic.has_pending());
  EXPECT_EQ(pic.acknowledge(), 0x27);
  EXPECT_EQ(isr(0x20), 0x00);  // a spurious IRQ7 sets no ISR bit (so no EOI is owed)
}

TEST_F(PicTest, WithdrawnSlaveRequestIsSpuriousIrq15WithMasterIr2InService) {
  init(0x20, 0x28, 0x01, 0x11, 0x19);  // slave level-triggered, master edge
  pic.set_irq(10, true);
  pic.set_irq(10, false);  // the slave withdraws; the master's IR2 edge is latched
  ASSERT_TRUE(pic.has_pending());
  EXPECT_EQ(pic.pending_vector().value(), 0x2f);
  EXPECT_EQ(pic.acknowledge(), 0x2f);
  EXPECT_EQ(isr(0xa0), 0x00);
  EXPECT_EQ(isr(0x20), 0x04);  // the guest must EOI the master (only)
}

TEST_F(PicTest, Ocw3SelectsIrrOrIsrForLaterReads) {
  init();
  pulse(1);
  pic.acknowledge();
  pulse(6);
  EXPECT_EQ(in(0x20), 0x40);  // after ICW1 reads return IRR
  out(0x20, 0x0b);
  EXPECT_EQ(in(0x20), 0x02);
  EXPECT_EQ(in(0x20), 0x02);  // the selection sticks
  out(0x20, 0x08);            // OCW3 with RR = 0: no change
  EXPECT_EQ(in(0x20), 0x02);
  out(0x20, 0x0a);
  EXPECT_EQ(in(0x20), 0x40);
}

TEST_F(PicTest, PollCommandActsAsInterruptAcknowledge) {
  init();
  pulse(3);
  out(0x20, 0x0c);  // OCW3 poll
  EXPECT_EQ(in(0x20), 0x83);
  EXPECT_EQ(isr(0x20), 0x08);
  EXPECT_FALSE(pic.has_pending());
  out(0x20, 0x0c);
  EXPECT_EQ(in(0x20), 0x00);  // nothing further to report
}

TEST_F(PicTest, RotateOnNonSpecificEoiMakesServicedLevelLowest) {
  init();
  pulse(0);
  EXPECT_EQ(pic.acknowledge(), 0x20);
  out(0x20, 0xa0);  // rotate on non-specific EOI
  EXPECT_EQ(pic.master().lowest_priority(), 0u);
  EXPECT_EQ(isr(0x20), 0x00);
  pulse(0);
  pulse(7);
  EXPECT_EQ(pic.acknowledge(), 0x27);  // IR7 now outranks IR0
}

TEST_F(PicTest, SetPriorityCommandRotatesWithoutEoi) {
  init();
  out(0x20, 0xc4);  // IR4 lowest, so IR5 highest
  pulse(3);
  pulse(5);
  EXPECT_EQ(pic.acknowledge(), 0x25);
  eoi_master();
  EXPECT_EQ(pic.acknowledge(), 0x23);
  pulse(6);  // IR6 outranks IR3 now: it nests
  EXPECT_EQ(pic.acknowledge(), 0x26);
  EXPECT_EQ(isr(0x20), 0x48);
  eoi_master();  // non-specific EOI: the highest priority in service is IR6, not IR3
  EXPECT_EQ(isr(0x20), 0x08);
}

TEST_F(PicTest, SpecialMaskModeLetsLowerLevelsPastAMaskedInServiceLevel) {
  init();
  pulse(1);
  pic.acknowledge();
  pulse(5);
  EXPECT_FALSE(pic.has_pending());
  out(0x21, 0x02);  // mask IR1 ...
  out(0x20, 0x68);  // ... and enter special mask mode
  EXPECT_EQ(pic.acknowledge(), 0x25);
  out(0x20, 0x48);  // leave special mask mode
  pulse(6);
  EXPECT_FALSE(pic.has_pending());
}

TEST_F(PicTest, Icw1ResetsMaskAndInService) {
  init();
  out(0x21, 0xff);
  out(0x21, 0x00);
  pulse(1);
  pic.acknowledge();
  out(0x21, 0xf0);
  init(0x30, 0x38);
  EXPECT_EQ(in(0x21), 0x00);
  EXPECT_EQ(isr(0x20), 0x00);
  pulse(1);
  EXPECT_EQ(pic.acknowledge(), 0x31);
}

TEST_F(PicTest, IntrOutputNotifiesTheCpu) {
  test::IrqRecorder cpu;
  pic.connect_intr(&cpu, 0);
  init();
  EXPECT_FALSE(cpu.level[0]);
  pulse(12);
  EXPECT_TRUE(cpu.level[0]);
  pic.acknowledge();
  EXPECT_FALSE(cpu.level[0]);
  EXPECT_EQ(cpu.rises[0], 1u);
}

TEST_F(PicTest, CascadeLineIsNotADeviceInput) {
  init();
  pulse(2);
  EXPECT_FALSE(pic.has_pending());
  EXPECT_EQ(irr(0x20), 0x00);
}

TEST_F(PicTest, BiosInitLeavesEverythingButTheCascadeMasked) {
  pic.bios_init(0x08, 0x70);
  EXPECT_EQ(in(0x21), 0xfb);
  EXPECT_EQ(in(0xa1), 0xff);
  pulse(0);
  EXPECT_FALSE(pic.has_pending());
  out(0x21, 0xfa);
  EXPECT_EQ(pic.acknowledge(), 0x08);
  eoi_master();
  out(0xa1, 0xfe);
  pulse(8);
  EXPECT_EQ(pic.acknowledge(), 0x70);
}

TEST_F(PicTest, ByteAccessOnly) {
  EXPECT_EQ(bus.read(0x20, 2).error(), Error::unsupported);
  EXPECT_EQ(bus.write(0xa0, 4, 0x11).error(), Error::unsupported);
  EXPECT_FALSE(pic.slave().initialized());  // the refused write did not start an ICW1
}

}  // namespace
}  // namespace hvlab::dev
