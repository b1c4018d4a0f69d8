// census.elf: classifies x86 instructions by running each one at ring 0 and deprivileged (ring
// 1, where lab01's monitor runs guest kernels, and ring 3), first with CR4.UMIP clear, then set
// when the CPU has UMIP. It prints a table on COM1 and one "# census:" line per instruction.
//
// Method. Each snippet (probes.S) runs with the same register values at every ring, on a
// scratch stack, with IOPL=0. Values that name "the kernel's own segment" are the selector of
// the ring under test with RPL 0, the way a ring-compressing monitor (lab01) presents a guest
// kernel's selectors with their DPL raised to the ring. The snippet ends with INT 0x41; a fault
// (#GP, #UD, #PF, #NP, #SS, ...) ends it too. Then, per deprivileged ring:
//   privileged   the tested instruction faulted there and not at ring 0;
//   sensitive    it ran, and its outputs differ from ring 0's (registers, EFLAGS, segment
//                registers compared by role and RPL, stack, memory), or for the readers of
//                machine state (SGDT, SIDT, SLDT, STR, SMSW, PUSHF) it returned the real value;
//   innocuous    it ran with the same outputs as at ring 0;
//   unsupported  it faulted at ring 0 as well (the emulated CPU lacks it).

#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/boot/descriptor_tables.hpp"
#include "common/boot/kernel.hpp"
#include "common/boot/legacy_pic.hpp"
#include "common/boot/trap.hpp"
#include "common/decoder/decoder.hpp"
#include "common/runtime/string.hpp"

using namespace hvlab;
using namespace hvlab::x86;

#define CEN_EXTERN(n) extern "C" char cen_##n[], cen_##n##_at[];
CEN_EXTERN(lgdt) CEN_EXTERN(lidt) CEN_EXTERN(lldt) CEN_EXTERN(ltr) CEN_EXTERN(mov_to_cr0)
CEN_EXTERN(mov_from_cr0) CEN_EXTERN(mov_to_cr2) CEN_EXTERN(mov_from_cr2) CEN_EXTERN(mov_to_cr3)
CEN_EXTERN(mov_from_cr3) CEN_EXTERN(mov_to_cr4) CEN_EXTERN(mov_from_cr4) CEN_EXTERN(mov_to_dr7)
CEN_EXTERN(mov_from_dr7) CEN_EXTERN(lmsw) CEN_EXTERN(clts) CEN_EXTERN(invd) CEN_EXTERN(wbinvd)
CEN_EXTERN(invlpg) CEN_EXTERN(hlt) CEN_EXTERN(rdmsr) CEN_EXTERN(wrmsr) CEN_EXTERN(rdpmc)
CEN_EXTERN(rdtsc) CEN_EXTERN(cli) CEN_EXTERN(sti) CEN_EXTERN(in) CEN_EXTERN(out) CEN_EXTERN(ins)
CEN_EXTERN(outs) CEN_EXTERN(sgdt) CEN_EXTERN(sidt) CEN_EXTERN(sldt) CEN_EXTERN(smsw) CEN_EXTERN(str)
CEN_EXTERN(pushf) CEN_EXTERN(popf) CEN_EXTERN(lar) CEN_EXTERN(lsl) CEN_EXTERN(verr) CEN_EXTERN(verw)
CEN_EXTERN(push_cs) CEN_EXTERN(push_ss) CEN_EXTERN(pop_ds) CEN_EXTERN(pop_ss) CEN_EXTERN(mov_from_cs)
CEN_EXTERN(mov_from_ss) CEN_EXTERN(mov_to_ds) CEN_EXTERN(mov_to_ss) CEN_EXTERN(ljmp) CEN_EXTERN(lcall)
CEN_EXTERN(lret_kernel) CEN_EXTERN(lret_user) CEN_EXTERN(iret_kernel) CEN_EXTERN(iret_pushcs)
CEN_EXTERN(int_n) CEN_EXTERN(call_gate) CEN_EXTERN(call_near) CEN_EXTERN(add) CEN_EXTERN(mov)
CEN_EXTERN(nop) CEN_EXTERN(cpuid) CEN_EXTERN(spin) CEN_EXTERN(stray)
#undef CEN_EXTERN

extern "C" {
extern char cen_ljmp_target[], cen_lcall_target[], cen_gate_target[];
void census_enter(TrapFrame* frame);
[[noreturn]] void census_resume();
extern volatile std::uint32_t census_gate_esp, census_gate_cs;
}

namespace {

// ---------------------------------------------------------------------------------------
// The machine the census sets up.

// GDT slots of the census (the kit's own are 0-5).
constexpr unsigned kSlotCode1 = 6, kSlotData1 = 7, kSlotCode3 = 8, kSlotData3 = 9, kSlotLdt = 10,
                   kSlotTss2 = 11, kSlotGate = 12;
constexpr std::uint16_t kLdtSel = kSlotLdt << 3, kTss2Sel = kSlotTss2 << 3, kGateSel = (kSlotGate << 3) | 3;
static_assert(kGateSel == 0x63, "probes.S calls the gate as 0x63");
constexpr std::uint16_t kUserCS = (kSlotCode3 << 3) | 3, kUserSS = (kSlotData3 << 3) | 3;
constexpr unsigned kVecDone = 0x41, kVecIntN = 0x42;
constexpr unsigned kRings[] = {0, 1, 3};
constexpr std::uint32_t kPitHz = 1000, kWatchdogTicks = 500;  // a wedged snippet: 0.5 s

unsigned code_slot(unsigned ring) { return ring == 0 ? gdt::kKernelCode : ring == 1 ? kSlotCode1 : kSlotCode3; }
unsigned data_slot(unsigned ring) { return ring == 0 ? gdt::kKernelData : ring == 1 ? kSlotData1 : kSlotData3; }
// The kernel's selectors as a ring-compressing monitor leaves them: RPL 0, DPL = ring.
std::uint16_t kernel_cs(unsigned ring) { return static_cast<std::uint16_t>(code_slot(ring) << 3); }
std::uint16_t kernel_ds(unsigned ring) { return static_cast<std::uint16_t>(data_slot(ring) << 3); }

alignas(16) std::uint8_t g_stack[8192];       // the snippets' stack
alignas(16) std::uint8_t g_trap_stack[16384];  // TSS.esp0: traps and gates from ring 1 and 3
alignas(16) std::uint8_t g_in[64];             // memory operands (ESI)
alignas(16) std::uint8_t g_mem[64];            // stores (EDI)
alignas(8) SegmentDescriptor g_ldt[2];
TrapFrame g_frame;                             // the entry frame for ring 1 and 3

std::uint32_t stack_top() { return reinterpret_cast<std::uint32_t>(g_stack + sizeof g_stack - 64); }
// Where lret_user tells the CPU to put the user stack (inside g_stack, below the snippet's).
std::uint32_t user_stack() { return stack_top() - 1024; }
bool in_trap_stack(std::uint32_t a) {
  auto b = reinterpret_cast<std::uint32_t>(g_trap_stack);
  return a >= b && a < b + sizeof g_trap_stack;
}

// The real machine state, saved once; restored after every run.
struct Saved {
  DescriptorTableRegister gdtr, idtr;
  std::uint32_t cr0, cr3, cr4, dr7;
  std::uint32_t msr;  // the MSR RDMSR/WRMSR use: SYSENTER_CS, or the TSC on a CPU without SEP
  std::uint64_t msr_value;
  std::uint16_t tr, ldtr;
} g_real;
std::uint32_t g_pass_cr4;  // CR4 of the current pass (UMIP clear or set)

std::uint16_t read_tr() {
  std::uint16_t v;
  asm volatile("str %0" : "=r"(v));
  return v;
}
std::uint16_t read_ldtr() {
  std::uint16_t v;
  asm volatile("sldt %0" : "=r"(v));
  return v;
}
std::uint32_t read_dr7() {
  std::uint32_t v;
  asm volatile("mov %%dr7, %0" : "=r"(v));
  return v;
}
void write_dr7(std::uint32_t v) { asm volatile("mov %0, %%dr7" ::"r"(v)); }

void restore_machine() {
  lgdt(g_real.gdtr);
  lidt(g_real.idtr);
  lldt(kLdtSel);
  if (read_tr() != gdt::kTssSel) {  // the LTR probe moved TR: make slot 5 loadable again
    SegmentDescriptor d = gdt_get(gdt::kTss);
    d.type = desc_type::kTss32Available;
    gdt_set(gdt::kTss, d);
    ltr(gdt::kTssSel);
  }
  write_cr0(g_real.cr0);
  write_cr3(g_real.cr3);
  write_cr4(g_pass_cr4);
  write_dr7(g_real.dr7);
  wrmsr(g_real.msr, g_real.msr_value);
}

// ---------------------------------------------------------------------------------------
// One run of one snippet at one ring.

enum Field : unsigned {
  kEax, kEbx, kEcx, kEdx, kEsi, kEdi, kEbp, kEsp, kEfl, kCs, kSs, kDs, kEs, kFs, kGs,
  kS0, kS1, kS2, kS3, kM0, kM1, kM2, kM3, kA0, kA1, kFieldCount
};
constexpr std::uint32_t bit(Field f) { return 1u << f; }
constexpr std::uint32_t kSegFields = bit(kCs) | bit(kSs) | bit(kDs) | bit(kEs) | bit(kFs) | bit(kGs);
const char* const kFieldNames[kFieldCount] = {
    "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eflags", "cs", "ss", "ds", "es", "fs", "gs",
    "stack[0]", "stack[1]", "stack[2]", "stack[3]", "mem[0]", "mem[4]", "mem[8]", "mem[12]", "aux0", "aux1"};
// The flags an instruction's result can carry (RF, TF, VM and the virtual-8086 ones aside).
constexpr std::uint32_t kFlagsCompared = eflags::CF | eflags::PF | eflags::AF | eflags::ZF | eflags::SF |
                                         eflags::OF | eflags::DF | eflags::IF | eflags::IOPL | eflags::NT |
                                         eflags::AC;

struct Run {
  bool ended = false;   // reached INT 0x41 or faulted
  bool wedged = false;  // stopped by the watchdog
  unsigned vector = 0;  // kVecDone when it ran to the end
  std::uint32_t error = 0, eip = 0;
  std::uint32_t entry_eflags = 0;  // what the snippet started with: the "real" IF and IOPL
  std::uint32_t v[kFieldCount] = {};
  bool faulted() const { return ended && !wedged && vector != kVecDone; }
};

Run* g_run = nullptr;
volatile bool g_active = false;
volatile std::uint32_t g_ticks = 0;
volatile std::uint32_t g_aux0 = 0, g_aux1 = 0;

// Ends the current run: copies what the snippet left behind, then returns to the controller.
[[noreturn]] void finish_run(TrapFrame& f, bool wedged) {
  Run& r = *g_run;
  r.ended = true;
  r.wedged = wedged;
  r.vector = f.vector;
  r.error = f.error_code;
  r.eip = f.eip;
  std::uint32_t esp, ss;
  if (f.from_user()) {
    esp = f.user_esp, ss = f.user_ss;
  } else {  // a same-ring trap pushes no SS:ESP: the old ESP is just above EFLAGS
    esp = reinterpret_cast<std::uint32_t>(&f.user_esp);
    asm volatile("mov %%ss, %0" : "=r"(ss));
  }
  std::uint32_t* v = r.v;
  v[kEax] = f.eax, v[kEbx] = f.ebx, v[kEcx] = f.ecx, v[kEdx] = f.edx;
  v[kEsi] = f.esi, v[kEdi] = f.edi, v[kEbp] = f.ebp, v[kEsp] = esp;
  v[kEfl] = f.eflags, v[kCs] = f.cs & 0xffff, v[kSs] = ss & 0xffff;
  v[kDs] = f.ds & 0xffff, v[kEs] = f.es & 0xffff, v[kFs] = f.fs & 0xffff, v[kGs] = f.gs & 0xffff;
  auto lo = reinterpret_cast<std::uint32_t>(g_stack);
  for (unsigned i = 0; i < 4; ++i) {
    std::uint32_t a = esp + 4 * i;
    v[kS0 + i] = (a >= lo && a + 4 <= lo + sizeof g_stack) ? *reinterpret_cast<std::uint32_t*>(a) : 0xdead0000;
  }
  rt::mem_copy(&v[kM0], g_mem, 16);
  v[kA0] = g_aux0, v[kA1] = g_aux1;
  g_active = false;
  census_resume();
}

void on_trap(TrapFrame& f) {
  if (!g_active) {  // a fault in the controller itself: a bug, show it and stop
    dump_frame(f);
    kprintf("census: unexpected trap %u outside a probe\n", f.vector);
    machine_exit(exit_status::kUnexpectedTrap);
  }
  finish_run(f, false);
}

// INT 0x42 from a snippet: where did the CPU put the frame, and which CS did it push?
void on_int_n(TrapFrame& f) {
  g_aux0 = f.cs & 0xffff;
  g_aux1 = reinterpret_cast<std::uint32_t>(&f.eip);
}

void on_timer(TrapFrame& f) {
  pic::eoi(0);
  // The watchdog: a snippet is a few instructions; one still running after 0.5 s is wedged.
  if (g_active && ++g_ticks > kWatchdogTicks) finish_run(f, true);
}

// ---------------------------------------------------------------------------------------
// The probes.

struct Context {
  std::uint32_t eax, ebx, ecx, edx, esi, edi, ebp, eflags;
};

enum class Ref : std::uint8_t { privileged, iopl, tsd1, tsd0, pce, sensitive, innocuous, unlisted };
enum class Judge : std::uint8_t { compare, gdtr, idtr, ldtr, tr, msw, flags, time };
enum Group : std::uint8_t { kGroupPriv, kGroupIopl, kGroupRI, kGroupOther };
const char* const kGroupTitles[] = {
    "privileged per the SDM (#GP at CPL>0)", "IOPL-sensitive (#GP if CPL > IOPL; IOPL=0 here)",
    "Robin and Irvine's sensitive-but-unprivileged list", "innocuous, and CPUID"};

constexpr unsigned kRawSelectors = 1;  // compare selectors as numbers, not by role

struct Probe {
  const char* name;
  Group group;
  const char* code;
  const char* at;
  Ref ref;
  Judge judge = Judge::compare;
  std::uint32_t skip = 0;  // fields not compared
  std::uint32_t sels = 0;  // fields (besides segment registers) that hold selectors
  unsigned flags = 0;
  void (*setup)(Context&, unsigned ring) = nullptr;
  void (*prepare)() = nullptr;  // ring-0 state the run needs (restore_machine undoes it)
  const char* why_ref = nullptr;    // census (ring 3, no UMIP) differs from the reference
  const char* why_rings = nullptr;  // ring 1 and ring 3 differ
  const char* why_umip = nullptr;   // UMIP changes the class
  const char* note = nullptr;       // a qualified reference, always listed
  const char* aux0 = nullptr;
  const char* aux1 = nullptr;
};

void set_far_pointer(std::uint32_t offset, std::uint16_t sel) {
  rt::mem_copy(g_in, &offset, 4);
  rt::mem_copy(g_in + 4, &sel, 2);
}

constexpr std::uint32_t kFlipFlags = eflags::IOPL | eflags::CF | eflags::ZF | eflags::FIXED1;  // IF=0

const char* const kIoplNote =
    "traps at CPL 1 and 3 only because IOPL=0: IOPL-sensitive, not always privileged (with IOPL>=CPL "
    "it runs, and at IOPL=1 a ring-1 guest kernel would really change the machine)";
const char* const kIoNote =
    "traps at CPL 1 and 3 only because IOPL=0 and the TSS has no I/O bitmap: IOPL-sensitive, not "
    "always privileged (a bitmap can let single ports through)";
const char* const kUmipWhy = "the store now faults (#GP) at CPL>0: later hardware closed this hole, so a "
                             "monitor can trap it and emulate it with the guest's values";

const Probe kProbes[] = {
    // --- privileged per the SDM
    {.name = "lgdt", .group = kGroupPriv, .code = cen_lgdt, .at = cen_lgdt_at, .ref = Ref::privileged,
     .setup = [](Context&, unsigned) { rt::mem_copy(g_in, &g_real.gdtr, sizeof g_real.gdtr); }},
    {.name = "lidt", .group = kGroupPriv, .code = cen_lidt, .at = cen_lidt_at, .ref = Ref::privileged,
     .setup = [](Context&, unsigned) { rt::mem_copy(g_in, &g_real.idtr, sizeof g_real.idtr); }},
    {.name = "lldt", .group = kGroupPriv, .code = cen_lldt, .at = cen_lldt_at, .ref = Ref::privileged,
     .setup = [](Context& c, unsigned) { c.eax = kLdtSel; }},
    {.name = "ltr", .group = kGroupPriv, .code = cen_ltr, .at = cen_ltr_at, .ref = Ref::privileged,
     .setup = [](Context& c, unsigned) { c.eax = kTss2Sel; },
     // A second, available descriptor of the kernel TSS: LTR of the busy one faults even at ring 0.
     .prepare =
         [] {
           gdt_set(kSlotTss2, SegmentDescriptor::make(reinterpret_cast<std::uint32_t>(&kernel_tss()),
                                                      sizeof(Tss32) - 1, desc_type::kTss32Available, 0,
                                                      false, false));
         }},
    {.name = "mov_to_cr0", .group = kGroupPriv, .code = cen_mov_to_cr0, .at = cen_mov_to_cr0_at,
     .ref = Ref::privileged, .setup = [](Context& c, unsigned) { c.eax = g_real.cr0; }},
    {.name = "mov_from_cr0", .group = kGroupPriv, .code = cen_mov_from_cr0, .at = cen_mov_from_cr0_at,
     .ref = Ref::privileged},
    {.name = "mov_to_cr2", .group = kGroupPriv, .code = cen_mov_to_cr2, .at = cen_mov_to_cr2_at,
     .ref = Ref::privileged, .setup = [](Context& c, unsigned) { c.eax = 0x00c0ffee; }},
    {.name = "mov_from_cr2", .group = kGroupPriv, .code = cen_mov_from_cr2, .at = cen_mov_from_cr2_at,
     .ref = Ref::privileged},
    {.name = "mov_to_cr3", .group = kGroupPriv, .code = cen_mov_to_cr3, .at = cen_mov_to_cr3_at,
     .ref = Ref::privileged, .setup = [](Context& c, unsigned) { c.eax = g_real.cr3; }},
    {.name = "mov_from_cr3", .group = kGroupPriv, .code = cen_mov_from_cr3, .at = cen_mov_from_cr3_at,
     .ref = Ref::privileged},
    {.name = "mov_to_cr4", .group = kGroupPriv, .code = cen_mov_to_cr4, .at = cen_mov_to_cr4_at,
     .ref = Ref::privileged, .setup = [](Context& c, unsigned) { c.eax = g_pass_cr4; }},
    {.name = "mov_from_cr4", .group = kGroupPriv, .code = cen_mov_from_cr4, .at = cen_mov_from_cr4_at,
     .ref = Ref::privileged},
    {.name = "mov_to_dr7", .group = kGroupPriv, .code = cen_mov_to_dr7, .at = cen_mov_to_dr7_at,
     .ref = Ref::privileged, .setup = [](Context& c, unsigned) { c.eax = 0x400; }},
    {.name = "mov_from_dr7", .group = kGroupPriv, .code = cen_mov_from_dr7, .at = cen_mov_from_dr7_at,
     .ref = Ref::privileged},
    {.name = "lmsw", .group = kGroupPriv, .code = cen_lmsw, .at = cen_lmsw_at, .ref = Ref::privileged,
     .setup = [](Context& c, unsigned) { c.eax = g_real.cr0 & 0xffff; }},
    {.name = "clts", .group = kGroupPriv, .code = cen_clts, .at = cen_clts_at, .ref = Ref::privileged},
    {.name = "invd", .group = kGroupPriv, .code = cen_invd, .at = cen_invd_at, .ref = Ref::privileged},
    {.name = "wbinvd", .group = kGroupPriv, .code = cen_wbinvd, .at = cen_wbinvd_at, .ref = Ref::privileged},
    {.name = "invlpg", .group = kGroupPriv, .code = cen_invlpg, .at = cen_invlpg_at, .ref = Ref::privileged},
    {.name = "hlt", .group = kGroupPriv, .code = cen_hlt, .at = cen_hlt_at, .ref = Ref::privileged},
    {.name = "rdmsr", .group = kGroupPriv, .code = cen_rdmsr, .at = cen_rdmsr_at, .ref = Ref::privileged,
     .setup = [](Context& c, unsigned) { c.ecx = g_real.msr; }},
    {.name = "wrmsr", .group = kGroupPriv, .code = cen_wrmsr, .at = cen_wrmsr_at, .ref = Ref::privileged,
     .setup =
         [](Context& c, unsigned) {
           c.ecx = g_real.msr;  // writes back the value it holds
           c.eax = static_cast<std::uint32_t>(g_real.msr_value);
           c.edx = static_cast<std::uint32_t>(g_real.msr_value >> 32);
         }},
    {.name = "rdpmc", .group = kGroupPriv, .code = cen_rdpmc, .at = cen_rdpmc_at, .ref = Ref::pce,
     .setup = [](Context& c, unsigned) { c.ecx = 0; },
     .why_ref = "raises #UD at ring 0 too, because QEMU's TCG does not implement performance counters; at CPL 1 "
                "and 3 the CR4.PCE=0 check comes first and raises #GP, which is the privilege check",
     .note = "privileged only while CR4.PCE=0: with PCE=1 any ring may read the counters"},
    {.name = "rdtsc", .group = kGroupPriv, .code = cen_rdtsc, .at = cen_rdtsc_at, .ref = Ref::tsd0,
     .judge = Judge::time,
     .note = "with CR4.TSD=0 it runs at every ring and returns the real time-stamp counter: innocuous in "
             "Popek and Goldberg's sense, which sets timing aside, but a monitor cannot hide time without "
             "TSD or TSC offsetting"},
    {.name = "rdtsc_tsd", .group = kGroupPriv, .code = cen_rdtsc, .at = cen_rdtsc_at, .ref = Ref::tsd1,
     .judge = Judge::time, .prepare = [] { write_cr4(g_pass_cr4 | cr4::TSD); },
     .note = "privileged only by the control bit CR4.TSD=1: the monitor chooses whether the guest's RDTSC "
             "traps"},
    // --- IOPL-sensitive
    {.name = "cli", .group = kGroupIopl, .code = cen_cli, .at = cen_cli_at, .ref = Ref::iopl, .note = kIoplNote},
    {.name = "sti", .group = kGroupIopl, .code = cen_sti, .at = cen_sti_at, .ref = Ref::iopl,
     .setup = [](Context& c, unsigned) { c.eflags = eflags::FIXED1; }, .note = kIoplNote},
    {.name = "in", .group = kGroupIopl, .code = cen_in, .at = cen_in_at, .ref = Ref::iopl,
     .setup = [](Context& c, unsigned) { c.edx = kCom1 + 5; }, .note = kIoNote},
    {.name = "out", .group = kGroupIopl, .code = cen_out, .at = cen_out_at, .ref = Ref::iopl,
     .setup = [](Context& c, unsigned) { c.edx = 0x80, c.eax = 0; }, .note = kIoNote},
    {.name = "ins", .group = kGroupIopl, .code = cen_ins, .at = cen_ins_at, .ref = Ref::iopl,
     .setup = [](Context& c, unsigned) { c.edx = kCom1 + 5; }, .note = kIoNote},
    {.name = "outs", .group = kGroupIopl, .code = cen_outs, .at = cen_outs_at, .ref = Ref::iopl,
     .setup = [](Context& c, unsigned) { c.edx = 0x80, g_in[0] = 0; }, .note = kIoNote},
    // --- Robin and Irvine
    {.name = "sgdt", .group = kGroupRI, .code = cen_sgdt, .at = cen_sgdt_at, .ref = Ref::sensitive,
     .judge = Judge::gdtr, .why_umip = kUmipWhy},
    {.name = "sidt", .group = kGroupRI, .code = cen_sidt, .at = cen_sidt_at, .ref = Ref::sensitive,
     .judge = Judge::idtr, .why_umip = kUmipWhy},
    {.name = "sldt", .group = kGroupRI, .code = cen_sldt, .at = cen_sldt_at, .ref = Ref::sensitive,
     .judge = Judge::ldtr, .why_umip = kUmipWhy},
    {.name = "smsw", .group = kGroupRI, .code = cen_smsw, .at = cen_smsw_at, .ref = Ref::sensitive,
     .judge = Judge::msw, .why_umip = kUmipWhy},
    {.name = "str", .group = kGroupRI, .code = cen_str, .at = cen_str_at, .ref = Ref::sensitive,
     .judge = Judge::tr, .why_umip = kUmipWhy},
    {.name = "pushf", .group = kGroupRI, .code = cen_pushf, .at = cen_pushf_at, .ref = Ref::sensitive,
     .judge = Judge::flags},
    {.name = "popf", .group = kGroupRI, .code = cen_popf, .at = cen_popf_at, .ref = Ref::sensitive,
     .setup = [](Context& c, unsigned) { c.ebx = kFlipFlags; },
     .note = "POPF behaves the same at CPL 1 and 3 here only because IOPL=0: with IOPL=1 a ring-1 guest's "
             "POPF would change the real IF while a ring-3 one would still be ignored"},
    {.name = "lar", .group = kGroupRI, .code = cen_lar, .at = cen_lar_at, .ref = Ref::sensitive,
     .setup = [](Context& c, unsigned) { c.eax = gdt::kKernelDS; }},
    {.name = "lsl", .group = kGroupRI, .code = cen_lsl, .at = cen_lsl_at, .ref = Ref::sensitive,
     .setup = [](Context& c, unsigned) { c.eax = gdt::kKernelDS; }},
    {.name = "verr", .group = kGroupRI, .code = cen_verr, .at = cen_verr_at, .ref = Ref::sensitive,
     .setup = [](Context& c, unsigned) { c.eax = gdt::kKernelDS; }},
    {.name = "verw", .group = kGroupRI, .code = cen_verw, .at = cen_verw_at, .ref = Ref::sensitive,
     .setup = [](Context& c, unsigned) { c.eax = gdt::kKernelDS; }},
    {.name = "push_cs", .group = kGroupRI, .code = cen_push_cs, .at = cen_push_cs_at, .ref = Ref::sensitive,
     .sels = bit(kS0)},
    {.name = "push_ss", .group = kGroupRI, .code = cen_push_ss, .at = cen_push_ss_at, .ref = Ref::sensitive,
     .sels = bit(kS0)},
    {.name = "pop_ds", .group = kGroupRI, .code = cen_pop_ds, .at = cen_pop_ds_at, .ref = Ref::sensitive,
     .sels = bit(kEax), .setup = [](Context& c, unsigned ring) { c.eax = kernel_ds(ring); },
     .why_ref = "the kernel's own data selector (RPL 0, DPL raised to the ring as a ring-compressing monitor "
                "does) passes the check against the real CPL and loads the same value: nothing traps and "
                "nothing differs; the check shows only as a #GP, for a selector whose DPL is below the CPL"},
    {.name = "pop_ss", .group = kGroupRI, .code = cen_pop_ss, .at = cen_pop_ss_at, .ref = Ref::sensitive,
     .sels = bit(kEax), .setup = [](Context& c, unsigned ring) { c.eax = kernel_ds(ring); },
     .why_ref = "SS needs RPL = DPL = CPL, so the kernel's RPL-0 stack selector faults (#GP) at CPL 1 and 3: a "
                "trap the monitor sees and emulates (lab01 does), not a silent difference"},
    {.name = "mov_from_cs", .group = kGroupRI, .code = cen_mov_from_cs, .at = cen_mov_from_cs_at,
     .ref = Ref::sensitive, .sels = bit(kEax)},
    {.name = "mov_from_ss", .group = kGroupRI, .code = cen_mov_from_ss, .at = cen_mov_from_ss_at,
     .ref = Ref::sensitive, .sels = bit(kEax)},
    {.name = "mov_to_ds", .group = kGroupRI, .code = cen_mov_to_ds, .at = cen_mov_to_ds_at, .ref = Ref::sensitive,
     .sels = bit(kEax), .setup = [](Context& c, unsigned ring) { c.eax = kernel_ds(ring); },
     .why_ref = "as for POP DS: the kernel's own RPL-0 data selector loads at CPL 1 and 3 with the same result; "
                "a DPL-0 selector would fault (#GP), a trap, so no load of DS is silently different"},
    {.name = "mov_to_ss", .group = kGroupRI, .code = cen_mov_to_ss, .at = cen_mov_to_ss_at, .ref = Ref::sensitive,
     .sels = bit(kEax), .setup = [](Context& c, unsigned ring) { c.eax = kernel_ds(ring); },
     .why_ref = "as for POP SS: the RPL-0 stack selector faults (#GP) at CPL 1 and 3, a trap the monitor "
                "emulates"},
    {.name = "ljmp", .group = kGroupRI, .code = cen_ljmp, .at = cen_ljmp_at, .ref = Ref::sensitive,
     .setup = [](Context&, unsigned ring) { set_far_pointer(reinterpret_cast<std::uint32_t>(cen_ljmp_target),
                                                            kernel_cs(ring)); },
     .why_ref = "a far JMP to the kernel's own code selector passes the checks at CPL 1 and 3 and CS keeps "
                "RPL = CPL as before, so nothing new shows; JMP is on the list for its checks against the real "
                "CPL, which show only as faults (to a DPL-0 segment, or through a call gate)"},
    {.name = "lcall", .group = kGroupRI, .code = cen_lcall, .at = cen_lcall_at, .ref = Ref::sensitive,
     .sels = bit(kS1),
     .setup = [](Context&, unsigned ring) { set_far_pointer(reinterpret_cast<std::uint32_t>(cen_lcall_target),
                                                            kernel_cs(ring)); }},
    {.name = "lret_kernel", .group = kGroupRI, .code = cen_lret_kernel, .at = cen_lret_kernel_at,
     .ref = Ref::sensitive, .sels = bit(kEax), .setup = [](Context& c, unsigned ring) { c.eax = kernel_cs(ring); },
     .why_ref = "a far RET to the kernel's own RPL-0 code selector is a return to a more privileged RPL at CPL 1 "
                "and 3 and faults (#GP): a trap the monitor sees and emulates (lab01 does)"},
    {.name = "lret_user", .group = kGroupRI, .code = cen_lret_user, .at = cen_lret_user_at, .ref = Ref::sensitive,
     .flags = kRawSelectors,
     .setup =
         [](Context& c, unsigned) {
           c.ebx = kUserCS, c.ecx = user_stack(), c.edx = kUserSS;
         },
     .why_ref = "a far RET to user mode pops SS:ESP and nulls the kernel's data segments at CPL 0 and 1 (an "
                "inter-level return) but not at CPL 3, where it is a same-level return",
     .why_rings = "a far RET to user mode is an inter-level return at CPL 1, as at CPL 0, but a same-level one "
                  "at CPL 3 (no SS:ESP popped): a kernel in ring 1 is fine, one in ring 3 (Robin and Irvine's "
                  "setting) is not"},
    {.name = "iret_kernel", .group = kGroupRI, .code = cen_iret_kernel, .at = cen_iret_kernel_at,
     .ref = Ref::unlisted, .sels = bit(kEax),
     .setup = [](Context& c, unsigned ring) { c.eax = kernel_cs(ring), c.ebx = kFlipFlags; },
     .note = "IRET is not on the list as REFERENCES.md gives it; to the kernel's RPL-0 selector it faults "
             "(#GP) at CPL 1 and 3, a trap the monitor emulates"},
    {.name = "iret_pushcs", .group = kGroupRI, .code = cen_iret_pushcs, .at = cen_iret_pushcs_at,
     .ref = Ref::unlisted, .setup = [](Context& c, unsigned) { c.ebx = kFlipFlags; },
     .note = "IRET to a frame built with PUSH CS (the real RPL) is a same-level return at every ring and, like "
             "POPF, silently ignores the new IF and IOPL at CPL>0: sensitive, though the list does not name it"},
    {.name = "int_n", .group = kGroupRI, .code = cen_int_n, .at = cen_int_n_at, .ref = Ref::sensitive,
     .sels = bit(kA0), .aux0 = "CS the CPU pushed", .aux1 = "stack switched"},
    {.name = "call_gate", .group = kGroupRI, .code = cen_call_gate, .at = cen_call_gate_at, .ref = Ref::sensitive,
     .sels = bit(kA0), .aux0 = "CS the gate pushed", .aux1 = "stack switched"},
    // --- innocuous, and CPUID
    {.name = "call_near", .group = kGroupOther, .code = cen_call_near, .at = cen_call_near_at,
     .ref = Ref::innocuous},
    {.name = "add", .group = kGroupOther, .code = cen_add, .at = cen_add_at, .ref = Ref::innocuous},
    {.name = "mov", .group = kGroupOther, .code = cen_mov, .at = cen_mov_at, .ref = Ref::innocuous},
    {.name = "nop", .group = kGroupOther, .code = cen_nop, .at = cen_nop_at, .ref = Ref::innocuous},
    {.name = "cpuid", .group = kGroupOther, .code = cen_cpuid, .at = cen_cpuid_at, .ref = Ref::innocuous,
     .setup = [](Context& c, unsigned) { c.eax = 1, c.ecx = 0; },
     .note = "CPUID answers the same at every ring: neither privileged nor sensitive in Popek and Goldberg's "
             "sense, yet a monitor wants to intercept it to shape what the guest sees (under VT-x it always "
             "exits; AMD-V lets the monitor intercept it)"},
};
constexpr unsigned kProbeCount = sizeof kProbes / sizeof kProbes[0];

// Runs `p` at `ring` and returns when the snippet has ended.
void run_one(const Probe& p, unsigned ring, Run& r) {
  Context c{0x11111111, 0x22222222, 0x33333333, 0x44444444, reinterpret_cast<std::uint32_t>(g_in),
            reinterpret_cast<std::uint32_t>(g_mem), 0x77777777, eflags::IF | eflags::FIXED1};
  rt::mem_set(g_in, 0, sizeof g_in);
  rt::mem_set(g_mem, 0xcc, sizeof g_mem);
  rt::mem_set(g_stack + sizeof g_stack - 2048, 0x5a, 2048);
  census_gate_esp = census_gate_cs = 0;
  g_aux0 = g_aux1 = 0;
  if (p.setup) p.setup(c, ring);
  if (p.prepare) p.prepare();

  TrapFrame f{};
  f.ds = f.es = f.fs = f.gs = kernel_ds(ring);
  f.eax = c.eax, f.ebx = c.ebx, f.ecx = c.ecx, f.edx = c.edx;
  f.esi = c.esi, f.edi = c.edi, f.ebp = c.ebp;
  f.eip = reinterpret_cast<std::uint32_t>(p.code);
  f.cs = code_slot(ring) << 3 | ring;
  f.eflags = c.eflags;
  f.user_esp = stack_top();
  f.user_ss = data_slot(ring) << 3 | ring;
  TrapFrame* entry = &g_frame;
  if (ring == 0) {
    // A same-ring IRET pops no SS:ESP: put the frame right below the snippet's stack top.
    entry = reinterpret_cast<TrapFrame*>(stack_top() - offsetof(TrapFrame, user_esp));
  }
  rt::mem_copy(entry, &f, ring == 0 ? offsetof(TrapFrame, user_esp) : sizeof f);

  r = Run{};
  r.entry_eflags = c.eflags;
  g_run = &r;
  g_ticks = 0;
  g_active = true;
  census_enter(entry);  // comes back through census_resume()
  restore_machine();
  if (census_gate_esp) {  // the call gate's target ran
    r.v[kA0] = census_gate_cs & 0xffff;
    r.v[kA1] = census_gate_esp;
  }
  r.v[kA1] = in_trap_stack(r.v[kA1]) ? 1 : 0;  // where the frame went: did the CPU switch stacks?
}

// ---------------------------------------------------------------------------------------
// Classification.

enum class Cls : std::uint8_t { none, privileged, sensitive, innocuous, unsupported, error };
const char* cls_name(Cls c) {
  switch (c) {
    case Cls::privileged: return "privileged";
    case Cls::sensitive: return "sensitive";
    case Cls::innocuous: return "innocuous";
    case Cls::unsupported: return "unsupported";
    case Cls::error: return "error";
    case Cls::none: break;
  }
  return "n/a";
}
Cls ref_class(Ref r) {
  switch (r) {
    case Ref::privileged: case Ref::iopl: case Ref::tsd1: case Ref::pce: return Cls::privileged;
    case Ref::sensitive: return Cls::sensitive;
    case Ref::tsd0: case Ref::innocuous: return Cls::innocuous;
    case Ref::unlisted: break;
  }
  return Cls::none;
}
const char* ref_name(Ref r) {
  switch (r) {
    case Ref::privileged: return "privileged";
    case Ref::iopl: return "privileged (IOPL)";
    case Ref::tsd1: return "privileged (TSD=1)";
    case Ref::tsd0: return "innocuous (TSD=0)";
    case Ref::pce: return "privileged (PCE=0)";
    case Ref::sensitive: return "sensitive";
    case Ref::innocuous: return "innocuous";
    case Ref::unlisted: return "unlisted";
  }
  return "?";
}

// A selector by role: the ring's own code or data segment, null, or an absolute slot. For CS
// and SS, whose RPL is always the CPL, the RPL is taken relative to the ring; elsewhere (a
// pushed or stored selector) it is kept as is, since that is where it shows.
std::uint32_t normalize_selector(std::uint32_t sel, unsigned ring, bool relative_rpl) {
  sel &= 0xffff;
  unsigned index = sel >> 3, rpl = sel & 3;
  unsigned role = index == 0 ? 0 : index == code_slot(ring) ? 1 : index == data_slot(ring) ? 2 : 16 + index;
  if (relative_rpl) rpl = (rpl - ring) & 3;
  return role << 3 | (sel & 4) | rpl;
}

void describe_flags(char* buf, unsigned size, std::uint32_t a, std::uint32_t b) {
  struct Named {
    std::uint32_t mask;
    const char* name;
  } const kNamed[] = {{eflags::IF, "IF"}, {eflags::IOPL, "IOPL"}, {eflags::ZF, "ZF"}, {eflags::CF, "CF"},
                      {eflags::SF, "SF"}, {eflags::OF, "OF"},     {eflags::PF, "PF"}, {eflags::AF, "AF"},
                      {eflags::DF, "DF"}, {eflags::NT, "NT"},     {eflags::AC, "AC"}};
  BufferSink out(buf, size);
  format_to(out, "eflags");
  for (auto& n : kNamed) {
    if ((a ^ b) & n.mask) {
      unsigned shift = __builtin_ctz(n.mask);
      format_to(out, " %s=%u (ring 0: %u)", n.name, (b & n.mask) >> shift, (a & n.mask) >> shift);
    }
  }
}

// The generic judge: the outputs at `ring` against ring 0's. True (and why) when they differ.
bool outputs_differ(const Probe& p, const Run& r0, const Run& rn, unsigned ring, char* why, unsigned size) {
  BufferSink out(why, size);
  unsigned differences = 0;
  for (unsigned i = 0; i < kFieldCount && differences < 3; ++i) {
    if (p.skip & (1u << i)) continue;
    std::uint32_t a = r0.v[i], b = rn.v[i];
    if (i == kEfl) {
      a &= kFlagsCompared, b &= kFlagsCompared;
      if (a != b) {
        char flags[96];
        describe_flags(flags, sizeof flags, a, b);
        format_to(out, "%s%s", differences++ ? "; " : "", flags);
      }
      continue;
    }
    bool seg = (kSegFields >> i) & 1, sel = seg || ((p.sels >> i) & 1);
    if (sel && !(p.flags & kRawSelectors)) {
      bool relative = i == kCs || i == kSs;
      a = normalize_selector(a, 0, relative), b = normalize_selector(b, ring, relative);
    }
    if (a == b) continue;
    const char* name = i == kA0 && p.aux0 ? p.aux0 : i == kA1 && p.aux1 ? p.aux1 : kFieldNames[i];
    format_to(out, "%s", differences++ ? "; " : "");
    if (sel) {
      format_to(out, "%s %04x, RPL %u (ring 0: %04x, RPL %u)", name, rn.v[i] & 0xffff, rn.v[i] & 3,
                r0.v[i] & 0xffff, r0.v[i] & 3);
    } else if (i == kA1 && p.aux1) {  // a yes/no observation
      format_to(out, "%s: %s (ring 0: %s)", name, b ? "yes" : "no", a ? "yes" : "no");
    } else {
      format_to(out, "%s %08x (ring 0: %08x)", name, rn.v[i], r0.v[i]);
    }
  }
  if (!differences) format_to(out, "same results as at ring 0");
  return differences != 0;
}

// The readers of machine state: sensitive when they hand the real value to a deprivileged ring.
bool reveals(const Probe& p, const Run& rn, char* why, unsigned size) {
  auto dtr_matches = [&](const DescriptorTableRegister& want, const char* what) {
    DescriptorTableRegister got;
    rt::mem_copy(&got, &rn.v[kM0], sizeof got);
    bool same = got.base == want.base && got.limit == want.limit;
    format(why, size, "stored %s base %08x limit %04x: %s", what, got.base, got.limit,
           same ? "the real value" : "not the real value");
    return same;
  };
  auto reg_matches = [&](std::uint32_t got, std::uint32_t want, const char* what) {
    format(why, size, "returned %s %04x: %s", what, got, got == want ? "the real value" : "not the real value");
    return got == want;
  };
  switch (p.judge) {
    case Judge::gdtr: return dtr_matches(g_real.gdtr, "GDTR");
    case Judge::idtr: return dtr_matches(g_real.idtr, "IDTR");
    case Judge::ldtr: return reg_matches(rn.v[kEax] & 0xffff, g_real.ldtr, "LDTR");
    case Judge::tr: return reg_matches(rn.v[kEax] & 0xffff, g_real.tr, "TR");
    case Judge::msw: return reg_matches(rn.v[kEax] & 0xffff, g_real.cr0 & 0xffff, "CR0[15:0]");
    case Judge::flags: {
      std::uint32_t got = rn.v[kS0], want = rn.entry_eflags;
      bool same = (got & (eflags::IF | eflags::IOPL)) == (want & (eflags::IF | eflags::IOPL));
      format(why, size, "pushed IF=%u IOPL=%u: %s", (got >> 9) & 1, eflags::iopl(got),
             same ? "the real values" : "not the real values");
      return same;
    }
    default: break;
  }
  return false;
}

Cls classify(const Probe& p, const Run& r0, const Run& rn, unsigned ring, char* why, unsigned size) {
  auto at = reinterpret_cast<std::uint32_t>(p.at);
  if (!r0.ended || r0.wedged) {
    format(why, size, "ring 0 run did not end (watchdog)");
    return Cls::error;
  }
  if (r0.faulted()) {
    if (r0.eip != at) {
      format(why, size, "ring 0: %s at %08x, not at the tested instruction", vector::name(r0.vector), r0.eip);
      return Cls::error;
    }
    if (rn.faulted()) {
      format(why, size, "%.3s here, and %.3s at ring 0 as well", vector::name(rn.vector), vector::name(r0.vector));
    } else {
      format(why, size, "runs here, but %.3s at ring 0", vector::name(r0.vector));
    }
    return Cls::unsupported;
  }
  if (!rn.ended || rn.wedged) {
    format(why, size, "did not end (watchdog)");
    return Cls::error;
  }
  if (rn.faulted()) {
    if (rn.eip != at) {
      format(why, size, "%s at %08x, not at the tested instruction", vector::name(rn.vector), rn.eip);
      return Cls::error;
    }
    format(why, size, "%.3s(%04x) at the instruction", vector::name(rn.vector), rn.error);
    return Cls::privileged;
  }
  switch (p.judge) {
    case Judge::compare: return outputs_differ(p, r0, rn, ring, why, size) ? Cls::sensitive : Cls::innocuous;
    case Judge::time:
      format(why, size, "runs; returns the time-stamp counter (not compared: it is time)");
      return Cls::innocuous;
    default: return reveals(p, rn, why, size) ? Cls::sensitive : Cls::innocuous;
  }
}

// ---------------------------------------------------------------------------------------
// Results and the report.

constexpr unsigned kWhy = 200;
struct Cell {
  Cls cls = Cls::none;
  char why[kWhy] = {};
};
struct Row {
  char text[48] = {};  // Zydis' disassembly of the tested instruction
  Cell cell[2][2];     // [umip][ring 1, ring 3]
  char ring0[kWhy] = {};
};
Row g_rows[kProbeCount];
Run g_runs[3];
int g_errors = 0;

void disassemble(const Probe& p, char* buf, unsigned size) {
  static decoder::Decoder d(decoder::Mode::k32);
  static decoder::Instruction insn;
  auto at = reinterpret_cast<const std::uint8_t*>(p.at);
  if (!d.decode_into(at, 15, insn).ok() || !d.format(insn, reinterpret_cast<std::uint32_t>(at), buf, size)) {
    format(buf, size, "(undecodable)");
  }
}

void run_pass(unsigned umip) {
  g_pass_cr4 = g_real.cr4 | (umip ? cr4::UMIP : 0);
  write_cr4(g_pass_cr4);
  for (unsigned i = 0; i < kProbeCount; ++i) {
    const Probe& p = kProbes[i];
    for (unsigned k = 0; k < 3; ++k) run_one(p, kRings[k], g_runs[k]);
    Row& row = g_rows[i];
    for (unsigned k = 1; k < 3; ++k) {
      Cell& c = row.cell[umip][k - 1];
      c.cls = classify(p, g_runs[0], g_runs[k], kRings[k], c.why, sizeof c.why);
      if (c.cls == Cls::error) ++g_errors;
    }
    if (!umip) {
      const Run& r0 = g_runs[0];
      if (r0.faulted()) {
        format(row.ring0, sizeof row.ring0, "%s", vector::name(r0.vector));
      } else {
        format(row.ring0, sizeof row.ring0, "runs");
      }
    }
  }
  g_pass_cr4 = g_real.cr4;
  write_cr4(g_pass_cr4);
}

const char* cell_text(const Cell& c, bool have) { return have ? cls_name(c.cls) : "n/a"; }

const char* agreement(const Probe& p, const Row& row) {
  Cls want = ref_class(p.ref);
  if (want == Cls::none) return "n/a";
  return row.cell[0][1].cls == want ? "yes" : "no";
}

void print_report(bool umip) {
  kprintf("\n%-3s %-12s %-30s %-11s %-11s %-11s %-11s %-19s %s\n", "#", "test", "instruction (Zydis)", "ring 1",
          "ring 3", "ring 1+UMIP", "ring 3+UMIP", "reference", "agree");
  int group = -1;
  for (unsigned i = 0; i < kProbeCount; ++i) {
    const Probe& p = kProbes[i];
    const Row& row = g_rows[i];
    if (p.group != group) {
      group = p.group;
      kprintf("--- %s\n", kGroupTitles[group]);
    }
    kprintf("%-3u %-12s %-30s %-11s %-11s %-11s %-11s %-19s %s\n", i + 1, p.name, row.text,
            cls_name(row.cell[0][0].cls), cls_name(row.cell[0][1].cls), cell_text(row.cell[1][0], umip),
            cell_text(row.cell[1][1], umip), ref_name(p.ref), agreement(p, row));
  }
  if (!umip) kprintf("(UMIP columns: not supported by this CPU)\n");

  kprintf("\nevidence (ring 0 | ring 1 | ring 3%s):\n", umip ? " | with UMIP, where it changes" : "");
  for (unsigned i = 0; i < kProbeCount; ++i) {
    const Row& row = g_rows[i];
    kprintf("  %-12s r0 %s | r1 %s | r3 %s", kProbes[i].name, row.ring0, row.cell[0][0].why, row.cell[0][1].why);
    for (unsigned k = 0; umip && k < 2; ++k) {
      if (row.cell[1][k].cls != row.cell[0][k].cls) kprintf(" | umip r%u %s", k ? 3 : 1, row.cell[1][k].why);
    }
    kprintf("\n");
  }

  kprintf("\ndisagreements and qualifications:\n");
  unsigned listed = 0;
  for (unsigned i = 0; i < kProbeCount; ++i) {
    const Probe& p = kProbes[i];
    const Row& row = g_rows[i];
    Cls r1 = row.cell[0][0].cls, r3 = row.cell[0][1].cls, want = ref_class(p.ref);
    if (want != Cls::none && r3 != want) {
      kprintf("- %s: census %s at ring 3, reference %s: %s.\n", p.name, cls_name(r3), ref_name(p.ref),
              p.why_ref ? p.why_ref : row.cell[0][1].why);
      ++listed;
    }
    if (r1 != r3) {
      kprintf("- %s: ring 1 %s, ring 3 %s: %s.\n", p.name, cls_name(r1), cls_name(r3),
              p.why_rings ? p.why_rings : row.cell[0][0].why);
      ++listed;
    }
    if (umip && (row.cell[1][0].cls != r1 || row.cell[1][1].cls != r3)) {
      kprintf("- %s: with CR4.UMIP=1 ring 1 %s -> %s, ring 3 %s -> %s: %s.\n", p.name, cls_name(r1),
              cls_name(row.cell[1][0].cls), cls_name(r3), cls_name(row.cell[1][1].cls),
              p.why_umip ? p.why_umip : row.cell[1][1].why);
      ++listed;
    }
    if (p.note) {
      kprintf("- %s: %s.\n", p.name, p.note);
      ++listed;
    }
  }
  if (!umip) {
    kprintf("- UMIP: not supported by this CPU (CPUID.7.0:ECX[2]=0), so there is no second pass.\n");
  }
  if (!listed) kprintf("- none\n");

  // Counts per class, per column.
  kprintf("\n");
  const char* const kColumns[] = {"ring 1", "ring 3", "ring 1+UMIP", "ring 3+UMIP"};
  kprintf("summary (%u instructions):", kProbeCount);
  for (unsigned col = 0; col < (umip ? 4u : 2u); ++col) {
    unsigned n[6] = {};
    for (unsigned i = 0; i < kProbeCount; ++i) ++n[static_cast<unsigned>(g_rows[i].cell[col / 2][col % 2].cls)];
    kprintf("%s %s: %u privileged, %u sensitive, %u innocuous", col ? ";" : "", kColumns[col],
            n[static_cast<unsigned>(Cls::privileged)], n[static_cast<unsigned>(Cls::sensitive)],
            n[static_cast<unsigned>(Cls::innocuous)]);
    if (unsigned u = n[static_cast<unsigned>(Cls::unsupported)]) kprintf(", %u unsupported", u);
    if (unsigned e = n[static_cast<unsigned>(Cls::error)]) kprintf(", %u errors", e);
  }
  unsigned agree = 0, compared = 0;
  for (unsigned i = 0; i < kProbeCount; ++i) {
    if (ref_class(kProbes[i].ref) == Cls::none) continue;
    ++compared;
    if (ref_class(kProbes[i].ref) == g_rows[i].cell[0][1].cls) ++agree;
  }
  kprintf("; agreement with the reference at ring 3: %u of %u\n\n", agree, compared);

  for (unsigned i = 0; i < kProbeCount; ++i) {
    const Probe& p = kProbes[i];
    const Row& row = g_rows[i];
    Cls want = ref_class(p.ref);
    kprintf("# census: %s ring3=%s ring1=%s umip3=%s umip1=%s ri=%s agree=%s\n", p.name,
            cls_name(row.cell[0][1].cls), cls_name(row.cell[0][0].cls), cell_text(row.cell[1][1], umip),
            cell_text(row.cell[1][0], umip), want == Cls::none ? "unlisted" : cls_name(want),
            agreement(p, row));
  }
}

void set_up_machine() {
  gdt_set(kSlotCode1, SegmentDescriptor::make(0, 0xffffffff, desc_type::kCodeRX, 1));
  gdt_set(kSlotData1, SegmentDescriptor::make(0, 0xffffffff, desc_type::kDataRW, 1));
  gdt_set(kSlotCode3, SegmentDescriptor::make(0, 0xffffffff, desc_type::kCodeRX, 3));
  gdt_set(kSlotData3, SegmentDescriptor::make(0, 0xffffffff, desc_type::kDataRW, 3));
  // A real LDT, so that SLDT has something to reveal.
  g_ldt[1] = SegmentDescriptor::make(0, 0xffffffff, desc_type::kDataRW, 3);
  gdt_set(kSlotLdt, SegmentDescriptor::make(reinterpret_cast<std::uint32_t>(g_ldt), sizeof g_ldt - 1,
                                            desc_type::kLdt, 0, false, false));
  lldt(kLdtSel);
  gdt_set(kSlotGate, SegmentDescriptor::from(
                         GateDescriptor::make(reinterpret_cast<std::uint32_t>(cen_gate_target), gdt::kKernelCS,
                                              desc_type::kCallGate32, 3)
                             .raw()));
  kernel_tss().esp0 = reinterpret_cast<std::uint32_t>(g_trap_stack + sizeof g_trap_stack);

  for (unsigned v = 0; v < 32; ++v) {
    if (v != vector::NMI) set_trap_handler(v, on_trap);
  }
  set_trap_handler(kVecDone, on_trap);
  set_gate_access(kVecDone, 3);
  set_trap_handler(kVecIntN, on_int_n);
  set_gate_access(kVecIntN, 3);
  set_trap_handler(kIrqBase + 0, on_timer);

  g_real.gdtr = sgdt();
  g_real.idtr = sidt();
  g_real.cr0 = read_cr0();
  g_real.cr3 = read_cr3();
  g_real.cr4 = read_cr4() & ~(cr4::UMIP | cr4::TSD | cr4::PCE);
  write_cr4(g_real.cr4);
  g_real.dr7 = read_dr7();
  bool sep = (read_cpuid(cpuid::kFeatures).edx & cpuid::EDX_SEP) != 0;
  g_real.msr = sep ? msr::IA32_SYSENTER_CS : msr::IA32_TIME_STAMP_COUNTER;
  g_real.msr_value = rdmsr(g_real.msr);
  g_real.tr = read_tr();
  g_real.ldtr = read_ldtr();
  g_pass_cr4 = g_real.cr4;

  // The PIT wakes ring 0's HLT and drives the watchdog; the controller itself runs with IF=0.
  pit::start_periodic(kPitHz);
  pic::unmask(0);
}

// selftest=1: the guards themselves. A snippet that spins must be stopped by the watchdog
// (at ring 0 too, where nothing else could stop it), and a fault before the tested instruction
// must be reported as an error rather than counted as "privileged".
int self_test() {
  const Probe spin{.name = "spin", .group = kGroupOther, .code = cen_spin, .at = cen_spin_at, .ref = Ref::unlisted};
  const Probe stray{.name = "stray", .group = kGroupOther, .code = cen_stray, .at = cen_stray_at,
                    .ref = Ref::unlisted};
  int failures = 0;
  for (unsigned ring : kRings) {
    Run r;
    run_one(spin, ring, r);
    bool ok = r.ended && r.wedged;
    kprintf("selftest: a spinning snippet at ring %u %s\n", ring,
            ok ? "was stopped by the watchdog" : "was NOT stopped by the watchdog");
    failures += !ok;
  }
  run_one(stray, 0, g_runs[0]);
  for (unsigned k = 1; k < 3; ++k) {
    run_one(stray, kRings[k], g_runs[k]);
    char why[kWhy];
    Cls c = classify(stray, g_runs[0], g_runs[k], kRings[k], why, sizeof why);
    bool ok = c == Cls::error;
    kprintf("selftest: a fault before the tested instruction at ring %u: %s (%s)\n", kRings[k], cls_name(c), why);
    failures += !ok;
  }
  kprintf("selftest: %s\n", failures ? "FAILED" : "passed");
  return failures ? exit_status::kFailure : exit_status::kSuccess;
}

bool cpu_has_umip() {
  if (read_cpuid(cpuid::kVendor).eax < cpuid::kExtendedFeatures) return false;
  return (read_cpuid(cpuid::kExtendedFeatures, 0).ecx & cpuid::L7_ECX_UMIP) != 0;
}

}  // namespace

int kernel_main(const BootInfo& boot) {
  kprintf("hvlab census: x86 instructions at ring 0, 1 and 3 (IOPL=0)\n");
  set_up_machine();
  char opt[8];
  if (boot.cmdline_option("selftest", opt, sizeof opt)) return self_test();
  bool umip = cpu_has_umip();
  if (umip) {
    kprintf("UMIP: supported by this CPU (CPUID.7.0:ECX[2]=1): a second pass runs with CR4.UMIP=1\n");
  } else {
    kprintf("UMIP: not supported by this CPU (CPUID.7.0:ECX[2]=0): one pass, CR4.UMIP clear\n");
  }
  kprintf("operands: the same registers at every ring; \"the kernel's own segment\" is the ring's own "
          "descriptor with RPL 0 (as a ring-compressing monitor presents it); LAR/LSL/VERR/VERW ask about "
          "the ring-0 data selector %04x (DPL 0)\n",
          gdt::kKernelDS);
  kprintf("ring 0 runs HLT with IF=1 and the PIT at %u Hz; a watchdog stops any snippet after %u ms\n", kPitHz,
          kWatchdogTicks * 1000 / kPitHz);
  for (unsigned i = 0; i < kProbeCount; ++i) disassemble(kProbes[i], g_rows[i].text, sizeof g_rows[i].text);
  run_pass(0);
  if (umip) run_pass(1);
  pic::mask(0);
  print_report(umip);
  if (g_errors) {
    kprintf("census: %d runs ended unexpectedly (see \"error\" above)\n", g_errors);
    return exit_status::kFailure;
  }
  kprintf("census: done\n");
  return exit_status::kSuccess;
}
