// pc: the PC platform an unmodified operating system looks for besides the legacy devices:
// the BIOS's MP tables, the local APIC (its ID, its timer), the I/O APIC routing an ISA
// interrupt to a vector, an IDE disk read by PIO, and RDTSCP's IA32_TSC_AUX. What these
// tests read on the disk is the kit's test disk (common/devices/test_disk.hpp) on the IDE
// primary slave, which the runner gives every boot and a monitor serves when it has no disk
// image of its own.
//
// Each test leaves the APICs, the RTC and the disk as it found them (the harness resets the
// legacy devices only), so the 8259's interrupts keep reaching the processor in virtual wire
// mode for the tests that follow.

#include "autograder/guests/suite/suite.hpp"
#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/devices/test_disk.hpp"

namespace hvlab::guest {
namespace {

constexpr std::uint32_t kApicBaseMsr = 0x1b, kTscAuxMsr = 0xc0000103;
constexpr std::uint32_t kIoApicBase = 0xfec00000;
// Local APIC registers (SDM vol. 3A table 10-1).
constexpr std::uint32_t kId = 0x20, kVersion = 0x30, kTpr = 0x80, kEoi = 0xb0, kSvr = 0xf0, kLvtTimer = 0x320,
                        kTimerInitial = 0x380, kTimerCurrent = 0x390, kTimerDivide = 0x3e0;
constexpr std::uint32_t kLvtMasked = 1u << 16, kLvtPeriodic = 1u << 17, kSvrEnable = 1u << 8;
// Test pages (test_va) these tests map device and BIOS memory at.
constexpr unsigned kLapicPage = 0, kIoApicPage = 1, kBdaPage = 2, kMpPage = 3;  // kMpPage: two pages

// Maps the 4 KiB at physical `pa` at test page `page`, uncached; returns its address.
volatile std::uint32_t* map_page(unsigned page, std::uint32_t pa) {
  set_test_pte(page, (pa & ~0xfffu) | x86::page::P | x86::page::RW | x86::page::PCD | x86::page::PWT);
  cpu::invlpg(test_va(page));
  return reinterpret_cast<volatile std::uint32_t*>(test_va(page) + (pa & 0xfff));
}

std::uint32_t apic_base() { return static_cast<std::uint32_t>(cpu::rdmsr(kApicBaseMsr)) & ~0xfffu; }

struct Lapic {
  volatile std::uint32_t* regs = map_page(kLapicPage, apic_base());
  std::uint32_t read(std::uint32_t reg) const { return regs[reg / 4]; }
  void write(std::uint32_t reg, std::uint32_t v) const { regs[reg / 4] = v; }
  std::uint8_t id() const { return static_cast<std::uint8_t>(read(kId) >> 24); }
};

// The local APIC as the test found it, put back however the test ends.
struct LapicState {
  Lapic apic;
  std::uint32_t svr = apic.read(kSvr), tpr = apic.read(kTpr), lvt = apic.read(kLvtTimer),
                divide = apic.read(kTimerDivide);
  ~LapicState() {
    cpu::irq_disable();
    apic.write(kLvtTimer, lvt | kLvtMasked);
    apic.write(kTimerInitial, 0);
    apic.write(kTimerDivide, divide);
    apic.write(kTpr, tpr);
    apic.write(kSvr, svr);
  }
};

volatile std::uint32_t g_apic_irqs;

// The local APIC is enabled at its power-up base, and its ID is the one CPUID reports.
void pc_lapic_id() {
  const std::uint64_t base_msr = cpu::rdmsr(kApicBaseMsr);
  EXPECT(base_msr & (1u << 11), "IA32_APIC_BASE.EN is clear (0x%08x): no local APIC", static_cast<unsigned>(base_msr));
  EXPECT_EQ(base_msr & 0xfffff000u, 0xfee00000u, "the local APIC's base in IA32_APIC_BASE");
  Lapic apic;
  const std::uint32_t cpuid_id = x86::read_cpuid(x86::cpuid::kFeatures).ebx >> 24;
  EXPECT_EQ(apic.id(), cpuid_id, "APIC ID register against CPUID.1:EBX[31:24]");
  const std::uint32_t version = apic.read(kVersion);
  EXPECT((version & 0xff) >= 0x10 && (version & 0xff) <= 0x15, "version register 0x%08x: not an integrated APIC",
         version);
  EXPECT(((version >> 16) & 0xff) >= 3, "version register 0x%08x: fewer than 4 LVT entries", version);
}

// The BIOS data area, the EBDA and the MP floating pointer (MP spec 1.4, chapter 4): an MP
// floating pointer in the EBDA's first KiB, the last KiB of base memory or the BIOS ROM, with
// a configuration table naming this processor's local APIC and an I/O APIC.
const volatile std::uint8_t* find_mp(std::uint32_t from, std::uint32_t length) {
  for (std::uint32_t p = from & ~15u; p + 16 <= from + length; p += 16) {
    auto* b = reinterpret_cast<const volatile std::uint8_t*>(p);
    if (b[0] != '_' || b[1] != 'M' || b[2] != 'P' || b[3] != '_') continue;
    std::uint8_t sum = 0;
    for (unsigned i = 0; i < 16; ++i) sum = static_cast<std::uint8_t>(sum + b[i]);
    if (sum == 0) return b;
  }
  return nullptr;
}

void pc_mp_table() {
  auto* bda = reinterpret_cast<const volatile std::uint8_t*>(map_page(kBdaPage, 0));
  const std::uint32_t ebda = (bda[0x40e] | bda[0x40f] << 8) << 4;
  const std::uint32_t base_kib = bda[0x413] | bda[0x414] << 8;
  EXPECT(base_kib >= 512 && base_kib <= 640, "base memory size in the BIOS data area: %u KiB", base_kib);
  // Low memory below 1 MiB is identity-mapped, page 0 aside.
  const volatile std::uint8_t* mp = ebda >= 0x1000 ? find_mp(ebda, 1024) : nullptr;
  if (!mp) mp = find_mp(base_kib * 1024 - 1024, 1024);
  if (!mp) mp = find_mp(0xf0000, 0x10000);
  EXPECT(mp != nullptr, "no MP floating pointer (\"_MP_\" with a valid checksum) in the EBDA at 0x%x, below %u KiB "
         "or in 0xF0000-0xFFFFF", ebda, base_kib);
  const std::uint32_t table = mp[4] | mp[5] << 8 | mp[6] << 16 | static_cast<std::uint32_t>(mp[7]) << 24;
  EXPECT(table != 0, "the MP floating pointer has no configuration table (default configuration %u)", mp[11]);
  auto* t = reinterpret_cast<const volatile std::uint8_t*>(map_page(kMpPage, table));
  map_page(kMpPage + 1, (table & ~0xfffu) + 0x1000);  // a table may cross into the next page
  EXPECT(t[0] == 'P' && t[1] == 'C' && t[2] == 'M' && t[3] == 'P', "MP configuration table at 0x%x: no \"PCMP\"",
         table);
  const unsigned length = t[4] | t[5] << 8, entries = t[34] | t[35] << 8;
  EXPECT(length >= 44 && length < 0x1000, "MP configuration table length %u", length);
  std::uint8_t sum = 0;
  for (unsigned i = 0; i < length; ++i) sum = static_cast<std::uint8_t>(sum + t[i]);
  EXPECT_EQ(sum, 0u, "MP configuration table checksum");
  const std::uint32_t lapic = t[36] | t[37] << 8 | t[38] << 16 | static_cast<std::uint32_t>(t[39]) << 24;
  EXPECT_EQ(lapic, apic_base(), "the local APIC address in the MP configuration table");
  const std::uint8_t my_id = Lapic{}.id();
  bool bsp = false, ioapic = false;
  unsigned at = 44;
  for (unsigned e = 0; e < entries && at < length; ++e) {
    const std::uint8_t type = t[at];
    if (type == 0) {  // processor: APIC ID, version, flags (EN, BP)
      if (t[at + 1] == my_id && (t[at + 3] & 3) == 3) bsp = true;
      at += 20;
    } else {
      if (type == 2 && (t[at + 3] & 1)) {  // I/O APIC, enabled, at its address
        const std::uint32_t a = t[at + 4] | t[at + 5] << 8 | t[at + 6] << 16 | static_cast<std::uint32_t>(t[at + 7]) << 24;
        ioapic = ioapic || a == kIoApicBase;
      }
      at += 8;
    }
  }
  EXPECT(bsp, "no enabled bootstrap processor entry with APIC ID %u in the MP table", my_id);
  EXPECT(ioapic, "no enabled I/O APIC entry at 0x%x in the MP table", kIoApicBase);
}

// The local APIC timer: a one-shot count runs down and interrupts once; periodic interrupts
// again (SDM 10.5.4).
void pc_lapic_timer() {
  LapicState saved;
  const Lapic& apic = saved.apic;
  g_apic_irqs = 0;
  set_trap_handler(kSpareVectorA, [](TrapFrame&) {
    g_apic_irqs = g_apic_irqs + 1;
    Lapic{}.write(kEoi, 0);
  });
  apic.write(kSvr, saved.svr | kSvrEnable);
  apic.write(kTpr, 0);
  apic.write(kTimerDivide, 0xb);  // divide by 1
  apic.write(kLvtTimer, kSpareVectorA);
  // The count runs down from the initial count: a long one (seconds at any bus clock), so
  // that a host that stops the machine for a while between the write and the read cannot
  // make it expire in between. Writing the initial count again restarts the timer.
  apic.write(kTimerInitial, 0xffffffffu);
  const std::uint32_t first = apic.read(kTimerCurrent);
  delay_ms(1);
  const std::uint32_t later = apic.read(kTimerCurrent);
  apic.write(kTimerInitial, 200000);
  cpu::irq_enable();
  const bool one = wait_until([] { return g_apic_irqs >= 1; }, 500);
  delay_ms(2);
  cpu::irq_disable();
  EXPECT(first > 0, "current count 0 right after writing an initial count of 0xffffffff");
  EXPECT(later < first, "current count %u, 1 ms after %u: the count does not run down", later, first);
  EXPECT(one, "no local APIC timer interrupt within 500 ms of a one-shot count of 200000");
  EXPECT_EQ(g_apic_irqs, 1u, "interrupts from one one-shot count");
  EXPECT_EQ(apic.read(kTimerCurrent), 0u, "current count after the one-shot expiry");

  g_apic_irqs = 0;
  apic.write(kLvtTimer, kLvtPeriodic | kSpareVectorA);
  apic.write(kTimerInitial, 200000);
  cpu::irq_enable();
  const bool again = wait_until([] { return g_apic_irqs >= 3; }, 1500);
  cpu::irq_disable();
  apic.write(kLvtTimer, kLvtMasked | kSpareVectorA);
  apic.write(kTimerInitial, 0);
  // An expiry requested while interrupts were off stays in IRR: take it here, with this
  // test's handler, rather than in the next test.
  cpu::irq_enable();
  delay_ms(2);
  cpu::irq_disable();
  EXPECT(again, "only %u periodic local APIC timer interrupts within 1.5 s", g_apic_irqs);
}

// The I/O APIC routes an ISA interrupt to a vector of the local APIC: the RTC's periodic
// interrupt (IRQ 8, pin 8) with the 8259 leaving IRQ 8 masked (82093AA data sheet 3.2.4).
struct IoApic {
  volatile std::uint32_t* regs = map_page(kIoApicPage, kIoApicBase);
  std::uint32_t read(std::uint8_t reg) const {
    regs[0] = reg;
    return regs[4];
  }
  void write(std::uint8_t reg, std::uint32_t v) const {
    regs[0] = reg;
    regs[4] = v;
  }
};

std::uint8_t cmos_read(std::uint8_t reg) {
  cpu::out8(0x70, reg);
  return cpu::in8(0x71);
}
void cmos_write(std::uint8_t reg, std::uint8_t v) {
  cpu::out8(0x70, reg);
  cpu::out8(0x71, v);
}

volatile std::uint32_t g_rtc_irqs;

void pc_ioapic_route() {
  constexpr unsigned kPin = 8;
  LapicState lapic;
  IoApic io;
  const std::uint32_t version = io.read(1);
  EXPECT(((version >> 16) & 0xff) >= 15, "I/O APIC version register 0x%08x: fewer than 16 pins", version);
  struct Restore {
    IoApic io;
    std::uint32_t low, high;
    std::uint8_t rtc_a = cmos_read(0x0a), rtc_b = cmos_read(0x0b);
    ~Restore() {
      cpu::irq_disable();
      cmos_write(0x0b, rtc_b);
      (void)cmos_read(0x0c);
      cmos_write(0x0a, rtc_a);
      io.write(0x10 + 2 * kPin, low | (1u << 16));
      io.write(0x11 + 2 * kPin, high);
    }
  } restore{io, io.read(0x10 + 2 * kPin), io.read(0x11 + 2 * kPin)};
  g_rtc_irqs = 0;
  set_trap_handler(kSpareVectorB, [](TrapFrame&) {
    g_rtc_irqs = g_rtc_irqs + 1;
    (void)cmos_read(0x0c);  // acknowledge the RTC
    Lapic{}.write(kEoi, 0);
  });
  lapic.apic.write(kSvr, lapic.svr | kSvrEnable);
  lapic.apic.write(kTpr, 0);
  pic8259::mask(8);
  // Edge-triggered, active high, fixed delivery to this processor's APIC ID.
  io.write(0x11 + 2 * kPin, static_cast<std::uint32_t>(lapic.apic.id()) << 24);
  io.write(0x10 + 2 * kPin, kSpareVectorB);
  cmos_write(0x0a, static_cast<std::uint8_t>((restore.rtc_a & 0xf0) | 0x06));  // 1024 Hz
  (void)cmos_read(0x0c);
  cmos_write(0x0b, static_cast<std::uint8_t>(restore.rtc_b | 0x40));  // PIE
  cpu::irq_enable();
  const bool got = wait_until([] { return g_rtc_irqs >= 2; }, 500);
  cpu::irq_disable();
  // Periodic interrupts off, then one that was already on its way taken here.
  cmos_write(0x0b, restore.rtc_b);
  io.write(0x10 + 2 * kPin, kSpareVectorB | (1u << 16));
  cpu::irq_enable();
  delay_ms(2);
  cpu::irq_disable();
  EXPECT(got, "%u RTC interrupts through I/O APIC pin %u within 500 ms (entry 0x%08x)", g_rtc_irqs, kPin,
         io.read(0x10 + 2 * kPin));
}

// A sector of the test disk read from the IDE primary slave by PIO, polled (ATA/ATAPI-6
// 9.7 PIO data-in), its interrupt disabled with nIEN.
bool ata_wait(std::uint8_t mask, std::uint8_t want) {
  return wait_until([mask, want] { return (cpu::in8(0x1f7) & mask) == want; }, 100);
}

bool read_test_sector(std::uint32_t lba, const char** why) {
  cpu::out8(0x1f6, 0xe0 | 0x10);  // LBA, device 1
  if (!ata_wait(0x80, 0)) return *why = "the slave stays busy", false;
  if (!(cpu::in8(0x1f7) & 0x40)) return *why = "no drive ready on the primary slave", false;
  cpu::out8(0x1f2, 1);
  cpu::out8(0x1f3, static_cast<std::uint8_t>(lba));
  cpu::out8(0x1f4, static_cast<std::uint8_t>(lba >> 8));
  cpu::out8(0x1f5, static_cast<std::uint8_t>(lba >> 16));
  cpu::out8(0x1f6, static_cast<std::uint8_t>(0xe0 | 0x10 | ((lba >> 24) & 0x0f)));
  cpu::out8(0x1f7, 0x20);  // READ SECTORS
  if (!ata_wait(0x88, 0x08)) return *why = "no data request (DRQ) after READ SECTORS", false;
  if (cpu::in8(0x1f7) & 0x01) return *why = "READ SECTORS ended with an error", false;
  return true;
}

void pc_ide_read() {
  cpu::out8(0x3f6, 0x02);  // nIEN: polled
  for (std::uint32_t lba : {3u, dev::kTestDiskSectors - 2}) {
    const char* why = "";
    if (!read_test_sector(lba, &why)) {
      cpu::out8(0x3f6, 0x00);
      fail("sector %u of the test disk: %s (status 0x%02x)", lba, why, cpu::in8(0x1f7));
      return;
    }
    unsigned wrong = 0, first_wrong = 0;
    std::uint32_t seen = 0;
    for (std::uint32_t w = 0; w < dev::kSectorSize / 4; ++w) {
      const std::uint32_t v = cpu::in32(0x1f0);
      if (v != dev::test_disk_word(lba, w) && wrong++ == 0) {
        first_wrong = w;
        seen = v;
      }
    }
    const std::uint8_t status = cpu::in8(0x1f7);
    cpu::out8(0x3f6, 0x00);
    EXPECT(wrong == 0, "sector %u: %u of 128 words differ from the test disk, first word %u: 0x%08x, expected 0x%08x",
           lba, wrong, first_wrong, seen, dev::test_disk_word(lba, first_wrong));
    EXPECT_EQ(status & 0x89, 0u, "status after the whole sector (BSY, DRQ, ERR)");
  }
}

// RDTSCP returns IA32_TSC_AUX in ECX (SDM vol. 2 RDTSCP).
void pc_rdtscp_aux() {
  const bool has = (x86::read_cpuid(0x80000001).edx >> 27) & 1;
  EXPECT(has, "CPUID.80000001H:EDX.RDTSCP[bit 27] is clear");
  cpu::wrmsr(kTscAuxMsr, 0x5a5a);
  std::uint32_t lo, hi, aux;
  const std::uint64_t before = cpu::rdtsc();
  asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
  cpu::wrmsr(kTscAuxMsr, 0);
  // (RDMSR of IA32_TSC_AUX is not checked: QEMU's TCG answers 0, as for the TSC itself.)
  EXPECT_EQ(aux, 0x5a5au, "ECX after RDTSCP with IA32_TSC_AUX = 0x5a5a");
  EXPECT((std::uint64_t{hi} << 32 | lo) >= before, "RDTSCP's TSC went back from RDTSC's");
}

const TestCase kTests[] = {
    {"pc_lapic_id", pc_lapic_id},         {"pc_mp_table", pc_mp_table},     {"pc_lapic_timer", pc_lapic_timer},
    {"pc_ioapic_route", pc_ioapic_route}, {"pc_ide_read", pc_ide_read},     {"pc_rdtscp_aux", pc_rdtscp_aux},
};

}  // namespace

GUEST_TEST_GROUP(kPcGroup, kTests);

}  // namespace hvlab::guest
