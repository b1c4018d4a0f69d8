#pragma once
// The test guest's kernel: what every test file sees. The machine set-up (descriptor
// tables, paging, timer) is in machine.cpp, the KTAP runner, trap capture and user
// processes in harness.cpp, the tests in tests_<group>.cpp.

#include <cstdint>

#include "autograder/guests/cpuops/cpuops.hpp"
#include "common/arch/paging.hpp"
#include "common/arch/x86.hpp"
#include "common/boot/multiboot.hpp"
#include "common/boot/trap.hpp"

namespace hvlab::guest {

// ---- The suite's own GDT, LDT, TSS and IDT ------------------------------------------------
// Slot numbers differ on purpose from what a monitor built on common/boot would use (TSS at
// 0x28, 32 slots), so SGDT and STR under a monitor do not match by accident.
namespace sel {
inline constexpr std::uint16_t kKernelCS = 0x08, kKernelDS = 0x10, kUserCS = 0x1b, kUserDS = 0x23,
                               kBootTss = 0x28,
                               kCodeAlias = 0x30,   // DPL-0 code, same as 0x08
                               kDataAlias = 0x38,   // DPL-0 data, same as 0x10
                               kNotPresent = 0x40,  // DPL-0 data with P = 0
                               kMarker = 0x48,      // DPL-0 data whose base is a marker page
                               kLdt = 0x58,         // the suite's LDT
                               kTss = 0x60,         // the suite's TSS (what STR must show)
                               kTss2 = 0x68,        // a second TSS for the LTR test
                               kLdt2 = 0x70,        // a second LDT for the LLDT test
                               kLdtMarker = 0x0c;   // LDT entry 1, TI = 1, RPL 0
inline constexpr unsigned kGdtSlots = 24;  // limit 0xbf
}  // namespace sel

inline constexpr unsigned kIdtVectors = 0x90;  // limit 0x47f: vectors above fault
inline constexpr unsigned kSyscallVector = 0x80;  // DPL 3: user-mode system calls
inline constexpr unsigned kKernelIntVector = 0x81;  // DPL 0: INT n from the kernel only
inline constexpr unsigned kSpareVectorA = 0x85, kSpareVectorB = 0x86;

extern volatile std::uint64_t g_gdt[sel::kGdtSlots];
extern volatile std::uint64_t g_ldt[4];
extern x86::GateDescriptor g_idt[kIdtVectors];
extern x86::Tss32 g_tss, g_tss2;
extern x86::DescriptorTableRegister g_gdtr, g_idtr;

/// What the suite keeps CR0 and CR4 at between tests.
extern std::uint32_t g_cr0_base, g_cr4_base;

/// Builds and loads the GDT, LDT, TSS and IDT.
void setup_descriptor_tables();
/// The stub for `vector` in common/boot/isr.S.
std::uint32_t isr_stub(unsigned vector);

// ---- Paging -----------------------------------------------------------------------------
// The kernel identity-maps its RAM (page 0 left out) with 4 KiB pages. Test mappings live
// in one page table at kTestBase; everything stays below 0xC0000000.
inline constexpr std::uint32_t kTestBase = 0x40000000;
inline constexpr unsigned kTestPages = 1024;
inline constexpr std::uint32_t kLargeTestBase = 0x40400000;  // one PDE for a 4 MiB page

extern volatile std::uint32_t g_pd[1024];
extern volatile std::uint32_t g_test_pt[1024];
std::uint32_t pd_phys();
void setup_paging(std::uint32_t ram_top);
constexpr std::uint32_t test_va(unsigned page) { return kTestBase + page * 4096; }
void set_test_pte(unsigned page, std::uint32_t value);  ///< no TLB flush
inline std::uint32_t test_pte(unsigned page) { return g_test_pt[page]; }
/// Clears every test mapping and reloads CR3.
void clear_test_mappings();
/// The identity-map PTE of a kernel address (for tests that change a kernel page).
volatile std::uint32_t* kernel_pte(std::uint32_t va);
/// Makes the kernel's pages over [begin, end) user-accessible (U = 1).
void open_to_user(std::uint32_t begin, std::uint32_t end);

/// Scratch frames the tests own, identity-mapped (virtual = physical).
inline constexpr unsigned kFrames = 16;
std::uint8_t* frame(unsigned i);
inline std::uint32_t frame_pa(unsigned i) { return reinterpret_cast<std::uint32_t>(frame(i)); }

/// Pages user programs may touch (U = 1).
extern std::uint8_t g_user_stack[4096];
extern volatile std::uint32_t g_user_data[1024];
inline constexpr std::uint32_t kUserRoPage = 1;  // test page mapped user read-only

/// The end of usable RAM below 3 GiB from the boot loader's map (16 MiB when it gives none).
std::uint32_t usable_ram_top(const BootInfo& boot);
/// The whole machine set-up: descriptor tables, paging up to `ram_top`, the TSC
/// calibration and the timer's default rate.
void init_machine(std::uint32_t ram_top);

// ---- Time and the legacy timer --------------------------------------------------------------
/// TSC ticks per millisecond, measured against PIT channel 2 at boot.
std::uint64_t tsc_per_ms();
void calibrate_tsc();
/// Spins until cond() or `ms` milliseconds (TSC) have passed, with an iteration cap so a
/// stopped TSC cannot hang it. Returns cond(). A gap of more than a millisecond between two
/// looks is the host stopping the whole machine (a busy emulator's thread descheduled): it
/// counts as one millisecond, so the interrupt the test waits for still has its time to
/// arrive once the machine runs again.
template <class F>
bool wait_until(F cond, unsigned ms) {
  const std::uint64_t per_ms = tsc_per_ms(), budget = ms * per_ms;
  std::uint64_t waited = 0, last = cpu::rdtsc();
  for (std::uint32_t spins = 0, cap = ms * 400000u; spins < cap; ++spins) {
    if (cond()) return true;
    const std::uint64_t now = cpu::rdtsc(), step = now - last;
    last = now;
    waited += step < per_ms ? step : per_ms;
    if (waited > budget) break;
    asm volatile("pause" ::: "memory");
  }
  return cond();
}
void delay_ms(unsigned ms);

inline constexpr unsigned kTimerHz = 1000;
/// PIT channel 0, mode 2 at kTimerHz (the suite's tick; IRQ0 stays masked until a test
/// unmasks it).
void timer_program_default();
struct TimerState {
  volatile std::uint32_t ticks;
  volatile std::uint32_t first_cs, first_eip, last_cs;
  volatile bool eoi;                  // the handler sends EOI
  volatile bool set_user_flag;        // the handler writes g_user_data[0]
};
extern TimerState g_timer;
/// Installs the timer handler on IRQ0 and zeroes the counters.
void timer_arm(bool eoi = true);

namespace pic8259 {
void set_masks(std::uint16_t m);  ///< bit n masks IRQ n
std::uint16_t masks();
void unmask(unsigned irq);
void mask(unsigned irq);
std::uint16_t read_irr();
std::uint16_t read_isr();
inline constexpr std::uint16_t kAllMasked = 0xfffb;  // cascade (IRQ2) open
}  // namespace pic8259

/// Bounded wait until the PIC shows IRQ `irq` requested (IRR bit set).
bool wait_irq_pending(unsigned irq, unsigned ms);

// ---- Tests: results, diagnostics, trap capture ----------------------------------------------
struct TestCase {
  const char* name;
  void (*fn)();
};
struct TestGroup {
  const TestCase* tests;
  unsigned count;
};
#define GUEST_TEST_GROUP(var, array) \
  extern const ::hvlab::guest::TestGroup var = {array, sizeof(array) / sizeof(array[0])}
struct RunOptions {
  unsigned first = 1;        ///< run tests first..N (the plan still says 1..N)
  const char* only = nullptr;  ///< run only the test of this name
  const char* nonce = nullptr;  ///< echoed as "# nonce HEX" after the plan
  std::uint64_t seed = 0;    ///< the order of the tests (order.hpp); 0: the order of the source
};
/// The runner's options from the command line: first=K, only=NAME, nonce=HEX, seed=HEX. The
/// strings are copied out of the multiboot information, which may sit in memory the tests use.
RunOptions run_options(const BootInfo& boot);
/// Prints the KTAP plan, calls init(), runs the tests in the seed's order, numbered as they
/// run, prints the summary; returns the exit status (0 all passed, 1 otherwise).
int run_suite(const TestGroup* const* groups, unsigned ngroups, const RunOptions& opt, void (*init)());

/// A value for a test's data that changes with every boot (the grader's seed and nonce), so
/// that no monitor can answer from a transcript of another run; fixed without a seed.
std::uint32_t boot_value(unsigned salt);

/// Records a failure with a diagnostic line "# <test>: <message>".
void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
/// A diagnostic that does not fail the test.
void note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
/// Marks the test skipped (KTAP "# SKIP reason").
void skip(const char* reason);
/// Text for the test's result line after a '#' ("ok 3 name # text"): a benchmark's figures.
void result_comment(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
bool check_eq(std::uint32_t seen, std::uint32_t expected, const char* what);

#define EXPECT(cond, ...)               \
  do {                                  \
    if (!(cond)) {                      \
      ::hvlab::guest::fail(__VA_ARGS__); \
      return;                           \
    }                                   \
  } while (0)
#define EXPECT_EQ(seen, expected, what)                                                      \
  do {                                                                                       \
    if (!::hvlab::guest::check_eq(static_cast<std::uint32_t>(seen),                          \
                                  static_cast<std::uint32_t>(expected), (what)))             \
      return;                                                                                \
  } while (0)

/// What a captured exception looked like.
struct Trap {
  bool taken;
  std::uint32_t vector, error, eip, cs, eflags, cr2;
};
const char* vector_name(unsigned v);

/// Runs body(arg); if it raises an exception (any vector the suite does not route
/// elsewhere), the handler records it and resumes here. Returns what was caught.
Trap catch_trap(void (*body)(void*), void* arg);
template <class F>
Trap catch_trap(F f) {
  return catch_trap([](void* p) { (*static_cast<F*>(p))(); }, &f);
}
/// True when `t` is the exception `vector` (with `error` when given); else a diagnostic.
bool trap_is(const Trap& t, unsigned vector, const char* what);
bool trap_is(const Trap& t, unsigned vector, std::uint32_t error, const char* what);

/// State a test changed that the reset between tests must undo beyond its usual reload.
namespace dirty {
inline constexpr unsigned kTr = 1u << 0, kPit = 1u << 1;
}
void mark_dirty(unsigned bits);

// ---- User processes -------------------------------------------------------------------
namespace sys {
inline constexpr std::uint32_t kExit = 0, kAdd = 1;
}
struct UserRegs {
  std::uint32_t eax, ebx, ecx, edx, esi, edi;
};
struct UserRun {
  bool exited;                  ///< the process made the exit system call
  std::uint32_t status;         ///< its EBX at exit
  TrapFrame exit_frame;         ///< the frame of the exit system call
  std::uint32_t exit_frame_at;  ///< where that frame sat (the ring-0 stack in use)
  Trap trap;                    ///< the exception that ended it, when !exited
};
/// IRETs to `entry` at ring 3 with `regs` and `eflags`, on the user stack; returns when
/// the process exits or faults.
UserRun run_user(void (*entry)(), const UserRegs& regs, std::uint32_t eflags = 0x202);
/// Diagnoses a run that should have exited; true when it did.
bool user_exited(const UserRun& r, const char* what);

/// The ring-0 stack for traps from user mode.
std::uint32_t trap_stack_top();

}  // namespace hvlab::guest

// User programs (user.S): each ends with the exit system call, EBX = status.
extern "C" {
void user_exit();        // exits with the EBX it was given
void user_selectors();   // EBX = CS, ECX = SS, EDX = ESP
void user_add();         // sys_add(EBX, ECX, EDX, ESI, EDI), exits with the sum
void user_load();        // EBX = *(u32*)ESI
void user_store();       // *(u32*)ESI = EDI
void user_cli();         // CLI
void user_in();          // IN AL, DX=ESI
void user_hlt();         // HLT
void user_iopl_probe();  // CLI; IN from port ESI; EBX = EFLAGS
void user_popf();        // POPF clearing IF and setting IOPL; EBX = EFLAGS after
void user_int_kernel();  // INT 0x81 (a DPL-0 gate)
void user_rdtsc();       // EBX = low TSC
void user_wait_flag();   // spins (ECX iterations at most) until *(u32*)ESI != 0, EBX = it
extern char guest_user_begin[], guest_user_end[];

// Kernel code the tests call or rewrite (code.S).
extern volatile std::uint32_t far_call_seen_cs, far_call_pushed_cs;
void far_call_target();
std::uint32_t smc_imm_fn();
std::uint32_t smc_op_fn(std::uint32_t x);
extern char smc_op_site[];
}

// Suite ctx helpers (context.S).
namespace hvlab::guest {
struct Context {
  std::uint32_t ebx, esi, edi, ebp, esp, eip;
};
}  // namespace hvlab::guest
extern "C" int guest_ctx_save(hvlab::guest::Context* c) __attribute__((returns_twice));
extern "C" [[noreturn]] void guest_ctx_resume(hvlab::guest::Context* c, int value);
