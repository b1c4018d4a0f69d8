// exc: exceptions through the guest's IDT, each with the right vector, error code and
// saved EIP (the faulting instruction for faults, the next one for traps).

#include "autograder/guests/suite/suite.hpp"

namespace hvlab::guest {
namespace {

using namespace x86;

volatile std::uint32_t g_site = 0;  // address of the instruction under test (or after it)

void exc_de() {
  Trap t = catch_trap([] {
    asm volatile(
        "xor %%edx, %%edx\n"
        "xor %%ecx, %%ecx\n"
        "mov $1, %%eax\n"
        "movl $1f, %0\n"
        "1: div %%ecx\n" ::"m"(g_site)
        : "eax", "ecx", "edx", "memory");
  });
  if (!trap_is(t, vector::DE, "DIV by zero")) return;
  EXPECT_EQ(t.eip, g_site, "saved EIP (the DIV)");
}

void exc_ud() {
  Trap t = catch_trap([] { asm volatile("movl $1f, %0\n 1: ud2" ::"m"(g_site) : "memory"); });
  if (!trap_is(t, vector::UD, "UD2")) return;
  EXPECT_EQ(t.eip, g_site, "saved EIP (the UD2)");
}

// A selector past the GDT limit: #GP with the selector as error code.
void exc_gp_selector() {
  Trap t = catch_trap([] {
    asm volatile("movl $1f, %0\n 1: mov %w1, %%fs" ::"m"(g_site), "r"(0x200u) : "memory");
  });
  if (!trap_is(t, vector::GP, 0x200, "MOV to FS of selector 0x200 (past the GDT limit 0xbf)")) return;
  EXPECT_EQ(t.eip, g_site, "saved EIP (the MOV)");
}

// A system-segment selector (the LDT's) loaded into a data segment register: #GP with the
// selector. (A memory access through a null selector would be #GP(0) too, but QEMU's TCG
// does not check it, so it is not tested.)
void exc_gp_system_segment() {
  Trap t = catch_trap([] {
    asm volatile("movl $1f, %0\n 1: mov %w1, %%fs" ::"m"(g_site), "r"(static_cast<std::uint32_t>(sel::kLdt))
                 : "memory");
  });
  if (!trap_is(t, vector::GP, sel::kLdt, "MOV to FS of the LDT's (system) descriptor")) return;
  EXPECT_EQ(t.eip, g_site, "saved EIP");
}

// INT n past the IDT limit: #GP with error code vector * 8 + 2 (IDT bit set).
void exc_gp_idt_limit() {
  Trap t = catch_trap([] { asm volatile("movl $1f, %0\n 1: int $0xa0" ::"m"(g_site) : "memory"); });
  if (!trap_is(t, vector::GP, (0xa0u << 3) | 2, "INT 0xa0 with an IDT limit of 0x47f")) return;
  EXPECT_EQ(t.eip, g_site, "saved EIP (the INT)");
}

// A not-present data segment: #NP with the selector.
void exc_np() {
  Trap t = catch_trap([] {
    asm volatile("movl $1f, %0\n 1: mov %w1, %%fs" ::"m"(g_site), "r"(static_cast<std::uint32_t>(sel::kNotPresent))
                 : "memory");
  });
  if (!trap_is(t, vector::NP, sel::kNotPresent, "MOV to FS of a not-present descriptor")) return;
  EXPECT_EQ(t.eip, g_site, "saved EIP");
}

void exc_pf_read() {
  std::uint32_t va = test_va(5) + 0x123;
  Trap t = catch_trap([va] {
    asm volatile("movl $1f, %0\n 1: mov (%1), %%eax" ::"m"(g_site), "r"(va) : "eax", "memory");
  });
  if (!trap_is(t, vector::PF, 0, "read of a not-present page (error code P=0 W=0 U=0)")) return;
  EXPECT_EQ(t.cr2, va, "CR2");
  EXPECT_EQ(t.eip, g_site, "saved EIP");
}

void exc_pf_write() {
  std::uint32_t va = test_va(6) + 0x10;
  Trap t = catch_trap([va] {
    asm volatile("movl $1f, %0\n 1: movl $1, (%1)" ::"m"(g_site), "r"(va) : "memory");
  });
  if (!trap_is(t, vector::PF, pf_error::W, "write to a not-present page (error code W=1)")) return;
  EXPECT_EQ(t.cr2, va, "CR2");
}

// Traps: the saved EIP is the instruction after.
void exc_bp() {
  Trap t = catch_trap([] { asm volatile("movl $1f, %0\n int3\n 1:" ::"m"(g_site) : "memory"); });
  if (!trap_is(t, vector::BP, "INT3")) return;
  EXPECT_EQ(t.eip, g_site, "saved EIP (after INT3)");
}

void exc_of() {
  Trap t = catch_trap([] {
    asm volatile(
        "mov $0x7fffffff, %%eax\n"
        "add $1, %%eax\n"  // OF = 1
        "movl $1f, %0\n"
        "into\n"
        "1:\n" ::"m"(g_site)
        : "eax", "memory", "cc");
  });
  if (!trap_is(t, vector::OF, "INTO with OF = 1")) return;
  EXPECT_EQ(t.eip, g_site, "saved EIP (after INTO)");
}

void exc_br() {
  static std::int32_t bounds[2] = {0, 10};
  Trap t = catch_trap([] {
    asm volatile(
        "mov $20, %%eax\n"
        "movl $1f, %0\n"
        "1: bound %%eax, %1\n" ::"m"(g_site),
        "m"(bounds)
        : "eax", "memory");
  });
  if (!trap_is(t, vector::BR, "BOUND with 20 outside [0, 10]")) return;
  EXPECT_EQ(t.eip, g_site, "saved EIP (the BOUND)");
}

// Single step: POPF sets TF; the instruction after it completes, then #DB with DR6.BS.
void exc_db_single_step() {
  cpu::write_dr(6, 0);
  Trap t = catch_trap([] {
    asm volatile(
        "movl $1f, %0\n"
        "pushfl\n"
        "orl $0x100, (%%esp)\n"
        "popfl\n"
        "nop\n"
        "1: nop\n" ::"m"(g_site)
        : "memory", "cc");
  });
  std::uint32_t dr6 = cpu::read_dr(6);
  cpu::write_dr(6, 0);
  if (!trap_is(t, vector::DB, "single step (EFLAGS.TF)")) return;
  EXPECT_EQ(t.eip, g_site, "saved EIP (the instruction after the one stepped)");
  EXPECT(dr6 & (1u << 14), "DR6.BS clear after a single-step #DB (DR6 0x%08x)", dr6);
}

const TestCase kTests[] = {
    {"exc_de", exc_de},
    {"exc_ud", exc_ud},
    {"exc_gp_selector", exc_gp_selector},
    {"exc_gp_system_segment", exc_gp_system_segment},
    {"exc_gp_idt_limit", exc_gp_idt_limit},
    {"exc_np", exc_np},
    {"exc_pf_read", exc_pf_read},
    {"exc_pf_write", exc_pf_write},
    {"exc_bp", exc_bp},
    {"exc_of", exc_of},
    {"exc_br", exc_br},
    {"exc_db_single_step", exc_db_single_step},
};

}  // namespace

GUEST_TEST_GROUP(kExcGroup, kTests);

}  // namespace hvlab::guest
