// hostile_fs_gs: loads FS and GS with selectors of its own, far up a GDT of its own (a
// per-CPU segment at selector 0x2080, the way some kernels keep per-CPU data, and another at
// 0x2078), then takes every kind of trap and exit a monitor sees: port I/O, CPUID, a page
// fault it handles itself, timer interrupts while halted. After each it checks that FS and
// GS still hold its selectors and still reach its data. A monitor that runs with the
// guest's FS and GS loaded, or restores its own, or drops selectors beyond a small GDT,
// shows up here. Passes on bare metal; a monitor must let it pass too.

#include "autograder/guests/hostile/hostile.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/boot/descriptor_tables.hpp"
#include "common/boot/kernel.hpp"
#include "common/boot/legacy_pic.hpp"
#include "common/boot/trap.hpp"

using namespace hvlab;

namespace {

constexpr std::uint16_t kFs = 0x2078, kGs = 0x2080;  // GDT slots 1039 and 1040
constexpr unsigned kSlots = (kGs >> 3) + 1;
constexpr std::uint32_t kFsMagic = 0xf5f5f5f5u, kGsMagic = 0x65656565u;

alignas(8) std::uint64_t g_gdt[kSlots];
alignas(16) volatile std::uint32_t g_fs_area[16], g_gs_area[16];
alignas(4096) std::uint32_t g_pt[1024];  // 4 KiB pages for 4-8 MiB, one of them missing
constexpr std::uint32_t kMissing = 0x00500000;
volatile unsigned g_page_faults = 0, g_ticks = 0;
unsigned g_test = 0, g_failed = 0;

/// What FS and GS hold now, and the first word each reaches.
struct Segments {
  std::uint32_t fs = 0, gs = 0, fs_word = 0, gs_word = 0;
};
Segments segments() {
  Segments s;
  asm volatile("mov %%fs, %0\n mov %%gs, %1\n mov %%fs:0, %2\n mov %%gs:0, %3"
               : "=r"(s.fs), "=r"(s.gs), "=r"(s.fs_word), "=r"(s.gs_word));
  return s;
}

void check(const char* after) {
  Segments s = segments();
  bool ok = s.fs == kFs && s.gs == kGs && s.fs_word == kFsMagic && s.gs_word == kGsMagic;
  ++g_test;
  if (!ok) {
    ++g_failed;
    kprintf("# hostile_fs_gs: after %s: FS=0x%04x GS=0x%04x (expected 0x%04x, 0x%04x)\n", after, s.fs, s.gs, kFs,
            kGs);
  }
  kprintf("%s %u fs_gs_after_%s\n", ok ? "ok" : "not ok", g_test, after);
}

void on_page_fault(TrapFrame&) {
  ++g_page_faults;
  g_pt[(kMissing >> 12) & 0x3ff] = kMissing | 0x3;
  x86::invlpg(kMissing);
}

void on_tick(TrapFrame&) {
  ++g_ticks;
  pic::eoi(0);
}

}  // namespace

int kernel_main(const BootInfo&) {
  kprintf("KTAP version 1\n1..6\n");
  hostile::announce_more("fs_gs",
                         "its own GDT of 1041 slots, FS = 0x2078 and GS = 0x2080 (per-CPU data segments), then port "
                         "I/O, CPUID, a page fault and timer interrupts, checking FS and GS after each");
  // The boot GDT's slots, then two data segments far up, each based at its own area.
  for (unsigned i = 0; i < gdt::kSlots; ++i) g_gdt[i] = gdt_get(i).raw();
  g_fs_area[0] = kFsMagic;
  g_gs_area[0] = kGsMagic;
  namespace dt = x86::desc_type;
  g_gdt[kFs >> 3] = x86::SegmentDescriptor::make(reinterpret_cast<std::uint32_t>(g_fs_area), 63, dt::kDataRW, 0).raw();
  g_gdt[kGs >> 3] = x86::SegmentDescriptor::make(reinterpret_cast<std::uint32_t>(g_gs_area), 63, dt::kDataRW, 0).raw();
  x86::DescriptorTableRegister gdtr{sizeof g_gdt - 1, reinterpret_cast<std::uint32_t>(g_gdt)};
  x86::lgdt(gdtr);
  asm volatile("mov %0, %%fs\n mov %1, %%gs" ::"r"(kFs), "r"(kGs) : "memory");
  check("load");

  for (unsigned i = 0; i < 200; ++i) {
    (void)x86::inb(0x61);
    x86::outb(0x80, static_cast<std::uint8_t>(i));
  }
  check("port_io");

  for (unsigned i = 0; i < 200; ++i) (void)x86::read_cpuid(i & 1);
  check("cpuid");

  // Paging on, 4 MiB pages but for 4-8 MiB, whose page 0x500000 is missing until the
  // guest's own #PF handler maps it.
  std::uint32_t* pd = hostile::identity_page_directory();
  for (unsigned i = 0; i < 1024; ++i) g_pt[i] = (0x00400000u + (i << 12)) | 0x3;
  g_pt[(kMissing >> 12) & 0x3ff] = 0;
  pd[1] = reinterpret_cast<std::uint32_t>(g_pt) | 0x3;
  set_trap_handler(x86::vector::PF, on_page_fault);
  hostile::enable_paging(pd);
  *reinterpret_cast<volatile std::uint32_t*>(kMissing) = 1;
  if (g_page_faults != 1) kprintf("# hostile_fs_gs: %u page faults, expected 1\n", g_page_faults);
  check("page_fault");

  set_trap_handler(kIrqBase, on_tick);
  pit::start_periodic(1000);
  pic::unmask(0);
  while (g_ticks < 20) asm volatile("sti; hlt; cli" ::: "memory");
  pic::mask(0);
  check("timer_interrupts");

  std::uint32_t sum = 0;
  for (unsigned i = 0; i < 100; ++i) {
    (void)x86::inb(0x71);
    Segments now = segments();
    sum += now.fs_word ^ now.gs_word;
  }
  check(sum == 100u * (kFsMagic ^ kGsMagic) ? "mixed_use" : "mixed_use_values");

  kprintf("# summary: %u passed, %u failed\n", g_test - g_failed, g_failed);
  if (g_failed) return 1;
  kprintf("# hostile_fs_gs: FS and GS kept through every trap\n");
  return 0;
}
