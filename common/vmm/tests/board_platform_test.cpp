// The Board's PC platform: the local and I/O APIC on the MMIO bus, the ATA channel, fw_cfg,
// the CGA, the BIOS tables, and interrupts and timers decided through the local APIC, driven
// through the buses as the guest's instructions and the run loop would.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/arch/x86.hpp"
#include "common/vmm/board.hpp"
#include "common/vmm/emulate.hpp"
#include "common/vmm/testing/fake_machine.hpp"

namespace hvlab::vmm {
namespace {

constexpr std::uint64_t kLapic = dev::LocalApic::kDefaultBase, kIoApic = dev::IoApic::kDefaultBase;

struct Keys final : dev::ByteSource {
  std::string text;
  std::size_t at = 0;
  bool get(std::uint8_t* b) override {
    if (at >= text.size()) return false;
    *b = static_cast<std::uint8_t>(text[at++]);
    return true;
  }
};

struct BoardPlatformTest : ::testing::Test {
  void out(std::uint16_t port, std::uint32_t v, unsigned size = 1) { ASSERT_TRUE(board.ports().write(port, size, v).ok()); }
  std::uint32_t in(std::uint16_t port, unsigned size = 1) { return board.ports().read_or_float(port, size); }
  void lapic_write(std::uint32_t reg, std::uint32_t v) { ASSERT_TRUE(board.mmio().write(GuestPhysAddr(kLapic + reg), 4, v).ok()); }
  std::uint32_t lapic_read(std::uint32_t reg) { return board.mmio().read(GuestPhysAddr(kLapic + reg), 4).value_or(0xdead); }
  void ioapic_entry(unsigned pin, std::uint32_t low) {
    ASSERT_TRUE(board.mmio().write(GuestPhysAddr(kIoApic), 4, 0x10 + 2 * pin).ok());
    ASSERT_TRUE(board.mmio().write(GuestPhysAddr(kIoApic + 0x10), 4, low).ok());
    ASSERT_TRUE(board.mmio().write(GuestPhysAddr(kIoApic), 4, 0x11 + 2 * pin).ok());
    ASSERT_TRUE(board.mmio().write(GuestPhysAddr(kIoApic + 0x10), 4, 0).ok());
  }
  // xv6's lapicinit: software enable, the timer periodic on `vector` every `count` bus ticks
  // (1 GHz), LINT0/LINT1 masked; then its picinit: both 8259s masked.
  void program_apic_timer(std::uint8_t vector, std::uint32_t count) {
    lapic_write(dev::LocalApic::kSvr, 0x100 | 0x3f);
    lapic_write(dev::LocalApic::kTimerDivide, 0xb);  // divide by 1
    lapic_write(dev::LocalApic::kLvtTimer, dev::LocalApic::kLvtPeriodic | vector);
    lapic_write(dev::LocalApic::kTimerInitialCount, count);
    lapic_write(dev::LocalApic::kLvtLint0, dev::LocalApic::kLvtMasked);
    lapic_write(dev::LocalApic::kLvtLint1, dev::LocalApic::kLvtMasked);
    out(0x21, 0xff);
    out(0xa1, 0xff);
  }

  fake::FakeMachine fm{16};
  Board& board = fm.board;
  VCpu& vcpu = fm.vcpu();
};

TEST_F(BoardPlatformTest, ThePcDevicesAreOnTheirPortsAndPages) {
  ASSERT_TRUE(board.wiring().ok());
  for (std::uint16_t port : {0x1f0, 0x1f7, 0x3f6, 0x510, 0x511, 0x3d4, 0x3d5})
    EXPECT_NE(board.ports().device_at(port), nullptr) << std::hex << port;
  EXPECT_TRUE(board.mmio().is_mmio(GuestPhysAddr(kLapic)));
  EXPECT_TRUE(board.mmio().is_mmio(GuestPhysAddr(kIoApic + 0x10)));
  EXPECT_FALSE(board.mmio().is_mmio(GuestPhysAddr(kLapic + 0x1000)));
  EXPECT_EQ(lapic_read(dev::LocalApic::kId) >> 24, board.lapic().id());
  EXPECT_EQ(lapic_read(dev::LocalApic::kVersionReg), dev::LocalApic::kVersion);
  // The local APIC as a BIOS leaves it: software enabled, LINT0 the 8259's ExtINT.
  EXPECT_TRUE(board.lapic().software_enabled());
  EXPECT_EQ((lapic_read(dev::LocalApic::kLvtLint0) >> 8) & 7, 7u);
}

TEST_F(BoardPlatformTest, TheTextBufferIsGuestRamAndTheCursorReadsBack) {
  const std::uint16_t cell = 'h' | 0x0700;
  ASSERT_TRUE(board.memory().copy_in(GuestPhysAddr(dev::CgaText::kBase + 2 * 81), &cell, 2).ok());
  EXPECT_EQ(board.cga().cell(1, 1), cell);
  EXPECT_FALSE(board.mmio().is_mmio(GuestPhysAddr(dev::CgaText::kBase)));  // no trap per character
  out(0x3d4, 0x0e);
  out(0x3d5, 0x01);
  out(0x3d4, 0x0f);
  out(0x3d5, 0x51);
  out(0x3d4, 0x0e);
  EXPECT_EQ(in(0x3d5), 0x01u);
  EXPECT_EQ(board.cga().crtc().cursor(), 0x151u);
}

TEST_F(BoardPlatformTest, FwCfgReportsTheRamAndOneCpu) {
  out(0x510, dev::FwCfg::kRamSize, 2);
  std::uint64_t ram = 0;
  for (unsigned i = 0; i < 8; ++i) ram |= std::uint64_t{in(0x511)} << (8 * i);
  EXPECT_EQ(ram, 16ull << 20);
  out(0x510, dev::FwCfg::kNbCpus, 2);
  EXPECT_EQ(in(0x511) | in(0x511) << 8, 1u);
}

TEST_F(BoardPlatformTest, TheApicTimerInterruptsThroughTheLocalApic) {
  board.set_tsc_hz(1'000'000);  // a microsecond per tick
  program_apic_timer(0x20, 10'000'000);  // 10 ms at the 1 GHz bus clock
  vcpu.eflags |= x86::eflags::IF;
  EntryPlan p = board.prepare_entry(vcpu, 0);
  EXPECT_FALSE(p.inject.valid);
  ASSERT_NE(p.timer_deadline, 0u);
  EXPECT_EQ(p.timer_deadline - board.device_time(), 10'001u);
  board.on_exit(9'000);
  EXPECT_FALSE(board.prepare_entry(vcpu, 9'000).inject.valid);
  board.on_exit(10'001);
  p = board.prepare_entry(vcpu, 10'001);
  ASSERT_TRUE(p.inject.valid);
  EXPECT_EQ(p.inject.type, PendingEvent::Type::external_interrupt);
  EXPECT_EQ(p.inject.vector, 0x20);
  EXPECT_TRUE(board.lapic().isr(0x20));
  // In service: the next expiry waits for the EOI.
  board.on_exit(20'500);
  EXPECT_FALSE(board.prepare_entry(vcpu, 20'500).inject.valid);
  lapic_write(dev::LocalApic::kEoi, 0);
  p = board.prepare_entry(vcpu, 20'500);
  ASSERT_TRUE(p.inject.valid);
  EXPECT_EQ(p.inject.vector, 0x20);
}

TEST_F(BoardPlatformTest, TheDeadlineIsTheNearerOfThePitAndTheApicTimer) {
  board.set_tsc_hz(1'000'000);
  program_apic_timer(0x20, 10'000'000);  // 10 ms
  out(0x43, 0x34);
  out(0x40, 0x9c);
  out(0x40, 0x2e);  // PIT: 11932 ticks, 10 ms at 1.193182 MHz (edges every 10000 us)
  // Both 8259s masked, I/O APIC pin 2 masked: the PIT reaches nobody.
  EntryPlan p = board.prepare_entry(vcpu, 0);
  EXPECT_EQ(p.timer_deadline - board.device_time(), 10'001u);
  out(0x43, 0x34);
  out(0x40, 0xa9);
  out(0x40, 0x04);  // 1193 ticks: 1 ms
  ioapic_entry(2, 0x30);  // IRQ0 on pin 2, unmasked
  p = board.prepare_entry(vcpu, 0);
  EXPECT_LE(p.timer_deadline - board.device_time(), 1'002u);  // 1193 PIT ticks, rounded up
  lapic_write(dev::LocalApic::kLvtTimer, dev::LocalApic::kLvtMasked | 0x20);
  ioapic_entry(2, dev::IoApic::kEntryMasked | 0x30);
  EXPECT_EQ(board.next_timer_deadline(), 0u);
}

TEST_F(BoardPlatformTest, AHaltedGuestSkipsAheadToTheApicTimer) {
  board.set_tsc_hz(1'000'000);
  program_apic_timer(0x40, 50'000'000);  // 50 ms
  vcpu.eflags |= x86::eflags::IF;
  vcpu.halted = true;
  EntryPlan p = board.prepare_entry(vcpu, 100);
  ASSERT_TRUE(p.inject.valid);
  EXPECT_EQ(p.inject.vector, 0x40);
  EXPECT_FALSE(vcpu.halted);
  EXPECT_EQ(board.idle_skips(), 1u);
  EXPECT_GE(board.tsc_offset(), 49'000u);
}

TEST_F(BoardPlatformTest, TheIoApicRoutesTypedKeysFromCom1ToTheirVector) {
  Keys keys;
  keys.text = "ls\n";
  board.set_console_input(&keys);
  out(0x21, 0xff);
  out(0xa1, 0xff);
  ioapic_entry(4, 0x24);  // xv6's ioapicenable(IRQ_COM1, 0): edge, active high, vector 32 + 4
  lapic_write(dev::LocalApic::kSvr, 0x13f);
  out(0x3f8 + 2, 0);     // xv6's uartinit: FIFO off, one byte at a time
  out(0x3f8 + 1, 0x01);  // IER: received data available
  vcpu.eflags |= x86::eflags::IF;
  // Each key: the interrupt, uartintr's reads, the EOI; the next key arrives at the next entry.
  std::string got;
  for (int key = 0; key < 3; ++key) {
    EntryPlan p = board.prepare_entry(vcpu, 0);
    ASSERT_TRUE(p.inject.valid) << "key " << key;
    EXPECT_EQ(p.inject.vector, 0x24);
    while (in(0x3f8 + 5) & 1) got += static_cast<char>(in(0x3f8));
    lapic_write(dev::LocalApic::kEoi, 0);
  }
  EXPECT_EQ(got, "ls\n");
  EXPECT_FALSE(board.prepare_entry(vcpu, 0).inject.valid);
}

// A real UART behind the source: a 16-byte FIFO that drops what arrives when full.
struct SmallFifo final : dev::ByteSource {
  std::string line, fifo;
  std::size_t sent = 0;
  void arrive(std::size_t n) {  // n more bytes come down the wire
    for (; n > 0 && sent < line.size(); --n, ++sent)
      if (fifo.size() < 16) fifo += line[sent];
  }
  bool get(std::uint8_t* b) override {
    if (fifo.empty()) return false;
    *b = static_cast<std::uint8_t>(fifo[0]);
    fifo.erase(0, 1);
    return true;
  }
};

TEST_F(BoardPlatformTest, ALongTypedLineIsKeptWhileTheGuestReadsAByteAtATime) {
  SmallFifo uart;
  uart.line = "mkdir d; echo x > d/f; cat d/f; rm d/f\n";
  board.set_console_input(&uart);
  out(0x3f8 + 2, 0);  // the guest's UART without FIFO: one byte at a time
  std::string got;
  for (int entry = 0; entry < 200 && got.size() < uart.line.size(); ++entry) {
    uart.arrive(8);  // faster than the guest reads
    board.prepare_entry(vcpu, 0);
    if (in(0x3f8 + 5) & 1) got += static_cast<char>(in(0x3f8));
  }
  EXPECT_EQ(got, uart.line);
}

TEST_F(BoardPlatformTest, AnAttachedDiskAnswersOnTheSlaveWithIrq14) {
  std::vector<std::uint8_t> image(4 * dev::kSectorSize);
  image[2 * dev::kSectorSize] = 0x5a;
  image[3 * dev::kSectorSize - 1] = 0xa5;
  dev::MemoryImage store(image);
  ASSERT_TRUE(board.attach_disk(1, &store).ok());
  EXPECT_TRUE(board.ata().present(1));
  out(0x21, 0xff);
  out(0xa1, 0xff);
  ioapic_entry(14, 0x2e);
  lapic_write(dev::LocalApic::kSvr, 0x13f);
  out(0x1f6, 0xe0 | 0x10);  // LBA, device 1
  out(0x1f2, 1);
  out(0x1f3, 2);
  out(0x1f4, 0);
  out(0x1f5, 0);
  out(0x1f7, 0x20);  // READ SECTORS
  vcpu.eflags |= x86::eflags::IF;
  EntryPlan p = board.prepare_entry(vcpu, 0);
  ASSERT_TRUE(p.inject.valid);
  EXPECT_EQ(p.inject.vector, 0x2e);
  EXPECT_EQ(in(0x1f7) & 0x89, 0x08u);  // DRQ, no BSY, no ERR
  std::uint32_t first = in(0x1f0, 4), last = 0;
  for (unsigned i = 1; i < 128; ++i) last = in(0x1f0, 4);
  EXPECT_EQ(first & 0xff, 0x5au);
  EXPECT_EQ(last >> 24, 0xa5u);
}

TEST_F(BoardPlatformTest, TheBiosTablesDescribeThisBoard) {
  auto layout = board.write_bios_tables(0x000306a9, 0x0000fbff);
  ASSERT_TRUE(layout.ok());
  std::uint16_t ebda_segment = 0;
  ASSERT_TRUE(board.memory().copy_out(&ebda_segment, GuestPhysAddr(0x40e), 2).ok());
  EXPECT_EQ(std::uint32_t{ebda_segment} << 4, layout.value().ebda);
  char sig[4];
  ASSERT_TRUE(board.memory().copy_out(sig, GuestPhysAddr(layout.value().mp_floating_pointer), 4).ok());
  EXPECT_EQ(std::string(sig, 4), "_MP_");
  std::uint32_t lapic_address = 0;
  ASSERT_TRUE(board.memory().copy_out(&lapic_address, GuestPhysAddr(layout.value().mp_config_table + 36), 4).ok());
  EXPECT_EQ(lapic_address, kLapic);
}

TEST_F(BoardPlatformTest, CpuidContextFollowsTheApic) {
  vcpu.cr4 = x86::cr4::OSXSAVE;
  CpuidContext c = board.cpuid_context(vcpu);
  EXPECT_EQ(c.apic_id, board.lapic().id());
  EXPECT_TRUE(c.apic_enabled);
  EXPECT_EQ(c.guest_cr4, x86::cr4::OSXSAVE);
  // WRMSR IA32_APIC_BASE with EN clear, through the machine's MSR policy.
  EXPECT_EQ(fm.machine.msr_policy().write(0x1b, dev::LocalApic::kDefaultBase | dev::LocalApic::kBaseBsp).verdict,
            MsrVerdict::done);
  EXPECT_FALSE(board.cpuid_context(vcpu).apic_enabled);
}

TEST_F(BoardPlatformTest, TheKitsGuestStillGetsThe8259sInterruptsThroughVirtualWire) {
  board.set_tsc_hz(dev::Pit8254::kInputHz);
  out(0x20, 0x11); out(0x21, 0x20); out(0x21, 0x04); out(0x21, 0x01);
  out(0x21, 0xfe);  // IRQ0 only
  out(0x43, 0x34);
  out(0x40, 0xe8);
  out(0x40, 0x03);  // 1000 ticks
  vcpu.eflags |= x86::eflags::IF;
  if (board.prepare_entry(vcpu, 0).inject.valid) out(0x20, 0x20);  // the edge of programming
  board.on_exit(1500);
  EntryPlan p = board.prepare_entry(vcpu, 1500);
  ASSERT_TRUE(p.inject.valid);
  EXPECT_EQ(p.inject.vector, 0x20);  // the 8259's vector, through LINT0 as ExtINT
  EXPECT_EQ(board.ioapic().messages_sent(), 0u);
}

}  // namespace
}  // namespace hvlab::vmm
