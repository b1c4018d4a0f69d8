// The suite's runner: KTAP output, a recovery point around each test, trap capture,
// user processes and the reset that returns the machine to a known state between tests.

#include <cstdarg>

#include "autograder/guests/suite/suite.hpp"
#include "autograder/guests/suite/order.hpp"
#include "common/boot/kernel.hpp"
#include "common/runtime/format.hpp"
#include "common/runtime/string.hpp"

namespace hvlab::guest {

namespace {

// ---- Per-test state ---------------------------------------------------------------------
const TestCase* g_current = nullptr;
bool g_failed = false, g_skipped = false;
char g_skip_reason[96];
char g_comment[160];
unsigned g_dirty = 0;

// Diagnostics are buffered and printed after the reset, so a test that leaves COM1 in
// loopback mode (or any other odd state) still gets its messages out.
char g_diag[2048];
unsigned g_diag_len = 0;

void diag_vappend(const char* fmt, va_list ap) {
  if (g_diag_len >= sizeof g_diag - 1) return;
  char line[256];
  vformat(line, sizeof line, fmt, ap);
  std::size_t n = format(g_diag + g_diag_len, sizeof g_diag - g_diag_len, "# %s: %s\n",
                         g_current ? g_current->name : "suite", line);
  g_diag_len += static_cast<unsigned>(n);
  if (g_diag_len > sizeof g_diag - 1) g_diag_len = sizeof g_diag - 1;
}
void diag_append(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_vappend(fmt, ap);
  va_end(ap);
}

// Recovery points: the test's, an active catch_trap's, a running user process's.
Context g_test_ctx;
bool g_test_active = false;

struct CatchFrame {
  Context ctx;
  Trap trap;
  CatchFrame* prev;
};
CatchFrame* volatile g_catch = nullptr;

struct UserState {
  Context ctx;
  bool active;
  UserRun run;
};
UserState g_user;
TrapFrame g_user_entry_frame;

Trap record(const TrapFrame& f) {
  Trap t{};
  t.taken = true;
  t.vector = f.vector;
  t.error = f.error_code;
  t.eip = f.eip;
  t.cs = f.cs;
  t.eflags = f.eflags;
  t.cr2 = f.vector == x86::vector::PF ? cpu::read_cr2() : 0;
  return t;
}

void on_exception(TrapFrame& f) {
  if (g_user.active && f.from_user()) {
    g_user.run.exited = false;
    g_user.run.trap = record(f);
    guest_ctx_resume(&g_user.ctx, 1);
  }
  if (CatchFrame* c = g_catch) {
    c->trap = record(f);
    guest_ctx_resume(&c->ctx, 1);
  }
  if (g_test_active) {
    if (f.vector == x86::vector::PF) {
      diag_append("unexpected #PF (vector 14, error code 0x%x, cr2 0x%08x) at eip 0x%08x, cs 0x%04x", f.error_code,
                  cpu::read_cr2(), f.eip, f.cs);
    } else {
      diag_append("unexpected %s (vector %u, error code 0x%x) at eip 0x%08x, cs 0x%04x", vector_name(f.vector),
                  f.vector, f.error_code, f.eip, f.cs);
    }
    g_failed = true;
    guest_ctx_resume(&g_test_ctx, 1);
  }
  dump_frame(f);
  kprintf("Bail out! unexpected trap outside a test\n");
  machine_exit(exit_status::kUnexpectedTrap);
}

void on_syscall(TrapFrame& f) {
  if (!(g_user.active && f.from_user())) {
    on_exception(f);
    return;
  }
  switch (f.eax) {
    case sys::kExit:
      g_user.run.exited = true;
      g_user.run.status = f.ebx;
      g_user.run.exit_frame = f;
      g_user.run.exit_frame_at = reinterpret_cast<std::uint32_t>(&f);
      guest_ctx_resume(&g_user.ctx, 1);
    case sys::kAdd:
      f.eax = f.ebx + f.ecx + f.edx + f.esi + f.edi;
      return;
    default:
      f.eax = 0xffffffff;
      return;
  }
}

// ---- Reset between tests ------------------------------------------------------------------
void restore_serial() {
  constexpr std::uint16_t com1 = 0x3f8;
  cpu::out8(com1 + 3, 0x80);  // DLAB: 115200 baud
  cpu::out8(com1 + 0, 0x01);
  cpu::out8(com1 + 1, 0x00);
  cpu::out8(com1 + 3, 0x03);  // 8N1
  cpu::out8(com1 + 1, 0x00);  // no UART interrupts
  cpu::out8(com1 + 4, 0x03);  // DTR, RTS, loopback off
}

void reset_state() {
  cpu::irq_disable();
  cpu::restore_flags(0x2);  // IF = 0, IOPL = 0, TF = 0, DF = 0
  cpu::load_gdt(g_gdtr, sel::kKernelCS, sel::kKernelDS);
  cpu::load_idt(g_idtr);
  cpu::load_ldt(sel::kLdt);
  if (g_dirty & dirty::kTr) {
    // LTR wants an available TSS: clear the busy bit the earlier LTR set.
    volatile std::uint64_t* gdt = g_gdt;
    cpu::write_descriptor(&gdt[sel::kTss >> 3], gdt[sel::kTss >> 3] & ~(std::uint64_t{2} << 40));
    cpu::load_tr(sel::kTss, &g_tss);
  }
  cpu::set_kernel_stack(sel::kKernelDS, trap_stack_top());
  cpu::write_cr4(g_cr4_base);
  cpu::write_cr0(g_cr0_base);
  clear_test_mappings();  // also reloads CR3
  cpu::write_dr(7, 0x400);
  for (unsigned n = 0; n < 4; ++n) cpu::write_dr(n, 0);
  for (unsigned v = 0; v < kIdtVectors; ++v) {
    if (v >= kIrqBase && v < kIrqBase + 16) set_trap_handler(v, nullptr);  // boot default: EOI
    else set_trap_handler(v, v == kSyscallVector ? on_syscall : on_exception);
  }
  pic8259::set_masks(pic8259::kAllMasked);
  for (unsigned i = 0; i < 16 && pic8259::read_isr(); ++i) {
    std::uint16_t isr = pic8259::read_isr();
    cpu::pic_eoi((isr & 0xff) ? 0 : 8);
  }
  if (g_dirty & dirty::kPit) timer_program_default();
  g_timer.eoi = true;
  g_timer.set_user_flag = false;
  restore_serial();
  g_dirty = 0;
  g_user.active = false;
  g_catch = nullptr;
}

}  // namespace

// ---- Test API --------------------------------------------------------------------------
void fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_vappend(fmt, ap);
  va_end(ap);
  g_failed = true;
}

void note(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_vappend(fmt, ap);
  va_end(ap);
}

void skip(const char* reason) {
  g_skipped = true;
  format(g_skip_reason, sizeof g_skip_reason, "%s", reason);
}

void result_comment(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vformat(g_comment, sizeof g_comment, fmt, ap);
  va_end(ap);
}

bool check_eq(std::uint32_t seen, std::uint32_t expected, const char* what) {
  if (seen == expected) return true;
  fail("%s: expected 0x%08x, saw 0x%08x", what, expected, seen);
  return false;
}

void mark_dirty(unsigned bits) { g_dirty |= bits; }

const char* vector_name(unsigned v) {
  static const char* const names[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#MF(9)",
                                      "#TS", "#NP", "#SS", "#GP", "#PF", "(15)", "#MF", "#AC", "#MC", "#XM",
                                      "#VE", "#CP"};
  if (v < sizeof names / sizeof names[0]) return names[v];
  if (v >= kIrqBase && v < kIrqBase + 16) return "IRQ";
  return "INT n";
}

Trap catch_trap(void (*body)(void*), void* arg) {
  CatchFrame cf{};
  cf.prev = g_catch;
  g_catch = &cf;
  if (guest_ctx_save(&cf.ctx) == 0) {
    body(arg);
    cf.trap.taken = false;
  }
  asm volatile("" ::: "memory");
  g_catch = cf.prev;
  // A trap from a test body leaves IF as the gate set it (clear) and segment registers as
  // the body left them; the handler ran on this stack, so the rest is intact.
  cpu::load_data_segments(sel::kKernelDS);
  return cf.trap;
}

bool trap_is(const Trap& t, unsigned vector, const char* what) {
  if (!t.taken) {
    fail("%s: expected %s (vector %u), no exception was raised", what, vector_name(vector), vector);
    return false;
  }
  if (t.vector != vector) {
    fail("%s: expected %s (vector %u), got %s (vector %u, error 0x%x) at eip 0x%08x", what, vector_name(vector),
         vector, vector_name(t.vector), t.vector, t.error, t.eip);
    return false;
  }
  return true;
}

bool trap_is(const Trap& t, unsigned vector, std::uint32_t error, const char* what) {
  if (!trap_is(t, vector, what)) return false;
  if (t.error != error) {
    fail("%s: %s error code: expected 0x%x, saw 0x%x", what, vector_name(vector), error, t.error);
    return false;
  }
  return true;
}

UserRun run_user(void (*entry)(), const UserRegs& regs, std::uint32_t eflags) {
  TrapFrame& f = g_user_entry_frame;
  f = TrapFrame{};
  f.gs = f.fs = f.es = f.ds = sel::kUserDS;
  f.eax = regs.eax, f.ebx = regs.ebx, f.ecx = regs.ecx, f.edx = regs.edx, f.esi = regs.esi, f.edi = regs.edi;
  f.eip = reinterpret_cast<std::uint32_t>(entry);
  f.cs = sel::kUserCS;
  f.eflags = eflags | 0x2;
  f.user_esp = reinterpret_cast<std::uint32_t>(g_user_stack + sizeof g_user_stack - 16);
  f.user_ss = sel::kUserDS;
  g_user.run = UserRun{};
  g_user.active = true;
  cpu::irq_disable();  // the IRET loads IF from the frame
  if (guest_ctx_save(&g_user.ctx) == 0) cpu::enter_user(&f);
  asm volatile("" ::: "memory");
  g_user.active = false;
  cpu::irq_disable();
  cpu::load_data_segments(sel::kKernelDS);
  return g_user.run;
}

bool user_exited(const UserRun& r, const char* what) {
  if (r.exited) return true;
  fail("%s: the user process ended with %s (vector %u, error code 0x%x) at eip 0x%08x%s", what,
       vector_name(r.trap.vector), r.trap.vector, r.trap.error, r.trap.eip,
       r.trap.vector == x86::vector::PF ? " (a page fault)" : "");
  return false;
}

// ---- The runner -------------------------------------------------------------------------
namespace {
// The recovery point lives in its own frame so nothing the loop keeps in registers can be
// clobbered by a resume.
[[gnu::noinline]] void run_one(const TestCase& t) {
  reset_state();
  g_test_active = true;
  if (guest_ctx_save(&g_test_ctx) == 0) t.fn();
  asm volatile("" ::: "memory");
  g_test_active = false;
  reset_state();
}
}  // namespace

RunOptions run_options(const BootInfo& boot) {
  static char only[64], nonce[80], seed[24];
  RunOptions opt;
  std::uint32_t first = 0;
  if (boot.cmdline_unsigned("first", &first) && first) opt.first = first;
  if (boot.cmdline_option("only", only, sizeof only)) opt.only = only;
  if (boot.cmdline_option("nonce", nonce, sizeof nonce)) opt.nonce = nonce;
  if (boot.cmdline_option("seed", seed, sizeof seed)) order::parse_hex64(seed, &opt.seed);
  return opt;
}

namespace {
std::uint64_t g_boot_key = order::boot_key(0, nullptr);
constexpr unsigned kMaxTests = 256;
}  // namespace

std::uint32_t boot_value(unsigned salt) { return order::boot_value(g_boot_key, salt); }

int run_suite(const TestGroup* const* groups, unsigned ngroups, const RunOptions& opt, void (*init)()) {
  static const TestCase* tests[kMaxTests];
  static unsigned perm[kMaxTests], sizes[kMaxTests];
  unsigned total = 0;
  for (unsigned g = 0; g < ngroups && g < kMaxTests; ++g) {
    sizes[g] = 0;
    for (unsigned i = 0; i < groups[g]->count && total < kMaxTests; ++i, ++sizes[g]) tests[total++] = &groups[g]->tests[i];
  }
  order::test_order(opt.seed, perm, total, sizes, ngroups);
  g_boot_key = order::boot_key(opt.seed, opt.nonce);
  // The plan comes first, before any set-up that could bring the guest down.
  kprintf("KTAP version 1\n1..%u\n", total);
  if (opt.nonce) kprintf("# nonce %s\n", opt.nonce);
  init();
  kprintf("# hvlab test guest, cpuops flavour: %s\n", cpu::flavour());
  // Run-to-run noise stays off the console so two good runs print the same KTAP.
  dprintf("hvlab test guest: TSC %u kHz\n", static_cast<unsigned>(tsc_per_ms()));

  unsigned passed = 0, failed = 0;
  for (unsigned number = 1; number <= total; ++number) {
    const TestCase& t = *tests[perm[number - 1]];
    if (number < opt.first) continue;
    if (opt.only && rt::str_compare(opt.only, t.name) != 0) continue;

    g_current = &t;
    g_failed = g_skipped = false;
    g_comment[0] = '\0';
    g_diag_len = 0;
    g_diag[0] = '\0';
    run_one(t);
    if (g_diag_len) kprintf("%s", g_diag);
    if (g_failed) {
      kprintf("not ok %u %s\n", number, t.name);
      ++failed;
    } else if (g_skipped) {
      kprintf("ok %u %s # SKIP %s\n", number, t.name, g_skip_reason);
      ++passed;
    } else if (g_comment[0]) {
      kprintf("ok %u %s # %s\n", number, t.name, g_comment);
      ++passed;
    } else {
      kprintf("ok %u %s\n", number, t.name);
      ++passed;
    }
    g_current = nullptr;
  }
  if (opt.only && passed + failed == 0) {
    kprintf("# only=%s: no test of that name\n", opt.only);
    failed = 1;
  }
  kprintf("# summary: %u passed, %u failed\n", passed, failed);
  return failed ? exit_status::kFailure : exit_status::kSuccess;
}

}  // namespace hvlab::guest
