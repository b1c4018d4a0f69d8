#include "common/devices/pit8254.hpp"

#include <gtest/gtest.h>

#include "common/devices/tests/test_support.hpp"

namespace hvlab::dev {
namespace {

using test::rd;
using test::wr;

struct PitTest : ::testing::Test {
  test::IrqRecorder irq;
  Pit8254 pit{&irq};

  void ctrl(std::uint8_t v) { wr(pit, 3, v); }
  void load(unsigned ch, std::uint16_t v) {
    wr(pit, ch, static_cast<std::uint8_t>(v));
    wr(pit, ch, static_cast<std::uint8_t>(v >> 8));
  }
  // Counter latch command, then LSB and MSB (the counter must be in lobyte/hibyte mode).
  std::uint16_t latched(unsigned ch) {
    ctrl(static_cast<std::uint8_t>(ch << 6));
    std::uint8_t lo = rd(pit, ch);
    std::uint8_t hi = rd(pit, ch);
    return static_cast<std::uint16_t>(lo | hi << 8);
  }
};

TEST_F(PitTest, Mode2RateGeneratorPulsesOncePerPeriod) {
  ctrl(0x34);  // counter 0, LSB then MSB, mode 2, binary
  load(0, 1000);
  // CE loads on the first tick; OUT dips low when CE reaches 1 and rises on the reload.
  EXPECT_EQ(pit.advance(1000), 0u);
  EXPECT_FALSE(pit.output(0));  // CE = 1: the one-tick low pulse
  EXPECT_EQ(pit.advance(1), 1u);
  EXPECT_TRUE(pit.output(0));
  EXPECT_EQ(pit.advance(10000), 10u);
  EXPECT_EQ(pit.irq0_edges(), 11u);
  // The PIC saw a rising edge from programming (OUT: low in mode 0 -> high in mode 2) and
  // one per advance() that had expirations.
  EXPECT_EQ(irq.rises[0], 3u);
  EXPECT_TRUE(irq.level[0]);
}

TEST_F(PitTest, Mode2CountDecrementsFromTheLoadedValue) {
  ctrl(0x34);
  load(0, 1000);
  EXPECT_EQ(pit.ticks_until_next_irq0(), 1001u);  // one tick to load, 1000 to count
  pit.advance(1 + 250);
  EXPECT_EQ(latched(0), 750);
  EXPECT_EQ(pit.ticks_until_next_irq0(), 750u);
  pit.advance(750);
  EXPECT_EQ(latched(0), 1000);  // reloaded
}

TEST_F(PitTest, Mode0GoesHighOnceAtTerminalCountAndKeepsCounting) {
  ctrl(0x30);
  EXPECT_FALSE(pit.output(0));
  load(0, 100);
  EXPECT_EQ(pit.advance(100), 0u);
  EXPECT_FALSE(pit.output(0));
  EXPECT_EQ(latched(0), 1);
  EXPECT_EQ(pit.advance(1), 1u);
  EXPECT_TRUE(pit.output(0));
  EXPECT_EQ(pit.ticks_until_next_irq0(), 0u);  // one-shot: nothing more is coming
  EXPECT_EQ(pit.advance(100000), 0u);
  EXPECT_TRUE(pit.output(0));
  EXPECT_EQ(latched(0), 31072);  // wrapped through 0: (100 - 100100) mod 65536
}

TEST_F(PitTest, Mode0FirstByteOfANewCountStopsCountingAndDropsOut) {
  ctrl(0x30);
  load(0, 100);
  pit.advance(150);
  ASSERT_TRUE(pit.output(0));
  wr(pit, 0, 0x10);  // LSB of a new count
  EXPECT_FALSE(pit.output(0));
  std::uint16_t frozen = pit.count(0);
  pit.advance(1000);
  EXPECT_EQ(pit.count(0), frozen);
  EXPECT_FALSE(pit.output(0));
  wr(pit, 0, 0x00);  // MSB: the count 0x0010 loads on the next tick
  EXPECT_EQ(pit.advance(16), 0u);
  EXPECT_EQ(pit.advance(1), 1u);
}

TEST_F(PitTest, Mode3EvenCountIsASymmetricSquareWaveCountingByTwo) {
  ctrl(0x36);
  load(0, 10);
  pit.advance(1);
  for (unsigned e = 0; e < 20; ++e) {
    EXPECT_EQ(pit.output(0), e % 10 < 5) << "e=" << e;
    EXPECT_EQ(latched(0), 10 - 2 * (e % 5)) << "e=" << e;
    pit.advance(1);
  }
  EXPECT_EQ(pit.advance(100), 10u);
}

TEST_F(PitTest, Mode3OddCountIsHighOneTickLonger) {
  ctrl(0x36);
  load(0, 5);
  pit.advance(1);
  const bool out[5] = {true, true, true, false, false};
  const std::uint16_t ce[5] = {5, 4, 2, 5, 2};  // -1 then -2 while high; -3 then -2 while low
  for (unsigned e = 0; e < 5; ++e) {
    EXPECT_EQ(pit.output(0), out[e]) << "e=" << e;
    EXPECT_EQ(latched(0), ce[e]) << "e=" << e;
    pit.advance(1);
  }
  EXPECT_TRUE(pit.output(0));
}

TEST_F(PitTest, CounterLatchHoldsTheValueUntilReadAndIgnoresRelatch) {
  ctrl(0x34);
  load(0, 1000);
  pit.advance(11);
  ctrl(0x00);  // latch counter 0 (CE = 990)
  pit.advance(100);
  ctrl(0x00);  // ignored: the first latch has not been read
  EXPECT_EQ(rd(pit, 0), 990 & 0xff);
  EXPECT_EQ(rd(pit, 0), 990 >> 8);
  EXPECT_EQ(latched(0), 890);  // released after the MSB; a new latch sees the live count
}

TEST_F(PitTest, LobyteHibyteToggleOnReads) {
  ctrl(0xb0);          // counter 2, LSB then MSB, mode 0
  load(2, 0x1234);     // gate 2 is low: loaded but not counting
  EXPECT_EQ(rd(pit, 2), 0x34);
  EXPECT_EQ(rd(pit, 2), 0x12);
  EXPECT_EQ(rd(pit, 2), 0x34);
  EXPECT_EQ(rd(pit, 3), 0xff);  // the control register reads as a floating bus...
  EXPECT_EQ(rd(pit, 2), 0x12);  // ...and does not disturb the toggle
}

TEST_F(PitTest, ReadAndWriteTogglesAreIndependent) {
  ctrl(0xb0);
  load(2, 0x1234);
  EXPECT_EQ(rd(pit, 2), 0x34);   // read LSB
  wr(pit, 2, 0x78);              // write LSB of a new count
  EXPECT_EQ(rd(pit, 2), 0x12);   // read MSB (of the old count: CE not reloaded yet)
  wr(pit, 2, 0x56);              // write MSB
  EXPECT_EQ(rd(pit, 2), 0x78);
  EXPECT_EQ(rd(pit, 2), 0x56);
}

TEST_F(PitTest, LsbOnlyAndMsbOnlyAccessModes) {
  ctrl(0x90);  // counter 2, LSB only, mode 0
  wr(pit, 2, 0x50);
  EXPECT_EQ(pit.count(2), 0x0050);
  EXPECT_EQ(rd(pit, 2), 0x50);
  EXPECT_EQ(rd(pit, 2), 0x50);  // no toggling
  ctrl(0xa0);  // counter 2, MSB only
  wr(pit, 2, 0x12);
  EXPECT_EQ(pit.count(2), 0x1200);
  EXPECT_EQ(rd(pit, 2), 0x12);
}

TEST_F(PitTest, ReadBackStatusReportsOutNullCountAndProgramming) {
  ctrl(0x34);
  ctrl(0xe2);  // read-back: status only, counter 0
  EXPECT_EQ(rd(pit, 0), 0xf4);  // OUT high, null count, RW=11 M=010 BCD=0
  load(0, 1000);
  ctrl(0xe2);
  EXPECT_EQ(rd(pit, 0), 0xf4);  // CR written but not yet moved into CE
  pit.advance(1);
  ctrl(0xe2);
  EXPECT_EQ(rd(pit, 0), 0xb4);  // CE loaded: null count clear
  pit.advance(999);
  ctrl(0xe2);
  EXPECT_EQ(rd(pit, 0), 0x34);  // OUT low during the CE = 1 tick
}

TEST_F(PitTest, ReadBackOfStatusAndCountReturnsStatusFirst) {
  ctrl(0x34);
  load(0, 1000);
  pit.advance(101);
  ctrl(0xc2);  // count and status, counter 0
  pit.advance(50);
  EXPECT_EQ(rd(pit, 0), 0xb4);
  EXPECT_EQ(rd(pit, 0), 900 & 0xff);
  EXPECT_EQ(rd(pit, 0), 900 >> 8);
  EXPECT_EQ(rd(pit, 0), 850 & 0xff);  // latches released: live count again
}

TEST_F(PitTest, ReadBackCanLatchSeveralCounters) {
  ctrl(0x34);
  load(0, 1000);
  ctrl(0x74);  // counter 1, mode 2
  load(1, 500);
  pit.advance(11);
  ctrl(0xd6);  // COUNT# = 0, STATUS# = 1, counters 1 and 0
  pit.advance(5);
  auto read16 = [this](unsigned ch) {
    std::uint8_t lo = rd(pit, ch);
    std::uint8_t hi = rd(pit, ch);
    return lo | hi << 8;
  };
  EXPECT_EQ(read16(0), 990);
  EXPECT_EQ(read16(1), 490);
}

TEST_F(PitTest, Mode2NewCountTakesEffectAtTheEndOfThePeriod) {
  ctrl(0x34);
  load(0, 100);
  pit.advance(51);
  load(0, 40);
  EXPECT_EQ(pit.advance(49), 0u);
  EXPECT_EQ(pit.advance(1), 1u);  // the old period still ends on time
  EXPECT_EQ(pit.advance(39), 0u);
  EXPECT_EQ(pit.advance(1), 1u);  // then 40-tick periods
  EXPECT_EQ(pit.advance(400), 10u);
}

TEST_F(PitTest, ModeBits110And111AreModes2And3) {
  ctrl(0x3c);  // M = 110
  EXPECT_EQ(pit.mode(0), 2u);
  load(0, 100);
  EXPECT_EQ(pit.advance(1001), 10u);
  ctrl(0xe2);
  EXPECT_EQ(rd(pit, 0) & 0x3f, 0x3c);  // status reports the bits as written
  ctrl(0x7e);  // counter 1, M = 111
  EXPECT_EQ(pit.mode(1), 3u);
}

TEST_F(PitTest, CountZeroMeans65536) {
  ctrl(0x34);
  load(0, 0);
  pit.advance(1);
  EXPECT_EQ(latched(0), 0);
  EXPECT_EQ(pit.advance(65535), 0u);
  EXPECT_EQ(pit.advance(1), 1u);
}

TEST_F(PitTest, BcdCountingUsesDecimalDigits) {
  ctrl(0x35);        // mode 2, BCD
  load(0, 0x0100);   // 100 decimal
  EXPECT_EQ(pit.advance(101), 1u);
  pit.advance(1);
  EXPECT_EQ(latched(0), 0x0099);
  EXPECT_EQ(pit.advance(1000), 10u);
}

TEST_F(PitTest, Mode4StrobesOutLowForOneTick) {
  ctrl(0x38);
  load(0, 10);
  EXPECT_TRUE(pit.output(0));
  pit.advance(10);
  EXPECT_TRUE(pit.output(0));
  EXPECT_EQ(pit.advance(1), 0u);
  EXPECT_FALSE(pit.output(0));
  EXPECT_EQ(pit.advance(1), 1u);
  EXPECT_TRUE(pit.output(0));
  EXPECT_EQ(pit.advance(100000), 0u);
}

TEST_F(PitTest, AdvanceNsCarriesTheSubTickRemainder) {
  for (int i = 0; i < 1000; ++i) pit.advance_ns(1000);
  EXPECT_EQ(pit.now(), 1193u);  // 1 ms = 1193.182 ticks; truncating each 1 us step would give 1000
  pit.advance_ns(999'000'000);
  EXPECT_EQ(pit.now(), 1193182u);
  EXPECT_EQ(Pit8254::ns_to_ticks(1'000'000'000), 1193182u);
  EXPECT_EQ(Pit8254::ticks_to_ns(1193182), 1'000'000'000u);
}

TEST_F(PitTest, Port61DrivesGate2AndShowsOut2) {
  PortBus bus;
  ASSERT_TRUE(pit.attach(bus).ok());
  ASSERT_TRUE(bus.write(0x43, 1, 0xb0).ok());  // counter 2, mode 0
  ASSERT_TRUE(bus.write(0x42, 1, 50).ok());
  ASSERT_TRUE(bus.write(0x42, 1, 0).ok());
  pit.advance(100);  // gate low: no counting
  EXPECT_EQ(bus.read(0x61, 1).value() & 0x21, 0x00u);
  EXPECT_EQ(pit.count(2), 50);
  ASSERT_TRUE(bus.write(0x61, 1, 0x01).ok());
  EXPECT_TRUE(pit.gate(2));
  pit.advance(49);
  EXPECT_EQ(bus.read(0x61, 1).value() & 0x21, 0x01u);
  pit.advance(1);
  EXPECT_EQ(bus.read(0x61, 1).value() & 0x21, 0x21u);
  EXPECT_EQ(irq.calls, 0u);  // counter 2 is not IRQ0
}

TEST_F(PitTest, Mode1IsAOneShotTriggeredByGate) {
  ctrl(0xb2);  // counter 2, mode 1
  load(2, 20);
  pit.advance(50);
  EXPECT_TRUE(pit.output(2));  // waits for a trigger
  pit.set_gate(2, true);
  pit.advance(1);
  EXPECT_FALSE(pit.output(2));
  pit.advance(19);
  EXPECT_FALSE(pit.output(2));
  pit.advance(1);
  EXPECT_TRUE(pit.output(2));
  pit.set_gate(2, false);
  pit.set_gate(2, true);  // retrigger
  pit.advance(1);
  EXPECT_FALSE(pit.output(2));
}

TEST_F(PitTest, GateLowStopsMode2AndRisingGateReloads) {
  ctrl(0xb4);  // counter 2, mode 2
  load(2, 10);
  pit.set_gate(2, true);
  pit.advance(4);  // load + 3 ticks: CE = 7
  EXPECT_EQ(pit.count(2), 7);
  pit.set_gate(2, false);
  pit.advance(100);
  EXPECT_EQ(pit.count(2), 7);
  EXPECT_TRUE(pit.output(2));
  pit.set_gate(2, true);
  pit.advance(1);
  EXPECT_EQ(pit.count(2), 10);
}

TEST_F(PitTest, ByteAccessOnlyAndControlWordReadsFloat) {
  EXPECT_EQ(pit.read(0, 2).error(), Error::unsupported);
  EXPECT_EQ(pit.write(3, 2, 0x34).error(), Error::unsupported);
  EXPECT_EQ(pit.mode(0), 0u);  // the refused control word changed nothing
  Result<std::uint32_t> r = pit.read(3, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 0xffu);
}

}  // namespace
}  // namespace hvlab::dev
