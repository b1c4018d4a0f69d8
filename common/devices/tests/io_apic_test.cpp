// The I/O APIC against the 82093AA data sheet, and the PC's ISA interrupt wiring.

#include "common/devices/io_apic.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "common/devices/irq_routing.hpp"
#include "common/devices/local_apic.hpp"
#include "common/devices/pic8259.hpp"
#include "common/devices/tests/test_support.hpp"

namespace hvlab::dev {
namespace {

struct MessageRecorder final : ApicMessageSink {
  std::vector<ApicMessage> messages;
  bool accept = true;
  bool deliver(const ApicMessage& m) override {
    messages.push_back(m);
    return accept;
  }
};

struct IoApicTest : ::testing::Test {
  MmioBus bus;
  IoApic ioapic;
  MessageRecorder lapic;

  void SetUp() override {
    ASSERT_TRUE(ioapic.attach(bus).ok());
    ioapic.connect(&lapic);
  }
  void sel(std::uint32_t reg) {
    ASSERT_TRUE(bus.write(GuestPhysAddr(IoApic::kDefaultBase + IoApic::kIoRegSel), 4, reg).ok());
  }
  std::uint32_t rd(std::uint32_t reg) {
    sel(reg);
    Result<std::uint32_t> r = bus.read(GuestPhysAddr(IoApic::kDefaultBase + IoApic::kIoWin), 4);
    EXPECT_TRUE(r.ok());
    return r.value();
  }
  void wr(std::uint32_t reg, std::uint32_t v) {
    sel(reg);
    ASSERT_TRUE(bus.write(GuestPhysAddr(IoApic::kDefaultBase + IoApic::kIoWin), 4, v).ok());
  }
  // What xv6's ioapicenable writes: edge, active high, unmasked, fixed, to APIC `dest`.
  void route(unsigned pin, std::uint32_t low, std::uint8_t dest = 0) {
    wr(IoApic::kRegRedirectionTable + 2 * pin, low);
    wr(IoApic::kRegRedirectionTable + 2 * pin + 1, std::uint32_t{dest} << 24);
  }
};

TEST_F(IoApicTest, ResetStateHasTheIdVersionAndEveryEntryMasked) {
  EXPECT_EQ(rd(IoApic::kRegId), std::uint32_t{IoApic::kDefaultId} << 24);
  const std::uint32_t ver = rd(IoApic::kRegVersion);
  EXPECT_EQ(ver & 0xff, 0x11u);
  EXPECT_EQ((ver >> 16) & 0xff, 23u);  // xv6's maxintr: 24 entries
  EXPECT_EQ(rd(IoApic::kRegArbitration), std::uint32_t{IoApic::kDefaultId} << 24);
  for (unsigned pin = 0; pin < IoApic::kPins; ++pin) {
    EXPECT_EQ(rd(IoApic::kRegRedirectionTable + 2 * pin), IoApic::kEntryMasked) << pin;
    EXPECT_EQ(rd(IoApic::kRegRedirectionTable + 2 * pin + 1), 0u) << pin;
  }
  sel(0x25);
  EXPECT_EQ(bus.read(GuestPhysAddr(IoApic::kDefaultBase), 4).value(), 0x25u);  // IOREGSEL reads back
}

TEST_F(IoApicTest, IdIsFourBitsAndVersionIsReadOnly) {
  wr(IoApic::kRegId, 0xffffffff);
  EXPECT_EQ(rd(IoApic::kRegId), 0x0f000000u);
  EXPECT_EQ(ioapic.id(), 0x0f);
  wr(IoApic::kRegVersion, 0);
  EXPECT_EQ(rd(IoApic::kRegVersion), IoApic::kVersion);
  EXPECT_EQ(rd(0x05), 0u);  // an unimplemented register
}

TEST_F(IoApicTest, EntriesKeepReadOnlyAndReservedBitsClear) {
  wr(IoApic::kRegRedirectionTable + 2 * 5, 0xffffffff);
  wr(IoApic::kRegRedirectionTable + 2 * 5 + 1, 0xffffffff);
  // No delivery status (12), Remote IRR (14) or reserved bits 31:17 / 55:32.
  EXPECT_EQ(rd(IoApic::kRegRedirectionTable + 2 * 5), 0x0001afffu);
  EXPECT_EQ(rd(IoApic::kRegRedirectionTable + 2 * 5 + 1), 0xff000000u);
  EXPECT_EQ(ioapic.entry(5), 0xff0000000001afffull);
}

TEST_F(IoApicTest, RegistersTakeOnlyDwordAccesses) {
  EXPECT_EQ(bus.write(GuestPhysAddr(IoApic::kDefaultBase), 1, 0x10).error(), Error::unsupported);
  EXPECT_EQ(bus.read(GuestPhysAddr(IoApic::kDefaultBase + IoApic::kIoWin), 2).error(), Error::unsupported);
  EXPECT_EQ(bus.read(GuestPhysAddr(IoApic::kDefaultBase + 0x20), 4).value(), 0u);
  EXPECT_TRUE(bus.is_mmio(GuestPhysAddr(IoApic::kDefaultBase + 0xffc)));
}

TEST_F(IoApicTest, EdgeEntrySendsOneMessagePerRisingEdge) {
  route(4, 0x24, 0);
  ioapic.set_irq(4, true);
  ASSERT_EQ(lapic.messages.size(), 1u);
  EXPECT_EQ(lapic.messages[0].vector, 0x24);
  EXPECT_EQ(lapic.messages[0].mode, ApicDelivery::fixed);
  EXPECT_FALSE(lapic.messages[0].level_triggered);
  EXPECT_FALSE(lapic.messages[0].logical);
  EXPECT_EQ(lapic.messages[0].destination, 0);
  ioapic.set_irq(4, true);  // still high: no new edge
  EXPECT_EQ(lapic.messages.size(), 1u);
  ioapic.set_irq(4, false);
  ioapic.set_irq(4, true);
  EXPECT_EQ(lapic.messages.size(), 2u);
  EXPECT_EQ(ioapic.entry(4) & IoApic::kEntryRemoteIrr, 0u);  // never for edge entries
}

TEST_F(IoApicTest, EdgesOnAMaskedPinAreLostNotHeld) {
  wr(IoApic::kRegRedirectionTable + 2 * 3, IoApic::kEntryMasked | 0x23);
  ioapic.set_irq(3, true);
  ioapic.set_irq(3, false);
  route(3, 0x23);
  EXPECT_TRUE(lapic.messages.empty());
  // A pin held high across the unmask made its edge while masked: still nothing.
  wr(IoApic::kRegRedirectionTable + 2 * 3, IoApic::kEntryMasked | 0x23);
  ioapic.set_irq(3, true);
  route(3, 0x23);
  EXPECT_TRUE(lapic.messages.empty());
  ioapic.set_irq(3, false);
  ioapic.set_irq(3, true);  // the next edge is delivered
  EXPECT_EQ(lapic.messages.size(), 1u);
}

TEST_F(IoApicTest, LevelEntryHoldsRemoteIrrUntilTheMatchingEoi) {
  route(10, IoApic::kEntryLevel | 0x3a);
  ioapic.set_irq(10, true);
  ASSERT_EQ(lapic.messages.size(), 1u);
  EXPECT_TRUE(lapic.messages[0].level_triggered);
  EXPECT_NE(rd(IoApic::kRegRedirectionTable + 2 * 10) & IoApic::kEntryRemoteIrr, 0u);
  ioapic.set_irq(10, true);
  EXPECT_EQ(lapic.messages.size(), 1u);  // Remote IRR holds it off
  ioapic.end_of_interrupt(0x3b);          // another vector's EOI changes nothing
  EXPECT_NE(ioapic.entry(10) & IoApic::kEntryRemoteIrr, 0u);
  ioapic.end_of_interrupt(0x3a);  // still asserted: sent again
  EXPECT_EQ(lapic.messages.size(), 2u);
  EXPECT_NE(ioapic.entry(10) & IoApic::kEntryRemoteIrr, 0u);
  ioapic.set_irq(10, false);
  ioapic.end_of_interrupt(0x3a);
  EXPECT_EQ(lapic.messages.size(), 2u);
  EXPECT_EQ(ioapic.entry(10) & IoApic::kEntryRemoteIrr, 0u);
}

TEST_F(IoApicTest, UnmaskingAnAssertedLevelPinDeliversIt) {
  wr(IoApic::kRegRedirectionTable + 2 * 9, IoApic::kEntryMasked | IoApic::kEntryLevel | 0x39);
  ioapic.set_irq(9, true);
  EXPECT_TRUE(lapic.messages.empty());
  wr(IoApic::kRegRedirectionTable + 2 * 9, IoApic::kEntryLevel | 0x39);
  ASSERT_EQ(lapic.messages.size(), 1u);
  EXPECT_EQ(lapic.messages[0].vector, 0x39);
}

TEST_F(IoApicTest, ActiveLowPinsAreAssertedWhenTheLineIsLow) {
  ioapic.set_irq(16, true);  // idle high, as a PCI INTx# line
  route(16, IoApic::kEntryLevel | IoApic::kEntryActiveLow | 0x50);
  EXPECT_TRUE(lapic.messages.empty());
  ioapic.set_irq(16, false);
  ASSERT_EQ(lapic.messages.size(), 1u);
  EXPECT_EQ(lapic.messages[0].vector, 0x50);
}

TEST_F(IoApicTest, MessagesCarryDeliveryModeAndDestination) {
  route(7, 0x100 | IoApic::kEntryLogical | 0x47, 0x0c);  // lowest priority, logical
  ioapic.set_irq(7, true);
  ASSERT_EQ(lapic.messages.size(), 1u);
  EXPECT_EQ(lapic.messages[0].mode, ApicDelivery::lowest_priority);
  EXPECT_TRUE(lapic.messages[0].logical);
  EXPECT_EQ(lapic.messages[0].destination, 0x0c);
  ioapic.set_irq(99, true);  // not a pin
  EXPECT_EQ(lapic.messages.size(), 1u);
}

TEST_F(IoApicTest, ALevelMessageNobodyAcceptsLeavesRemoteIrrClear) {
  lapic.accept = false;
  route(11, IoApic::kEntryLevel | 0x3b, 7);
  ioapic.set_irq(11, true);
  EXPECT_EQ(ioapic.messages_sent(), 1u);
  EXPECT_EQ(ioapic.messages_refused(), 1u);
  EXPECT_EQ(ioapic.entry(11) & IoApic::kEntryRemoteIrr, 0u);
}

// ---- With a real local APIC ---------------------------------------------------------------

TEST(IoApicWithLapic, LevelInterruptRoundTripClearsRemoteIrrThroughEoiBroadcast) {
  MmioBus bus;
  IoApic ioapic;
  LocalApic lapic;
  ASSERT_TRUE(ioapic.attach(bus).ok());
  ASSERT_TRUE(lapic.attach(bus).ok());
  ioapic.connect(&lapic);
  lapic.connect_eoi(&ioapic);
  ASSERT_TRUE(lapic.write(LocalApic::kSvr, 4, 0x1ff).ok());
  ASSERT_TRUE(ioapic.write(IoApic::kIoRegSel, 4, 0x10 + 2 * 14).ok());
  ASSERT_TRUE(ioapic.write(IoApic::kIoWin, 4, IoApic::kEntryLevel | 0x2e).ok());
  ioapic.set_irq(14, true);
  EXPECT_TRUE(lapic.tmr(0x2e));
  EXPECT_EQ(lapic.acknowledge(), 0x2e);
  ioapic.set_irq(14, false);  // the handler quietened the device
  EXPECT_NE(ioapic.entry(14) & IoApic::kEntryRemoteIrr, 0u);
  ASSERT_TRUE(lapic.write(LocalApic::kEoi, 4, 0).ok());
  EXPECT_EQ(ioapic.entry(14) & IoApic::kEntryRemoteIrr, 0u);
  ioapic.set_irq(14, true);  // the next interrupt gets through
  EXPECT_TRUE(lapic.irr(0x2e));
}

TEST(IoApicWithLapic, MessagesForAnotherApicIdAreNotAccepted) {
  IoApic ioapic;
  LocalApic lapic;  // APIC ID 0
  ioapic.connect(&lapic);
  ASSERT_TRUE(lapic.write(LocalApic::kSvr, 4, 0x1ff).ok());
  ASSERT_TRUE(ioapic.write(IoApic::kIoRegSel, 4, 0x10 + 2 * 1).ok());
  ASSERT_TRUE(ioapic.write(IoApic::kIoWin, 4, 0x21).ok());
  ASSERT_TRUE(ioapic.write(IoApic::kIoRegSel, 4, 0x11 + 2 * 1).ok());
  ASSERT_TRUE(ioapic.write(IoApic::kIoWin, 4, 1u << 24).ok());  // CPU 1: not here
  ioapic.set_irq(1, true);
  EXPECT_FALSE(lapic.irr(0x21));
  EXPECT_EQ(ioapic.messages_refused(), 1u);
}

// ---- ISA wiring --------------------------------------------------------------------------

TEST(IsaIrqRouting, EachIrqReachesThePicLineAndItsIoApicPinWithIrq0OnPin2) {
  test::IrqRecorder pic, ioapic;
  IsaIrqRouter router(&pic, &ioapic);
  router.set_irq(0, true);
  EXPECT_TRUE(pic.level[0]);
  EXPECT_TRUE(ioapic.level[2]);
  EXPECT_FALSE(ioapic.level[0]);
  router.set_irq(4, true);
  router.set_irq(14, true);
  EXPECT_TRUE(pic.level[4] && ioapic.level[4]);
  EXPECT_TRUE(pic.level[14] && ioapic.level[14]);
  router.set_irq(14, false);
  EXPECT_FALSE(pic.level[14] || ioapic.level[14]);
  const unsigned calls = pic.calls;
  router.set_irq(16, true);  // not an ISA IRQ
  EXPECT_EQ(pic.calls, calls);
  for (unsigned irq = 1; irq < 16; ++irq) EXPECT_EQ(isa_irq_to_ioapic_pin(irq), irq);
  EXPECT_EQ(isa_irq_to_ioapic_pin(0), 2u);
}

TEST(IsaIrqRouting, ADeviceWiredToBothControllersInterruptsThroughEither) {
  Pic8259Pair pic;
  IoApic ioapic;
  LocalApic lapic;
  ioapic.connect(&lapic);
  IsaIrqRouter isa(&pic, &ioapic);
  IrqTee pic_intr(&lapic, LocalApic::kLint0, &ioapic, 0);
  pic.connect_intr(&pic_intr);
  pic.bios_init(0x20, 0x28);
  lapic.bios_init();
  // The 8259 path: IRQ4 unmasked at the PIC, through LINT0 as ExtINT.
  ASSERT_TRUE(pic.master().write(1, 1, 0xff & ~(1u << 4) & ~(1u << 2)).ok());
  isa.set_irq(4, true);
  EXPECT_EQ(lapic.pending(), ApicPending::extint);
  EXPECT_EQ(pic.acknowledge(), 0x24);
  isa.set_irq(4, false);
  EXPECT_EQ(lapic.pending(), ApicPending::none);
  // The I/O APIC path: mask the PIC, route pin 4 to vector 0x34.
  ASSERT_TRUE(pic.master().write(1, 1, 0xff).ok());
  ASSERT_TRUE(ioapic.write(IoApic::kIoRegSel, 4, 0x10 + 2 * 4).ok());
  ASSERT_TRUE(ioapic.write(IoApic::kIoWin, 4, 0x34).ok());
  isa.set_irq(4, true);
  EXPECT_EQ(lapic.pending(), ApicPending::fixed);
  EXPECT_EQ(lapic.acknowledge(), 0x34);
}

TEST(IsaIrqRouting, TeeForwardsOneLineToBothSinks) {
  test::IrqRecorder a, b;
  IrqTee tee(&a, 1, &b, 0);
  tee.set_irq(0, true);
  EXPECT_TRUE(a.level[1]);
  EXPECT_TRUE(b.level[0]);
  IrqTee half(nullptr, 0, &b, 3);
  half.set_irq(0, true);
  EXPECT_TRUE(b.level[3]);
}

}  // namespace
}  // namespace hvlab::dev
