// The nanobenchmarks: one operation each, repeated ops() times between two TSC reads. The
// operations are those Adams and Agesen timed to compare a binary translator with a
// first-generation hardware VMM (ASPLOS 2006), with CR3 reload and CLI/STI in place of
// their 64-bit CR8 write. Each checks that its operation did what it should, so a monitor
// that gets it wrong fails the benchmark instead of reporting a figure.

#include "autograder/guests/nanobench/nanobench.hpp"

namespace hvlab::guest::nanobench {
namespace {

using namespace x86;

std::uint32_t addr(const volatile void* p) { return reinterpret_cast<std::uint32_t>(p); }

// ---- syscall: a round trip from user mode through INT 0x80 ------------------------------
TrapHandler g_prev_syscall;
std::uint32_t g_null_calls;

void on_null_syscall(TrapFrame& f) {
  if (f.from_user() && f.eax == NB_SYS_NULL) {
    ++g_null_calls;
    f.eax = 0;
    return;
  }
  g_prev_syscall(f);
}

// The count includes one entry to and one exit from user mode: a few hundred instructions
// over ops() calls.
void bench_syscall() {
  const std::uint32_t n = ops();
  g_prev_syscall = set_trap_handler(kSyscallVector, on_null_syscall);
  g_null_calls = 0;
  const UserRegs regs{.eax = 0, .ebx = 0, .ecx = n, .edx = 0, .esi = 0, .edi = 0};
  UserRun run{};
  const std::uint64_t cycles = timed([&] { run = run_user(nb_user_syscalls, regs); });
  if (!user_exited(run, "the system call loop")) return;
  EXPECT_EQ(g_null_calls, n, "system calls the kernel handled");
  report(cycles, n);
}

// ---- port_in: a read of the master PIC's interrupt mask register -------------------------
void bench_port_in() {
  const std::uint32_t n = ops();
  const std::uint8_t expected = static_cast<std::uint8_t>(pic8259::kAllMasked);  // the runner's reset
  std::uint32_t wrong = 0;
  const std::uint64_t cycles = timed([&] {
    for (std::uint32_t i = 0; i < n; ++i) wrong += cpu::in8(0x21) != expected;
  });
  EXPECT(wrong == 0, "%u of %u reads of port 0x21 (the PIC's mask) did not give 0x%02x", wrong, n, expected);
  report(cycles, n);
}

// ---- cr3_reload: MOV to CR3 of the current page directory (a full non-global TLB flush) ---
void bench_cr3_reload() {
  const std::uint32_t n = ops(), pd = pd_phys();
  const std::uint64_t cycles = timed([&] {
    for (std::uint32_t i = 0; i < n; ++i) cpu::load_cr3(pd);
  });
  EXPECT_EQ(cpu::read_cr3(), pd, "CR3 after the reloads");
  report(cycles, n);
}

// ---- call_ret: a call to a function that returns at once (the innocuous baseline) -------
void bench_call_ret() {
  const std::uint32_t n = ops();
  const std::uint64_t cycles = timed([&] {
    for (std::uint32_t i = 0; i < n; ++i) nb_null();
  });
  report(cycles, n);
}

// ---- page_fault: a read of a not-present page, which the #PF handler maps ---------------
// Each operation reads the next of the test pages; the handler maps it to one frame and the
// read is retried. After a sweep of all kTestPages the mappings are cleared with one CR3
// reload, so the figure carries 1/kTestPages of a sweep's clean-up.
TrapHandler g_prev_page_fault;
std::uint32_t g_demand_faults;
constexpr std::uint32_t kFaultMarker = 0x9a6ef417;

void on_demand_fault(TrapFrame& f) {
  const std::uint32_t va = cpu::read_cr2();
  const std::uint32_t page = (va - kTestBase) >> 12;
  if (!f.from_user() && va >= kTestBase && page < kTestPages && !(test_pte(page) & page::P)) {
    set_test_pte(page, frame_pa(0) | page::P | page::RW);
    ++g_demand_faults;
    return;
  }
  g_prev_page_fault(f);
}

void bench_page_fault() {
  const std::uint32_t n = ops();
  *reinterpret_cast<volatile std::uint32_t*>(frame(0)) = kFaultMarker;
  g_prev_page_fault = set_trap_handler(vector::PF, on_demand_fault);
  g_demand_faults = 0;
  std::uint32_t wrong = 0;
  const std::uint64_t cycles = timed([&] {
    for (std::uint32_t i = 0, page = 0; i < n; ++i) {
      if (page == kTestPages) {
        clear_test_mappings();
        page = 0;
      }
      wrong += nb_read_probe(test_va(page++)) != kFaultMarker;
    }
  });
  EXPECT_EQ(g_demand_faults, n, "page faults the kernel handled");
  EXPECT(wrong == 0, "%u of %u reads through a freshly mapped page did not see the frame's contents", wrong, n);
  report(cycles, n);
}

// ---- divide_error: DIV by zero; the #DE handler resumes after the DIV -------------------
TrapHandler g_prev_divide_error;
std::uint32_t g_divide_errors;

void on_divide_error(TrapFrame& f) {
  if (!f.from_user() && f.eip == addr(nb_divide_site)) {
    f.eip = addr(nb_divide_resume);
    ++g_divide_errors;
    return;
  }
  g_prev_divide_error(f);
}

void bench_divide_error() {
  const std::uint32_t n = ops();
  g_prev_divide_error = set_trap_handler(vector::DE, on_divide_error);
  g_divide_errors = 0;
  const std::uint64_t cycles = timed([&] {
    for (std::uint32_t i = 0; i < n; ++i) nb_divide_probe();
  });
  EXPECT_EQ(g_divide_errors, n, "divide errors the kernel handled");
  report(cycles, n);
}

// ---- pte_update: a PTE write and the INVLPG that makes it visible -----------------------
// Test page 0 alternates between two frames; a read at the end sees the last one.
void bench_pte_update() {
  const std::uint32_t n = ops();
  const std::uint32_t pte[2] = {frame_pa(1) | page::P | page::RW, frame_pa(2) | page::P | page::RW};
  *reinterpret_cast<volatile std::uint32_t*>(frame(1)) = 1;
  *reinterpret_cast<volatile std::uint32_t*>(frame(2)) = 2;
  volatile std::uint32_t* entry = &g_test_pt[0];
  const std::uint32_t va = test_va(0);
  const std::uint64_t cycles = timed([&] {
    for (std::uint32_t i = 0; i < n; ++i) {
      cpu::set_pte(entry, pte[i & 1]);
      cpu::invlpg(va);
    }
  });
  EXPECT_EQ(*reinterpret_cast<volatile std::uint32_t*>(va), ((n - 1) & 1) + 1, "the frame test page 0 maps last");
  report(cycles, n);
}

// ---- cli_sti: CLI then STI (every PIC line is masked: no interrupt comes) ---------------
void bench_cli_sti() {
  const std::uint32_t n = ops();
  const std::uint64_t cycles = timed([&] {
    for (std::uint32_t i = 0; i < n; ++i) {
      cpu::irq_disable();
      cpu::irq_enable();
    }
  });
  cpu::irq_disable();
  report(cycles, n);
}

const TestCase kMicro[] = {
    {"syscall", bench_syscall},       {"port_in", bench_port_in},           {"cr3_reload", bench_cr3_reload},
    {"call_ret", bench_call_ret},     {"page_fault", bench_page_fault},     {"divide_error", bench_divide_error},
    {"pte_update", bench_pte_update}, {"cli_sti", bench_cli_sti},
};

}  // namespace

GUEST_TEST_GROUP(kMicroGroup, kMicro);

}  // namespace hvlab::guest::nanobench
