// smc: self-modifying code. A kernel function is rewritten in place (or new code is
// copied over old code at the same address) and run again: the new code must run. A binary
// translator has to notice the write and drop its stale translation.
// tsc: the time stamp counter.

#include "autograder/guests/suite/suite.hpp"

#include "common/runtime/string.hpp"

namespace hvlab::guest {
namespace {

using namespace x86;

void write_u32(void* at, std::uint32_t v) { rt::mem_copy(at, &v, 4); }

// Calls through a volatile pointer so the compiler cannot assume the code is unchanged.
template <class Fn>
Fn opaque(Fn f) {
  Fn volatile v = f;
  return v;
}

void smc_patch_immediate() {
  auto* code = reinterpret_cast<std::uint8_t*>(&smc_imm_fn);
  write_u32(code + 1, 0x11111111);
  std::uint32_t first = opaque(&smc_imm_fn)();
  write_u32(code + 1, 0x22222222);
  std::uint32_t second = opaque(&smc_imm_fn)();
  write_u32(code + 1, 0x11111111);
  EXPECT_EQ(first, 0x11111111u, "result before the patch");
  EXPECT_EQ(second, 0x22222222u, "result after rewriting the MOV's immediate");
}

void smc_patch_opcode() {
  auto* site = reinterpret_cast<volatile std::uint8_t*>(smc_op_site);
  site[1] = 0xc0;  // add $1, %eax
  std::uint32_t add = opaque(&smc_op_fn)(100);
  site[1] = 0xe8;  // sub $1, %eax
  std::uint32_t sub = opaque(&smc_op_fn)(100);
  site[1] = 0xc0;
  EXPECT_EQ(add, 101u, "result of the original ADD");
  EXPECT_EQ(sub, 99u, "result after rewriting ADD into SUB");
}

// Code copied into a data page, run, overwritten with other code, run again.
alignas(4096) std::uint8_t g_code_page[4096];

void smc_copy_and_run() {
  // mov $imm32, %eax; ret
  const std::uint8_t a[] = {0xb8, 0x0a, 0x00, 0x00, 0x00, 0xc3};
  // xor %eax, %eax; add $0x0b, %eax; ret   (a different length and shape)
  const std::uint8_t b[] = {0x31, 0xc0, 0x83, 0xc0, 0x0b, 0xc3};
  using Fn = std::uint32_t (*)();
  Fn fn = reinterpret_cast<Fn>(g_code_page + 64);
  rt::mem_copy(g_code_page + 64, a, sizeof a);
  std::uint32_t first = opaque(fn)();
  rt::mem_copy(g_code_page + 64, b, sizeof b);
  std::uint32_t second = opaque(fn)();
  EXPECT_EQ(first, 0x0au, "result of the first code copied into the page");
  EXPECT_EQ(second, 0x0bu, "result after new code was copied over it");
}

// A loop that patches an instruction later in its own body: each pass must run the code
// the previous pass wrote (the jump back to the loop head orders the write before the fetch).
void smc_loop_patches_itself() {
  std::uint32_t sum = 0;
  asm volatile(
      "mov $4, %%ecx\n"
      "xor %%eax, %%eax\n"
      "movb $1, 2f+2\n"  // start from add $1
      "1:\n"
      "2: add $1, %%eax\n"  // 83 c0 ib: the immediate is at 2f+2
      "movb 2b+2, %%dl\n"
      "incb %%dl\n"
      "movb %%dl, 2b+2\n"  // next pass adds one more
      "dec %%ecx\n"
      "jnz 1b\n"
      "movb $1, 2b+2\n"
      : "=&a"(sum)::"ecx", "edx", "memory", "cc");
  EXPECT_EQ(sum, 1u + 2 + 3 + 4, "sum of a loop whose ADD immediate is rewritten on every pass");
}

void tsc_monotonic() {
  std::uint64_t prev = cpu::rdtsc(), first = prev;
  for (unsigned i = 0; i < 2000; ++i) {
    std::uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    std::uint64_t now = (std::uint64_t{hi} << 32) | lo;
    EXPECT(now >= prev, "RDTSC went backwards: 0x%llx after 0x%llx", static_cast<unsigned long long>(now),
           static_cast<unsigned long long>(prev));
    prev = now;
  }
  EXPECT(prev > first, "RDTSC did not advance over 2000 reads");
}

// The TSC advances while the PIT counts 2 ms.
void tsc_advances() {
  cpu::out8(0x61, static_cast<std::uint8_t>((cpu::in8(0x61) & ~0x03) | 0x01));
  cpu::out8(0x43, 0xb0);
  cpu::out8(0x42, (1193 * 2) & 0xff);
  std::uint64_t start = cpu::rdtsc();
  cpu::out8(0x42, (1193 * 2) >> 8);
  bool done = wait_until([] { return (cpu::in8(0x61) & 0x20) != 0; }, 100);
  std::uint64_t delta = cpu::rdtsc() - start;
  EXPECT(done, "PIT channel 2 did not count down 2 ms within 100 ms");
  EXPECT(delta > 0, "TSC did not advance over 2 ms of PIT time");
}

// With CR4.TSD = 1, RDTSC at CPL 3 is a #GP(0); with TSD = 0 it runs.
void tsc_tsd_user() {
  UserRun open = run_user(user_rdtsc, {});
  cpu::write_cr4(cpu::read_cr4() | cr4::TSD);
  UserRun closed = run_user(user_rdtsc, {});
  cpu::write_cr4(g_cr4_base);
  if (!user_exited(open, "RDTSC at CPL 3 with CR4.TSD = 0")) return;
  EXPECT(!closed.exited, "RDTSC at CPL 3 with CR4.TSD = 1 did not fault");
  trap_is(closed.trap, vector::GP, 0, "RDTSC at CPL 3 with CR4.TSD = 1");
}

const TestCase kSmc[] = {
    {"smc_patch_immediate", smc_patch_immediate},
    {"smc_patch_opcode", smc_patch_opcode},
    {"smc_copy_and_run", smc_copy_and_run},
    {"smc_loop_patches_itself", smc_loop_patches_itself},
};
const TestCase kTsc[] = {
    {"tsc_monotonic", tsc_monotonic},
    {"tsc_advances", tsc_advances},
    {"tsc_tsd_user", tsc_tsd_user},
};

}  // namespace

GUEST_TEST_GROUP(kSmcGroup, kSmc);
GUEST_TEST_GROUP(kTscGroup, kTsc);

}  // namespace hvlab::guest
