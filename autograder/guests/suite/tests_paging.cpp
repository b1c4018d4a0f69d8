// paging: 32-bit paging as the guest programs it. Only architecturally guaranteed effects
// are checked: a changed PTE is visible after INVLPG or a CR3 reload (a stale TLB entry is
// never asserted), protection faults carry the right error code and CR2, and the CPU sets
// the accessed and dirty bits.

#include "autograder/guests/suite/suite.hpp"

#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/paging.hpp"

namespace hvlab::guest {
namespace {

using namespace x86;

volatile std::uint32_t* at(std::uint32_t va) { return reinterpret_cast<volatile std::uint32_t*>(va); }
std::uint32_t* frame_words(unsigned i) { return reinterpret_cast<std::uint32_t*>(frame(i)); }

// A test page mapped to a frame reads and writes that frame.
void paging_map() {
  frame_words(4)[7] = 0x70a61e00;
  set_test_pte(10, frame_pa(4) | page::P | page::RW);
  cpu::invlpg(test_va(10));
  std::uint32_t seen = *at(test_va(10) + 7 * 4);
  *at(test_va(10) + 8 * 4) = 0x0d15c0de;
  EXPECT_EQ(seen, 0x70a61e00u, "read through the mapping");
  EXPECT_EQ(frame_words(4)[8], 0x0d15c0deu, "frame contents after a write through the mapping");
}

// Two virtual pages on one frame see each other's writes.
void paging_alias() {
  set_test_pte(11, frame_pa(5) | page::P | page::RW);
  set_test_pte(12, frame_pa(5) | page::P | page::RW);
  cpu::invlpg(test_va(11));
  cpu::invlpg(test_va(12));
  *at(test_va(11) + 0x40) = 0xa1a50001;
  EXPECT_EQ(*at(test_va(12) + 0x40), 0xa1a50001u, "write through one alias read through the other");
}

// The CPU sets A on a read and D on a write, in the PTE (and A in the PDE).
void paging_accessed_dirty() {
  set_test_pte(13, frame_pa(6) | page::P | page::RW);
  cpu::invlpg(test_va(13));
  std::uint32_t pde = g_pd[kTestBase >> 22];
  cpu::set_pte(&g_pd[kTestBase >> 22], pde & ~page::A);
  cpu::load_cr3(pd_phys());
  (void)*at(test_va(13));
  std::uint32_t after_read = test_pte(13);
  std::uint32_t pde_after = g_pd[kTestBase >> 22];
  *at(test_va(13)) = 1;
  std::uint32_t after_write = test_pte(13);
  EXPECT_EQ(after_read & (page::A | page::D), page::A, "PTE A and D after a read");
  EXPECT(pde_after & page::A, "PDE accessed bit not set by the walk (PDE 0x%08x)", pde_after);
  EXPECT_EQ(after_write & (page::A | page::D), page::A | page::D, "PTE A and D after a write");
}

// INVLPG makes a changed PTE (new frame) visible.
void paging_invlpg_remap() {
  frame_words(7)[0] = 0x00000007;
  frame_words(8)[0] = 0x00000008;
  set_test_pte(14, frame_pa(7) | page::P | page::RW);
  cpu::invlpg(test_va(14));
  std::uint32_t first = *at(test_va(14));
  set_test_pte(14, frame_pa(8) | page::P | page::RW);
  cpu::invlpg(test_va(14));
  std::uint32_t second = *at(test_va(14));
  EXPECT_EQ(first, 7u, "read before the remap");
  EXPECT_EQ(second, 8u, "read after the remap and INVLPG");
}

// A CR3 reload makes a changed PTE visible.
void paging_cr3_reload() {
  frame_words(9)[0] = 0x00000009;
  frame_words(10)[0] = 0x0000000a;
  set_test_pte(15, frame_pa(9) | page::P | page::RW);
  cpu::invlpg(test_va(15));
  std::uint32_t first = *at(test_va(15));
  set_test_pte(15, frame_pa(10) | page::P | page::RW);
  cpu::load_cr3(pd_phys());
  std::uint32_t second = *at(test_va(15));
  EXPECT_EQ(first, 9u, "read before the remap");
  EXPECT_EQ(second, 10u, "read after the remap and a CR3 reload");
}

// CR0.WP = 1: a supervisor write to a read-only page faults (P=1 W=1 U=0).
void paging_wp_faults() {
  set_test_pte(16, frame_pa(11) | page::P);
  cpu::invlpg(test_va(16));
  std::uint32_t va = test_va(16) + 0x20;
  Trap t = catch_trap([va] { *at(va) = 0xbad; });
  if (!trap_is(t, vector::PF, pf_error::P | pf_error::W, "supervisor write to a read-only page with CR0.WP = 1"))
    return;
  EXPECT_EQ(t.cr2, va, "CR2");
}

// CR0.WP = 0: the same write succeeds.
void paging_wp_clear_allows() {
  frame_words(11)[8] = 0;
  set_test_pte(16, frame_pa(11) | page::P);
  cpu::invlpg(test_va(16));
  cpu::write_cr0(cpu::read_cr0() & ~cr0::WP);
  Trap t = catch_trap([] { *at(test_va(16) + 0x20) = 0x600d; });
  cpu::write_cr0(g_cr0_base);
  EXPECT(!t.taken, "supervisor write to a read-only page with CR0.WP = 0 raised %s (error 0x%x)",
         vector_name(t.vector), t.error);
  EXPECT_EQ(frame_words(11)[8], 0x600du, "frame contents after the write");
}

// User mode reading a supervisor page: #PF with P=1 U=1.
void paging_user_supervisor() {
  set_test_pte(17, frame_pa(12) | page::P | page::RW);
  cpu::invlpg(test_va(17));
  std::uint32_t va = test_va(17) + 0x30;
  UserRun r = run_user(user_load, {.eax = 0, .ebx = 0, .ecx = 0, .edx = 0, .esi = va, .edi = 0});
  EXPECT(!r.exited, "user mode read a supervisor page without a fault");
  if (!trap_is(r.trap, vector::PF, pf_error::P | pf_error::U, "user read of a supervisor page")) return;
  EXPECT_EQ(r.trap.cr2, va, "CR2");
}

// User mode writing a user read-only page: #PF with P=1 W=1 U=1 (whatever CR0.WP).
void paging_user_readonly() {
  set_test_pte(18, frame_pa(13) | page::P | page::US);
  cpu::invlpg(test_va(18));
  std::uint32_t va = test_va(18) + 0x44;
  UserRun r = run_user(user_store, {.eax = 0, .ebx = 0, .ecx = 0, .edx = 0, .esi = va, .edi = 5});
  EXPECT(!r.exited, "user mode wrote a read-only page without a fault");
  if (!trap_is(r.trap, vector::PF, pf_error::P | pf_error::W | pf_error::U, "user write to a read-only user page"))
    return;
  EXPECT_EQ(r.trap.cr2, va, "CR2");
}

// User mode writing a user read-write page works.
void paging_user_write() {
  frame_words(14)[3] = 0;
  set_test_pte(19, frame_pa(14) | page::P | page::RW | page::US);
  cpu::invlpg(test_va(19));
  UserRun r = run_user(user_store, {.eax = 0, .ebx = 0, .ecx = 0, .edx = 0, .esi = test_va(19) + 12, .edi = 0x5e7});
  if (!user_exited(r, "user write to a user read-write page")) return;
  EXPECT_EQ(frame_words(14)[3], 0x5e7u, "frame contents after the user write");
}

// A 4 MiB page (CR4.PSE) maps 4 MiB of physical memory with one PDE: here physical
// 0-4 MiB, where the kernel image lives, so a kernel variable is seen through both.
volatile std::uint32_t g_large_probe = 0x1a26e000;

void paging_large_page() {
  if (!(read_cpuid(cpuid::kFeatures).edx & cpuid::EDX_PSE)) {
    skip("CPUID reports no PSE");
    return;
  }
  std::uint32_t pa = reinterpret_cast<std::uint32_t>(&g_large_probe);
  EXPECT(pa < 0x400000, "the probe variable is not in the first 4 MiB (0x%08x)", pa);
  volatile std::uint32_t* large = at(kLargeTestBase + pa);
  cpu::write_cr4(cpu::read_cr4() | cr4::PSE);
  cpu::set_pte(&g_pd[kLargeTestBase >> 22], 0 | page::P | page::RW | page::PS);
  cpu::invlpg(kLargeTestBase + pa);
  std::uint32_t seen = *large;
  *large = 0x1a26e001;
  std::uint32_t direct = g_large_probe;
  g_large_probe = 0x1a26e000;
  EXPECT_EQ(seen, 0x1a26e000u, "kernel variable read through the 4 MiB page");
  EXPECT_EQ(direct, 0x1a26e001u, "kernel variable after a write through the 4 MiB page");
}

const TestCase kTests[] = {
    {"paging_map", paging_map},
    {"paging_alias", paging_alias},
    {"paging_accessed_dirty", paging_accessed_dirty},
    {"paging_invlpg_remap", paging_invlpg_remap},
    {"paging_cr3_reload", paging_cr3_reload},
    {"paging_wp_faults", paging_wp_faults},
    {"paging_wp_clear_allows", paging_wp_clear_allows},
    {"paging_user_supervisor", paging_user_supervisor},
    {"paging_user_readonly", paging_user_readonly},
    {"paging_user_write", paging_user_write},
    {"paging_large_page", paging_large_page},
};

}  // namespace

GUEST_TEST_GROUP(kPagingGroup, kTests);

}  // namespace hvlab::guest
