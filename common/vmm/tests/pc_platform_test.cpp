// The platform pieces together, wired as a monitor's board wires them, driven through the
// sequence xv6 follows at boot (mp.c, lapic.c, picirq.c, ioapic.c, uart.c, ide.c, console.c):
// find the MP table through the BIOS data area, program the local APIC and its timer, mask
// the 8259s, route IRQs through the I/O APIC, read a disk block on an interrupt, take timer
// and serial interrupts, and move the CGA cursor. Every step goes through the buses or guest
// memory, as the guest's instructions would.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/devices/ata.hpp"
#include "common/devices/cga.hpp"
#include "common/devices/fw_cfg.hpp"
#include "common/devices/io_apic.hpp"
#include "common/devices/irq_routing.hpp"
#include "common/devices/local_apic.hpp"
#include "common/devices/pic8259.hpp"
#include "common/devices/pit8254.hpp"
#include "common/devices/uart16550.hpp"
#include "common/vmm/bios_tables.hpp"

namespace hvlab::vmm {
namespace {

constexpr std::uint8_t kIrq0 = 32;  // xv6's T_IRQ0
constexpr unsigned kIrqCom1 = 4, kIrqIde = 14;

struct Console final : dev::ByteSink {
  std::string out;
  void put(std::uint8_t b) override { out.push_back(static_cast<char>(b)); }
};

// What a board holds, and how it connects the pieces.
struct Board {
  dev::PortBus ports;
  dev::MmioBus mmio;
  std::vector<std::uint8_t> ram = std::vector<std::uint8_t>(1 << 20, 0);
  mem::GuestMemory memory;

  dev::LocalApic lapic;
  dev::IoApic ioapic;
  dev::Pic8259Pair pic;
  dev::IsaIrqRouter isa{&pic, &ioapic};            // devices raise ISA IRQs here
  dev::IrqTee pic_intr{&lapic, dev::LocalApic::kLint0, &ioapic, 0};
  dev::Pit8254 pit{&isa};
  Console console;
  dev::Uart16550 com1{&isa, dev::Uart16550::kCom1Irq, &console};
  std::vector<std::uint8_t> fs = std::vector<std::uint8_t>(1000 * dev::kSectorSize);
  dev::MemoryImage fs_image{fs};
  std::unique_ptr<dev::CowStorage<1000>> overlay = std::make_unique<dev::CowStorage<1000>>();
  dev::CowDisk disk{fs_image, overlay->pool, overlay->index};
  dev::AtaChannel ata{&isa};
  dev::FwCfg fw_cfg{dev::FwCfg::Config{.ram_bytes = 224ull << 20, .cpus = 1}};
  std::unique_ptr<dev::CgaText> cga = std::make_unique<dev::CgaText>();

  Status build() {
    HV_TRY(memory.add_region(GuestPhysAddr(0), ram.size(), ram.data()));
    HV_TRY(lapic.attach(mmio));
    HV_TRY(ioapic.attach(mmio));
    ioapic.connect(&lapic);
    lapic.connect_eoi(&ioapic);
    HV_TRY(pic.attach(ports));
    pic.connect_intr(&pic_intr);
    HV_TRY(pit.attach(ports));
    HV_TRY(ports.attach(dev::Uart16550::kCom1Port, 8, com1));
    HV_TRY(ata.set_drive(1, &disk));  // xv6's file system is disk 1
    HV_TRY(ata.attach(ports));
    HV_TRY(fw_cfg.attach(ports));
    HV_TRY(cga->attach(ports, &mmio));
    // What the BIOS would have done.
    pic.bios_init();
    lapic.bios_init();
    cga->bios_init();
    PcBiosConfig bios;
    bios.lapic_id = lapic.id();
    bios.ioapic_id = ioapic.id();
    return write_pc_bios_tables(memory, bios).ok() ? Status{} : Status{Error::fault};
  }

  // The guest's instructions.
  void outb(std::uint16_t p, std::uint8_t v) { ASSERT_TRUE(ports.write(p, 1, v).ok()) << std::hex << p; }
  std::uint8_t inb(std::uint16_t p) { return static_cast<std::uint8_t>(ports.read_or_float(p, 1)); }
  std::uint32_t inl(std::uint16_t p) { return ports.read_or_float(p, 4); }
  std::uint32_t mmio_read(std::uint64_t a) { return mmio.read(GuestPhysAddr(a), 4).value_or(0xdeadbeef); }
  void mmio_write(std::uint64_t a, std::uint32_t v) { ASSERT_TRUE(mmio.write(GuestPhysAddr(a), 4, v).ok()); }
  unsigned ram8(std::uint32_t a) const { return ram[a]; }
  unsigned ram16(std::uint32_t a) const { return ram[a] | ram[a + 1] << 8; }
  std::uint32_t ram32(std::uint32_t a) const { return ram16(a) | static_cast<std::uint32_t>(ram16(a + 2)) << 16; }

  // The processor's side: the interrupt it would take now (0 if none).
  std::uint8_t take_interrupt() {
    switch (lapic.pending()) {
      case dev::ApicPending::fixed: return lapic.acknowledge();
      case dev::ApicPending::extint: return pic.acknowledge();
      default: return 0;
    }
  }
};

TEST(PcPlatform, BootsTheWayXv6Does) {
  Board b;
  ASSERT_TRUE(b.build().ok());

  // mpinit: the EBDA segment from the BDA, "_MP_" in its first KiB, the table it points to.
  const std::uint32_t ebda = b.ram16(0x40e) << 4;
  std::uint32_t mp = 0;
  for (std::uint32_t p = ebda; p < ebda + 1024; p += 16) {
    if (b.ram32(p) == 0x5f504d5f) mp = p;  // "_MP_"
  }
  ASSERT_NE(mp, 0u);
  const std::uint32_t conf = b.ram32(mp + 4);
  const std::uint32_t lapic_base = b.ram32(conf + 36);
  ASSERT_EQ(lapic_base, dev::LocalApic::kDefaultBase);
  const unsigned cpu_apicid = b.ram8(conf + 44 + 1);
  const unsigned ioapicid = b.ram8(conf + 44 + 20 + 8 + 1);
  EXPECT_EQ(b.ram8(mp + 12) & 0x80, 0u);  // no IMCR to program

  // lapicinit.
  auto lapicw = [&](std::uint32_t reg, std::uint32_t v) {
    b.mmio_write(lapic_base + reg, v);
    b.mmio_read(lapic_base + dev::LocalApic::kId);
  };
  lapicw(dev::LocalApic::kSvr, 0x100 | (kIrq0 + 31));
  lapicw(dev::LocalApic::kTimerDivide, 0xb);
  lapicw(dev::LocalApic::kLvtTimer, 0x20000 | kIrq0);
  lapicw(dev::LocalApic::kTimerInitialCount, 10000000);
  lapicw(dev::LocalApic::kLvtLint0, 0x10000);
  lapicw(dev::LocalApic::kLvtLint1, 0x10000);
  ASSERT_GE((b.mmio_read(lapic_base + dev::LocalApic::kVersionReg) >> 16) & 0xff, 4u);
  lapicw(dev::LocalApic::kLvtPerf, 0x10000);
  lapicw(dev::LocalApic::kLvtError, kIrq0 + 19);
  lapicw(dev::LocalApic::kEsr, 0);
  lapicw(dev::LocalApic::kEsr, 0);
  lapicw(dev::LocalApic::kEoi, 0);
  lapicw(dev::LocalApic::kIcrHigh, 0);
  lapicw(dev::LocalApic::kIcrLow, 0x00080000 | 0x500 | 0x8000);  // INIT level de-assert, broadcast
  int spins = 0;
  while (b.mmio_read(lapic_base + dev::LocalApic::kIcrLow) & 0x1000) ASSERT_LT(++spins, 10);
  lapicw(dev::LocalApic::kTpr, 0);
  EXPECT_EQ(b.mmio_read(lapic_base + dev::LocalApic::kId) >> 24, cpu_apicid);  // mycpu() finds itself

  // picinit: both 8259s masked for good.
  b.outb(0x21, 0xff);
  b.outb(0xa1, 0xff);

  // ioapicinit and ioapicenable.
  auto ioapic_rw = [&](std::uint32_t reg, const std::uint32_t* value) {
    b.mmio_write(dev::IoApic::kDefaultBase, reg);
    if (value) {
      b.mmio_write(dev::IoApic::kDefaultBase + 0x10, *value);
      return *value;
    }
    return b.mmio_read(dev::IoApic::kDefaultBase + 0x10);
  };
  const unsigned maxintr = (ioapic_rw(1, nullptr) >> 16) & 0xff;
  EXPECT_EQ(ioapic_rw(0, nullptr) >> 24, ioapicid);
  for (unsigned i = 0; i <= maxintr; ++i) {
    const std::uint32_t low = 0x10000 | (kIrq0 + i), high = 0;
    ioapic_rw(0x10 + 2 * i, &low);
    ioapic_rw(0x11 + 2 * i, &high);
  }
  for (unsigned irq : {kIrqCom1, kIrqIde}) {
    const std::uint32_t low = kIrq0 + irq, high = 0;
    ioapic_rw(0x10 + 2 * irq, &low);
    ioapic_rw(0x11 + 2 * irq, &high);
  }

  // consoleinit/cgaputc: the cursor position reads back.
  b.outb(0x3d4, 14);
  unsigned pos = b.inb(0x3d5) << 8;
  b.outb(0x3d4, 15);
  pos |= b.inb(0x3d5);
  EXPECT_EQ(pos, 0u);
  ASSERT_TRUE(b.mmio.write(GuestPhysAddr(dev::CgaText::kBase + 2 * pos), 2, 'x' | 0x0700).ok());
  b.outb(0x3d4, 15);
  b.outb(0x3d5, static_cast<std::uint8_t>(pos + 1));
  EXPECT_EQ(b.cga->crtc().cursor(), 1);

  // uartinit: 9600 8N1, receive interrupts on; an arriving key interrupts through pin 4.
  b.outb(0x3fa, 0);
  b.outb(0x3fb, 0x80);
  b.outb(0x3f8, 12);
  b.outb(0x3f9, 0);
  b.outb(0x3fb, 0x03);
  b.outb(0x3fc, 0);
  b.outb(0x3f9, 0x01);
  EXPECT_NE(b.inb(0x3fd), 0xff);
  b.inb(0x3fa);
  b.inb(0x3f8);
  b.outb(0x3f8, '$');
  EXPECT_EQ(b.console.out, "$");
  b.com1.receive('l');
  EXPECT_EQ(b.take_interrupt(), kIrq0 + kIrqCom1);
  EXPECT_EQ(b.inb(0x3f8), 'l');
  lapicw(dev::LocalApic::kEoi, 0);

  // ideinit and a read of block 1 from disk 1, completed by its interrupt.
  b.fs[512] = 0xab;
  b.fs[1023] = 0xcd;
  while ((b.inb(0x1f7) & 0xc0) != 0x40) ASSERT_LT(++spins, 20);
  b.outb(0x1f6, 0xe0 | 0x10);
  EXPECT_NE(b.inb(0x1f7), 0);  // havedisk1
  b.outb(0x1f6, 0xe0);
  b.outb(0x3f6, 0);
  b.outb(0x1f2, 1);
  b.outb(0x1f3, 1);
  b.outb(0x1f4, 0);
  b.outb(0x1f5, 0);
  b.outb(0x1f6, 0xe0 | 0x10);
  b.outb(0x1f7, 0x20);
  EXPECT_EQ(b.take_interrupt(), kIrq0 + kIrqIde);
  EXPECT_EQ(b.inb(0x1f7) & 0x21, 0);  // idewait(1): no DF, no ERR
  std::vector<std::uint32_t> block(128);
  for (std::uint32_t& w : block) w = b.inl(0x1f0);
  EXPECT_EQ(block[0] & 0xff, 0xabu);
  EXPECT_EQ(block[127] >> 24, 0xcdu);
  lapicw(dev::LocalApic::kEoi, 0);

  // A write of block 2 goes to the overlay; the image is untouched.
  b.outb(0x1f2, 1);
  b.outb(0x1f3, 2);
  b.outb(0x1f6, 0xe0 | 0x10);
  b.outb(0x1f7, 0x30);
  for (unsigned i = 0; i < 128; ++i) ASSERT_TRUE(b.ports.write(0x1f0, 4, 0x11111111u * (i & 0xf)).ok());
  EXPECT_EQ(b.take_interrupt(), kIrq0 + kIrqIde);
  EXPECT_EQ(b.inb(0x1f7) & 0x21, 0);
  lapicw(dev::LocalApic::kEoi, 0);
  EXPECT_TRUE(b.disk.overlaid(2));
  EXPECT_EQ(b.fs[2 * 512 + 4], 0);

  // The timer: 100 Hz at xv6's count, with nothing else in the way. The PIT (IRQ0, pin 2)
  // was never programmed and stays quiet; the masked 8259s pass nothing to LINT0.
  EXPECT_EQ(b.take_interrupt(), 0);
  EXPECT_EQ(b.lapic.ns_until_timer(), 10000000u - 0u);
  b.lapic.advance_ns(10000000);
  b.pit.advance_ns(10000000);
  EXPECT_EQ(b.take_interrupt(), kIrq0);
  lapicw(dev::LocalApic::kEoi, 0);
  EXPECT_EQ(b.take_interrupt(), 0);

  // And the CPU count for guests that ask fw_cfg.
  ASSERT_TRUE(b.ports.write(0x510, 2, dev::FwCfg::kNbCpus).ok());
  EXPECT_EQ(b.inb(0x511), 1);
  EXPECT_EQ(b.inb(0x511), 0);
  EXPECT_EQ(b.lapic.refused_ipi_count(), 1u);  // the INIT de-assert, recorded
}

TEST(PcPlatform, TheKitsOwnGuestStillGets8259InterruptsInVirtualWireMode) {
  // A guest that never touches the APICs (the test suite) programs the 8259s and the PIT;
  // with the BIOS's virtual wire mode, IRQ0 reaches the processor as an ExtINT.
  Board b;
  ASSERT_TRUE(b.build().ok());
  b.outb(0x21, 0xfe);  // unmask IRQ0 only
  b.outb(0x43, 0x34);
  b.outb(0x40, 0x9c);
  b.outb(0x40, 0x2e);  // 11932: 100 Hz
  b.pit.advance(11933);
  EXPECT_EQ(b.lapic.pending(), dev::ApicPending::extint);
  EXPECT_EQ(b.take_interrupt(), 0x08);  // the BIOS's IRQ0 vector
  // The I/O APIC saw IRQ0 on pin 2 too, but that entry is masked.
  EXPECT_NE(b.ioapic.entry(2) & dev::IoApic::kEntryMasked, 0u);
  EXPECT_EQ(b.ioapic.messages_sent(), 0u);
}

}  // namespace
}  // namespace hvlab::vmm
