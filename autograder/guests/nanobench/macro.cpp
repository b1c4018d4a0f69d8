// The macro workload: two user processes, each in its own address space, take turns through
// system calls. Every round each one faults its heap pages in (the kernel zero-fills a frame
// and maps it), asks the kernel for port I/O (a CMOS register read), yields (the kernel
// switches registers and CR3) and releases its heap (a PTE write and an INVLPG per page).
// It is kernel-heavy on purpose, like the process-creation loop Adams and Agesen timed:
// most of its work is what a monitor has to intervene in. work=N adds about N instructions of
// plain user computation to each process's round, so the share of the work a monitor never
// sees can be varied (autograder/guests/README.md).

#include "autograder/guests/nanobench/nanobench.hpp"

namespace hvlab::guest::nanobench {
namespace {

using namespace x86;

// Each process's private 4 MiB: one PDE of its own, over one page table.
constexpr std::uint32_t kProcBase = 0x50000000;
constexpr unsigned kStackPage = 0, kHeapFirst = 1, kHeapPages = 4;
constexpr std::uint32_t kUserPte = page::P | page::RW | page::US;
constexpr std::uint8_t kCmosStatusB = 0x0b;  // a register every CMOS model keeps

struct Process {
  alignas(4096) volatile std::uint32_t pd[1024];
  alignas(4096) volatile std::uint32_t pt[1024];
  alignas(4096) std::uint8_t stack[4096];
  alignas(4096) std::uint32_t heap[kHeapPages][1024];
  TrapFrame regs;  // while the other one runs
  bool exited;
  std::uint32_t status, work_sum;  // EBX and ECX at exit
};
Process g_procs[2];
unsigned g_current;
struct {
  std::uint32_t faults, switches, port_io, releases;
} g_count;
TrapHandler g_prev_syscall, g_prev_page_fault;

std::uint32_t addr(const volatile void* p) { return reinterpret_cast<std::uint32_t>(p); }
constexpr std::uint32_t page_va(unsigned page) { return kProcBase + page * 4096; }

// The kernel's mappings, shared, plus the private page table with the stack mapped and
// the heap not present.
void build_address_space(Process& p) {
  for (unsigned i = 0; i < 1024; ++i) cpu::set_pte(&p.pd[i], g_pd[i]);
  for (unsigned i = 0; i < 1024; ++i) cpu::set_pte(&p.pt[i], 0);
  cpu::set_pte(&p.pt[kStackPage], addr(p.stack) | kUserPte);
  cpu::set_pte(&p.pd[kProcBase >> 22], addr(p.pt) | kUserPte);
  p.exited = false;
  p.status = p.work_sum = 0;
}

void zero_page(std::uint32_t* page) {
  std::uint32_t words = 1024;
  asm volatile("rep stosl" : "+D"(page), "+c"(words) : "a"(0) : "memory");
}

void switch_to(TrapFrame& f, unsigned next) {
  g_procs[g_current].regs = f;
  g_current = next;
  cpu::load_cr3(addr(g_procs[next].pd));
  f = g_procs[next].regs;
  ++g_count.switches;
}

void on_syscall(TrapFrame& f) {
  if (!f.from_user()) return g_prev_syscall(f);
  Process& self = g_procs[g_current];
  const unsigned other = g_current ^ 1;
  switch (f.eax) {
    case NB_SYS_PORT_IO:
      // The index write and the data read go to the monitor together where a flavour batches.
      cpu::batch_begin();
      cpu::out8(0x70, kCmosStatusB);
      f.eax = cpu::in8(0x71);
      cpu::batch_end();
      ++g_count.port_io;
      return;
    case NB_SYS_YIELD:
      if (!g_procs[other].exited) switch_to(f, other);
      return;
    case NB_SYS_RELEASE:
      // Every entry and its INVLPG in one batch (a paravirtual flavour: one hypercall).
      cpu::batch_begin();
      for (unsigned page = kHeapFirst; page < kHeapFirst + kHeapPages; ++page) {
        if (!(self.pt[page] & page::P)) continue;
        cpu::set_pte(&self.pt[page], 0);
        cpu::invlpg(page_va(page));
        ++g_count.releases;
      }
      cpu::batch_end();
      return;
    case NB_SYS_EXIT:
      self.exited = true;
      self.status = f.ebx;
      self.work_sum = f.ecx;
      if (!g_procs[other].exited) return switch_to(f, other);
      return g_prev_syscall(f);  // the last one out: the runner's exit ends the run
    default:
      return g_prev_syscall(f);
  }
}

void on_page_fault(TrapFrame& f) {
  const std::uint32_t va = cpu::read_cr2();
  const unsigned page = (va - kProcBase) >> 12;
  Process& self = g_procs[g_current];
  if (f.from_user() && va >= kProcBase && page >= kHeapFirst && page < kHeapFirst + kHeapPages &&
      !(self.pt[page] & page::P)) {
    std::uint32_t* frame = self.heap[page - kHeapFirst];
    zero_page(frame);
    cpu::set_pte(&self.pt[page], addr(frame) | kUserPte);
    ++g_count.faults;
    return;
  }
  g_prev_page_fault(f);
}

// The user work loop's sum over `rounds` rounds of `turns` turns (counters turns..1), mod 2^32.
std::uint32_t expected_work_sum(std::uint32_t rounds, std::uint32_t turns) {
  const auto per_round = static_cast<std::uint32_t>(std::uint64_t{turns} * (turns + 1) / 2);
  return per_round * rounds;
}

void bench_macro() {
  const std::uint32_t rounds = macro_rounds();
  const std::uint32_t turns = work() / kWorkTurnInstructions;
  for (auto& p : g_procs) build_address_space(p);
  g_count = {};
  const UserRegs regs{.eax = 0,
                      .ebx = turns,
                      .ecx = rounds,
                      .edx = page_va(kStackPage) + 4096,
                      .esi = page_va(kHeapFirst),
                      .edi = kHeapPages};
  // Process 1 starts at its first turn: its registers are process 0's at entry, but for ESP.
  TrapFrame& first = g_procs[1].regs;
  first = TrapFrame{};
  first.gs = first.fs = first.es = first.ds = first.user_ss = sel::kUserDS;
  first.cs = sel::kUserCS;
  first.eip = reinterpret_cast<std::uint32_t>(&nb_user_process);
  first.eflags = 0x202;
  first.ebx = regs.ebx, first.ecx = regs.ecx, first.edx = regs.edx, first.esi = regs.esi, first.edi = regs.edi;
  first.user_esp = regs.edx;

  g_prev_syscall = set_trap_handler(kSyscallVector, on_syscall);
  g_prev_page_fault = set_trap_handler(vector::PF, on_page_fault);
  g_current = 0;
  cpu::load_cr3(addr(g_procs[0].pd));
  UserRun run{};
  const std::uint64_t cycles = timed([&] { run = run_user(nb_user_process, regs); });
  cpu::load_cr3(pd_phys());
  if (!user_exited(run, "the macro workload")) return;

  const std::uint32_t pages = rounds * kHeapPages;
  for (unsigned i = 0; i < 2; ++i) {
    EXPECT(g_procs[i].exited, "process %u did not exit", i);
    EXPECT(g_procs[i].status == pages,
           "process %u read back %u, expected %u (every heap page zero-filled and its own on each round)", i,
           g_procs[i].status, pages);
    EXPECT(g_procs[i].work_sum == expected_work_sum(rounds, turns),
           "process %u's user work loop summed to %u, expected %u (%u rounds of %u turns)", i, g_procs[i].work_sum,
           expected_work_sum(rounds, turns), rounds, turns);
  }
  EXPECT_EQ(g_count.faults, 2 * pages, "page faults the kernel handled");
  EXPECT_EQ(g_count.releases, 2 * pages, "heap pages released");
  EXPECT_EQ(g_count.port_io, 2 * rounds, "port I/O system calls");
  report(cycles, rounds, "work", work());
}

const TestCase kMacro[] = {{"macro_procs", bench_macro}};

}  // namespace

GUEST_TEST_GROUP(kMacroGroup, kMacro);

}  // namespace hvlab::guest::nanobench
