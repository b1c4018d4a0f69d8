// census-hosted: the ring-3 half of the census as an ordinary Linux program (x86-64), to show
// what an operating system in between changes. There is no ring 0 to compare with here, so
// each instruction is judged on its own:
//   privileged   a signal arrived (SIGSEGV for #GP, SIGILL for #UD): the trap was visible;
//   emulated     no signal, but each execution costs far more than an ADD: something below
//                (Linux's UMIP handler, or a hypervisor) trapped it and returned a value, out
//                of the program's sight;
//   sensitive    no signal, native speed, and the result shows the real machine state or the
//                CPL (an RPL of 3, IF=1, a ZF that depends on the CPL, a real GDTR);
//   innocuous    no signal, native speed, nothing privileged shown.
// With CR4.UMIP set, Linux (arch/x86/kernel/umip.c) answers SGDT/SIDT/SLDT/SMSW/STR from user
// space with dummy values (GDT base 0xfffffffffffe0000, IDT base 0xffffffffffff0000, limit 0,
// CR0 as at boot, TR = the TSS selector, LDTR 0 or the LDT selector) instead of sending
// SIGSEGV: a hosted census sees plausible values and no trap.

#include <setjmp.h>
#include <signal.h>
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "common/decoder/decoder.hpp"

// Each snippet is a function: RDI = a 16-byte buffer, RSI = an argument; RAX = the result.
// hc_NAME_at marks the tested instruction.
#define HC(name, pre, at, post)                                                              \
  asm(".text\n.globl hc_" #name "\n.globl hc_" #name "_at\n.type hc_" #name ",@function\n" \
      "hc_" #name ":\n" pre "\nhc_" #name "_at:\n" at "\n" post "\nret\n");                 \
  extern "C" std::uint64_t hc_##name(void* mem, std::uint64_t arg);                         \
  extern "C" char hc_##name##_at[];

HC(lgdt, "", "lgdt (%rdi)", "")
HC(mov_from_cr0, "", "mov %cr0, %rax", "")
HC(rdmsr, "mov $0x174, %ecx", "rdmsr", "")
HC(rdpmc, "xor %ecx, %ecx", "rdpmc", "")
HC(hlt, "", "hlt", "")
HC(cli, "", "cli", "")
HC(sti, "", "sti", "")
HC(in, "", "in $0x80, %al", "")
HC(out, "xor %eax, %eax", "out %al, $0x80", "")
HC(sgdt, "", "sgdt (%rdi)", "")
HC(sidt, "", "sidt (%rdi)", "")
HC(sldt, "xor %eax, %eax", "sldt %eax", "")
HC(smsw, "xor %eax, %eax", "smsw %eax", "")
HC(str, "xor %eax, %eax", "str %eax", "")
HC(pushf, "", "pushfq", "pop %rax")
// Tries to clear IF and set IOPL=3; the flags read back show whether it took effect.
HC(popf, "pushfq; pop %rax; and $~0x200, %rax; or $0x3000, %rax; push %rax", "popfq", "pushfq; pop %rax")
HC(lar, "mov $0x22222222, %eax", "lar %si, %eax", "setz (%rdi)")
HC(verr, "xor %eax, %eax", "verr %si", "setz %al")
HC(mov_from_cs, "xor %eax, %eax", "mov %cs, %eax", "")
HC(mov_from_ss, "xor %eax, %eax", "mov %ss, %eax", "")
HC(int_n, "", "int $0x42", "")
HC(rdtsc, "", "rdtsc", "shl $32, %rdx; or %rdx, %rax")
HC(cpuid, "push %rbx; mov %esi, %eax; xor %ecx, %ecx", "cpuid", "pop %rbx")
HC(add, "mov %rsi, %rax", "add $1, %rax", "")
HC(nop, "", "nop", "")

namespace {

enum class Kind { privileged, reads_state, shows_cpl, innocuous };

struct Probe {
  const char* name;
  std::uint64_t (*fn)(void*, std::uint64_t);
  const char* at;
  Kind kind;
  std::uint64_t arg;
};

// Linux's x86-64 selectors: __KERNEL_CS = 0x10 (DPL 0), __USER_DS = 0x2b.
const Probe kProbes[] = {
    {"lgdt", hc_lgdt, hc_lgdt_at, Kind::privileged, 0},
    {"mov_from_cr0", hc_mov_from_cr0, hc_mov_from_cr0_at, Kind::privileged, 0},
    {"rdmsr", hc_rdmsr, hc_rdmsr_at, Kind::privileged, 0},
    {"rdpmc", hc_rdpmc, hc_rdpmc_at, Kind::privileged, 0},
    {"hlt", hc_hlt, hc_hlt_at, Kind::privileged, 0},
    {"cli", hc_cli, hc_cli_at, Kind::privileged, 0},
    {"sti", hc_sti, hc_sti_at, Kind::privileged, 0},
    {"in", hc_in, hc_in_at, Kind::privileged, 0},
    {"out", hc_out, hc_out_at, Kind::privileged, 0},
    {"sgdt", hc_sgdt, hc_sgdt_at, Kind::reads_state, 0},
    {"sidt", hc_sidt, hc_sidt_at, Kind::reads_state, 0},
    {"sldt", hc_sldt, hc_sldt_at, Kind::reads_state, 0},
    {"smsw", hc_smsw, hc_smsw_at, Kind::reads_state, 0},
    {"str", hc_str, hc_str_at, Kind::reads_state, 0},
    {"pushf", hc_pushf, hc_pushf_at, Kind::shows_cpl, 0},
    {"popf", hc_popf, hc_popf_at, Kind::shows_cpl, 0},
    {"lar", hc_lar, hc_lar_at, Kind::shows_cpl, 0x10},
    {"verr", hc_verr, hc_verr_at, Kind::shows_cpl, 0x10},
    {"mov_from_cs", hc_mov_from_cs, hc_mov_from_cs_at, Kind::shows_cpl, 0},
    {"mov_from_ss", hc_mov_from_ss, hc_mov_from_ss_at, Kind::shows_cpl, 0},
    {"int_n", hc_int_n, hc_int_n_at, Kind::privileged, 0},
    {"rdtsc", hc_rdtsc, hc_rdtsc_at, Kind::innocuous, 0},
    {"cpuid", hc_cpuid, hc_cpuid_at, Kind::innocuous, 1},
    {"add", hc_add, hc_add_at, Kind::innocuous, 41},
    {"nop", hc_nop, hc_nop_at, Kind::innocuous, 0},
};

sigjmp_buf g_jump;
volatile sig_atomic_t g_signal = 0;

void on_signal(int sig, siginfo_t*, void*) {
  g_signal = sig;
  siglongjmp(g_jump, 1);
}

// One call; 0 when it returned, else the signal it raised.
int call_once(const Probe& p, std::uint8_t* mem, std::uint64_t& result) {
  g_signal = 0;
  if (sigsetjmp(g_jump, 1) == 0) {
    result = p.fn(mem, p.arg);
    return 0;
  }
  return g_signal;
}

double now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

// Nanoseconds per call: the best of several batches (a noisy machine only adds time).
double cost_ns(const Probe& p) {
  std::uint8_t mem[16];
  double best = 1e30;
  for (int batch = 0; batch < 5; ++batch) {
    double t0 = now_ns();
    for (int i = 0; i < 200; ++i) p.fn(mem, p.arg);
    double per = (now_ns() - t0) / 200;
    if (per < best) best = per;
  }
  return best;
}

bool cpu_flag(const char* flag) {
  FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (!f) return false;
  char line[8192];
  bool found = false;
  while (!found && std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "flags", 5) != 0) continue;
    for (char* tok = std::strtok(line + 5, " \t\n:"); tok; tok = std::strtok(nullptr, " \t\n:")) {
      if (std::strcmp(tok, flag) == 0) found = true;
    }
    break;
  }
  std::fclose(f);
  return found;
}

}  // namespace

int main() {
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGILL, SIGBUS, SIGTRAP, SIGFPE}) sigaction(sig, &sa, nullptr);

  bool umip = cpu_flag("umip"), hypervisor = cpu_flag("hypervisor");
  std::printf("hosted census: ring 3 under Linux (x86-64); UMIP %s by the kernel%s\n",
              umip ? "enabled" : "not enabled (or not supported)",
              hypervisor ? "; running under a hypervisor" : "");

  hvlab::decoder::Decoder d(hvlab::decoder::Mode::k64);
  double add_ns = 0;
  for (const Probe& p : kProbes) {
    if (p.fn == hc_add) add_ns = cost_ns(p);
  }
  // A hidden trap (kernel or hypervisor entry and exit) costs microseconds; a native
  // instruction, nanoseconds. 20x an ADD call and at least 300 ns separates them with room.
  double slow_ns = add_ns * 20 > 300 ? add_ns * 20 : 300;
  std::printf("cost of a call to the ADD snippet: %.0f ns; slower than %.0f ns counts as a hidden trap\n\n",
              add_ns, slow_ns);
  std::printf("%-12s %-26s %-11s %8s  %s\n", "test", "instruction (Zydis)", "hosted", "ns", "what the program saw");

  const char* classes[sizeof kProbes / sizeof kProbes[0]];
  for (unsigned i = 0; i < sizeof kProbes / sizeof kProbes[0]; ++i) {
    const Probe& p = kProbes[i];
    char text[64] = "(undecodable)";
    auto insn = d.decode(reinterpret_cast<const std::uint8_t*>(p.at), 15);
    if (insn.ok()) d.format(insn.value(), reinterpret_cast<std::uintptr_t>(p.at), text, sizeof text);

    std::uint8_t mem[16] = {};
    std::uint64_t r = 0;
    int sig = call_once(p, mem, r);
    char seen[160];
    const char* cls;
    double ns = 0;
    if (sig) {
      cls = "privileged";
      std::snprintf(seen, sizeof seen, "%s%s", sig == SIGSEGV ? "SIGSEGV (#GP)" : sig == SIGILL ? "SIGILL (#UD)"
                                                : sig == SIGTRAP ? "SIGTRAP" : "another signal",
                    p.fn == hc_int_n ? ": Linux's gate 0x42 has DPL 0" : "");
    } else {
      ns = cost_ns(p);
      bool hidden = ns > slow_ns;
      std::uint64_t base = 0;
      std::uint16_t limit = 0;
      std::memcpy(&limit, mem, 2);
      std::memcpy(&base, mem + 2, 8);
      if (p.fn == hc_sgdt || p.fn == hc_sidt) {
        bool dummy = limit == 0 && (base == 0xfffffffffffe0000ull || base == 0xffffffffffff0000ull);
        std::snprintf(seen, sizeof seen, "base %016llx limit %04x%s", static_cast<unsigned long long>(base), limit,
                      dummy ? ": Linux's UMIP dummy" : "");
      } else if (p.fn == hc_pushf || p.fn == hc_popf) {
        std::snprintf(seen, sizeof seen, "flags %06llx: IF=%llu IOPL=%llu%s", static_cast<unsigned long long>(r),
                      static_cast<unsigned long long>((r >> 9) & 1), static_cast<unsigned long long>((r >> 12) & 3),
                      p.fn == hc_popf ? " (asked for IF=0 IOPL=3: ignored, no signal)" : "");
      } else if (p.fn == hc_lar) {
        std::snprintf(seen, sizeof seen, "LAR of the kernel CS 0x10: ZF=%u (ring 0 would get ZF=1)", mem[0]);
      } else if (p.fn == hc_verr) {
        std::snprintf(seen, sizeof seen, "VERR of the kernel CS 0x10: ZF=%llu (ring 0 would get ZF=1)",
                      static_cast<unsigned long long>(r & 1));
      } else if (p.fn == hc_mov_from_cs || p.fn == hc_mov_from_ss) {
        std::snprintf(seen, sizeof seen, "selector %04llx: RPL %llu = the CPL", static_cast<unsigned long long>(r & 0xffff),
                      static_cast<unsigned long long>(r & 3));
      } else if (p.fn == hc_nop) {
        std::snprintf(seen, sizeof seen, "-");
      } else {
        std::snprintf(seen, sizeof seen, "result %llx", static_cast<unsigned long long>(r));
      }
      if (hidden) {
        cls = "emulated";
        std::size_t n = std::strlen(seen);
        std::snprintf(seen + n, sizeof seen - n, "; no signal, but trapped and answered below the program");
      } else if (p.kind == Kind::reads_state || p.kind == Kind::shows_cpl) {
        cls = "sensitive";
      } else {
        cls = "innocuous";
      }
    }
    char cost[16] = "-";
    if (!sig) std::snprintf(cost, sizeof cost, "%.0f", ns);
    std::printf("%-12s %-26s %-11s %8s  %s\n", p.name, text, cls, cost, seen);
    classes[i] = cls;
  }
  std::printf("\nWith UMIP enabled, Linux traps SGDT, SIDT, SLDT, SMSW and STR and answers with dummy values\n"
              "(arch/x86/kernel/umip.c): the program gets no signal, so the bare-metal \"privileged\" (UMIP on)\n"
              "reads here as \"emulated\"; only the cost, or the dummy GDT/IDT bases, give it away.\n");
  std::printf("\n");
  for (unsigned i = 0; i < sizeof kProbes / sizeof kProbes[0]; ++i) {
    std::printf("# hosted: %s %s\n", kProbes[i].name, classes[i]);
  }
  std::printf("hosted census: done\n");
  return 0;
}
