// priv: privileged instructions (they fault at CPL > 0). Each must have its architectural
// effect at ring 0, checked by reading the effect back through behaviour or through
// another privileged instruction, never through a sensitive-but-unprivileged one (so a
// correct trap-and-emulate monitor passes all of them).

#include "autograder/guests/suite/suite.hpp"

#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/runtime/string.hpp"

namespace hvlab::guest {
namespace {

using namespace x86;

std::uint32_t read_fs0(std::uint16_t selector) {
  std::uint32_t v;
  asm volatile(
      "mov %w1, %%fs\n"
      "mov %%fs:0, %0\n"
      "mov %w2, %%fs\n"
      : "=&r"(v)
      : "r"(static_cast<std::uint32_t>(selector)), "r"(static_cast<std::uint32_t>(sel::kKernelDS))
      : "memory");
  return v;
}

// LGDT: a new table whose kMarker descriptor has another base; a segment load through it
// must see the new base.
alignas(8) std::uint64_t g_gdt2[sel::kGdtSlots];
alignas(4096) std::uint32_t g_marker2[1024];

void priv_lgdt() {
  for (unsigned i = 0; i < sel::kGdtSlots; ++i) g_gdt2[i] = g_gdt[i];
  const std::uint32_t marker = boot_value(1) & ~1u;  // even: never the original's marker ("mark")
  g_marker2[0] = marker;
  g_gdt2[sel::kMarker >> 3] =
      SegmentDescriptor::make(reinterpret_cast<std::uint32_t>(g_marker2), 0xfff, desc_type::kDataRW, 0).raw();
  DescriptorTableRegister gdtr{sizeof g_gdt2 - 1, reinterpret_cast<std::uint32_t>(g_gdt2)};
  asm volatile("lgdt %0" ::"m"(gdtr) : "memory");
  std::uint32_t seen = read_fs0(sel::kMarker);
  asm volatile("lgdt %0" ::"m"(g_gdtr) : "memory");
  std::uint32_t old = read_fs0(sel::kMarker);
  EXPECT_EQ(seen, marker, "word at fs:0 through the new GDT's marker descriptor");
  EXPECT_EQ(old, 0x6d61726bu, "word at fs:0 after reloading the original GDT");
}

// LIDT: in a second IDT, #UD's gate leads to the stub of kSpareVectorB. UD2 must arrive
// there; after reloading the original IDT it must arrive at #UD again.
GateDescriptor g_idt2[kIdtVectors];

void priv_lidt() {
  for (unsigned v = 0; v < kIdtVectors; ++v) g_idt2[v] = g_idt[v];
  g_idt2[vector::UD] = GateDescriptor::make(isr_stub(kSpareVectorB), sel::kKernelCS, desc_type::kInterruptGate32, 0);
  DescriptorTableRegister idtr{sizeof g_idt2 - 1, reinterpret_cast<std::uint32_t>(g_idt2)};
  asm volatile("lidt %0" ::"m"(idtr) : "memory");
  Trap t = catch_trap([] { asm volatile("ud2"); });
  asm volatile("lidt %0" ::"m"(g_idtr) : "memory");
  EXPECT(t.taken && t.vector == kSpareVectorB,
         "UD2 with the new IDT loaded arrived at vector %u (taken=%d), expected the new gate (stub of vector %u)",
         t.vector, t.taken, kSpareVectorB);
  Trap back = catch_trap([] { asm volatile("ud2"); });
  if (!trap_is(back, vector::UD, "UD2 after reloading the original IDT")) return;
}

// LLDT: a second LDT whose entry 1 has another base; FS loaded with an LDT selector must
// read through it.
alignas(8) std::uint64_t g_ldt2[4];

void priv_lldt() {
  g_marker2[1] = 0x6c647432;  // "ldt2"
  g_ldt2[0] = 0;
  g_ldt2[1] = SegmentDescriptor::make(reinterpret_cast<std::uint32_t>(g_marker2) + 4, 0xffb, desc_type::kDataRW, 0).raw();
  volatile std::uint64_t* gdt = g_gdt;
  cpu::write_descriptor(&gdt[sel::kLdt2 >> 3],
                        SegmentDescriptor::make(reinterpret_cast<std::uint32_t>(g_ldt2), sizeof g_ldt2 - 1,
                                                desc_type::kLdt, 0, false, false)
                            .raw());
  asm volatile("lldt %w0" ::"r"(static_cast<std::uint32_t>(sel::kLdt2)) : "memory");
  std::uint32_t seen = read_fs0(sel::kLdtMarker);
  asm volatile("lldt %w0" ::"r"(static_cast<std::uint32_t>(sel::kLdt)) : "memory");
  std::uint32_t old = read_fs0(sel::kLdtMarker);
  EXPECT_EQ(seen, 0x6c647432u, "word at fs:0 through LDT entry 1 of the new LDT");
  EXPECT_EQ(old, 0x6c647431u, "word at fs:0 after reloading the original LDT");
}

// LTR: the new TSS's descriptor turns busy, and the next trap from ring 3 runs on the
// new TSS's ESP0.
alignas(16) std::uint8_t g_stack2[4096];

void priv_ltr() {
  rt::mem_set(&g_tss2, 0, sizeof g_tss2);
  g_tss2.ss0 = sel::kKernelDS;
  g_tss2.esp0 = reinterpret_cast<std::uint32_t>(g_stack2 + sizeof g_stack2);
  g_tss2.iomap_base = sizeof(Tss32);
  volatile std::uint64_t* gdt = g_gdt;
  cpu::write_descriptor(&gdt[sel::kTss2 >> 3],
                        SegmentDescriptor::make(reinterpret_cast<std::uint32_t>(&g_tss2), sizeof(Tss32) - 1,
                                                desc_type::kTss32Available, 0, false, false)
                            .raw());
  mark_dirty(dirty::kTr);
  asm volatile("ltr %w0" ::"r"(static_cast<std::uint32_t>(sel::kTss2)) : "memory");
  SegmentDescriptor d = SegmentDescriptor::from(gdt[sel::kTss2 >> 3]);
  UserRun r = run_user(user_exit, {});
  EXPECT_EQ(d.type, desc_type::kTss32Busy, "type of the TSS descriptor after LTR");
  if (!user_exited(r, "user round trip with the new TSS")) return;
  std::uint32_t lo = reinterpret_cast<std::uint32_t>(g_stack2), hi = lo + sizeof g_stack2;
  EXPECT(r.exit_frame_at >= lo && r.exit_frame_at < hi,
         "the trap from ring 3 ran on a stack at 0x%08x, not the new TSS's ESP0 stack 0x%08x-0x%08x",
         r.exit_frame_at, lo, hi);
}

void priv_mov_cr0() {
  std::uint32_t cr0 = cpu::read_cr0();
  std::uint32_t want = (cr0 ^ cr0::MP) | cr0::TS;
  asm volatile("mov %0, %%cr0" ::"r"(want) : "memory");
  std::uint32_t seen;
  asm volatile("mov %%cr0, %0" : "=r"(seen));
  asm volatile("mov %0, %%cr0" ::"r"(cr0) : "memory");
  EXPECT_EQ(seen, want, "CR0 read back after MOV to CR0 (MP flipped, TS set)");
}

void priv_mov_cr2() {
  std::uint32_t seen;
  asm volatile("mov %1, %%cr2\n mov %%cr2, %0" : "=r"(seen) : "r"(0x12345678u));
  EXPECT_EQ(seen, 0x12345678u, "CR2 read back");
}

// MOV to CR3: a second page directory maps the test page to another frame.
alignas(4096) volatile std::uint32_t g_pd2[1024];
alignas(4096) volatile std::uint32_t g_pt2[1024];

void priv_mov_cr3() {
  std::uint32_t* a = reinterpret_cast<std::uint32_t*>(frame(0));
  std::uint32_t* b = reinterpret_cast<std::uint32_t*>(frame(1));
  // Data that differs between boots, and between the two pages.
  const std::uint32_t in_a = boot_value(2), in_b = ~in_a;
  a[0] = in_a;
  b[0] = in_b;
  set_test_pte(0, frame_pa(0) | page::P | page::RW);
  for (unsigned i = 0; i < 1024; ++i) {
    cpu::set_pte(&g_pd2[i], g_pd[i]);
    cpu::set_pte(&g_pt2[i], 0);
  }
  cpu::set_pte(&g_pt2[0], frame_pa(1) | page::P | page::RW);
  cpu::set_pte(&g_pd2[kTestBase >> 22], reinterpret_cast<std::uint32_t>(g_pt2) | page::P | page::RW | page::US);
  std::uint32_t pd2 = reinterpret_cast<std::uint32_t>(g_pd2), cr3_seen, via2, via1;
  volatile std::uint32_t* va = reinterpret_cast<volatile std::uint32_t*>(test_va(0));
  asm volatile("mov %0, %%cr3" ::"r"(pd2) : "memory");
  asm volatile("mov %%cr3, %0" : "=r"(cr3_seen));
  via2 = *va;
  asm volatile("mov %0, %%cr3" ::"r"(pd_phys()) : "memory");
  via1 = *va;
  EXPECT_EQ(cr3_seen & ~0xfffu, pd2, "CR3 read back");
  EXPECT_EQ(via2, in_b, "test page read with the second page directory");
  EXPECT_EQ(via1, in_a, "test page read after switching back");
}

void priv_mov_cr4() {
  std::uint32_t cr4 = cpu::read_cr4();
  std::uint32_t flip = cr4::PCE;
  if (read_cpuid(cpuid::kFeatures).edx & (1u << 2)) flip |= cr4::DE;  // CPUID.1:EDX.DE
  std::uint32_t want = cr4 ^ flip, seen;
  asm volatile("mov %0, %%cr4" ::"r"(want) : "memory");
  asm volatile("mov %%cr4, %0" : "=r"(seen));
  asm volatile("mov %0, %%cr4" ::"r"(cr4) : "memory");
  EXPECT_EQ(seen, want, "CR4 read back (PCE, DE flipped)");
}

void priv_mov_dr() {
  std::uint32_t d0, d1, d2, d3, d7;
  asm volatile("mov %0, %%dr0\n mov %1, %%dr1\n mov %2, %%dr2\n mov %3, %%dr3" ::"r"(0x00101000u),
               "r"(0x00202004u), "r"(0x00303008u), "r"(0x0040400cu));
  asm volatile("mov %0, %%dr7" ::"r"(0x000d0400u));
  asm volatile("mov %%dr0, %0\n mov %%dr1, %1\n mov %%dr2, %2\n mov %%dr3, %3"
               : "=r"(d0), "=r"(d1), "=r"(d2), "=r"(d3));
  asm volatile("mov %%dr7, %0" : "=r"(d7));
  EXPECT_EQ(d0, 0x00101000u, "DR0");
  EXPECT_EQ(d1, 0x00202004u, "DR1");
  EXPECT_EQ(d2, 0x00303008u, "DR2");
  EXPECT_EQ(d3, 0x0040400cu, "DR3");
  // R/W0 = 01 and LEN0 = 11 with every enable bit clear: no breakpoint armed.
  EXPECT_EQ(d7 & 0x000f00ffu, 0x000d0000u, "DR7 R/W0, LEN0 and enable bits");
}

void priv_lmsw() {
  std::uint32_t cr0 = cpu::read_cr0();
  std::uint16_t msw = static_cast<std::uint16_t>((cr0 & 0xfff0) | cr0::PE | cr0::MP | cr0::TS);
  asm volatile("lmsw %w0" ::"r"(static_cast<std::uint32_t>(msw)) : "memory");
  std::uint32_t set = cpu::read_cr0();
  msw = static_cast<std::uint16_t>((cr0 & 0xfff0) | cr0::PE);
  asm volatile("lmsw %w0" ::"r"(static_cast<std::uint32_t>(msw)) : "memory");
  std::uint32_t cleared = cpu::read_cr0();
  cpu::write_cr0(cr0);
  EXPECT_EQ(set & 0xf, cr0::PE | cr0::MP | cr0::TS, "CR0 bits 3:0 after LMSW of PE|MP|TS");
  EXPECT_EQ(cleared & 0xf, cr0::PE, "CR0 bits 3:0 after LMSW of PE");
  EXPECT_EQ(set & ~0xfu, cr0 & ~0xfu, "CR0 bits 31:4 (LMSW must not touch them)");
}

void priv_clts() {
  std::uint32_t cr0 = cpu::read_cr0();
  cpu::write_cr0(cr0 | cr0::TS);
  std::uint32_t before = cpu::read_cr0();
  asm volatile("clts" ::: "memory");
  std::uint32_t after = cpu::read_cr0();
  cpu::write_cr0(cr0);
  EXPECT(before & cr0::TS, "CR0.TS was not set before CLTS (cr0 0x%08x)", before);
  EXPECT_EQ(after, before & ~cr0::TS, "CR0 after CLTS");
}

// INVD and WBINVD have no effect an emulator shows beyond running without a fault; after
// WBINVD memory must still hold what was written (after INVD it is architecturally
// undefined, so not checked).
void priv_invd() {
  asm volatile("invd" ::: "memory");
}

void priv_wbinvd() {
  volatile std::uint32_t* p = reinterpret_cast<volatile std::uint32_t*>(frame(2));
  for (unsigned i = 0; i < 64; ++i) p[i] = 0x5a5a0000u + i;
  asm volatile("wbinvd" ::: "memory");
  for (unsigned i = 0; i < 64; ++i) EXPECT_EQ(p[i], 0x5a5a0000u + i, "memory after WBINVD");
}

// INVLPG: after a PTE is made not present and its page invalidated, an access faults.
void priv_invlpg() {
  std::uint32_t va = test_va(3);
  set_test_pte(3, frame_pa(3) | page::P | page::RW);
  cpu::invlpg(va);
  *reinterpret_cast<volatile std::uint32_t*>(va) = 0x1;  // fill the TLB
  set_test_pte(3, 0);
  asm volatile("invlpg (%0)" ::"r"(va) : "memory");
  Trap t = catch_trap([va] { (void)*reinterpret_cast<volatile std::uint32_t*>(va); });
  if (!trap_is(t, vector::PF, 0, "read of an invalidated, not-present page")) return;
  EXPECT_EQ(t.cr2, va, "CR2");
}

// HLT waits for an interrupt: first prove the timer interrupt arrives (so HLT cannot
// hang), then halt and check that a tick woke the CPU.
void priv_hlt() {
  timer_arm();
  pic8259::unmask(0);
  cpu::irq_enable();
  bool ticking = wait_until([] { return g_timer.ticks >= 2; }, 50);
  if (!ticking) {
    cpu::irq_disable();
    fail("no timer interrupt within 50 ms: HLT not attempted (it could not wake)");
    return;
  }
  std::uint32_t before = g_timer.ticks;
  asm volatile("hlt" ::: "memory");
  std::uint32_t after = g_timer.ticks;
  cpu::irq_disable();
  EXPECT(after > before, "HLT returned without a timer tick (ticks %u before, %u after)", before, after);
}

// RDMSR of IA32_APIC_BASE: the bootstrap processor flag and the power-on base 0xfee00000.
// (IA32_TIME_STAMP_COUNTER would be the natural choice, but QEMU's TCG does not return
// the running count for it.)
void priv_rdmsr() {
  if (!(read_cpuid(cpuid::kFeatures).edx & cpuid::EDX_APIC)) {
    skip("CPUID reports no local APIC (no IA32_APIC_BASE)");
    return;
  }
  std::uint32_t lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr::IA32_APIC_BASE));
  EXPECT_EQ(lo & 0xfffff100u, 0xfee00100u, "IA32_APIC_BASE base and BSP flag");
}

// WRMSR then RDMSR of IA32_SYSENTER_CS.
void priv_wrmsr() {
  std::uint64_t old = cpu::rdmsr(msr::IA32_SYSENTER_CS);
  asm volatile("wrmsr" ::"c"(msr::IA32_SYSENTER_CS), "a"(0x1234u), "d"(0u) : "memory");
  std::uint64_t seen = cpu::rdmsr(msr::IA32_SYSENTER_CS);
  cpu::wrmsr(msr::IA32_SYSENTER_CS, old);
  EXPECT_EQ(static_cast<std::uint32_t>(seen), 0x1234u, "IA32_SYSENTER_CS read back");
}

const TestCase kTests[] = {
    {"priv_lgdt", priv_lgdt},       {"priv_lidt", priv_lidt},       {"priv_lldt", priv_lldt},
    {"priv_ltr", priv_ltr},         {"priv_mov_cr0", priv_mov_cr0}, {"priv_mov_cr2", priv_mov_cr2},
    {"priv_mov_cr3", priv_mov_cr3}, {"priv_mov_cr4", priv_mov_cr4}, {"priv_mov_dr", priv_mov_dr},
    {"priv_lmsw", priv_lmsw},       {"priv_clts", priv_clts},       {"priv_invd", priv_invd},
    {"priv_wbinvd", priv_wbinvd},   {"priv_invlpg", priv_invlpg},   {"priv_hlt", priv_hlt},
    {"priv_rdmsr", priv_rdmsr},     {"priv_wrmsr", priv_wrmsr},
};

}  // namespace

GUEST_TEST_GROUP(kPrivGroup, kTests);

}  // namespace hvlab::guest
