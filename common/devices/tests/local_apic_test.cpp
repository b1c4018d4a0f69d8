// The local APIC against Intel SDM vol. 3A chapter 10, through the MMIO bus at 0xFEE00000.

#include "common/devices/local_apic.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "common/devices/tests/test_support.hpp"

namespace hvlab::dev {
namespace {

struct EoiRecorder final : EoiSink {
  std::vector<std::uint8_t> vectors;
  void end_of_interrupt(std::uint8_t v) override { vectors.push_back(v); }
};

struct LapicTest : ::testing::Test {
  MmioBus bus;
  LocalApic apic{LocalApic::Config{.apic_id = 3}};
  EoiRecorder eois;

  void SetUp() override {
    ASSERT_TRUE(apic.attach(bus).ok());
    apic.connect_eoi(&eois);
  }

  std::uint32_t rd(std::uint32_t reg) {
    Result<std::uint32_t> r = bus.read(GuestPhysAddr(LocalApic::kDefaultBase + reg), 4);
    EXPECT_TRUE(r.ok()) << std::hex << reg;
    return r.value();
  }
  void wr(std::uint32_t reg, std::uint32_t v) {
    EXPECT_TRUE(bus.write(GuestPhysAddr(LocalApic::kDefaultBase + reg), 4, v).ok()) << std::hex << reg;
  }
  void enable(std::uint8_t spurious = 0xff) { wr(LocalApic::kSvr, LocalApic::kSvrEnable | spurious); }
  bool message(std::uint8_t vector, bool level = false, std::uint8_t dest = 3, bool logical = false) {
    return apic.deliver(ApicMessage{vector, ApicDelivery::fixed, level, logical, dest});
  }
  void start_timer(std::uint32_t lvt, std::uint32_t initial, std::uint32_t divide = 0xb) {
    wr(LocalApic::kTimerDivide, divide);
    wr(LocalApic::kLvtTimer, lvt);
    wr(LocalApic::kTimerInitialCount, initial);
  }
};

TEST_F(LapicTest, PowerOnStateIsSoftwareDisabledWithEveryLvtMasked) {
  EXPECT_EQ(rd(LocalApic::kId), 3u << 24);
  EXPECT_EQ(rd(LocalApic::kVersionReg), 0x00050014u);  // xAPIC 0x14, max LVT entry 5
  EXPECT_EQ(rd(LocalApic::kSvr), 0xffu);
  EXPECT_FALSE(apic.software_enabled());
  EXPECT_EQ(rd(LocalApic::kDfr), 0xffffffffu);
  EXPECT_EQ(rd(LocalApic::kTpr), 0u);
  EXPECT_EQ(rd(LocalApic::kLdr), 0u);
  for (std::uint32_t reg = LocalApic::kLvtTimer; reg <= LocalApic::kLvtError; reg += 0x10) {
    EXPECT_EQ(rd(reg), LocalApic::kLvtMasked) << std::hex << reg;
  }
  EXPECT_EQ(rd(LocalApic::kTimerInitialCount), 0u);
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 0u);
  EXPECT_EQ(apic.apic_base(), 0xfee00900u);  // base, EN, BSP
  EXPECT_EQ(apic.pending(), ApicPending::none);
}

TEST_F(LapicTest, RegistersTakeOnlyAligned32BitAccesses) {
  EXPECT_EQ(bus.read(GuestPhysAddr(LocalApic::kDefaultBase + LocalApic::kId), 1).error(), Error::unsupported);
  EXPECT_EQ(bus.read(GuestPhysAddr(LocalApic::kDefaultBase + LocalApic::kId + 4), 4).error(), Error::unsupported);
  EXPECT_EQ(bus.write(GuestPhysAddr(LocalApic::kDefaultBase + LocalApic::kTpr), 2, 0x20).error(), Error::unsupported);
  EXPECT_EQ(rd(LocalApic::kTpr), 0u);
  EXPECT_FALSE(bus.is_mmio(GuestPhysAddr(LocalApic::kDefaultBase + LocalApic::kMmioSize)));
}

TEST_F(LapicTest, IdTprLdrDfrReadBackTheirDefinedBits) {
  wr(LocalApic::kId, 0x07ffffff);
  EXPECT_EQ(rd(LocalApic::kId), 0x07000000u);
  EXPECT_EQ(apic.id(), 7);
  wr(LocalApic::kTpr, 0x1234);
  EXPECT_EQ(rd(LocalApic::kTpr), 0x34u);
  wr(LocalApic::kLdr, 0x12345678);
  EXPECT_EQ(rd(LocalApic::kLdr), 0x12000000u);
  wr(LocalApic::kDfr, 0);
  EXPECT_EQ(rd(LocalApic::kDfr), 0x0fffffffu);  // the model nibble only
  wr(LocalApic::kSvr, 0xffffffff);
  EXPECT_EQ(rd(LocalApic::kSvr), 0x3ffu);  // vector, enable, focus; no EOI suppression
}

TEST_F(LapicTest, ReadOnlyRegistersIgnoreWrites) {
  enable();
  ASSERT_TRUE(message(0x40));
  wr(LocalApic::kVersionReg, 0);
  wr(LocalApic::kPpr, 0xf0);
  wr(LocalApic::kIrr + 0x20, 0);
  wr(LocalApic::kTimerCurrentCount, 55);
  EXPECT_EQ(rd(LocalApic::kVersionReg), LocalApic::kVersion);
  EXPECT_EQ(rd(LocalApic::kPpr), 0u);
  EXPECT_EQ(rd(LocalApic::kIrr + 0x20), 1u);  // vector 0x40 is bit 0 of IRR word 2
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 0u);
  EXPECT_EQ(rd(LocalApic::kEsr), 0u);
  wr(LocalApic::kEsr, 0);
  EXPECT_EQ(rd(LocalApic::kEsr), 0u);  // no illegal-register error for these
}

TEST_F(LapicTest, SoftwareDisabledApicHoldsRequestsAndKeepsLvtsMasked) {
  wr(LocalApic::kLvtTimer, 0x30);  // an attempt to unmask while disabled
  EXPECT_EQ(rd(LocalApic::kLvtTimer), LocalApic::kLvtMasked | 0x30);
  ASSERT_TRUE(message(0x50));
  EXPECT_TRUE(apic.irr(0x50));
  EXPECT_EQ(apic.pending(), ApicPending::none);
  EXPECT_EQ(apic.acknowledge(), 0xff);  // spurious, and nothing moves to ISR
  EXPECT_FALSE(apic.isr(0x50));
  enable();
  EXPECT_EQ(apic.pending(), ApicPending::fixed);
  EXPECT_EQ(apic.acknowledge(), 0x50);
  // Clearing the enable bit sets every LVT mask again.
  wr(LocalApic::kLvtTimer, 0x30);
  EXPECT_EQ(rd(LocalApic::kLvtTimer), 0x30u);
  wr(LocalApic::kSvr, 0xff);
  EXPECT_EQ(rd(LocalApic::kLvtTimer), LocalApic::kLvtMasked | 0x30);
}

TEST_F(LapicTest, AcceptedInterruptMovesFromIrrToIsrAndRaisesPpr) {
  enable();
  ASSERT_TRUE(message(0x41));
  EXPECT_EQ(rd(LocalApic::kIrr + 0x20), 1u << 1);
  ASSERT_EQ(apic.pending_vector().value_or(0), 0x41);
  EXPECT_EQ(apic.acknowledge(), 0x41);
  EXPECT_FALSE(apic.irr(0x41));
  EXPECT_TRUE(apic.isr(0x41));
  EXPECT_EQ(rd(LocalApic::kIsr + 0x20), 1u << 1);
  EXPECT_EQ(rd(LocalApic::kPpr), 0x40u);  // ISRV's class, TPR being lower
  wr(LocalApic::kEoi, 0);
  EXPECT_FALSE(apic.isr(0x41));
  EXPECT_EQ(rd(LocalApic::kPpr), 0u);
}

TEST_F(LapicTest, OnlyTheHighestIrrAboveTheProcessorPriorityIsDelivered) {
  enable();
  ASSERT_TRUE(message(0x35));
  ASSERT_TRUE(message(0x51));
  EXPECT_EQ(apic.acknowledge(), 0x51);  // highest first
  // 0x35 is below the in-service class 5, 0x5a in the same class: neither is deliverable.
  ASSERT_TRUE(message(0x5a));
  EXPECT_EQ(apic.pending_vector().error(), Error::not_found);
  EXPECT_EQ(apic.pending(), ApicPending::none);
  ASSERT_TRUE(message(0x61));
  EXPECT_EQ(apic.acknowledge(), 0x61);  // a higher class nests
  // EOI ends the highest in service first.
  wr(LocalApic::kEoi, 0);
  EXPECT_FALSE(apic.isr(0x61));
  EXPECT_TRUE(apic.isr(0x51));
  EXPECT_EQ(apic.pending(), ApicPending::none);
  wr(LocalApic::kEoi, 0);
  EXPECT_EQ(apic.acknowledge(), 0x5a);
  wr(LocalApic::kEoi, 0);
  EXPECT_EQ(apic.acknowledge(), 0x35);
}

TEST_F(LapicTest, TaskPriorityHoldsOffClassesAtOrBelowIt) {
  enable();
  wr(LocalApic::kTpr, 0x50);
  ASSERT_TRUE(message(0x5f));
  EXPECT_EQ(apic.pending(), ApicPending::none);
  EXPECT_EQ(rd(LocalApic::kPpr), 0x50u);
  // APR: TPR's class is not below IRRV's, and above ISRV's (none): APR = TPR.
  EXPECT_EQ(rd(LocalApic::kApr), 0x50u);
  ASSERT_TRUE(message(0x60));
  EXPECT_EQ(rd(LocalApic::kApr), 0x60u);  // IRRV's class now wins
  EXPECT_EQ(apic.acknowledge(), 0x60);
  wr(LocalApic::kTpr, 0x40);
  wr(LocalApic::kEoi, 0);
  EXPECT_EQ(apic.acknowledge(), 0x5f);
}

TEST_F(LapicTest, AcknowledgeWithNothingDeliverableReturnsTheSpuriousVector) {
  enable(0xef);
  EXPECT_EQ(apic.acknowledge(), 0xef);
  ASSERT_TRUE(message(0x30));
  wr(LocalApic::kTpr, 0xf0);  // raised between the interrupt and its acknowledge
  EXPECT_EQ(apic.acknowledge(), 0xef);
  EXPECT_TRUE(apic.irr(0x30));
  EXPECT_FALSE(apic.isr(0x30));
}

TEST_F(LapicTest, EoiBroadcastsOnlyForLevelTriggeredVectors) {
  enable();
  ASSERT_TRUE(message(0x41, true));
  EXPECT_TRUE(apic.tmr(0x41));
  EXPECT_EQ(apic.acknowledge(), 0x41);
  ASSERT_TRUE(message(0x52, false));
  EXPECT_FALSE(apic.tmr(0x52));
  EXPECT_EQ(apic.acknowledge(), 0x52);
  wr(LocalApic::kEoi, 0);  // ends 0x52, edge: no broadcast
  EXPECT_TRUE(eois.vectors.empty());
  wr(LocalApic::kEoi, 0);  // ends 0x41, level: broadcast to the I/O APIC
  ASSERT_EQ(eois.vectors.size(), 1u);
  EXPECT_EQ(eois.vectors[0], 0x41);
  wr(LocalApic::kEoi, 0);  // nothing in service: nothing happens
  EXPECT_EQ(eois.vectors.size(), 1u);
}

TEST_F(LapicTest, RequestsForOneVectorCollapseIntoOneIrrBit) {
  enable();
  ASSERT_TRUE(message(0x44));
  ASSERT_TRUE(message(0x44));
  EXPECT_EQ(apic.acknowledge(), 0x44);
  // One may wait in IRR while the same vector is in service.
  ASSERT_TRUE(message(0x44));
  ASSERT_TRUE(message(0x44));
  EXPECT_TRUE(apic.irr(0x44));
  wr(LocalApic::kEoi, 0);
  EXPECT_EQ(apic.acknowledge(), 0x44);
  wr(LocalApic::kEoi, 0);
  EXPECT_EQ(apic.pending(), ApicPending::none);
}

TEST_F(LapicTest, IllegalVectorsAreRefusedAndReportedInEsrAfterAWrite) {
  enable();
  wr(LocalApic::kLvtError, 0xfe);
  EXPECT_FALSE(message(0x05));
  EXPECT_FALSE(apic.irr(0x05));
  EXPECT_EQ(rd(LocalApic::kEsr), 0u);  // collected, not yet visible
  EXPECT_EQ(apic.pending_errors(), LocalApic::kEsrReceiveIllegalVector);
  // The error LVT raised its interrupt when the error was detected.
  EXPECT_TRUE(apic.irr(0xfe));
  wr(LocalApic::kEsr, 0);
  EXPECT_EQ(rd(LocalApic::kEsr), LocalApic::kEsrReceiveIllegalVector);
  wr(LocalApic::kEsr, 0);  // xv6 writes twice: the second write clears it
  EXPECT_EQ(rd(LocalApic::kEsr), 0u);
}

TEST_F(LapicTest, UnknownRegisterOffsetsSetIllegalRegisterAddress) {
  EXPECT_EQ(rd(0x2f0), 0u);  // the CMCI LVT: absent with max LVT 5
  wr(0x3f0, 1);
  wr(LocalApic::kEsr, 0);
  EXPECT_EQ(rd(LocalApic::kEsr), LocalApic::kEsrIllegalRegister);
}

// ---- Timer ---------------------------------------------------------------------------------

TEST_F(LapicTest, OneShotTimerCountsDownOnceAndRaisesItsVector) {
  enable();
  start_timer(0x30, 1000);  // divide by 1, one-shot, vector 0x30
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 1000u);
  EXPECT_EQ(apic.ns_until_timer(), 1000u);  // 1 GHz bus clock: one count per ns
  EXPECT_EQ(apic.advance_ns(400), 0u);
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 600u);
  EXPECT_EQ(apic.advance_ns(599), 0u);
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 1u);
  EXPECT_FALSE(apic.irr(0x30));
  EXPECT_EQ(apic.advance_ns(1), 1u);
  EXPECT_TRUE(apic.irr(0x30));
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 0u);
  EXPECT_EQ(apic.ns_until_timer(), 0u);
  EXPECT_EQ(apic.acknowledge(), 0x30);
  EXPECT_EQ(apic.advance_ns(1000000), 0u);  // one-shot: never again
  EXPECT_FALSE(apic.irr(0x30));
  EXPECT_EQ(apic.timer_expirations(), 1u);
}

TEST_F(LapicTest, PeriodicTimerReloadsFromTheInitialCount) {
  enable();
  start_timer(LocalApic::kLvtPeriodic | 0x31, 100);
  EXPECT_EQ(apic.advance_ns(250), 2u);
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 50u);
  EXPECT_EQ(apic.ns_until_timer(), 50u);
  EXPECT_TRUE(apic.irr(0x31));  // two expirations, one IRR bit
  EXPECT_EQ(apic.acknowledge(), 0x31);
  wr(LocalApic::kEoi, 0);
  EXPECT_EQ(apic.advance_ns(50), 1u);
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 100u);
  EXPECT_EQ(apic.acknowledge(), 0x31);
  EXPECT_EQ(apic.timer_expirations(), 3u);
}

TEST_F(LapicTest, DivideConfigurationSelectsTheTimerRate) {
  // Bits 3, 1:0 of the divide configuration register (SDM figure 10-10).
  const std::uint32_t codes[8] = {0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xb};
  const std::uint32_t divisors[8] = {2, 4, 8, 16, 32, 64, 128, 1};
  for (unsigned i = 0; i < 8; ++i) {
    wr(LocalApic::kTimerDivide, codes[i] | 0xfffffff4);  // reserved bits do not stick
    EXPECT_EQ(rd(LocalApic::kTimerDivide), codes[i]);
    EXPECT_EQ(apic.timer_divisor(), divisors[i]);
  }
  enable();
  start_timer(0x30, 100, 0x3);  // divide by 16
  apic.advance_ns(16 * 10 + 15);
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 90u);
  EXPECT_EQ(apic.ns_until_timer(), 16u * 90 - 15);
}

TEST_F(LapicTest, MaskedTimerExpiresWithoutAnInterrupt) {
  enable();
  start_timer(LocalApic::kLvtMasked | LocalApic::kLvtPeriodic | 0x30, 10);
  EXPECT_EQ(apic.ns_until_timer(), 0u);  // counting, but no interrupt is coming
  EXPECT_EQ(apic.advance_ns(35), 3u);
  EXPECT_FALSE(apic.irr(0x30));
  EXPECT_EQ(apic.timer_expirations(), 3u);
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 5u);
  wr(LocalApic::kLvtTimer, LocalApic::kLvtPeriodic | 0x30);
  EXPECT_EQ(apic.ns_until_timer(), 5u);
}

TEST_F(LapicTest, WritingZeroToTheInitialCountStopsTheTimer) {
  enable();
  start_timer(LocalApic::kLvtPeriodic | 0x30, 10);
  apic.advance_ns(5);
  wr(LocalApic::kTimerInitialCount, 0);
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 0u);
  EXPECT_EQ(apic.ns_until_timer(), 0u);
  EXPECT_EQ(apic.advance_ns(1000), 0u);
  EXPECT_FALSE(apic.irr(0x30));
}

TEST_F(LapicTest, ChangingTheTimerModeDoesNotRestartTheCount) {
  enable();
  start_timer(0x30, 100);
  apic.advance_ns(40);
  wr(LocalApic::kLvtTimer, LocalApic::kLvtPeriodic | 0x30);
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 60u);
  EXPECT_EQ(apic.advance_ns(60 + 100 + 100), 3u);  // now periodic with the initial count
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 100u);
  // The TSC-deadline mode bit is reserved: not offered.
  wr(LocalApic::kLvtTimer, 0x2 << 17 | 0x30);
  EXPECT_EQ(rd(LocalApic::kLvtTimer), 0x30u);
}

TEST_F(LapicTest, AnExpiredOneShotStaysStoppedWhenMadePeriodic) {
  enable();
  start_timer(0x30, 10);
  EXPECT_EQ(apic.advance_ns(10), 1u);
  wr(LocalApic::kLvtTimer, LocalApic::kLvtPeriodic | 0x30);
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 0u);
  EXPECT_EQ(apic.advance_ns(100), 0u);
  EXPECT_EQ(apic.ns_until_timer(), 0u);
}

TEST_F(LapicTest, APeriodicTimerMadeOneShotFiresOnceMore) {
  enable();
  start_timer(LocalApic::kLvtPeriodic | 0x30, 100);
  EXPECT_EQ(apic.advance_ns(250), 2u);
  wr(LocalApic::kLvtTimer, 0x30);
  EXPECT_EQ(rd(LocalApic::kTimerCurrentCount), 50u);
  EXPECT_EQ(apic.advance_ns(49), 0u);
  EXPECT_EQ(apic.advance_ns(1000), 1u);
  EXPECT_EQ(apic.advance_ns(1000), 0u);
  EXPECT_EQ(apic.timer_expirations(), 3u);
}

TEST(LapicClock, BusFrequencyScalesNanosecondsAndCarriesFractions) {
  LocalApic apic(LocalApic::Config{.apic_id = 0, .bus_hz = 100000000});  // 100 MHz: 10 ns a tick
  ASSERT_TRUE(apic.write(LocalApic::kSvr, 4, LocalApic::kSvrEnable | 0xff).ok());
  ASSERT_TRUE(apic.write(LocalApic::kTimerDivide, 4, 0xb).ok());
  ASSERT_TRUE(apic.write(LocalApic::kLvtTimer, 4, 0x30).ok());
  ASSERT_TRUE(apic.write(LocalApic::kTimerInitialCount, 4, 100).ok());
  EXPECT_EQ(apic.ns_until_timer(), 1000u);
  for (int i = 0; i < 10; ++i) apic.advance_ns(5);  // half a tick each: 5 ticks in all
  EXPECT_EQ(apic.current_count(), 95u);
  EXPECT_EQ(apic.ns_until_timer(), 950u);
  EXPECT_EQ(apic.advance_ns(950), 1u);
  EXPECT_TRUE(apic.irr(0x30));
}

// ---- ICR -----------------------------------------------------------------------------------

TEST_F(LapicTest, FixedSelfIpisReachThisApicByShorthandOrDestination) {
  enable();
  wr(LocalApic::kIcrLow, 0x00040000 | 0x61);  // shorthand self
  EXPECT_TRUE(apic.irr(0x61));
  EXPECT_EQ(rd(LocalApic::kIcrLow) & LocalApic::kIcrDeliveryStatus, 0u);  // sent at once
  wr(LocalApic::kIcrHigh, 0x03ffffff);
  EXPECT_EQ(rd(LocalApic::kIcrHigh), 0x03000000u);
  wr(LocalApic::kIcrLow, 0x62);  // physical destination 3: this APIC
  EXPECT_TRUE(apic.irr(0x62));
  wr(LocalApic::kIcrLow, 0x00080000 | 0x63);  // all including self
  EXPECT_TRUE(apic.irr(0x63));
  wr(LocalApic::kIcrLow, 0x000c0000 | 0x64);  // all excluding self: nobody here
  EXPECT_FALSE(apic.irr(0x64));
  wr(LocalApic::kIcrHigh, 0x05000000);
  wr(LocalApic::kIcrLow, 0x65);  // APIC 5 does not exist
  EXPECT_FALSE(apic.irr(0x65));
  EXPECT_EQ(apic.undelivered_ipi_count(), 2u);
  EXPECT_EQ(apic.acknowledge(), 0x63);
}

TEST_F(LapicTest, IpiWithAnIllegalVectorIsNotSentAndSetsSendIllegalVector) {
  enable();
  wr(LocalApic::kIcrLow, 0x00040000 | 0x0e);
  EXPECT_FALSE(apic.irr(0x0e));
  wr(LocalApic::kEsr, 0);
  EXPECT_EQ(rd(LocalApic::kEsr), LocalApic::kEsrSendIllegalVector);
}

TEST_F(LapicTest, InitAndStartupIpisAreRecordedAndHaveNoEffect) {
  enable();
  // xv6's lapicinit: an INIT level de-assert to everyone, then waiting for delivery status.
  wr(LocalApic::kIcrHigh, 0);
  wr(LocalApic::kIcrLow, 0x00088500);
  EXPECT_EQ(rd(LocalApic::kIcrLow) & LocalApic::kIcrDeliveryStatus, 0u);
  EXPECT_EQ(apic.refused_ipi_count(), 1u);
  EXPECT_EQ(apic.last_refused_ipi().icr_low, 0x00088500u);
  // lapicstartap for an AP: INIT assert, then two SIPIs with vector 0x07 (entry 0x7000).
  wr(LocalApic::kIcrHigh, 1u << 24);
  wr(LocalApic::kIcrLow, 0x0000c500);
  wr(LocalApic::kIcrLow, 0x00000607);
  wr(LocalApic::kIcrLow, 0x00000607);
  EXPECT_EQ(apic.refused_ipi_count(), 4u);
  EXPECT_EQ(apic.last_refused_ipi().icr_low, 0x00000607u);
  EXPECT_EQ(apic.last_refused_ipi().icr_high, 1u << 24);
  EXPECT_EQ(apic.pending(), ApicPending::none);
  EXPECT_TRUE(apic.software_enabled());  // this processor was not reset
  EXPECT_FALSE(apic.irr(0x07));
}

TEST_F(LapicTest, NmiIpiToThisApicIsPendingUntilTaken) {
  enable();
  wr(LocalApic::kIcrHigh, 3u << 24);
  wr(LocalApic::kIcrLow, 0x00000400);
  EXPECT_EQ(apic.pending(), ApicPending::nmi);
  apic.acknowledge_nmi();
  EXPECT_EQ(apic.pending(), ApicPending::none);
  wr(LocalApic::kIcrLow, 0x00040400);  // NMI with the self shorthand is invalid
  EXPECT_EQ(apic.pending(), ApicPending::none);
  EXPECT_EQ(apic.refused_ipi_count(), 1u);
}

// ---- Destinations, LINT pins, INTR ---------------------------------------------------------

TEST_F(LapicTest, LogicalDestinationsFollowTheFlatAndClusterModels) {
  enable();
  wr(LocalApic::kLdr, 0x02000000);
  EXPECT_TRUE(message(0x40, false, 0x06, true));   // flat: bit 1 is ours
  EXPECT_FALSE(message(0x41, false, 0x01, true));
  EXPECT_TRUE(message(0x42, false, 0xff, true));   // broadcast
  EXPECT_FALSE(message(0x43, false, 0x02, false));  // physical 2 is not APIC 3
  wr(LocalApic::kDfr, 0x0fffffff);  // cluster model
  wr(LocalApic::kLdr, 0x12000000);  // cluster 1, member bit 1
  EXPECT_TRUE(message(0x44, false, 0x13, true));
  EXPECT_FALSE(message(0x45, false, 0x22, true));  // another cluster
  EXPECT_FALSE(message(0x46, false, 0x11, true));  // another member
  EXPECT_TRUE(apic.irr(0x44));
  EXPECT_FALSE(apic.irr(0x45));
}

TEST_F(LapicTest, Lint0IsMaskedAtPowerOnAndExtIntInVirtualWireMode) {
  apic.set_irq(LocalApic::kLint0, true);
  EXPECT_EQ(apic.pending(), ApicPending::none);  // power-on: LINT0 masked
  apic.bios_init();
  EXPECT_EQ(rd(LocalApic::kLvtLint0), 0x700u);
  EXPECT_EQ(rd(LocalApic::kLvtLint1), 0x400u);
  EXPECT_EQ(apic.pending(), ApicPending::extint);  // the 8259's INTR, sampled as a level
  apic.acknowledge_extint();
  EXPECT_EQ(apic.pending(), ApicPending::extint);  // still asserted
  apic.set_irq(LocalApic::kLint0, false);
  EXPECT_EQ(apic.pending(), ApicPending::none);
  wr(LocalApic::kLvtLint0, LocalApic::kLvtMasked | 0x700);  // xv6 masks LINT0
  apic.set_irq(LocalApic::kLint0, true);
  EXPECT_EQ(apic.pending(), ApicPending::none);
  apic.set_irq(LocalApic::kLint1, true);  // LINT1: NMI on the rising edge
  EXPECT_EQ(apic.pending(), ApicPending::nmi);
  apic.acknowledge_nmi();
  EXPECT_EQ(apic.pending(), ApicPending::none);
}

TEST_F(LapicTest, LevelTriggeredLint0UsesRemoteIrrUntilEoi) {
  enable();
  wr(LocalApic::kLvtLint0, LocalApic::kLvtLevel | 0x45);
  apic.set_irq(LocalApic::kLint0, true);
  EXPECT_TRUE(apic.irr(0x45));
  EXPECT_TRUE(apic.tmr(0x45));
  EXPECT_NE(rd(LocalApic::kLvtLint0) & LocalApic::kLvtRemoteIrr, 0u);
  EXPECT_EQ(apic.acknowledge(), 0x45);
  wr(LocalApic::kEoi, 0);  // still asserted: accepted again
  EXPECT_TRUE(apic.irr(0x45));
  EXPECT_EQ(apic.acknowledge(), 0x45);
  apic.set_irq(LocalApic::kLint0, false);
  wr(LocalApic::kEoi, 0);
  EXPECT_FALSE(apic.irr(0x45));
  EXPECT_EQ(rd(LocalApic::kLvtLint0) & LocalApic::kLvtRemoteIrr, 0u);
}

TEST_F(LapicTest, IntrOutputFollowsPending) {
  test::IrqRecorder cpu;
  apic.connect_intr(&cpu, 0);
  enable();
  EXPECT_FALSE(cpu.level[0]);
  ASSERT_TRUE(message(0x70));
  EXPECT_TRUE(cpu.level[0]);
  EXPECT_EQ(apic.acknowledge(), 0x70);
  EXPECT_FALSE(cpu.level[0]);
  EXPECT_EQ(cpu.rises[0], 1u);
}

TEST_F(LapicTest, OtherDeliveryModesInMessagesAreRefused) {
  enable();
  ApicMessage m{0x10, ApicDelivery::init, false, false, 3};
  EXPECT_FALSE(apic.deliver(m));
  m.mode = ApicDelivery::smi;
  EXPECT_FALSE(apic.deliver(m));
  EXPECT_EQ(apic.refused_ipi_count(), 2u);
  m.mode = ApicDelivery::extint;
  EXPECT_TRUE(apic.deliver(m));
  EXPECT_EQ(apic.pending(), ApicPending::extint);
  apic.acknowledge_extint();
  EXPECT_EQ(apic.pending(), ApicPending::none);
}

// ---- IA32_APIC_BASE ------------------------------------------------------------------------

TEST_F(LapicTest, ApicBaseRefusesX2ApicAndRelocationAndReservedBits) {
  const char* why = nullptr;
  EXPECT_EQ(apic.write_apic_base(0xfee00900u | LocalApic::kBaseExtd, &why).error(), Error::unsupported);
  ASSERT_NE(why, nullptr);
  EXPECT_NE(std::string(why).find("x2APIC"), std::string::npos);
  why = nullptr;
  EXPECT_EQ(apic.write_apic_base(0xfed00900u, &why).error(), Error::unsupported);
  EXPECT_NE(why, nullptr);
  EXPECT_EQ(apic.write_apic_base(0xfee00900u | 0x200, &why).error(), Error::invalid_argument);
  EXPECT_EQ(apic.write_apic_base(0xfee00900u | (std::uint64_t{1} << 40), &why).error(), Error::invalid_argument);
  EXPECT_EQ(apic.apic_base(), 0xfee00900u);
  // Rewriting the same value is fine; BSP cannot be changed.
  EXPECT_TRUE(apic.write_apic_base(0xfee00800u).ok());
  EXPECT_EQ(apic.apic_base(), 0xfee00900u);
}

TEST_F(LapicTest, ClearingApicBaseEnableTurnsTheApicOffUntilItIsSetAgain) {
  enable();
  wr(LocalApic::kTpr, 0x20);
  ASSERT_TRUE(apic.write_apic_base(0xfee00100u).ok());
  EXPECT_FALSE(apic.globally_enabled());
  EXPECT_EQ(rd(LocalApic::kId), 0xffffffffu);  // the page is not decoded
  wr(LocalApic::kTpr, 0x30);
  EXPECT_FALSE(message(0x40));
  // The pins are the processor's own INTR and NMI inputs now.
  apic.set_irq(LocalApic::kLint0, true);
  EXPECT_EQ(apic.pending(), ApicPending::extint);
  apic.set_irq(LocalApic::kLint0, false);
  ASSERT_TRUE(apic.write_apic_base(0xfee00900u).ok());
  EXPECT_EQ(rd(LocalApic::kSvr), 0xffu);  // back in its power-on state
  EXPECT_EQ(rd(LocalApic::kTpr), 0u);
  EXPECT_EQ(rd(LocalApic::kId), 3u << 24);
}

TEST_F(LapicTest, TheRegisterPageIsWhatReadsSee) {
  enable(0x3f);
  wr(LocalApic::kTpr, 0x20);
  wr(LocalApic::kLvtTimer, 0x30);
  ASSERT_TRUE(message(0x41));
  std::vector<std::uint32_t> page(1024, 0xdeadbeef);
  apic.fill_register_page(page.data());
  for (std::uint32_t reg : std::initializer_list<std::uint32_t>{LocalApic::kId, LocalApic::kVersionReg, LocalApic::kTpr, LocalApic::kSvr,
                            LocalApic::kLvtTimer, LocalApic::kIrr + 0x20, LocalApic::kIsr, LocalApic::kDfr})
    EXPECT_EQ(page[reg / 4], rd(reg)) << std::hex << reg;
  EXPECT_EQ(page[(LocalApic::kIrr + 0x20) / 4], 1u << 1);  // vector 0x41: IRR word 2, bit 1
  EXPECT_EQ(page[0x24 / 4], 0xdeadbeefu);  // not a register: left alone
  EXPECT_EQ(page[0x400 / 4], 0xdeadbeefu);
}

TEST_F(LapicTest, TheStateVersionMovesWithWhatAReadWouldSee) {
  enable();
  std::uint64_t v = apic.state_version();
  (void)rd(LocalApic::kIrr);
  (void)rd(LocalApic::kId);
  EXPECT_EQ(apic.state_version(), v);  // reads change nothing
  ASSERT_TRUE(message(0x50));
  EXPECT_NE(apic.state_version(), v);  // IRR
  v = apic.state_version();
  EXPECT_EQ(apic.acknowledge(), 0x50);
  EXPECT_NE(apic.state_version(), v);  // IRR -> ISR
  v = apic.state_version();
  wr(LocalApic::kEoi, 0);
  EXPECT_NE(apic.state_version(), v);  // ISR
  v = apic.state_version();
  wr(LocalApic::kLdr, 0x01000000);
  EXPECT_NE(apic.state_version(), v);
}

}  // namespace
}  // namespace hvlab::dev
