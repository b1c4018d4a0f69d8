// BIOS data area, EBDA and MP tables. Structure layouts are MP spec 1.4 chapter 4.

#include "common/vmm/bios_tables.hpp"

#include "common/devices/irq_routing.hpp"
#include "common/runtime/string.hpp"

namespace hvlab::vmm {

namespace {

// MP spec figure 4-1.
struct [[gnu::packed]] MpFloatingPointer {
  char signature[4];
  std::uint32_t config_table;
  std::uint8_t length;  // in 16-byte paragraphs
  std::uint8_t spec_rev;
  std::uint8_t checksum;
  std::uint8_t features[5];  // 1: default configuration (0: a table is present); 2 bit 7: IMCRP
};
static_assert(sizeof(MpFloatingPointer) == 16);

// MP spec figure 4-2.
struct [[gnu::packed]] MpConfigHeader {
  char signature[4];
  std::uint16_t base_length;
  std::uint8_t spec_rev;
  std::uint8_t checksum;
  char oem_id[8];
  char product_id[12];
  std::uint32_t oem_table;
  std::uint16_t oem_table_size;
  std::uint16_t entry_count;
  std::uint32_t lapic_address;
  std::uint16_t extended_length;
  std::uint8_t extended_checksum;
  std::uint8_t reserved;
};
static_assert(sizeof(MpConfigHeader) == 44);

// MP spec figure 4-4.
struct [[gnu::packed]] MpProcessor {
  std::uint8_t type;  // 0
  std::uint8_t lapic_id;
  std::uint8_t lapic_version;
  std::uint8_t flags;  // bit 0 EN, bit 1 BP
  std::uint32_t signature;
  std::uint32_t features;
  std::uint32_t reserved[2];
};
static_assert(sizeof(MpProcessor) == 20);

// MP spec figures 4-5 to 4-8.
struct [[gnu::packed]] MpBus {
  std::uint8_t type;  // 1
  std::uint8_t bus_id;
  char bus_type[6];
};
struct [[gnu::packed]] MpIoApic {
  std::uint8_t type;  // 2
  std::uint8_t id;
  std::uint8_t version;
  std::uint8_t flags;  // bit 0 EN
  std::uint32_t address;
};
struct [[gnu::packed]] MpInterrupt {
  std::uint8_t type;  // 3: I/O interrupt assignment, 4: local interrupt assignment
  std::uint8_t interrupt_type;  // 0 INT, 1 NMI, 2 SMI, 3 ExtINT
  std::uint16_t flags;          // polarity and trigger mode; 0: conforms to the bus
  std::uint8_t source_bus;
  std::uint8_t source_irq;
  std::uint8_t dest_id;   // I/O APIC ID, or 0xFF: every local APIC
  std::uint8_t dest_pin;  // INTINn or LINTINn
};
static_assert(sizeof(MpBus) == 8 && sizeof(MpIoApic) == 8 && sizeof(MpInterrupt) == 8);

constexpr std::uint8_t kEntryProcessor = 0, kEntryBus = 1, kEntryIoApic = 2, kEntryIoInterrupt = 3,
                       kEntryLocalInterrupt = 4;
constexpr std::uint8_t kInt = 0, kNmi = 1, kExtInt = 3;
constexpr std::uint8_t kIsaBus = 0;

// Every ISA IRQ but the cascade (2), the 8259's ExtINT on pin 0, LINT0 and LINT1.
constexpr unsigned kIoInterrupts = 15 + 1;
constexpr unsigned kEntries = 1 + 1 + 1 + kIoInterrupts + 2;

struct [[gnu::packed]] MpTable {
  MpConfigHeader header;
  MpProcessor cpu;
  MpBus bus;
  MpIoApic ioapic;
  MpInterrupt io[kIoInterrupts];
  MpInterrupt local[2];
};
static_assert(sizeof(MpTable) == 44 + 20 + 8 * (kEntries - 1));
static_assert(sizeof(MpTable) <= kEbdaSize - (kMpConfigTable - kEbdaBase));

// The byte that makes the bytes of `p` sum to zero (mod 256) once stored in the checksum.
std::uint8_t checksum(const void* p, std::size_t n) {
  std::uint8_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum = static_cast<std::uint8_t>(sum + static_cast<const std::uint8_t*>(p)[i]);
  return static_cast<std::uint8_t>(-sum);
}

void copy_text(char* dst, const char* src, std::size_t n) {
  // MP strings are space-padded, not NUL-terminated.
  for (std::size_t i = 0; i < n; ++i) dst[i] = *src ? *src++ : ' ';
}

MpTable build_table(const PcBiosConfig& c) {
  MpTable t{};
  copy_text(t.header.signature, "PCMP", 4);
  t.header.base_length = sizeof(MpTable);
  t.header.spec_rev = 4;
  copy_text(t.header.oem_id, "HVLAB", 8);
  copy_text(t.header.product_id, "PC", 12);
  t.header.entry_count = kEntries;
  t.header.lapic_address = c.lapic_base;

  t.cpu = MpProcessor{kEntryProcessor, c.lapic_id, c.lapic_version, 0x03, c.cpu_signature, c.cpu_features, {0, 0}};
  t.bus.type = kEntryBus;
  t.bus.bus_id = kIsaBus;
  copy_text(t.bus.bus_type, "ISA", 6);
  t.ioapic = MpIoApic{kEntryIoApic, c.ioapic_id, c.ioapic_version, 0x01, c.ioapic_base};

  unsigned n = 0;
  t.io[n++] = MpInterrupt{kEntryIoInterrupt, kExtInt, 0, kIsaBus, 0, c.ioapic_id, 0};
  for (unsigned irq = 0; irq < 16; ++irq) {
    if (irq == 2) continue;  // the cascade: no device has it
    t.io[n++] = MpInterrupt{kEntryIoInterrupt, kInt, 0, kIsaBus, static_cast<std::uint8_t>(irq), c.ioapic_id,
                            static_cast<std::uint8_t>(dev::isa_irq_to_ioapic_pin(irq))};
  }
  t.local[0] = MpInterrupt{kEntryLocalInterrupt, kExtInt, 0, kIsaBus, 0, 0xff, 0};
  t.local[1] = MpInterrupt{kEntryLocalInterrupt, kNmi, 0, kIsaBus, 0, 0xff, 1};
  t.header.checksum = checksum(&t, sizeof t);
  return t;
}

// The BIOS data area (0x400-0x4FF) as a PC BIOS fills it, to the extent guests read it.
struct BiosDataArea {
  std::uint8_t bytes[0x100] = {};
  void put16(unsigned at, std::uint16_t v) {
    bytes[at - 0x400] = static_cast<std::uint8_t>(v);
    bytes[at - 0x400 + 1] = static_cast<std::uint8_t>(v >> 8);
  }
  void put8(unsigned at, std::uint8_t v) { bytes[at - 0x400] = v; }
};

BiosDataArea build_bda(const PcBiosConfig& c) {
  BiosDataArea bda;
  unsigned serial = 0;
  for (unsigned i = 0; i < 4; ++i) {
    bda.put16(0x400 + 2 * i, c.com_ports[i]);
    if (c.com_ports[i]) ++serial;
  }
  bda.put16(0x40e, static_cast<std::uint16_t>(kEbdaBase >> 4));
  // Equipment word: bits 11:9 serial ports, 5:4 initial video mode (10: 80x25 colour), bit 1
  // a maths coprocessor (CPUID.1:EDX.FPU).
  std::uint16_t equipment = static_cast<std::uint16_t>(serial << 9);
  if (c.cga_text) equipment |= 2u << 4;
  if (c.cpu_features & 1) equipment |= 1u << 1;
  bda.put16(0x410, equipment);
  bda.put16(0x413, kBaseMemoryKiB);
  if (c.cga_text) {
    bda.put8(0x449, 3);         // video mode 3: 80x25 colour text
    bda.put16(0x44a, 80);       // columns
    bda.put16(0x44c, 80 * 25 * 2);  // bytes per page
    bda.put16(0x463, 0x3d4);    // the CRT controller's index port
    bda.put8(0x484, 25 - 1);    // rows minus one
    bda.put8(0x485, 16);        // character height
  }
  return bda;
}

}  // namespace

Result<PcBiosLayout> write_pc_bios_tables(mem::GuestMemory& memory, const PcBiosConfig& config) {
  if (config.lapic_id == 0xff || config.ioapic_id > 15 || config.ioapic_id == config.lapic_id) {
    return Error::invalid_argument;
  }
  if (!memory.contains(GuestPhysAddr(0x400), 0x100) || !memory.contains(GuestPhysAddr(kEbdaBase), kEbdaSize)) {
    return Error::fault;
  }

  const BiosDataArea bda = build_bda(config);
  const MpTable table = build_table(config);
  MpFloatingPointer fp{};
  copy_text(fp.signature, "_MP_", 4);
  fp.config_table = kMpConfigTable;
  fp.length = 1;
  fp.spec_rev = 4;
  // features[0] = 0: the configuration table is present; features[1] bit 7 (IMCRP) = 0:
  // virtual wire mode, so no IMCR to program.
  fp.checksum = checksum(&fp, sizeof fp);

  std::uint8_t ebda[kEbdaSize] = {};
  ebda[0] = kEbdaSize / 1024;  // the EBDA's first byte is its size in KiB
  rt::mem_copy(ebda + (kMpFloatingPointer - kEbdaBase), &fp, sizeof fp);
  rt::mem_copy(ebda + (kMpConfigTable - kEbdaBase), &table, sizeof table);

  HV_TRY(memory.copy_in(GuestPhysAddr(0x400), bda.bytes, sizeof bda.bytes));
  HV_TRY(memory.copy_in(GuestPhysAddr(kEbdaBase), ebda, sizeof ebda));
  return PcBiosLayout{kEbdaBase, kMpFloatingPointer, kMpConfigTable, sizeof(MpTable), kEntries};
}

}  // namespace hvlab::vmm
