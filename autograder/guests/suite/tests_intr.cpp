// intr: hardware interrupts through the guest's IDT: the PIT on IRQ0 at 1 kHz, the
// interrupt flag (CLI/STI and the STI shadow), EOI and the PIC's mask register. Every wait
// is bounded; a missing interrupt is a failure with a diagnostic.

#include "autograder/guests/suite/suite.hpp"

namespace hvlab::guest {
namespace {

using namespace x86;

// Ticks arrive on vector 0x20, from ring 0, at no more than the programmed rate.
void intr_timer_irq() {
  timer_arm();
  pic8259::unmask(0);
  cpu::irq_enable();
  std::uint64_t start = 0, fifth = 0;
  bool first = wait_until([] { return g_timer.ticks >= 1; }, 100);
  if (first) start = cpu::rdtsc();
  bool five = first && wait_until([] { return g_timer.ticks >= 6; }, 200);
  if (five) fifth = cpu::rdtsc();
  cpu::irq_disable();
  EXPECT(first, "no timer interrupt within 100 ms of STI with IRQ0 unmasked (PIT channel 0 at %u Hz)", kTimerHz);
  EXPECT(five, "only %u timer interrupts within 200 ms", g_timer.ticks);
  EXPECT_EQ(g_timer.first_cs & 0xffff, sel::kKernelCS, "CS pushed by the timer interrupt");
  std::uint64_t ms_x10 = (fifth - start) * 10 / tsc_per_ms();
  // Five periods of 1 ms. Late ticks are normal on a busy host (and a tick missed during a
  // stall may be caught up quickly), so only a rate far above 1 kHz is an error.
  EXPECT(ms_x10 >= 10, "5 timer periods took %u.%u ms: faster than the programmed 1 kHz",
         static_cast<unsigned>(ms_x10 / 10), static_cast<unsigned>(ms_x10 % 10));
}

// CLI keeps a pending IRQ from being delivered.
void intr_cli_masks() {
  timer_arm();
  asm volatile("cli" ::: "memory");
  pic8259::unmask(0);
  EXPECT(wait_irq_pending(0, 50), "no timer interrupt became pending (IRR bit 0) within 50 ms");
  delay_ms(1);  // a pending, unmasked IRQ would be taken at once with IF = 1
  EXPECT_EQ(g_timer.ticks, 0u, "timer interrupts delivered with IF = 0");
}

// STI delivers the pending IRQ.
void intr_sti_unmasks() {
  timer_arm();
  pic8259::unmask(0);
  EXPECT(wait_irq_pending(0, 50), "no timer interrupt became pending (IRR bit 0) within 50 ms");
  asm volatile("sti; nop; nop" ::: "memory");
  bool got = wait_until([] { return g_timer.ticks >= 1; }, 20);
  cpu::irq_disable();
  EXPECT(got, "STI with IRQ0 pending delivered no interrupt within 20 ms");
}

// The STI shadow: with an IRQ pending, "sti; hlt" takes the interrupt only after HLT has
// begun, so the pushed EIP is the instruction after HLT.
void intr_sti_shadow_hlt() {
  timer_arm();
  pic8259::unmask(0);
  EXPECT(wait_irq_pending(0, 50), "no timer interrupt became pending (IRR bit 0) within 50 ms");
  std::uint32_t after_hlt = 0;
  asm volatile(
      "movl $1f, %0\n"
      "sti\n"
      "hlt\n"
      "1: cli\n"
      : "=&r"(after_hlt)::"memory");
  EXPECT(g_timer.ticks >= 1, "sti; hlt returned without a timer interrupt");
  EXPECT_EQ(g_timer.first_eip, after_hlt, "EIP the interrupt pushed (the instruction after HLT)");
}

// The STI shadow also covers CLI: "sti; cli" with an IRQ pending delivers nothing.
void intr_sti_shadow_cli() {
  timer_arm();
  pic8259::unmask(0);
  EXPECT(wait_irq_pending(0, 50), "no timer interrupt became pending (IRR bit 0) within 50 ms");
  asm volatile("sti; cli" ::: "memory");
  std::uint32_t ticks = g_timer.ticks;
  EXPECT_EQ(ticks, 0u, "interrupts delivered inside the STI shadow");
}

// Without EOI the PIC keeps IRQ0 in service and delivers no second one; EOI releases it.
void intr_eoi() {
  timer_arm(false);
  pic8259::unmask(0);
  cpu::irq_enable();
  bool one = wait_until([] { return g_timer.ticks >= 1; }, 50);
  if (!one) {
    cpu::irq_disable();
    fail("no timer interrupt within 50 ms");
    return;
  }
  // Wait for the next tick to be requested; it must stay pending behind the in-service one.
  bool pending = wait_irq_pending(0, 50);
  delay_ms(1);
  std::uint32_t held = g_timer.ticks;
  std::uint16_t isr = pic8259::read_isr();
  cpu::pic_eoi(0);
  bool released = wait_until([] { return g_timer.ticks >= 2; }, 50);
  cpu::irq_disable();
  EXPECT(pending, "no second timer request (IRR bit 0) within 50 ms");
  EXPECT_EQ(held, 1u, "timer interrupts delivered before the first EOI");
  EXPECT(isr & 1, "ISR bit 0 clear while the first interrupt was unacknowledged (ISR 0x%04x)", isr);
  EXPECT(released, "no timer interrupt within 50 ms after EOI");
}

// A masked IRQ line delivers nothing; unmasking it delivers.
void intr_pic_mask() {
  timer_arm();
  pic8259::mask(0);
  cpu::irq_enable();
  delay_ms(3);  // three timer periods
  std::uint32_t masked = g_timer.ticks;
  pic8259::unmask(0);
  bool got = wait_until([] { return g_timer.ticks >= 1; }, 50);
  cpu::irq_disable();
  EXPECT_EQ(masked, 0u, "timer interrupts delivered with IRQ0 masked in the IMR");
  EXPECT(got, "no timer interrupt within 50 ms after unmasking IRQ0");
}

// An IRQ taken in user mode: the CPU switches to the TSS stack, the handler sees CS with
// RPL 3, and the user process resumes where it was.
void intr_irq_in_user() {
  timer_arm();
  g_timer.set_user_flag = true;
  g_user_data[0] = 0;
  pic8259::unmask(0);
  // The user program spins until the handler writes the flag (bounded by ECX).
  UserRun r = run_user(user_wait_flag,
                       {.eax = 0, .ebx = 0, .ecx = 20000000, .edx = 0,
                        .esi = reinterpret_cast<std::uint32_t>(&g_user_data[0]), .edi = 0},
                       0x202);
  pic8259::mask(0);
  if (!user_exited(r, "user process spinning with IF = 1")) return;
  EXPECT(r.status != 0, "the user process gave up waiting: no timer interrupt while in user mode");
  EXPECT_EQ(g_timer.first_cs & 3, 3u, "RPL of the CS the interrupt pushed (taken in user mode)");
}

const TestCase kTests[] = {
    {"intr_timer_irq", intr_timer_irq},
    {"intr_cli_masks", intr_cli_masks},
    {"intr_sti_unmasks", intr_sti_unmasks},
    {"intr_sti_shadow_hlt", intr_sti_shadow_hlt},
    {"intr_sti_shadow_cli", intr_sti_shadow_cli},
    {"intr_eoi", intr_eoi},
    {"intr_pic_mask", intr_pic_mask},
    {"intr_irq_in_user", intr_irq_in_user},
};

}  // namespace

GUEST_TEST_GROUP(kIntrGroup, kTests);

}  // namespace hvlab::guest
