// sens: sensitive but unprivileged instructions (Robin and Irvine's list). Each test runs
// ONE such instruction at ring 0 and checks what a ring-0 kernel must see. They do not
// fault at CPL > 0, so a ring-deprivileging monitor cannot intercept them and fails these
// tests; a binary translator or hardware assist must pass them.

#include "autograder/guests/suite/suite.hpp"

namespace hvlab::guest {
namespace {

using namespace x86;

void sens_sgdt() {
  DescriptorTableRegister r{};
  asm volatile("sgdt %0" : "=m"(r));
  EXPECT_EQ(r.base, g_gdtr.base, "GDTR base");
  EXPECT_EQ(r.limit, g_gdtr.limit, "GDTR limit");
}

void sens_sidt() {
  DescriptorTableRegister r{};
  asm volatile("sidt %0" : "=m"(r));
  EXPECT_EQ(r.base, g_idtr.base, "IDTR base");
  EXPECT_EQ(r.limit, g_idtr.limit, "IDTR limit");
}

void sens_sldt() {
  std::uint32_t v = 0;
  asm volatile("sldt %0" : "=r"(v));
  EXPECT_EQ(v & 0xffff, sel::kLdt, "LDTR selector");
}

void sens_str() {
  std::uint32_t v = 0;
  asm volatile("str %0" : "=r"(v));
  EXPECT_EQ(v & 0xffff, sel::kTss, "TR selector");
}

// SMSW must agree with CR0 as the kernel set it: set TS and flip MP so the expected value
// differs from what a monitor would run the guest with.
void sens_smsw() {
  std::uint32_t cr0 = cpu::read_cr0();
  cpu::write_cr0((cr0 ^ cr0::MP) | cr0::TS);
  std::uint32_t expected = cpu::read_cr0();
  std::uint32_t msw = 0;
  asm volatile("smsw %0" : "=r"(msw));
  cpu::write_cr0(cr0);
  EXPECT_EQ(msw & 0xffff, expected & 0xffff, "SMSW (CR0 bits 15:0, TS set and MP flipped by the kernel)");
}

// PUSHF shows IF and IOPL as the kernel set them, with IF both clear and set (all PIC
// lines masked, so no interrupt arrives while IF = 1).
void sens_pushf() {
  std::uint32_t off = 0, on = 0;
  cpu::irq_disable();
  asm volatile("pushfl; popl %0" : "=r"(off));
  cpu::irq_enable();
  asm volatile("pushfl; popl %0" : "=r"(on));
  cpu::irq_disable();
  EXPECT_EQ(off & eflags::IF, 0u, "EFLAGS.IF from PUSHF after CLI");
  EXPECT_EQ(on & eflags::IF, eflags::IF, "EFLAGS.IF from PUSHF after STI");
  EXPECT_EQ(eflags::iopl(off), 0u, "EFLAGS.IOPL from PUSHF");
}

// POPF changes IF, seen by behaviour: with a timer interrupt pending, POPF setting IF
// delivers it; after POPF clearing IF, no more arrive.
void sens_popf_if() {
  timer_arm();
  cpu::irq_disable();
  pic8259::unmask(0);
  EXPECT(wait_irq_pending(0, 50), "no timer interrupt became pending (IRR bit 0) within 50 ms");
  EXPECT_EQ(g_timer.ticks, 0u, "ticks delivered while IF = 0");
  asm volatile("pushl $0x202; popfl; nop; nop; nop" ::: "memory", "cc");
  std::uint32_t after_set = g_timer.ticks;
  cpu::irq_disable();
  EXPECT(after_set >= 1, "POPF set IF with IRQ0 pending, but no interrupt was delivered");
  cpu::irq_enable();
  asm volatile("pushl $0x002; popfl" ::: "memory", "cc");
  std::uint32_t at_clear = g_timer.ticks;
  // Once the next tick is requested, an IF = 1 CPU would take it at once.
  bool pending = wait_irq_pending(0, 50);
  delay_ms(1);
  std::uint32_t later = g_timer.ticks;
  cpu::irq_disable();
  EXPECT(later == at_clear, "POPF cleared IF, yet %u timer interrupts arrived afterwards", later - at_clear);
  EXPECT(pending, "no timer interrupt became pending after POPF cleared IF (IRR bit 0)");
}

// POPF changes IOPL at CPL 0: seen in the EFLAGS image the next exception pushes.
void sens_popf_iopl() {
  asm volatile("pushl $0x3002; popfl" ::: "memory", "cc");
  Trap t = catch_trap([] { asm volatile("ud2"); });
  cpu::restore_flags(0x2);
  if (!trap_is(t, vector::UD, "the UD2 used to observe EFLAGS")) return;
  EXPECT_EQ(eflags::iopl(t.eflags), 3u, "IOPL in the EFLAGS pushed by #UD after POPF set IOPL = 3");
}

// The kernel data descriptor (DPL 0) as LAR, LSL, VERR and VERW see it from ring 0.
std::uint32_t expected_access_rights(std::uint16_t selector) {
  std::uint64_t d = g_gdt[selector >> 3];
  return static_cast<std::uint32_t>(d >> 32) & 0x00f0ff00u;
}

void sens_lar() {
  std::uint32_t ar = 0, ok = 0;
  asm volatile("lar %2, %0\n setz %b1" : "=&r"(ar), "=&q"(ok) : "r"(static_cast<std::uint32_t>(sel::kKernelDS)) : "cc");
  EXPECT((ok & 1), "LAR on the kernel data selector 0x10 cleared ZF (not accessible at this CPL)");
  // The accessed bit (bit 8) depends on history; compare the rest.
  EXPECT_EQ(ar & 0x00f0fe00u, expected_access_rights(sel::kKernelDS) & 0x00f0fe00u, "LAR access rights of 0x10");
}

void sens_lsl() {
  std::uint32_t limit = 0, ok = 0;
  asm volatile("lsl %2, %0\n setz %b1" : "=&r"(limit), "=&q"(ok) : "r"(static_cast<std::uint32_t>(sel::kKernelDS)) : "cc");
  EXPECT((ok & 1), "LSL on the kernel data selector 0x10 cleared ZF");
  EXPECT_EQ(limit, 0xffffffffu, "LSL limit of the flat kernel data segment");
}

void sens_verr() {
  std::uint32_t ok = 0;
  asm volatile("verr %w1\n setz %b0" : "=q"(ok) : "r"(static_cast<std::uint32_t>(sel::kKernelDS)) : "cc");
  EXPECT((ok & 1), "VERR on the kernel data selector 0x10: not readable from ring 0 (ZF = 0)");
}

void sens_verw() {
  std::uint32_t ok = 0;
  asm volatile("verw %w1\n setz %b0" : "=q"(ok) : "r"(static_cast<std::uint32_t>(sel::kKernelDS)) : "cc");
  EXPECT((ok & 1), "VERW on the kernel data selector 0x10: not writable from ring 0 (ZF = 0)");
}

void sens_mov_from_cs() {
  std::uint32_t v = 0;
  asm volatile("mov %%cs, %0" : "=r"(v));
  EXPECT_EQ(v & 0xffff, sel::kKernelCS, "MOV from CS (RPL = CPL = 0)");
}

void sens_mov_from_ss() {
  std::uint32_t v = 0;
  asm volatile("mov %%ss, %0" : "=r"(v));
  EXPECT_EQ(v & 0xffff, sel::kKernelDS, "MOV from SS");
}

void sens_push_cs() {
  std::uint32_t v = 0;
  asm volatile("push %%cs; pop %0" : "=r"(v));
  EXPECT_EQ(v & 0xffff, sel::kKernelCS, "PUSH CS");
}

void sens_push_ss() {
  std::uint32_t v = 0;
  asm volatile("push %%ss; pop %0" : "=r"(v));
  EXPECT_EQ(v & 0xffff, sel::kKernelDS, "PUSH SS");
}

// Loading a DPL-0 data selector into DS works at CPL 0 (at CPL > 0 it is a #GP).
void sens_mov_to_ds() {
  static volatile std::uint32_t probe = 0x64730001;
  std::uint32_t seen = 0, ds = 0;
  asm volatile(
      "mov %w2, %%ds\n"
      "mov (%3), %0\n"
      "mov %%ds, %1\n"
      "mov %w4, %%ds\n"
      : "=&r"(seen), "=&r"(ds)
      : "r"(static_cast<std::uint32_t>(sel::kDataAlias)), "r"(&probe), "r"(static_cast<std::uint32_t>(sel::kKernelDS))
      : "memory");
  EXPECT_EQ(ds & 0xffff, sel::kDataAlias, "DS after MOV of the DPL-0 selector 0x38");
  EXPECT_EQ(seen, 0x64730001u, "memory read through the new DS");
}

void sens_pop_ds() {
  std::uint32_t ds = 0;
  asm volatile(
      "push %1\n"
      "pop %%ds\n"
      "mov %%ds, %0\n"
      "mov %w2, %%ds\n"
      : "=&r"(ds)
      : "r"(static_cast<std::uint32_t>(sel::kDataAlias)), "r"(static_cast<std::uint32_t>(sel::kKernelDS))
      : "memory");
  EXPECT_EQ(ds & 0xffff, sel::kDataAlias, "DS after POP of the DPL-0 selector 0x38");
}

// SS additionally needs RPL = DPL = CPL: a DPL-0 stack selector with RPL 0 loads only at
// CPL 0, even where a monitor has rewritten descriptor DPLs for a deprivileged kernel.
void sens_mov_to_ss() {
  std::uint32_t ss = 0;
  asm volatile(
      "mov %w1, %%ss\n"
      "mov %%ss, %0\n"
      "mov %w2, %%ss\n"
      : "=&r"(ss)
      : "r"(static_cast<std::uint32_t>(sel::kDataAlias)), "r"(static_cast<std::uint32_t>(sel::kKernelDS))
      : "memory");
  EXPECT_EQ(ss & 0xffff, sel::kDataAlias, "SS after MOV of the DPL-0 selector 0x38");
}

void sens_pop_ss() {
  std::uint32_t ss = 0;
  asm volatile(
      "push %1\n"
      "pop %%ss\n"
      "mov %%ss, %0\n"
      "mov %w2, %%ss\n"
      : "=&r"(ss)
      : "r"(static_cast<std::uint32_t>(sel::kDataAlias)), "r"(static_cast<std::uint32_t>(sel::kKernelDS))
      : "memory");
  EXPECT_EQ(ss & 0xffff, sel::kDataAlias, "SS after POP of the DPL-0 selector 0x38");
}

// Far CALL to another DPL-0 code segment: the callee runs with that CS, the pushed return
// CS shows RPL 0, and the far RET comes back.
void sens_far_call() {
  far_call_seen_cs = far_call_pushed_cs = 0;
  asm volatile("lcall %0, $far_call_target" ::"i"(sel::kCodeAlias) : "eax", "memory");
  EXPECT_EQ(far_call_seen_cs & 0xffff, sel::kCodeAlias, "CS inside the far-called code");
  EXPECT_EQ(far_call_pushed_cs & 0xffff, sel::kKernelCS, "return CS the far CALL pushed");
}

// Far JMP through a pointer in memory to the DPL-0 alias code segment.
void sens_far_jmp() {
  static volatile struct [[gnu::packed]] {
    std::uint32_t offset;
    std::uint16_t selector;
  } target;
  std::uint32_t cs = 0;
  target.selector = sel::kCodeAlias;
  asm volatile(
      "movl $1f, %1\n"
      "ljmp *%1\n"
      "1: mov %%cs, %0\n"
      "ljmp %2, $2f\n"  // back to the usual selector
      "2:\n"
      : "=&r"(cs), "+m"(target)
      : "i"(sel::kKernelCS)
      : "memory");
  EXPECT_EQ(cs & 0xffff, sel::kCodeAlias, "CS after the far JMP");
}

// Far RET to a ring-0 selector.
void sens_far_ret() {
  std::uint32_t cs = 0;
  asm volatile(
      "pushl %1\n"
      "pushl $1f\n"
      "lret\n"
      "1: mov %%cs, %0\n"
      "ljmp %2, $2f\n"
      "2:\n"
      : "=&r"(cs)
      : "i"(sel::kCodeAlias), "i"(sel::kKernelCS)
      : "memory");
  EXPECT_EQ(cs & 0xffff, sel::kCodeAlias, "CS after the far RET");
}

// INT n through a DPL-0 gate from ring 0: the handler runs and sees CS 0x08.
volatile std::uint32_t g_int_cs = 0, g_int_count = 0;

void sens_int_n() {
  g_int_cs = g_int_count = 0;
  set_trap_handler(kKernelIntVector, [](TrapFrame& f) {
    g_int_cs = f.cs;
    g_int_count = g_int_count + 1;
  });
  asm volatile("int $0x81" ::: "memory");
  EXPECT_EQ(g_int_count, 1u, "handler runs of INT 0x81");
  EXPECT_EQ(g_int_cs & 0xffff, sel::kKernelCS, "CS the INT pushed");
}

const TestCase kTests[] = {
    {"sens_sgdt", sens_sgdt},
    {"sens_sidt", sens_sidt},
    {"sens_sldt", sens_sldt},
    {"sens_smsw", sens_smsw},
    {"sens_str", sens_str},
    {"sens_pushf", sens_pushf},
    {"sens_popf_if", sens_popf_if},
    {"sens_popf_iopl", sens_popf_iopl},
    {"sens_lar", sens_lar},
    {"sens_lsl", sens_lsl},
    {"sens_verr", sens_verr},
    {"sens_verw", sens_verw},
    {"sens_mov_from_cs", sens_mov_from_cs},
    {"sens_mov_from_ss", sens_mov_from_ss},
    {"sens_push_cs", sens_push_cs},
    {"sens_push_ss", sens_push_ss},
    {"sens_mov_to_ds", sens_mov_to_ds},
    {"sens_pop_ds", sens_pop_ds},
    {"sens_mov_to_ss", sens_mov_to_ss},
    {"sens_pop_ss", sens_pop_ss},
    {"sens_far_call", sens_far_call},
    {"sens_far_jmp", sens_far_jmp},
    {"sens_far_ret", sens_far_ret},
    {"sens_int_n", sens_int_n},
};

}  // namespace

GUEST_TEST_GROUP(kSensGroup, kTests);

}  // namespace hvlab::guest
