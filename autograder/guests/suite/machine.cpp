// The guest kernel's machine: its own GDT, LDT, TSS and IDT, its page tables, the PIT and
// PIC, and a TSC calibrated against PIT channel 2. Everything privileged goes through the
// CPU-operations layer (cpuops.hpp).

#include "autograder/guests/suite/suite.hpp"

#include "common/arch/paging.hpp"
#include "common/boot/descriptor_tables.hpp"
#include "common/runtime/string.hpp"

extern "C" const std::uint32_t hvlab_isr_table[256];

namespace hvlab::guest {

using namespace x86;

// ---- Descriptor tables --------------------------------------------------------------------

alignas(8) volatile std::uint64_t g_gdt[sel::kGdtSlots];
alignas(8) volatile std::uint64_t g_ldt[4];
alignas(8) GateDescriptor g_idt[kIdtVectors];
alignas(128) Tss32 g_tss, g_tss2;
DescriptorTableRegister g_gdtr, g_idtr;
std::uint32_t g_cr0_base, g_cr4_base;

namespace {
alignas(16) std::uint8_t g_trap_stack[16384];
// Marker pages that segment bases point at (priv_lgdt, priv_lldt).
alignas(4096) std::uint32_t g_marker_page[1024];
}  // namespace

std::uint32_t trap_stack_top() { return reinterpret_cast<std::uint32_t>(g_trap_stack + sizeof g_trap_stack); }
std::uint32_t isr_stub(unsigned vector) { return hvlab_isr_table[vector & 0xff]; }

void setup_descriptor_tables() {
  auto raw = [](SegmentDescriptor d) { return d.raw(); };
  const std::uint32_t ldt_base = reinterpret_cast<std::uint32_t>(&g_ldt[0]);
  const std::uint32_t marker = reinterpret_cast<std::uint32_t>(g_marker_page);
  g_marker_page[0] = 0x6d61726b;  // "mark": the base the suite's own GDT gives sel::kMarker

  volatile std::uint64_t* gdt = g_gdt;
  for (unsigned i = 0; i < sel::kGdtSlots; ++i) cpu::write_descriptor(&gdt[i], 0);
  cpu::write_descriptor(&gdt[1], raw(SegmentDescriptor::make(0, 0xffffffff, desc_type::kCodeRX, 0)));
  cpu::write_descriptor(&gdt[2], raw(SegmentDescriptor::make(0, 0xffffffff, desc_type::kDataRW, 0)));
  cpu::write_descriptor(&gdt[3], raw(SegmentDescriptor::make(0, 0xffffffff, desc_type::kCodeRX, 3)));
  cpu::write_descriptor(&gdt[4], raw(SegmentDescriptor::make(0, 0xffffffff, desc_type::kDataRW, 3)));
  // The boot TSS stays described (busy) so the TR the boot code loaded remains coherent.
  cpu::write_descriptor(&gdt[5], gdt_get(gdt::kTss).raw());
  cpu::write_descriptor(&gdt[6], raw(SegmentDescriptor::make(0, 0xffffffff, desc_type::kCodeRX, 0)));
  cpu::write_descriptor(&gdt[7], raw(SegmentDescriptor::make(0, 0xffffffff, desc_type::kDataRW, 0)));
  SegmentDescriptor np = SegmentDescriptor::make(0, 0xffffffff, desc_type::kDataRW, 0);
  np.p = 0;
  cpu::write_descriptor(&gdt[8], raw(np));
  cpu::write_descriptor(&gdt[9], raw(SegmentDescriptor::make(marker, 0xfff, desc_type::kDataRW, 0)));
  cpu::write_descriptor(&gdt[11], raw(SegmentDescriptor::make(ldt_base, sizeof g_ldt - 1, desc_type::kLdt, 0,
                                                              false, false)));

  // The LDT: entry 1 is a data segment over the marker page, offset by one word, so a read
  // through it differs from one through the GDT's marker selector.
  volatile std::uint64_t* ldt = g_ldt;
  for (auto& e : g_ldt) cpu::write_descriptor(&e, 0);
  cpu::write_descriptor(&ldt[1], raw(SegmentDescriptor::make(marker + 4, 0xffb, desc_type::kDataRW, 0)));
  g_marker_page[1] = 0x6c647431;  // "ldt1"

  rt::mem_set(&g_tss, 0, sizeof g_tss);
  g_tss.iomap_base = sizeof(Tss32);  // no I/O bitmap: ports fault at CPL > IOPL
  cpu::write_descriptor(&gdt[12], raw(SegmentDescriptor::make(reinterpret_cast<std::uint32_t>(&g_tss),
                                                              sizeof(Tss32) - 1, desc_type::kTss32Available, 0,
                                                              false, false)));

  for (unsigned v = 0; v < kIdtVectors; ++v) {
    g_idt[v] = GateDescriptor::make(isr_stub(v), sel::kKernelCS, desc_type::kInterruptGate32,
                                    v == kSyscallVector ? 3 : 0);
  }

  g_gdtr = {static_cast<std::uint16_t>(sizeof g_gdt - 1), reinterpret_cast<std::uint32_t>(&g_gdt[0])};
  g_idtr = {static_cast<std::uint16_t>(sizeof g_idt - 1), reinterpret_cast<std::uint32_t>(&g_idt[0])};
  cpu::load_gdt(g_gdtr, sel::kKernelCS, sel::kKernelDS);
  cpu::load_idt(g_idtr);
  cpu::load_ldt(sel::kLdt);
  cpu::load_tr(sel::kTss, &g_tss);
  cpu::set_kernel_stack(sel::kKernelDS, trap_stack_top());
}

// ---- Paging -------------------------------------------------------------------------------

alignas(4096) volatile std::uint32_t g_pd[1024];
alignas(4096) volatile std::uint32_t g_test_pt[1024];
alignas(4096) std::uint8_t g_user_stack[4096];
alignas(4096) volatile std::uint32_t g_user_data[1024];

namespace {
constexpr unsigned kMaxKernelTables = 64;  // identity map up to 256 MiB
alignas(4096) volatile std::uint32_t g_kernel_pts[kMaxKernelTables][1024];
alignas(4096) std::uint8_t g_frames[kFrames][4096];
unsigned g_kernel_tables = 0;

constexpr std::uint32_t kP = page::P, kRW = page::RW, kUS = page::US;

std::uint32_t addr(const volatile void* p) { return reinterpret_cast<std::uint32_t>(p); }
}  // namespace

std::uint8_t* frame(unsigned i) { return g_frames[i % kFrames]; }
std::uint32_t pd_phys() { return addr(g_pd); }

volatile std::uint32_t* kernel_pte(std::uint32_t va) {
  unsigned t = va >> 22;
  if (t >= g_kernel_tables) return nullptr;
  return &g_kernel_pts[t][(va >> 12) & 0x3ff];
}

void set_test_pte(unsigned page, std::uint32_t value) { cpu::set_pte(&g_test_pt[page % kTestPages], value); }

void clear_test_mappings() {
  for (unsigned i = 0; i < kTestPages; ++i) {
    if (g_test_pt[i]) cpu::set_pte(&g_test_pt[i], 0);
  }
  if (g_pd[kLargeTestBase >> 22]) cpu::set_pte(&g_pd[kLargeTestBase >> 22], 0);
  cpu::load_cr3(pd_phys());
}

void open_to_user(std::uint32_t begin, std::uint32_t end) {
  for (std::uint32_t va = begin & ~0xfffu; va < end; va += 4096) {
    if (auto* pte = kernel_pte(va)) cpu::set_pte(pte, *pte | kUS);
  }
}

void setup_paging(std::uint32_t ram_top) {
  ram_top &= ~0xfffu;
  if (ram_top > kMaxKernelTables * 0x400000u) ram_top = kMaxKernelTables * 0x400000u;
  g_kernel_tables = (ram_top + 0x3fffff) >> 22;
  for (unsigned i = 0; i < 1024; ++i) cpu::set_pte(&g_pd[i], 0);
  for (unsigned t = 0; t < g_kernel_tables; ++t) {
    for (unsigned i = 0; i < 1024; ++i) {
      std::uint32_t pa = (t << 22) | (i << 12);
      // Page 0 stays unmapped so a null pointer faults.
      cpu::set_pte(&g_kernel_pts[t][i], (pa != 0 && pa < ram_top) ? (pa | kP | kRW) : 0);
    }
    // U/S and R/W are open at the directory level; each PTE decides.
    cpu::set_pte(&g_pd[t], addr(g_kernel_pts[t]) | kP | kRW | kUS);
  }
  for (unsigned i = 0; i < 1024; ++i) cpu::set_pte(&g_test_pt[i], 0);
  cpu::set_pte(&g_pd[kTestBase >> 22], addr(g_test_pt) | kP | kRW | kUS);

  // User-accessible pages: the user programs, their stack and their data page.
  open_to_user(addr(guest_user_begin), addr(guest_user_end));
  open_to_user(addr(g_user_stack), addr(g_user_stack) + sizeof g_user_stack);
  open_to_user(addr(g_user_data), addr(g_user_data) + sizeof g_user_data);

  g_cr0_base = cpu::read_cr0() | cr0::PG | cr0::WP | cr0::NE | cr0::MP;
  g_cr0_base &= ~(cr0::TS | cr0::EM | cr0::CD | cr0::NW | cr0::AM);
  cpu::enable_paging(pd_phys(), cr0::WP);
  cpu::write_cr0(g_cr0_base);
  g_cr4_base = cpu::read_cr4();
}

std::uint32_t usable_ram_top(const BootInfo& boot) {
  // The end of the highest usable RAM range below 3 GiB.
  std::uint64_t top = 0;
  for (unsigned i = 0; i < boot.range_count; ++i) {
    const auto& r = boot.ranges[i];
    if (r.type != 1) continue;
    std::uint64_t end = r.base + r.length;
    if (end > 0xc0000000ull) end = 0xc0000000ull;
    if (end > top) top = end;
  }
  if (top == 0 && boot.mem_upper_kib) top = (std::uint64_t{boot.mem_upper_kib} << 10) + 0x100000;
  return top ? static_cast<std::uint32_t>(top) : 16u << 20;  // no information: assume 16 MiB
}

void init_machine(std::uint32_t ram_top) {
  setup_descriptor_tables();
  setup_paging(ram_top);
  calibrate_tsc();
  timer_program_default();
}

// ---- PIC, PIT and time --------------------------------------------------------------------

namespace pic8259 {
void set_masks(std::uint16_t m) {
  cpu::out8(0x21, static_cast<std::uint8_t>(m));
  cpu::out8(0xa1, static_cast<std::uint8_t>(m >> 8));
}
std::uint16_t masks() { return static_cast<std::uint16_t>(cpu::in8(0x21) | (cpu::in8(0xa1) << 8)); }
void unmask(unsigned irq) { set_masks(masks() & static_cast<std::uint16_t>(~(1u << irq))); }
void mask(unsigned irq) { set_masks(masks() | static_cast<std::uint16_t>(1u << irq)); }
std::uint16_t read_irr() {
  cpu::out8(0x20, 0x0a), cpu::out8(0xa0, 0x0a);  // OCW3: read IRR on the next command-port read
  return static_cast<std::uint16_t>(cpu::in8(0x20) | (cpu::in8(0xa0) << 8));
}
std::uint16_t read_isr() {
  cpu::out8(0x20, 0x0b), cpu::out8(0xa0, 0x0b);  // OCW3: read ISR
  std::uint16_t v = static_cast<std::uint16_t>(cpu::in8(0x20) | (cpu::in8(0xa0) << 8));
  cpu::out8(0x20, 0x0a), cpu::out8(0xa0, 0x0a);  // back to IRR, the power-on default
  return v;
}
}  // namespace pic8259

bool wait_irq_pending(unsigned irq, unsigned ms) {
  return wait_until([irq] { return (pic8259::read_irr() >> irq) & 1; }, ms);
}

TimerState g_timer;

namespace {
std::uint64_t g_tsc_per_ms = 1000000;  // until calibrated: assume 1 GHz

void on_timer(TrapFrame& f) {
  if (g_timer.ticks == 0) {
    g_timer.first_cs = f.cs;
    g_timer.first_eip = f.eip;
  }
  g_timer.ticks = g_timer.ticks + 1;
  g_timer.last_cs = f.cs;
  if (g_timer.set_user_flag) g_user_data[0] = g_timer.ticks;
  if (g_timer.eoi) cpu::pic_eoi(0);
}
}  // namespace

void timer_arm(bool eoi) {
  g_timer.ticks = 0;
  g_timer.first_cs = g_timer.first_eip = g_timer.last_cs = 0;
  g_timer.eoi = eoi;
  g_timer.set_user_flag = false;
  set_trap_handler(kIrqBase + 0, on_timer);
}

void timer_program_default() {
  std::uint32_t divisor = 1193182 / kTimerHz;
  cpu::out8(0x43, 0x34);  // channel 0, lobyte/hibyte, mode 2 (rate generator), binary
  cpu::out8(0x40, static_cast<std::uint8_t>(divisor));
  cpu::out8(0x40, static_cast<std::uint8_t>(divisor >> 8));
}

std::uint64_t tsc_per_ms() { return g_tsc_per_ms; }

void calibrate_tsc() {
  // PIT channel 2 in mode 0 counts down once; its OUT pin (port 0x61 bit 5) goes high at
  // zero. Gate on (bit 0), speaker off (bit 1). A host that deschedules the emulator can
  // only make a sample too long, so the shortest of several wins.
  constexpr std::uint16_t kCount = 1193;  // 1 ms
  std::uint64_t best = ~std::uint64_t{0};
  cpu::out8(0x61, static_cast<std::uint8_t>((cpu::in8(0x61) & ~0x02) | 0x01));
  for (unsigned sample = 0; sample < 5; ++sample) {
    cpu::out8(0x43, 0xb0);  // channel 2, lobyte/hibyte, mode 0
    cpu::out8(0x42, kCount & 0xff);
    std::uint64_t start = cpu::rdtsc();
    cpu::out8(0x42, kCount >> 8);  // counting starts with the last byte
    std::uint32_t spins = 0;
    while (!(cpu::in8(0x61) & 0x20) && spins < 200000) ++spins;
    std::uint64_t delta = cpu::rdtsc() - start;
    if (!(cpu::in8(0x61) & 0x20)) break;  // no working channel 2: keep the default
    if (delta < best) best = delta;
  }
  if (best != ~std::uint64_t{0} && best >= 1000) g_tsc_per_ms = best;
}

void delay_ms(unsigned ms) {
  wait_until([] { return false; }, ms);
}

}  // namespace hvlab::guest
