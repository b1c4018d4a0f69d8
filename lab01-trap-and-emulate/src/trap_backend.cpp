// lab01's monitor: runs the guest kernel from the first multiboot module deprivileged (its
// kernel at ring 1, its user code at ring 3) and emulates what traps. See labs/lab01.md for
// the design; core.cpp and shadow_mmu.cpp hold the emulation routines.
//
// Linear address space while the guest runs (one page directory, the shadow one):
//
//   0x00000000 +----------------------------+
//              | guest-virtual, shadowed    |  ring 1 / ring 3, filled on demand
//   0xF0000000 +----------------------------+  <- every guest segment ends below here
//              | host RAM, 4 MiB pages, G,  |  the monitor: its segments have base
//              | supervisor only            |  0xF0000000, so pointer p = physical p
//   0xFFFFFFFF +----------------------------+
//
// Monitor command line options: budget=N (events before a livelocked guest is stopped),
// seconds=N (guest time limit), guest_mib=N (guest RAM), trace=N (per-event trace records,
// 0 for none), output_kib=N (what the guest may print on COM1 and port 0xE9), clock=host
// (the guest's clocks include the monitor's work, RDTSC native; see guest_now()).

#include "common/arch/intrinsics.hpp"
#include "common/boot/console.hpp"
#include "common/boot/kernel.hpp"
#include "common/boot/legacy_pic.hpp"
#include "common/boot/trap.hpp"
#include "common/decoder/decoder.hpp"
#include "common/devices/bus.hpp"
#include "common/devices/cmos_rtc.hpp"
#include "common/devices/debug_exit.hpp"
#include "common/devices/pic8259.hpp"
#include "common/devices/pit8254.hpp"
#include "common/devices/uart16550.hpp"
#include "common/memory/frame_allocator.hpp"
#include "common/memory/guest_memory.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/exercise.hpp"
#include "common/runtime/format.hpp"
#include "common/runtime/panic.hpp"
#include "common/runtime/string.hpp"
#include "common/vmm/guest_loader.hpp"
#include "common/vmm/monitor.hpp"
#include "common/vmm/trace.hpp"
#include "lab01-trap-and-emulate/core.hpp"
#include "lab01-trap-and-emulate/shadow_mmu.hpp"

extern "C" const std::uint32_t hvlab_isr_table[256];  // common/boot/isr.S
extern "C" void lab01_trap(hvlab::TrapFrame* frame);

using namespace hvlab;
using namespace hvlab::lab01;
namespace fl = x86::eflags;

namespace {

// ---- the real descriptor tables ------------------------------------------------------------
// Slots below kGuestSlots mirror the guest's GDT (deprivileged); the monitor's own
// descriptors sit above, where a guest GDT of normal size never reaches.
constexpr unsigned kGdtSlots = 512, kGuestSlots = 496;
constexpr unsigned kMonitorCodeSlot = 496, kMonitorDataSlot = 497, kMonitorTssSlot = 498, kMonitorLdtSlot = 499;
constexpr std::uint16_t kMonitorCS = kMonitorCodeSlot << 3, kMonitorDS = kMonitorDataSlot << 3,
                        kMonitorTss = kMonitorTssSlot << 3, kMonitorLdt = kMonitorLdtSlot << 3;
constexpr unsigned kLdtSlots = 64;  // the shadow LDT: what the guest's LDT holds, deprivileged
constexpr std::uint32_t kHostReach = 0x10000000u;  // 256 MiB of host RAM above kMonitorBase

alignas(4096) std::uint32_t g_pd[1024];
alignas(8) x86::SegmentDescriptor g_gdt[kGdtSlots];
alignas(8) x86::GateDescriptor g_idt[256];
alignas(8) x86::SegmentDescriptor g_ldt[kLdtSlots];
std::uint32_t g_guest_ldt_base = 0, g_guest_ldt_limit = 0;  // 0, 0: no LDT
alignas(16) x86::Tss32 g_tss;
alignas(16) unsigned char g_trap_stack[32768];

// ---- memory ------------------------------------------------------------------------------
constexpr unsigned kPoolFrames = 256;  // shadow page tables: 1 GiB of guest-virtual reach
mem::FrameBitmapStorage<(kHostReach >> 12)> g_frame_bits;
mem::FrameAllocator g_frames;
mem::IdentityPhysicalMemory g_host(kHostReach);
mem::GuestMemory g_guest;
HostPhysAddr g_pool[kPoolFrames];
ShadowMmu g_mmu;
std::uint64_t g_guest_bytes = 0;

// ---- options and state -----------------------------------------------------------------
std::uint64_t g_budget = 1000000, g_trace_limit = 2000, g_seconds = 300;
std::uint64_t g_output_budget = 256 * 1024;  // bytes of guest output on COM1 (and on 0xE9)
std::uint64_t g_last_trap_tsc = 0;  // when the guest last trapped on its own
std::uint64_t g_start_tsc = 0;      // when the guest started
constexpr std::uint32_t kTickHz = 100;  // the monitor's own timer: a floor on how often it runs

/// Where the time goes, in TSC ticks (one per instruction under QEMU -icount shift=0):
/// between a return to the guest and its next monitor entry (guest), inside the monitor
/// working (monitor), and inside the monitor waiting for an interrupt while the guest is
/// halted (idle). Monitor work is hidden from the guest's clocks, see guest_now().
struct Accounting {
  std::uint64_t entries = 0, guest = 0, monitor = 0, idle = 0, emulated = 0;
  std::uint64_t entry_tsc = 0, exit_tsc = 0;
  std::uint64_t entry_idle = 0;  // idle time within the current entry
  bool in_monitor = false;
} g_acct;

/// The guest's clock, in TSC ticks: the real TSC minus the monitor's work. The virtual PIT,
/// the CMOS clock and the guest's RDTSC all follow it, so the guest sees a machine that never
/// stops to trap, and its timer interrupts are spaced by its own running time. On a fast
/// host that changes little; on Bochs, whose virtual time runs at 4 million instructions a
/// second, one monitor entry is ~1-2 ms of it, and a guest timer at 1 kHz that counted the
/// monitor's work would always be due again by the time its interrupt was handled.
///
/// The cost: RDTSC must trap (the real CR4.TSD stays set), and a guest that busy-waits on the
/// TSC traps on every turn of its loop. clock=host on the command line gives the classic
/// monitor instead: the guest's clocks follow the real TSC, monitor work included, and RDTSC
/// runs natively (fine on QEMU; on Bochs the guest's 1 kHz timer then livelocks it).
bool g_hide_monitor_time = true;

std::uint64_t guest_now() {
  const auto& a = g_acct;
  if (!g_hide_monitor_time) return x86::rdtsc();
  if (a.in_monitor) return a.entry_tsc - a.monitor + a.entry_idle;  // frozen, but for idle time
  return x86::rdtsc() - a.monitor;
}

/// A 16550 with its FIFO on (as the boot code leaves COM1 and COM2): once THRE shows the
/// FIFO empty, 16 bytes go out without polling. Halves the port traffic of the trace.
class FastSerial final : public FormatSink {
 public:
  explicit FastSerial(std::uint16_t base) : base_(base) {}
  void put(char c) override {
    if (room_ == 0) {
      for (unsigned spin = 0; spin < 100000 && !(x86::inb(base_ + 5) & 0x20); ++spin) x86::pause();
      room_ = 16;
    }
    x86::outb(base_, static_cast<std::uint8_t>(c));
    --room_;
  }

 private:
  std::uint16_t base_;
  unsigned room_ = 0;
};
FastSerial g_com1_fast(kCom1), g_com2_fast(kCom2);

vmm::VCpu g_vcpu;
vmm::Dispatcher g_dispatch;
vmm::TraceWriter g_trace(g_com2_fast);
decoder::Decoder g_decoder(decoder::Mode::k32);
const decoder::Instruction* g_insn = nullptr;
std::uint64_t g_events = 0, g_ticks = 0;
bool g_window_tf = false;       // the monitor set TF to find the end of an STI shadow
std::uint32_t g_shadow_eip = 0;  // where the guest resumed with an STI shadow pending
bool g_window_guest_tf = false; // ... and the guest had TF set itself
bool g_guest_gdt = false;       // the guest has loaded a GDT of its own
const char* g_stop_reason = nullptr;
int g_stop_status = exit_status::kFailure;
std::uint32_t g_insn_counts[ZYDIS_MNEMONIC_MAX_VALUE + 1];

// ---- devices -----------------------------------------------------------------------------
void contain_guest(const char* why);

/// The guest's COM1 bytes go to the real COM1, up to the output budget: a guest that floods
/// its console is stopped there (the runner would otherwise cut the whole run off).
struct Com1Forward final : dev::ByteSink {
  std::uint64_t bytes = 0;
  void put(std::uint8_t b) override {
    if (++bytes > g_output_budget) {
      contain_guest("output flood: the guest wrote more than its output budget to COM1");
      return;
    }
    g_com1_fast.put(static_cast<char>(b));
  }
};
struct Discard final : dev::ByteSink {
  void put(std::uint8_t) override {}
};
int g_guest_marker = -1;

/// The guest's port 0xE9 output, line by line, on the real 0xE9 with a prefix: the guest's
/// own "hvlab-exit: N" marker is noted but never printed as a marker.
struct GuestDebugLines final : dev::ByteSink {
  char line[160];
  unsigned n = 0;
  std::uint64_t bytes = 0;
  void put(std::uint8_t b) override {
    if (++bytes > g_output_budget) {
      contain_guest("output flood: the guest wrote more than its output budget to port 0xE9");
      return;
    }
    if (b != '\n' && n + 1 < sizeof line) {
      line[n++] = static_cast<char>(b);
      return;
    }
    line[n] = '\0';
    if (rt::str_compare_n(line, "hvlab-exit: ", 12) == 0) {
      int v = 0;
      for (const char* p = line + 12; *p >= '0' && *p <= '9'; ++p) v = v * 10 + (*p - '0');
      g_guest_marker = v;
      dprintf("[guest] wrote its exit marker, status %d\n", v);
    } else if (rt::str_find(line, "hvlab-exit") != nullptr) {
      dprintf("[guest] (a line with an exit marker in it, withheld)\n");
    } else {
      dprintf("[guest] %s\n", line);
    }
    n = 0;
  }
};

/// Bochs' shutdown port: the string "Shutdown" written to 0x8900.
struct BochsShutdown final : dev::Device {
  unsigned matched = 0;
  bool requested = false;
  Result<std::uint32_t> read(std::uint32_t, unsigned) override { return 0xffu; }
  Status write(std::uint32_t, unsigned, std::uint32_t value) override {
    static const char kWord[] = "Shutdown";
    matched = (static_cast<char>(value) == kWord[matched]) ? matched + 1 : (value == 'S' ? 1 : 0);
    if (matched == 8) requested = true;
    return {};
  }
};

/// Port 0x80 (POST codes, used as an I/O delay) and other write-only ports.
struct Sink final : dev::Device {
  Result<std::uint32_t> read(std::uint32_t, unsigned size) override { return dev::floating_bus_value(size); }
  Status write(std::uint32_t, unsigned, std::uint32_t) override { return {}; }
};

Com1Forward g_com1_out;
Discard g_discard;
GuestDebugLines g_e9_lines;
dev::PortBus g_bus;
dev::Pic8259Pair g_pic;
dev::Pit8254 g_pit(&g_pic);
dev::Uart16550 g_com1(&g_pic, 4, &g_com1_out);
dev::Uart16550 g_com2(&g_pic, 3, &g_discard);
dev::CmosRtc g_rtc(&g_pic);
dev::DebugExit g_debug_exit;
dev::DebugConsole g_e9(&g_e9_lines);
BochsShutdown g_shutdown;
Sink g_port80;

// ---- stopping ----------------------------------------------------------------------------

void write_insn_counts() {
  FormatSink& out = g_com2_fast;
  format_to(out, "{\"kind\":\"insn_counts\",\"counts\":{");
  bool first = true;
  for (unsigned m = 0; m <= ZYDIS_MNEMONIC_MAX_VALUE; ++m) {
    if (!g_insn_counts[m]) continue;
    const char* name = ZydisMnemonicGetString(static_cast<ZydisMnemonic>(m));
    format_to(out, "%s\"%s\":%u", first ? "" : ",", name ? name : "?", g_insn_counts[m]);
    first = false;
  }
  format_to(out, "}}\n");
}

/// The time accounting (see Accounting), with the ratios lab01-bench prints.
void write_accounting() {
  auto& a = g_acct;
  if (a.in_monitor) a.monitor += x86::rdtsc() - a.entry_tsc - a.entry_idle;  // stopped inside the monitor
  a.in_monitor = false;
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  auto per = [](std::uint64_t n, std::uint64_t d) { return static_cast<unsigned long long>(d ? n / d : 0); };
  format_to(g_com2_fast,
            "{\"kind\":\"accounting\",\"entries\":%llu,\"emulated\":%llu,\"guest_tsc\":%llu,"
            "\"monitor_tsc\":%llu,\"idle_tsc\":%llu,\"guest_per_entry\":%llu,\"monitor_per_entry\":%llu,"
            "\"monitor_per_emulated\":%llu}\n",
            u(a.entries), u(a.emulated), u(a.guest), u(a.monitor), u(a.idle), per(a.guest, a.entries),
            per(a.monitor, a.entries), per(a.monitor, a.emulated));
}

[[noreturn]] void finish(int status, const char* why) {
  x86::cli();
  g_trace.note("stop", why);
  write_accounting();
  write_insn_counts();
  g_trace.summary(g_dispatch, g_vcpu.instructions_emulated, why);
  dprintf("lab01: guest stopped: %s (events %llu, ticks %llu, shadow fills %llu)\n", why,
          static_cast<unsigned long long>(g_events), static_cast<unsigned long long>(g_ticks),
          static_cast<unsigned long long>(g_mmu.fills()));
  machine_exit(status);
}

void contain_guest(const char* why) {
  if (!g_stop_reason) {
    g_stop_reason = why;
    g_stop_status = exit_status::kFailure;
    g_trace.note("contained", why);
    dprintf("lab01: contained the guest: %s (eip=%08x)\n", why, g_vcpu.eip);
  }
}

// ---- the guest's environment -------------------------------------------------------------

/// The monitor's own TLB for its accesses to guest memory (instruction fetch, the GDT, the
/// guest's stack for IRET and interrupt frames): guest-linear page -> host pointer, with the
/// kinds of access a walk of the guest's tables allowed. Dropped whenever the shadow tables
/// are (CR3, paging controls) and at INVLPG, as the guest's TLB would be; a walk sets the
/// A and D bits the first time, as the CPU does when it fills its TLB.
struct SoftTlbEntry {
  std::uint32_t page = 0xffffffffu;  // la >> 12; never a valid page number when empty
  std::uint8_t rights = 0;           // bit (user * 2 + write): that access was allowed
  unsigned char* host = nullptr;
};
constexpr unsigned kSoftTlbSize = 64;
SoftTlbEntry g_soft_tlb[kSoftTlbSize];

void soft_tlb_flush() {
  for (auto& e : g_soft_tlb) e = SoftTlbEntry{};
}

/// The host address of guest-linear `la` for one kind of access, through the soft TLB or a
/// walk of the guest's tables. nullptr with *fault filled if the guest's MMU refuses it.
unsigned char* guest_page(std::uint32_t la, bool user, bool write, Fault* fault) {
  const std::uint8_t right = static_cast<std::uint8_t>(1u << ((user ? 2 : 0) + (write ? 1 : 0)));
  SoftTlbEntry& t = g_soft_tlb[(la >> 12) % kSoftTlbSize];
  if (t.page != la >> 12 || !(t.rights & right)) {
    mem::Access acc{write ? mem::Access::Op::write : mem::Access::Op::read, user, false};
    auto w = g_mmu.walk(la, acc);
    if (w.kind == ShadowMmu::WalkKind::page_fault) {
      *fault = {x86::vector::PF, true, w.error_code, la};
      return nullptr;
    }
    auto host = w.kind == ShadowMmu::WalkKind::ok ? g_guest.host_ptr(w.gpa.align_down(kPageSize), kPageSize)
                                                  : Result<void*>(Error::fault);
    if (!host.ok()) {
      contain_guest("the guest made the monitor touch memory outside its guest-physical memory");
      *fault = Fault::gp(0);
      return nullptr;
    }
    auto* h = static_cast<unsigned char*>(host.value());
    if (t.page != la >> 12 || t.host != h) t = SoftTlbEntry{la >> 12, 0, h};
    t.rights |= right;
  }
  return t.host + (la & 0xfff);
}

/// Writes or reads guest-linear memory through the guest's virtual MMU.
bool guest_copy(std::uint32_t la, void* buf, std::size_t n, bool user, bool write, Fault* fault) {
  auto* p = static_cast<unsigned char*>(buf);
  while (n > 0) {
    std::size_t chunk = kPageSize - (la & 0xfff);
    if (chunk > n) chunk = n;
    unsigned char* h = guest_page(la, user, write, fault);
    if (!h) return false;
    if (write) {
      rt::mem_copy(h, p, chunk);
    } else {
      rt::mem_copy(p, h, chunk);
    }
    la += static_cast<std::uint32_t>(chunk);
    p += chunk;
    n -= chunk;
  }
  return true;
}

/// `n` bytes of guest-linear memory for a supervisor read, in place: the host address when
/// they lie in one page the guest maps, else nullptr (the caller copies instead).
const std::uint64_t* guest_view64(std::uint32_t la, std::size_t n) {
  if ((la & 7) || (la & 0xfff) + n > kPageSize) return nullptr;
  Fault f;
  return reinterpret_cast<const std::uint64_t*>(guest_page(la, false, false, &f));
}

void flush_tlb() { x86::write_cr3(x86::read_cr3()); }

std::uint32_t read_dr6() {
  std::uint32_t v;
  asm volatile("mov %%dr6, %0" : "=r"(v));
  return v;
}
void write_dr6(std::uint32_t v) { asm volatile("mov %0, %%dr6" ::"r"(v)); }

/// The real CR4.TSD is always set while the guest runs: every RDTSC (and RDTSCP) traps and
/// reads the guest's clock (guest_now); a #GP for the guest only where its own CR4.TSD asks
/// for one. (With clock=host the real TSD is the guest's.) The real CR0 keeps its own
/// MP/EM/TS (the monitor does not virtualize the FPU's #NM).
void mirror_control_bits() {
  bool tsd = g_hide_monitor_time || (g_vcpu.cr4 & x86::cr4::TSD);  // clock=host: the guest's own TSD
  x86::write_cr4(tsd ? x86::read_cr4() | x86::cr4::TSD : x86::read_cr4() & ~x86::cr4::TSD);
}

void sync_gdt();

class MonitorEnv final : public GuestEnv {
 public:
  bool read_linear(std::uint32_t la, void* dst, std::size_t n, bool user, Fault* f) override {
    return guest_copy(la, dst, n, user, false, f);
  }
  bool write_linear(std::uint32_t la, const void* src, std::size_t n, bool user, Fault* f) override {
    return guest_copy(la, const_cast<void*>(src), n, user, true, f);
  }
  std::uint32_t segment_base(std::uint16_t sel) override {
    unsigned i = sel >> 3;
    if (sel & 4) return i < kLdtSlots ? g_ldt[i].base() : 0;
    return (i == 0 || i >= kGuestSlots) ? 0 : g_gdt[i].base();
  }
  std::uint32_t io_read(std::uint16_t port, unsigned size) override { return g_bus.read_or_float(port, size); }
  void io_write(std::uint16_t port, unsigned size, std::uint32_t value) override {
    (void)g_bus.write(port, size, value);  // unmapped ports drop writes, like an ISA bus
  }
  void control_register_written(unsigned cr, std::uint32_t old) override {
    mirror_control_bits();
    std::uint32_t now = cr == 0 ? g_vcpu.cr0 : cr == 3 ? g_vcpu.cr3 : g_vcpu.cr4;
    constexpr std::uint32_t cr0_paging = x86::cr0::PG | x86::cr0::WP | x86::cr0::PE;
    constexpr std::uint32_t cr4_paging = x86::cr4::PSE | x86::cr4::PGE | x86::cr4::PAE;
    bool reset = (cr == 0 && ((old ^ now) & cr0_paging)) || (cr == 4 && ((old ^ now) & cr4_paging)) ||
                 (cr == 3 && (g_vcpu.cr0 & x86::cr0::PG));
    if (reset) {
      g_mmu.reset(g_vcpu);
      soft_tlb_flush();
    }
  }
  void invalidate_page(std::uint32_t la) override {
    g_mmu.invalidate(la);
    soft_tlb_flush();  // a 4 MiB guest page covers many of its 4 KiB entries
  }
  void gdt_loaded() override {
    g_guest_gdt = true;
    sync_gdt();
  }
  void ldt_loaded(std::uint32_t base, std::uint32_t limit) override {
    g_guest_ldt_base = base;
    g_guest_ldt_limit = limit;
    sync_gdt();
  }
  std::uint64_t read_tsc() override { return guest_now(); }
  void contain(const char* why) override { contain_guest(why); }
};
MonitorEnv g_env;

// ---- the shadow GDT ------------------------------------------------------------------------

// What each shadow slot was last built from (the guest's raw descriptor) and whether ring-3
// code was hidden then: a slot is rebuilt only when either changed.
std::uint64_t g_gdt_raw[kGuestSlots], g_ldt_raw[kLdtSlots];
unsigned g_gdt_raw_n = kGuestSlots, g_ldt_raw_n = kLdtSlots;  // slots that may be non-null
bool g_shadow_hid_user = false, g_shadow_valid = false;

/// Mirrors the guest's GDT into the real one, deprivileged. Run at LGDT and at every monitor
/// entry, so a descriptor the guest edits in place is seen at its next trap. Only what
/// changed is rebuilt: this runs on every entry, and on a slow emulator a full rebuild of
/// 496 slots was most of the cost of a trap.
void sync_gdt() {
  if (!g_guest_gdt) return;
  unsigned n = (g_vcpu.gdtr.limit + 1u) / 8;
  if (n > kGuestSlots) n = kGuestSlots;
  static std::uint64_t copy[kGuestSlots];
  Fault f;
  const std::uint64_t* guest = guest_view64(g_vcpu.gdtr.base, n * 8);  // usually: no copy
  if (!guest) {
    if (n > 1 && !guest_copy(g_vcpu.gdtr.base, copy, n * 8, false, false, &f)) return;  // not mapped now
    guest = copy;
  }
  // Ring-3 code segments are not present while the guest kernel runs: its IRET (or far RET)
  // to user mode then traps (#NP), and the monitor sees the IF and IOPL it loads.
  bool hide_user_code = g_vcpu.cpl == 0;
  bool all = !g_shadow_valid || hide_user_code != g_shadow_hid_user;
  g_shadow_valid = true;
  g_shadow_hid_user = hide_user_code;
  auto shadow = [hide_user_code](std::uint64_t raw) {
    x86::SegmentDescriptor d = deprivilege_descriptor(x86::SegmentDescriptor::from(raw));
    if (hide_user_code && d.s && (d.type & 0x8) && d.dpl == 3) d.p = 0;
    return d;
  };
  unsigned upto = n > g_gdt_raw_n ? n : g_gdt_raw_n;
  for (unsigned i = 1; i < upto; ++i) {
    std::uint64_t raw = i < n ? guest[i] : 0;
    if (!all && raw == g_gdt_raw[i]) continue;
    g_gdt_raw[i] = raw;
    g_gdt[i] = raw ? shadow(raw) : x86::SegmentDescriptor{};
  }
  g_gdt_raw_n = n;
  unsigned ln = g_guest_ldt_limit ? (g_guest_ldt_limit + 1u) / 8 : 0;
  if (ln > kLdtSlots) ln = kLdtSlots;
  static std::uint64_t ldt_copy[kLdtSlots];
  const std::uint64_t* guest_ldt = ln ? guest_view64(g_guest_ldt_base, ln * 8) : ldt_copy;
  if (!guest_ldt) {
    guest_ldt = ldt_copy;
    if (!guest_copy(g_guest_ldt_base, ldt_copy, ln * 8, false, false, &f)) ln = 0;
  }
  upto = ln > g_ldt_raw_n ? ln : g_ldt_raw_n;
  for (unsigned i = 0; i < upto; ++i) {
    std::uint64_t raw = i < ln ? guest_ldt[i] : 0;
    if (!all && raw == g_ldt_raw[i]) continue;
    g_ldt_raw[i] = raw;
    g_ldt[i] = raw ? shadow(raw) : x86::SegmentDescriptor{};
  }
  g_ldt_raw_n = ln;
}

/// The guest's own view of segment `sel` (base and limit in bytes, expand-up): the flat boot
/// segments until it loads a GDT. False for a selector without a usable descriptor.
bool guest_segment(std::uint16_t sel, std::uint32_t* base, std::uint32_t* limit) {
  if (!g_guest_gdt) {
    *base = 0, *limit = 0xffffffffu;
    return true;
  }
  unsigned i = sel >> 3;
  std::uint64_t raw = (sel & 4) ? (i < kLdtSlots ? g_ldt_raw[i] : 0) : (i && i < kGuestSlots ? g_gdt_raw[i] : 0);
  auto d = x86::SegmentDescriptor::from(raw);
  if (!d.p || !d.s || (!(d.type & 0x8) && (d.type & 0x4))) return false;
  *base = d.base();
  *limit = d.limit();
  return true;
}

/// True if `sel` names a usable descriptor in the real GDT for ring `rpl` (code or data).
bool selector_usable(std::uint16_t sel, bool code, bool stack) {
  unsigned i = sel >> 3;
  if (i == 0 && !(sel & 4)) return !code && !stack;
  if ((sel & 4) ? i >= kLdtSlots : i >= kGuestSlots) return false;
  const auto& d = (sel & 4) ? g_ldt[i] : g_gdt[i];
  if (!d.p || !d.s) return false;
  if (code) return (d.type & 0x8) && (d.dpl == (sel & 3) || (d.type & 0x4));
  if (stack) return !(d.type & 0x8) && (d.type & 0x2) && d.dpl == (sel & 3);
  return true;
}

// ---- vCPU <-> trap frame ---------------------------------------------------------------------

void load_vcpu(const TrapFrame& f) {
  auto& v = g_vcpu;
  v.regs = {f.eax, f.ecx, f.edx, f.ebx, f.user_esp, f.ebp, f.esi, f.edi};
  v.eip = f.eip;
  v.cpl = (f.cs & 3) == 3 ? 3 : 0;
  v.cs = to_virtual_selector(static_cast<std::uint16_t>(f.cs));
  v.ss = to_virtual_selector(static_cast<std::uint16_t>(f.user_ss));
  v.ds = static_cast<std::uint16_t>(f.ds);
  v.es = static_cast<std::uint16_t>(f.es);
  v.fs = static_cast<std::uint16_t>(f.fs);
  v.gs = static_cast<std::uint16_t>(f.gs);
  // Arithmetic flags, DF, TF, AC... are the hardware's; IF and IOPL are virtual.
  std::uint32_t real = f.eflags;
  if (g_window_tf) real = (real & ~fl::TF) | (g_window_guest_tf ? fl::TF : 0);
  constexpr std::uint32_t virt = fl::IF | fl::IOPL;
  v.eflags = (real & ~virt) | (v.eflags & virt) | fl::FIXED1;
}

bool store_vcpu(TrapFrame& f) {
  const auto& v = g_vcpu;
  f.eax = v.regs.eax, f.ecx = v.regs.ecx, f.edx = v.regs.edx, f.ebx = v.regs.ebx;
  f.ebp = v.regs.ebp, f.esi = v.regs.esi, f.edi = v.regs.edi;
  f.user_esp = v.regs.esp;
  f.eip = v.eip;
  std::uint16_t cs = v.cpl == 3 ? v.cs : to_real_selector(v.cs);
  std::uint16_t ss = v.cpl == 3 ? v.ss : to_real_selector(v.ss);
  if (v.cpl == 0) cs = static_cast<std::uint16_t>((cs & ~3) | 1), ss = static_cast<std::uint16_t>((ss & ~3) | 1);
  if (!selector_usable(cs, true, false) || !selector_usable(ss, false, true)) {
    contain_guest("the guest's CS or SS names no usable descriptor");
    return false;
  }
  f.cs = cs;
  f.user_ss = ss;
  std::uint16_t data[4] = {v.ds, v.es, v.fs, v.gs};
  for (auto& s : data) {
    if (!selector_usable(s, false, false)) s = 0;
  }
  f.ds = data[0], f.es = data[1], f.fs = data[2], f.gs = data[3];
  // Real IF is always 1 (the monitor's timer), IOPL 0 (every port traps), no NT (a real
  // IRET must never attempt a task return), TF when the monitor is watching an STI shadow.
  f.eflags = (v.eflags & ~(fl::IOPL | fl::NT | fl::VM)) | fl::IF | fl::FIXED1 | (g_window_tf ? fl::TF : 0);
  return true;
}

// ---- handlers --------------------------------------------------------------------------------

Action on_emulate(VCpu& v, const Event& e) {
  if (!g_insn) return Action::reflect;
  ++g_insn_counts[g_insn->mnemonic()];
  Action a = emulate_instruction(v, e, *g_insn, g_env);
  if (a == Action::advance || a == Action::resume) ++g_acct.emulated;
  return a;
}

constexpr const char* kReservedAccess =
    "the guest accessed linear address %08x, in 0xF0000000-0xFFFFFFFF where the monitor lives";

/// The top of the linear address space belongs to the monitor: guest segments are cut off
/// below kMonitorBase. A #GP or #SS that only that cut explains (the access is inside the
/// guest's own segment limit but reaches kMonitorBase) is not the guest's fault to take: the
/// monitor cannot give it that memory, so it stops the guest. Returns the address, or 0.
std::uint32_t reserved_access(const VCpu& v, const Event& e) {
  if (e.vector != x86::vector::GP && e.vector != x86::vector::SS) return 0;
  if (e.error_code != 0) return 0;  // a selector in the error code: a descriptor problem
  std::uint32_t base = 0, limit = 0;
  // The fetch itself: EIP beyond the truncated CS.
  if (guest_segment(v.cs, &base, &limit) && v.eip <= limit && base + v.eip >= kMonitorBase) return base + v.eip;
  if (!g_insn) return 0;
  for (unsigned i = 0; i < g_insn->info.operand_count; ++i) {
    const auto& op = g_insn->operands[i];
    if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || op.mem.type != ZYDIS_MEMOP_TYPE_MEM) continue;
    std::uint16_t sel = segment_selector(v, op.mem.segment);
    if (!guest_segment(sel, &base, &limit)) continue;
    std::uint32_t offset = operand_linear_address(v, op, g_env) - g_env.segment_base(sel);
    std::uint32_t size = op.size / 8 ? op.size / 8 : 1;
    // An implicit stack operand (PUSH, CALL) is written below ESP.
    if (op.mem.base == ZYDIS_REGISTER_ESP && !op.mem.disp.has_displacement && op.visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN)
      offset -= size;
    std::uint32_t last = offset + size - 1;
    if (last < offset || last > limit) continue;  // the guest's own limit faults too
    if (base + last >= kMonitorBase || base + last < base) return base + offset < kMonitorBase ? kMonitorBase : base + offset;
  }
  return 0;
}

Action on_exception(VCpu& v, const Event& e) {
  if (std::uint32_t la = reserved_access(v, e)) {
    static char why[160];
    format(why, sizeof why, kReservedAccess, la);
    contain_guest(why);
    return Action::stop;
  }
  g_env.raise({e.vector, e.has_error_code, e.error_code, 0});
  return Action::reflect;
}

Action on_page_fault(VCpu& v, const Event& e) {
  std::uint32_t guest_error = 0;
  GuestPhysAddr bad;
  auto la = static_cast<std::uint32_t>(e.address);
  switch (g_mmu.handle_fault(la, e.error_code, &guest_error, &bad)) {
    case ShadowMmu::Fill::filled: return Action::resume;
    case ShadowMmu::Fill::reflect:
      v.cr2 = la;
      g_env.raise({x86::vector::PF, true, guest_error, la});
      return Action::reflect;
    case ShadowMmu::Fill::refused: break;
  }
  static char why[160];
  if (la >= kMonitorBase) {
    format(why, sizeof why, kReservedAccess, la);
  } else {
    format(why, sizeof why, "the guest maps linear %08x to guest-physical %08llx, outside its %u MiB of memory", la,
           static_cast<unsigned long long>(bad.value()), static_cast<unsigned>(g_guest_bytes >> 20));
  }
  contain_guest(why);
  return Action::stop;
}

Action on_resume(VCpu&, const Event&) { return Action::resume; }

void install_handlers() {
  for (Reason r : {Reason::privileged_instruction, Reason::io_instruction, Reason::cr_access, Reason::msr_read,
                   Reason::msr_write, Reason::hlt, Reason::invlpg, Reason::software_interrupt}) {
    g_dispatch.set(r, on_emulate);
  }
  g_dispatch.set(Reason::exception, on_exception);
  g_dispatch.set(Reason::page_fault, on_page_fault);
  g_dispatch.set(Reason::external_interrupt, on_resume);
  g_dispatch.set(Reason::interrupt_window, on_resume);
}

// ---- time and interrupts ---------------------------------------------------------------------

// Virtual time follows the TSC, calibrated against the real PIT at start; the real PIT's
// one-shot ticks only make sure the monitor gets control at least every 10 ms.
std::uint64_t g_tsc_per_ms = 1000000, g_last_tsc = 0;

void calibrate_tsc() {
  constexpr std::uint16_t kCount = 11932;  // 10 ms of PIT channel 2, mode 0
  x86::outb(0x61, static_cast<std::uint8_t>((x86::inb(0x61) & ~0x02) | 0x01));
  x86::outb(0x43, 0xb0);
  x86::outb(0x42, kCount & 0xff);
  std::uint64_t start = x86::rdtsc();
  x86::outb(0x42, kCount >> 8);
  for (std::uint32_t spins = 0; !(x86::inb(0x61) & 0x20) && spins < 50000000; ++spins) {
  }
  std::uint64_t per_ms = (x86::rdtsc() - start) / 10;
  if (per_ms >= 1000) g_tsc_per_ms = per_ms;
  g_last_tsc = guest_now();
}

/// Milliseconds of TSC time since `since`.
std::uint64_t ms_since(std::uint64_t since) { return (x86::rdtsc() - since) / g_tsc_per_ms; }

/// Brings the virtual PIT and CMOS clock up to the guest's clock.
void advance_time() {
  std::uint64_t now = guest_now();
  std::uint64_t delta = now - g_last_tsc;
  if (delta > 1000 * g_tsc_per_ms) delta = 1000 * g_tsc_per_ms;  // at most a second at once
  std::uint64_t ns = delta * 1000000 / g_tsc_per_ms;
  if (ns == 0) return;
  g_last_tsc = now;
  g_pit.advance_ns(ns);
  g_rtc.advance_ns(ns);
}

/// Arms the real PIT (one-shot) for the guest's next timer deadline, at most 10 ms away:
/// armed on the way back into the guest, so the monitor's own work never eats the guest's
/// time slice (on a slow emulator a periodic tick could fire before the guest ran at all).
///
/// A slice that already ran out while the monitor worked has its IRQ0 latched in the real
/// PIC. It is taken here, inside the monitor, first: writing the PIT's mode word drops OUT,
/// which withdraws the request from the PIC but not the INTR line it already raised, and the
/// CPU would acknowledge it right after the IRET as a spurious IRQ 7, before the guest ran a
/// single instruction. On Bochs, whose virtual time makes one monitor entry longer than a
/// 1 ms guest tick, that loop of spurious interrupts was the whole run.
void arm_timer() {
  asm volatile("sti; nop; cli" ::: "memory");  // a pending tick arrives here (monitor_trap)
  std::uint64_t ticks = g_pit.ticks_until_next_irq0();
  if (ticks == 0 || ticks > dev::Pit8254::kInputHz / kTickHz) ticks = dev::Pit8254::kInputHz / kTickHz;
  if (ticks < 300) ticks = 300;  // 0.25 ms: the guest always gets to run
  pit::start_one_shot(static_cast<std::uint16_t>(ticks));
}

/// One tick of the real PIT.
void tick() {
  ++g_ticks;
  advance_time();
  pic::eoi(0);
}

/// A real IRQ 7 or 15 that is not in service is spurious (8259A data sheet): no EOI for it,
/// except to the master for a spurious IRQ 15 (the cascade line was in service).
bool spurious_irq(unsigned irq) {
  if (irq != 7 && irq != 15) return false;
  if (pic::read_isr() & (1u << irq)) return false;
  if (irq == 15) pic::eoi(0);
  return true;
}

/// Delivers the virtual PIC's interrupt if the guest can take one now (exercise e9).
void inject_pending_interrupt() {
  auto& v = g_vcpu;
  // BEGIN SOLUTION lab01-e9
  if (!v.interrupts_enabled() || v.interrupt_shadow || !g_pic.has_pending()) return;
  std::uint8_t vector = g_pic.acknowledge();
  if (!deliver_interrupt(v, g_env, vector, Delivery::external, false, 0, v.eip)) {
    contain_guest("triple fault while delivering an external interrupt");
  }
  // STUB: return;
  // END SOLUTION
}

/// HLT: wait in the monitor, with real interrupts on, for a virtual interrupt.
void wait_while_halted() {
  auto& v = g_vcpu;
  std::uint64_t since = x86::rdtsc();
  while (v.halted && !g_stop_reason) {
    if (!v.interrupts_enabled()) {
      contain_guest("the guest halted with interrupts disabled: it would never wake up");
      return;
    }
    advance_time();
    if (g_pic.has_pending()) {
      v.interrupt_shadow = false;
      inject_pending_interrupt();
      return;
    }
    if (ms_since(since) > 10000) {
      contain_guest("the guest halted and no interrupt came for 10 seconds");
      return;
    }
    if (ms_since(g_start_tsc) > g_seconds * 1000) return;  // the caller stops it
    arm_timer();
    std::uint64_t t0 = x86::rdtsc();
    asm volatile("sti; hlt; cli" ::: "memory");
    g_acct.entry_idle += x86::rdtsc() - t0;  // the guest's time passes while it waits
  }
}

// ---- the trap path ---------------------------------------------------------------------------

void trace_event(const Event& e, Action a) {
  if (e.reason == Reason::external_interrupt && a == Action::resume) return;  // the monitor's own timer
  bool routine = a != Action::stop && a != Action::reflect;
  if (g_trace.records() >= g_trace_limit && routine) {
    static bool noted = false;
    if (!noted && g_trace_limit) {
      noted = true;
      g_trace.note("trace", "per-event records limit reached: routine events are counted only");
    }
    return;
  }
  char text[96];
  const char* insn = nullptr;
  if (g_insn && g_decoder.format(*g_insn, g_vcpu.eip, text, sizeof text)) insn = text;
  g_trace.event(e, a, insn);
}

/// Decoded instructions by their bytes: the guest traps on the same few instructions over
/// and over (IN/OUT in a polling loop, IRET, the EOI), and a full Zydis decode costs more than
/// the rest of a monitor entry. Keyed by the bytes themselves, so code the guest rewrites is
/// decoded afresh; the linear address only picks the slot.
struct DecodedSlot {
  std::uint8_t bytes[15];
  std::uint8_t length = 0;  // 0: empty
  decoder::Instruction insn;
};
constexpr unsigned kDecodeSlots = 64;
DecodedSlot g_decoded[kDecodeSlots];

/// Reads the instruction at CS:EIP through the guest's MMU and decodes it (nullptr if it
/// cannot be fetched or decoded): the bytes up to the end of the page in one copy, the rest
/// from the next page only if that page is there.
const decoder::Instruction* fetch_decoded() {
  std::uint8_t bytes[15];
  std::uint32_t la = g_env.segment_base(g_vcpu.cs) + g_vcpu.eip;
  std::size_t n = kPageSize - (la & 0xfff);
  if (n > sizeof bytes) n = sizeof bytes;
  bool user = g_vcpu.cpl == 3;
  Fault f;
  if (!guest_copy(la, bytes, n, user, false, &f)) return nullptr;
  if (n < sizeof bytes && guest_copy(la + static_cast<std::uint32_t>(n), bytes + n, sizeof bytes - n, user, false, &f))
    n = sizeof bytes;  // else: an instruction that ends on this page, or none
  DecodedSlot& slot = g_decoded[(la ^ (la >> 7)) % kDecodeSlots];
  if (slot.length && slot.length <= n && rt::mem_compare(slot.bytes, bytes, slot.length) == 0) return &slot.insn;
  slot.length = 0;
  if (!g_decoder.decode_into(bytes, n, slot.insn).ok()) return nullptr;
  slot.length = slot.insn.length();
  rt::mem_copy(slot.bytes, bytes, slot.length);
  return &slot.insn;
}

void fetch_instruction(decoder::Instruction& insn, bool* ok) {
  const decoder::Instruction* d = fetch_decoded();
  *ok = d != nullptr;
  if (d) insn = *d;
}

/// User mode with a virtual IOPL above 0 (the real one is always 0): CLI, STI and port I/O
/// still trap and are allowed by the virtual IOPL, but PUSHF and POPF would show or ignore
/// the real IF and IOPL without trapping. So the monitor single-steps such a process and
/// runs every PUSHF and POPF itself (exercise e10): a small interpreter for exactly the
/// instructions that are sensitive in this state (Popek and Goldberg's theorem 3).
void step_user_with_iopl() {
  auto& v = g_vcpu;
  // BEGIN SOLUTION lab01-e10
  static decoder::Instruction insn;
  for (unsigned guard = 0; guard < 64; ++guard) {
    bool ok = false;
    fetch_instruction(insn, &ok);
    if (!ok) break;
    Fault fault;
    std::uint32_t sp = g_env.segment_base(v.ss) + v.regs.esp;
    if (insn.mnemonic() == ZYDIS_MNEMONIC_PUSHFD) {
      std::uint32_t image = v.eflags & ~(fl::RF | fl::VM);
      if (!g_env.write_linear(sp - 4, &image, 4, true, &fault)) break;  // the CPU will fault it itself
      v.regs.esp -= 4;
    } else if (insn.mnemonic() == ZYDIS_MNEMONIC_POPFD) {
      std::uint32_t image = 0;
      if (!g_env.read_linear(sp, &image, 4, true, &fault)) break;
      // SDM vol. 2 POPF at CPL 3: IOPL never changes, IF only when CPL <= IOPL.
      std::uint32_t mask = kEflagsGuestMask & ~(fl::VM | fl::IOPL | fl::VIF | fl::VIP);
      if (v.cpl > v.iopl()) mask &= ~fl::IF;
      v.eflags = (v.eflags & ~mask) | (image & mask) | fl::FIXED1;
      v.regs.esp += 4;
    } else {
      break;
    }
    v.eip += insn.length();
    ++g_insn_counts[insn.mnemonic()];
    ++v.instructions_emulated;
    ++g_acct.emulated;
  }
  g_window_tf = true;  // the next instruction runs alone; its #DB brings us back here
  // STUB: return;
  // END SOLUTION
}

void guest_trap(TrapFrame& f) {
  auto& v = g_vcpu;
  unsigned vector = f.vector & 0xff;
  const bool had_shadow = v.interrupt_shadow;
  load_vcpu(f);
  // The STI shadow ends when the guest's next instruction completes. A real IRQ that arrives
  // before that instruction ran (same EIP) must not end it, or a virtual interrupt would be
  // delivered inside the shadow (`sti; hlt` would be interrupted at the HLT).
  v.interrupt_shadow = had_shadow && vector >= kIrqBase && vector < kIrqBase + 16 && v.eip == g_shadow_eip;
  g_env.has_pending = false;
  g_insn = nullptr;
  if (++g_events > g_budget) {
    contain_guest("event budget exhausted: the guest looks livelocked");
    finish(g_stop_status, g_stop_reason);
  }

  bool window_step = g_window_tf;
  g_window_tf = false;
  if (vector >= kIrqBase && vector < kIrqBase + 16) {
    if (vector == kIrqBase) {
      tick();
      // A guest that never traps with interrupts off can never be interrupted either.
      std::uint64_t quiet_ms = ms_since(g_last_trap_tsc);
      if (quiet_ms > 5000 && !v.interrupts_enabled())
        contain_guest("the guest spins with interrupts disabled and has not trapped for 5 s");
      else if (quiet_ms > 60000)
        contain_guest("the guest has not trapped for 60 s");
      if (g_stop_reason) finish(g_stop_status, g_stop_reason);
    } else if (!spurious_irq(vector - kIrqBase)) {
      pic::eoi(vector - kIrqBase);
    }
  } else {
    g_last_trap_tsc = x86::rdtsc();
  }
  const decoder::Instruction* insn = nullptr;
  if (vector == x86::vector::GP || vector == x86::vector::NP || vector == x86::vector::SS) insn = fetch_decoded();
  Event e = make_trap_event(v, vector, f.error_code, x86::read_cr2(), insn);
  if (vector == x86::vector::DB) {
    std::uint32_t dr6 = read_dr6();
    write_dr6(0xffff0ff0u);
    if (window_step && !g_window_guest_tf) {
      e.reason = Reason::interrupt_window;  // the monitor's own single step
    } else {
      v.dr[6] = (dr6 & 0x0000e00fu) | 0xffff0ff0u;  // what the guest's MOV from DR6 sees
    }
  }
  g_insn = insn;
  Action a = g_dispatch.dispatch(v, e);
  if (a == Action::reflect) {
    Fault x = g_env.has_pending ? g_env.pending : Fault{e.vector, e.has_error_code, e.error_code, 0};
    if (x.vector == x86::vector::PF) v.cr2 = x.cr2;
    if (!deliver_interrupt(v, g_env, x.vector, Delivery::exception, x.has_error, x.error, v.eip)) {
      contain_guest("the guest triple-faulted (an exception it cannot take)");
      a = Action::stop;
    }
  }
  trace_event(e, a);
  g_insn = nullptr;

  // RDTSC, the guest's busy-wait clock, traps on every turn of such a loop (see guest_now).
  // It changed EAX, EDX and EIP and nothing else, and no time passed for the guest: the way
  // back skips the timers, interrupts and the real PIT (still counting from the last
  // return), unless there is an interrupt to deliver or a single step to watch.
  if (a == Action::advance && insn &&
      (insn->mnemonic() == ZYDIS_MNEMONIC_RDTSC || insn->mnemonic() == ZYDIS_MNEMONIC_RDTSCP) && !g_stop_reason &&
      !(v.cpl == 3 && v.iopl() != 0) && !(v.interrupts_enabled() && g_pic.has_pending())) {
    sync_gdt();
    if (!store_vcpu(f)) finish(g_stop_status, g_stop_reason);
    return;
  }

  // The guest asked to stop through one of the exit ports.
  if (g_debug_exit.exit_requested()) {
    static char why[64];
    format(why, sizeof why, "guest exited with status %u", g_debug_exit.value());
    finish(static_cast<int>(g_debug_exit.value() & 0xff), why);
  }
  if (g_shutdown.requested) {
    finish(g_guest_marker >= 0 ? g_guest_marker : exit_status::kFailure, "guest wrote Shutdown to port 0x8900");
  }
  if (g_stop_reason || a == Action::stop) finish(g_stop_status, g_stop_reason ? g_stop_reason : "stopped");
  if (ms_since(g_start_tsc) > g_seconds * 1000) {
    contain_guest("guest time limit reached (seconds=)");
    finish(g_stop_status, g_stop_reason);
  }

  if (v.halted) wait_while_halted();
  if (g_stop_reason) finish(g_stop_status, g_stop_reason);
  inject_pending_interrupt();
  // After STI with an interrupt waiting, single-step the one instruction of the shadow
  // (below, with the user-mode IOPL case).
  if (v.cpl == 3 && v.iopl() != 0) step_user_with_iopl();
  if (v.interrupt_shadow && v.interrupts_enabled() && g_pic.has_pending()) g_window_tf = true;
  if (g_window_tf) g_window_guest_tf = (v.eflags & fl::TF) != 0;
  advance_time();
  inject_pending_interrupt();
  sync_gdt();
  if (v.interrupt_shadow) g_shadow_eip = v.eip;
  if (!store_vcpu(f)) finish(g_stop_status, g_stop_reason);
  arm_timer();
}

void monitor_trap(TrapFrame& f) {
  unsigned vector = f.vector & 0xff;
  if (vector == kIrqBase) {
    tick();
    return;
  }
  if (vector > kIrqBase && vector < kIrqBase + 16) {
    if (!spurious_irq(vector - kIrqBase)) pic::eoi(vector - kIrqBase);
    return;
  }
  dump_frame(f);
  dprintf("lab01: monitor fault: vector %u (%s) at eip=%08x error=%x cr2=%08x\n", vector, x86::vector::name(vector),
          f.eip, f.error_code, x86::read_cr2());
  machine_exit(exit_status::kPanic);
}

// ---- set-up ------------------------------------------------------------------------------------

/// A decimal option `key=N`; `fallback` when absent, not a number, or 0 unless `zero_ok`.
std::uint64_t option(const BootInfo& boot, const char* key, std::uint64_t fallback, bool zero_ok = false) {
  char buf[24];
  if (!boot.cmdline_option(key, buf, sizeof buf) || buf[0] < '0' || buf[0] > '9') return fallback;
  std::uint64_t v = 0;
  for (const char* p = buf; *p >= '0' && *p <= '9'; ++p) v = v * 10 + static_cast<unsigned>(*p - '0');
  return v || zero_ok ? v : fallback;
}

[[noreturn]] void refuse(const char* why) {
  dprintf("lab01: cannot start the guest: %s\n", why);
  kprintf("lab01: cannot start the guest: %s\n", why);
  machine_exit(exit_status::kFailure);
}

/// Paging on with host RAM at kMonitorBase (and, for the switch only, at 0), then the
/// monitor's segments based at kMonitorBase, its own GDT, TSS and IDT.
void move_monitor_high(std::uint64_t ram_top) {
  namespace pg = x86::page;
  unsigned big_pages = static_cast<unsigned>((ram_top + x86::kPage4M - 1) >> 22);
  if (big_pages > (kHostReach >> 22)) big_pages = kHostReach >> 22;
  for (unsigned i = 0; i < big_pages; ++i) {
    std::uint32_t pde = (i << 22) | pg::P | pg::RW | pg::PS | pg::G;
    g_pd[(kMonitorBase >> 22) + i] = pde;
    g_pd[i] = pde & ~pg::G;
  }
  x86::write_cr4(x86::read_cr4() | x86::cr4::PSE | x86::cr4::PGE);
  x86::write_cr3(reinterpret_cast<std::uint32_t>(g_pd));
  x86::write_cr0((x86::read_cr0() | x86::cr0::PG | x86::cr0::WP | x86::cr0::NE) &
                 ~(x86::cr0::TS | x86::cr0::EM | x86::cr0::MP));

  using x86::SegmentDescriptor;
  namespace dt = x86::desc_type;
  g_gdt[kMonitorCodeSlot] = SegmentDescriptor::make(kMonitorBase, kHostReach - 1, dt::kCodeRX, 0);
  g_gdt[kMonitorDataSlot] = SegmentDescriptor::make(kMonitorBase, kHostReach - 1, dt::kDataRW, 0);
  g_tss = x86::Tss32{};
  g_tss.ss0 = kMonitorDS;
  g_tss.esp0 = reinterpret_cast<std::uint32_t>(g_trap_stack + sizeof g_trap_stack);
  g_tss.iomap_base = sizeof(x86::Tss32);  // no I/O bitmap: every port traps at CPL > IOPL
  g_gdt[kMonitorTssSlot] = SegmentDescriptor::make(kMonitorBase + reinterpret_cast<std::uint32_t>(&g_tss),
                                                   sizeof(x86::Tss32) - 1, dt::kTss32Available, 0, false, false);
  // The guest's boot segments until it loads a GDT: flat, ring 1, ending below the monitor.
  g_gdt[1] = deprivilege_descriptor(SegmentDescriptor::make(0, 0xffffffff, dt::kCodeRX, 0));
  g_gdt[2] = deprivilege_descriptor(SegmentDescriptor::make(0, 0xffffffff, dt::kDataRW, 0));

  x86::DescriptorTableRegister gdtr{sizeof g_gdt - 1, kMonitorBase + reinterpret_cast<std::uint32_t>(g_gdt)};
  x86::lgdt(gdtr);
  asm volatile(
      "ljmp %0, $1f\n"
      "1:\n"
      "mov %1, %%ax\n"
      "mov %%ax, %%ds\n"
      "mov %%ax, %%es\n"
      "mov %%ax, %%fs\n"
      "mov %%ax, %%gs\n"
      "mov %%ax, %%ss\n" ::"i"(kMonitorCS),
      "i"(kMonitorDS)
      : "eax", "memory");
  x86::ltr(kMonitorTss);
  g_gdt[kMonitorLdtSlot] = SegmentDescriptor::make(kMonitorBase + reinterpret_cast<std::uint32_t>(g_ldt),
                                                   sizeof g_ldt - 1, dt::kLdt, 0, false, false);
  x86::lldt(kMonitorLdt);
  // The kit's trap stubs, with the monitor's data segment and its own entry.
  set_trap_entry(lab01_trap, kMonitorDS);
  for (unsigned v = 0; v < 256; ++v) {
    g_idt[v] = x86::GateDescriptor::make(hvlab_isr_table[v], kMonitorCS, dt::kInterruptGate32, 0);
  }
  x86::DescriptorTableRegister idtr{sizeof g_idt - 1, kMonitorBase + reinterpret_cast<std::uint32_t>(g_idt)};
  x86::lidt(idtr);
  // The low half now belongs to the guest.
  for (unsigned i = 0; i < ShadowMmu::kGuestPdes; ++i) g_pd[i] = 0;
  flush_tlb();
}

void attach_devices() {
  g_pic.bios_init();
  (void)g_pic.attach(g_bus);
  (void)g_pit.attach(g_bus);
  (void)g_bus.attach(dev::Uart16550::kCom1Port, 8, g_com1);
  (void)g_bus.attach(0x2f8, 8, g_com2);
  (void)g_bus.attach(dev::CmosRtc::kIndexPort, 2, g_rtc);
  (void)g_bus.attach(dev::DebugExit::kPort, dev::DebugExit::kPortCount, g_debug_exit);
  (void)g_bus.attach(dev::DebugConsole::kPort, 1, g_e9);
  (void)g_bus.attach(0x8900, 1, g_shutdown);
  (void)g_bus.attach(0x80, 1, g_port80);
  g_rtc.set_memory_size(g_guest_bytes);
  g_rtc.set_time(1735689600);  // 2025-01-01 00:00:00 UTC: fixed, so runs repeat
}

}  // namespace

extern "C" void lab01_trap(TrapFrame* f) {
  if ((f->cs & 3) == 0) {
    monitor_trap(*f);
    return;
  }
  auto& a = g_acct;
  a.entry_tsc = x86::rdtsc();
  a.guest += a.entry_tsc - a.exit_tsc;
  a.entry_idle = 0;
  a.in_monitor = true;
  ++a.entries;
  guest_trap(*f);
  a.exit_tsc = x86::rdtsc();
  a.monitor += a.exit_tsc - a.entry_tsc - a.entry_idle;
  a.idle += a.entry_idle;
  a.in_monitor = false;
}

int kernel_main(const BootInfo& boot) {
  dprintf("lab01: trap-and-emulate monitor\n");
  g_budget = option(boot, "budget", g_budget);
  g_trace_limit = option(boot, "trace", g_trace_limit, true);
  char clock[8];
  if (boot.cmdline_option("clock", clock, sizeof clock) && rt::str_compare(clock, "host") == 0)
    g_hide_monitor_time = false;
  g_seconds = option(boot, "seconds", g_seconds);
  g_output_budget = option(boot, "output_kib", g_output_budget >> 10) << 10;
  if (g_trace_limit == 0) g_trace.set_events_enabled(false);
  if (boot.module_count == 0) refuse("no guest: pass the guest kernel as the first multiboot module");
  const BootModule& mod = boot.modules[0];
  if (mod.end <= mod.start) refuse("the guest module is empty");

  // Host frames: everything the boot loader and the monitor use is reserved.
  static mem::MemoryRange ranges[BootInfo::kMaxRanges];
  std::uint64_t ram_top = 0;
  for (unsigned i = 0; i < boot.range_count; ++i) {
    ranges[i] = {HostPhysAddr(boot.ranges[i].base), boot.ranges[i].length,
                 static_cast<mem::MemoryType>(boot.ranges[i].type)};
    if (boot.ranges[i].type == 1 && boot.ranges[i].base + boot.ranges[i].length > ram_top)
      ram_top = boot.ranges[i].base + boot.ranges[i].length;
  }
  if (ram_top > kHostReach) ram_top = kHostReach;
  if (!g_frames.init(g_frame_bits.span(), {ranges, boot.range_count})) refuse("no usable memory map");
  (void)g_frames.reserve(HostPhysAddr(0), 0x100000);
  (void)g_frames.reserve(HostPhysAddr(boot.kernel_start), boot.kernel_end - boot.kernel_start);
  for (unsigned i = 0; i < boot.module_count; ++i)
    (void)g_frames.reserve(HostPhysAddr(boot.modules[i].start), boot.modules[i].end - boot.modules[i].start);

  // The guest's RAM: one run of host frames, 4 MiB aligned so unpaged guests get big pages.
  std::uint64_t mib = option(boot, "guest_mib", 32);
  Result<HostPhysAddr> ram = Error::out_of_memory;
  for (; mib >= 8; mib /= 2) {
    ram = g_frames.alloc_contiguous((mib << 20) / kPageSize, x86::kPage4M);
    if (ram.ok()) break;
  }
  if (!ram.ok()) refuse("not enough host memory for the guest (8 MiB at least)");
  g_guest_bytes = mib << 20;
  (void)g_guest.add_region(GuestPhysAddr(0), g_guest_bytes, reinterpret_cast<void*>(ram.value().low32()), ram.value());
  (void)g_guest.fill(GuestPhysAddr(0), 0, g_guest_bytes);
  for (auto& frame : g_pool) {
    auto r = g_frames.alloc();
    if (!r.ok()) refuse("not enough host memory for shadow page tables");
    frame = r.value();
  }

  // The guest image and its boot information. The module string is "path args...": the
  // guest gets all of it as its command line, as from a boot loader.
  char why[96] = "";
  auto image = vmm::load_elf32(g_guest, reinterpret_cast<const void*>(mod.start), mod.end - mod.start,
                               vmm::kMultibootInfoBase, vmm::kMultibootInfoEnd, why, sizeof why);
  if (!image.ok()) {
    char msg[128];
    format(msg, sizeof msg, "module rejected: %s", why);
    refuse(msg);
  }
  const vmm::LoadedImage& loaded = image.value();
  auto info_gpa = vmm::build_multiboot_info(g_guest, g_guest_bytes, mod.cmdline);
  if (!info_gpa.ok()) refuse("could not write the multiboot information");
  const std::uint32_t info = info_gpa.value();
  dprintf("lab01: guest '%s': entry %08x, image %08x-%08x, %u MiB at host %08x\n", mod.cmdline, loaded.entry,
          loaded.lowest, loaded.highest, static_cast<unsigned>(mib), ram.value().low32());

  move_monitor_high(ram_top);
  g_mmu.init({&g_host, &g_guest, HostPhysAddr(reinterpret_cast<std::uint32_t>(g_pd)), g_pool, kPoolFrames, flush_tlb});
  attach_devices();
  install_handlers();

  auto& v = g_vcpu;
  v.eip = loaded.entry;
  v.regs.eax = 0x2BADB002;  // Multiboot 0.6.96, 3.2: the machine state at entry
  v.regs.ebx = info;
  v.regs.esp = 0x7c00;
  v.cs = 0x08;
  v.ss = v.ds = v.es = v.fs = v.gs = 0x10;
  v.cpl = 0;
  v.eflags = fl::FIXED1;
  g_mmu.reset(v);

  calibrate_tsc();
  mirror_control_bits();
  dprintf("lab01: TSC %llu kHz\n", static_cast<unsigned long long>(g_tsc_per_ms));
  g_start_tsc = g_last_trap_tsc = x86::rdtsc();
  arm_timer();
  pic::unmask(0);
  g_trace.note("start", mod.cmdline);
  static TrapFrame frame;
  frame = TrapFrame{};
  if (!store_vcpu(frame)) refuse("initial guest state is unusable");
  g_acct.exit_tsc = x86::rdtsc();
  hvlab_enter_frame(&frame);
}
