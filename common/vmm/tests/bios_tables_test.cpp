// The BIOS data area and MP tables, read back the way the MP specification (1.4, chapter 4)
// tells an operating system to find them, with raw offsets rather than the writer's structs.

#include "common/vmm/bios_tables.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace hvlab::vmm {
namespace {

struct BiosTest : ::testing::Test {
  std::vector<std::uint8_t> ram = std::vector<std::uint8_t>(1 << 20, 0xcc);  // what was there before
  mem::GuestMemory memory;

  void SetUp() override { ASSERT_TRUE(memory.add_region(GuestPhysAddr(0), ram.size(), ram.data()).ok()); }

  unsigned u8(std::uint32_t a) const { return ram.at(a); }
  unsigned u16(std::uint32_t a) const { return ram.at(a) | ram.at(a + 1) << 8; }
  std::uint32_t u32(std::uint32_t a) const { return u16(a) | static_cast<std::uint32_t>(u16(a + 2)) << 16; }
  std::string str(std::uint32_t a, unsigned n) const { return std::string(ram.begin() + a, ram.begin() + a + n); }
  unsigned sum(std::uint32_t a, unsigned n) const {
    unsigned s = 0;
    for (unsigned i = 0; i < n; ++i) s += ram.at(a + i);
    return s & 0xff;
  }

  // MP spec 4: the first KiB of the EBDA, else the last KiB of base memory, else the BIOS ROM.
  std::uint32_t find_floating_pointer() const {
    auto scan = [&](std::uint32_t base, std::uint32_t len) -> std::uint32_t {
      for (std::uint32_t p = base; p + 16 <= base + len && p + 16 <= ram.size(); p += 16) {
        if (str(p, 4) == "_MP_" && sum(p, 16) == 0) return p;
      }
      return 0;
    };
    std::uint32_t ebda = u16(0x40e) << 4;
    if (ebda) return scan(ebda, 1024);
    std::uint32_t top = u16(0x413) * 1024;
    if (std::uint32_t p = scan(top - 1024, 1024)) return p;
    return scan(0xf0000, 0x10000);
  }
};

TEST_F(BiosTest, BiosDataAreaNamesTheEbdaBaseMemoryAndComPorts) {
  PcBiosConfig c;
  c.com_ports[1] = 0x2f8;
  c.cpu_features = 1;  // FPU
  ASSERT_TRUE(write_pc_bios_tables(memory, c).ok());
  EXPECT_EQ(u16(0x400), 0x3f8u);
  EXPECT_EQ(u16(0x402), 0x2f8u);
  EXPECT_EQ(u16(0x404), 0u);
  EXPECT_EQ(u16(0x406), 0u);
  EXPECT_EQ(u16(0x408), 0u);  // no parallel ports
  EXPECT_EQ(u16(0x40e), 0x9fc0u);
  EXPECT_EQ(u16(0x413), 639u);
  const unsigned equipment = u16(0x410);
  EXPECT_EQ((equipment >> 9) & 7, 2u);  // two serial ports
  EXPECT_EQ((equipment >> 4) & 3, 2u);  // 80x25 colour
  EXPECT_EQ(equipment & 2, 2u);
  EXPECT_EQ(u8(0x449), 3u);
  EXPECT_EQ(u16(0x44a), 80u);
  EXPECT_EQ(u16(0x463), 0x3d4u);
  EXPECT_EQ(u8(0x484), 24u);
  EXPECT_EQ(u8(0x4ff), 0u);           // the rest of the BDA is cleared
  EXPECT_EQ(u8(0x9fc00), 1u);         // the EBDA's size in KiB
  EXPECT_EQ(u8(0x3ff), 0xccu);        // outside: untouched
  EXPECT_EQ(u8(0xa0000), 0xccu);
}

TEST_F(BiosTest, WithoutCgaTheVideoFieldsStayClear) {
  PcBiosConfig c;
  c.cga_text = false;
  ASSERT_TRUE(write_pc_bios_tables(memory, c).ok());
  EXPECT_EQ((u16(0x410) >> 4) & 3, 0u);
  EXPECT_EQ(u8(0x449), 0u);
  EXPECT_EQ(u16(0x463), 0u);
}

TEST_F(BiosTest, FloatingPointerIsFoundInTheEbdaWithAValidChecksum) {
  Result<PcBiosLayout> layout = write_pc_bios_tables(memory, PcBiosConfig{});
  ASSERT_TRUE(layout.ok());
  const std::uint32_t fp = find_floating_pointer();
  ASSERT_NE(fp, 0u);
  EXPECT_EQ(fp, layout.value().mp_floating_pointer);
  EXPECT_GE(fp, 0x9fc00u);
  EXPECT_LT(fp, 0x9fc00u + 1024);
  EXPECT_EQ(fp % 16, 0u);
  EXPECT_EQ(u8(fp + 8), 1u);     // one paragraph
  EXPECT_EQ(u8(fp + 9), 4u);     // spec 1.4
  EXPECT_EQ(u8(fp + 11), 0u);    // a configuration table follows, no default configuration
  EXPECT_EQ(u8(fp + 12) & 0x80, 0u);  // IMCRP clear: virtual wire mode
  EXPECT_EQ(u32(fp + 4), layout.value().mp_config_table);
}

TEST_F(BiosTest, ConfigurationTableDescribesOneCpuOneIoApicAndTheIsaInterrupts) {
  PcBiosConfig c;
  c.lapic_id = 0;
  c.ioapic_id = 1;
  c.cpu_signature = 0x000906ea;
  c.cpu_features = 0x078bfbff;
  Result<PcBiosLayout> layout = write_pc_bios_tables(memory, c);
  ASSERT_TRUE(layout.ok());
  const std::uint32_t t = u32(find_floating_pointer() + 4);
  ASSERT_EQ(str(t, 4), "PCMP");
  const unsigned length = u16(t + 4);
  EXPECT_EQ(length, layout.value().mp_config_length);
  EXPECT_EQ(u8(t + 6), 4u);  // xv6 accepts versions 1 and 4
  EXPECT_EQ(sum(t, length), 0u);
  EXPECT_EQ(str(t + 8, 8), "HVLAB   ");
  EXPECT_EQ(u32(t + 36), 0xfee00000u);  // the local APIC's address
  EXPECT_EQ(u16(t + 40), 0u);           // no extended table
  const unsigned count = u16(t + 34);
  EXPECT_EQ(count, layout.value().mp_entry_count);

  unsigned cpus = 0, buses = 0, ioapics = 0;
  std::map<unsigned, unsigned> irq_to_pin;
  unsigned extint_pin = 99, lint_extint = 99, lint_nmi = 99;
  std::uint32_t p = t + 44;
  for (unsigned i = 0; i < count; ++i) {
    switch (u8(p)) {
      case 0:
        ++cpus;
        EXPECT_EQ(u8(p + 1), 0u);     // LAPIC ID
        EXPECT_EQ(u8(p + 2), 0x14u);  // LAPIC version
        EXPECT_EQ(u8(p + 3), 3u);     // enabled, bootstrap processor
        EXPECT_EQ(u32(p + 4), 0x000906eau);
        EXPECT_EQ(u32(p + 8), 0x078bfbffu);
        p += 20;
        break;
      case 1:
        ++buses;
        EXPECT_EQ(u8(p + 1), 0u);
        EXPECT_EQ(str(p + 2, 6), "ISA   ");
        p += 8;
        break;
      case 2:
        ++ioapics;
        EXPECT_EQ(u8(p + 1), 1u);
        EXPECT_EQ(u8(p + 2), 0x11u);
        EXPECT_EQ(u8(p + 3) & 1, 1u);
        EXPECT_EQ(u32(p + 4), 0xfec00000u);
        p += 8;
        break;
      case 3:
        EXPECT_EQ(u8(p + 4), 0u);  // from the ISA bus
        EXPECT_EQ(u8(p + 6), 1u);  // to I/O APIC 1
        EXPECT_EQ(u16(p + 2), 0u); // polarity and trigger conform to ISA: active high, edge
        if (u8(p + 1) == 3) {
          extint_pin = u8(p + 7);
        } else {
          EXPECT_EQ(u8(p + 1), 0u);  // INT
          EXPECT_FALSE(irq_to_pin.count(u8(p + 5))) << "IRQ listed twice";
          irq_to_pin[u8(p + 5)] = u8(p + 7);
        }
        p += 8;
        break;
      case 4:
        EXPECT_EQ(u8(p + 6), 0xffu);  // every local APIC
        if (u8(p + 1) == 3) lint_extint = u8(p + 7);
        if (u8(p + 1) == 1) lint_nmi = u8(p + 7);
        p += 8;
        break;
      default: FAIL() << "unknown entry type " << u8(p);  // xv6 panics here too
    }
  }
  EXPECT_EQ(p, t + length);
  EXPECT_EQ(cpus, 1u);
  EXPECT_EQ(buses, 1u);
  EXPECT_EQ(ioapics, 1u);
  EXPECT_EQ(extint_pin, 0u);
  EXPECT_EQ(lint_extint, 0u);
  EXPECT_EQ(lint_nmi, 1u);
  // ISA IRQs 0-15 but the cascade, identity-mapped except IRQ0 on pin 2.
  EXPECT_EQ(irq_to_pin.size(), 15u);
  EXPECT_FALSE(irq_to_pin.count(2));
  EXPECT_EQ(irq_to_pin[0], 2u);
  for (unsigned irq = 1; irq < 16; ++irq) {
    if (irq != 2) EXPECT_EQ(irq_to_pin[irq], irq) << irq;
  }
}

TEST_F(BiosTest, TheApicIdsComeFromTheConfig) {
  PcBiosConfig c;
  c.lapic_id = 5;
  c.ioapic_id = 9;
  ASSERT_TRUE(write_pc_bios_tables(memory, c).ok());
  const std::uint32_t t = u32(find_floating_pointer() + 4);
  EXPECT_EQ(u8(t + 44 + 1), 5u);
  EXPECT_EQ(u8(t + 44 + 20 + 8 + 1), 9u);
  EXPECT_EQ(u8(t + 44 + 20 + 8 + 8 + 6), 9u);  // the interrupt entries name it too
}

TEST_F(BiosTest, ConfigsTheSpecForbidsAreRefusedAndWriteNothing) {
  const std::vector<std::uint8_t> before = ram;
  PcBiosConfig c;
  c.lapic_id = 0xff;
  EXPECT_EQ(write_pc_bios_tables(memory, c).error(), Error::invalid_argument);
  c = PcBiosConfig{};
  c.ioapic_id = 16;
  EXPECT_EQ(write_pc_bios_tables(memory, c).error(), Error::invalid_argument);
  c = PcBiosConfig{};
  c.ioapic_id = c.lapic_id;
  EXPECT_EQ(write_pc_bios_tables(memory, c).error(), Error::invalid_argument);
  EXPECT_EQ(ram, before);
}

TEST(BiosTables, GuestRamThatMissesTheEbdaIsAFaultAndNothingIsWritten) {
  std::vector<std::uint8_t> low(0x9f000, 0xcc);  // RAM ends below the EBDA
  mem::GuestMemory memory;
  ASSERT_TRUE(memory.add_region(GuestPhysAddr(0), low.size(), low.data()).ok());
  EXPECT_EQ(write_pc_bios_tables(memory, PcBiosConfig{}).error(), Error::fault);
  EXPECT_EQ(low[0x400], 0xcc);
  EXPECT_EQ(low[0x413], 0xcc);
}

}  // namespace
}  // namespace hvlab::vmm
