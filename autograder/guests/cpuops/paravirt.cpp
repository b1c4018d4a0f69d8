// The paravirtual flavour of the CPU-operations layer, for lab03's monitor: the guest asks
// instead of trapping (lab03-paravirt/abi/hvlab_pv.h is the contract).
//
//   interrupt flag     a store into the shared info page (evtchn_upcall_mask), never a trap;
//                      re-enabling checks evtchn_upcall_pending and then makes a hypercall
//                      so that what waits is delivered
//   halt               sched_op(block) with events enabled; HLT itself when they are masked
//   port I/O, EOI      port_io hypercalls
//   page tables        mmu_update batches, mmuext_op (pin, new base, INVLPG); entries of
//                      frames that are not page tables are plain stores
//   IDT                set_trap_table, converted from the gates; TSS.ESP0: stack_switch
//   CR2                read from the shared info page, where the monitor puts it
// The rest (CR0 and CR4 writes, descriptor-table loads, MSRs, debug registers, RDTSC) are
// rare and stay instructions, which the monitor emulates when they trap, as Xen does for
// its paravirtual guests.
//
// Page tables follow the monitor's rules: a page table is never mapped writable, so before
// a frame becomes a table (a directory loaded into CR3, or a table a directory entry names)
// the layer makes the kernel's own mapping of it read-only. The kernel identity-maps its RAM
// (virtual = guest-physical), which is how the layer finds that mapping and an entry's
// guest-physical address. Directories are pinned on first use and stay pinned.
//
// Built on bare hardware, the guest finds no start info and says so at once.

#include "autograder/guests/cpuops/cpuops.hpp"
#include "autograder/guests/cpuops/instructions.hpp"
#include "autograder/guests/cpuops/paravirt.hpp"

#include "common/arch/intrinsics.hpp"
#include "common/arch/paging.hpp"
#include "common/boot/console.hpp"
#include "common/boot/trap.hpp"
#include "lab03-paravirt/abi/hvlab_pv.h"

extern "C" char hvlab_pv_hypercall_page[];
extern "C" char hvlab_pv_shared_page[], hvlab_pv_start_page[];

// The three pages, and the header that names them, in the first 8 KiB (common/boot/kernel.ld).
// The hypercall page holds INT3s until the monitor writes its stubs.
asm(R"(
        .pushsection .text.hvlab_pv, "ax"
        .balign 4096
        .globl hvlab_pv_hypercall_page
hvlab_pv_hypercall_page:
        .fill 4096, 1, 0xcc
        .popsection
        .pushsection .bss.hvlab_pv, "aw", @nobits
        .balign 4096
        .globl hvlab_pv_shared_page, hvlab_pv_start_page
hvlab_pv_shared_page:
        .skip 4096
hvlab_pv_start_page:
        .skip 4096
        .popsection
        .pushsection .hvlab_pv_header, "a"
        .balign 4
        .long 0x56506876, 0x00010000
        .long hvlab_pv_hypercall_page, hvlab_pv_shared_page, hvlab_pv_start_page
        .long ~0x56506876
        .popsection
)");
static_assert(HVLAB_PV_HEADER_MAGIC == 0x56506876u && HVLAB_PV_ABI_VERSION == 0x00010000u,
              "the header in the asm block above spells these out");

namespace hvlab::guest::pv {

volatile hvlab_pv_shared_info& shared() { return *reinterpret_cast<volatile hvlab_pv_shared_info*>(hvlab_pv_shared_page); }
const hvlab_pv_start_info& start_info() { return *reinterpret_cast<const hvlab_pv_start_info*>(hvlab_pv_start_page); }

int hypercall(unsigned nr, std::uint32_t a1, std::uint32_t a2, std::uint32_t a3, std::uint32_t a4, std::uint32_t a5) {
  std::uint32_t eax = reinterpret_cast<std::uint32_t>(hvlab_pv_hypercall_page) + nr * HVLAB_PV_STUB_SIZE;
  asm volatile("call *%%eax"
               : "+a"(eax), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4), "+D"(a5)
               :
               : "memory", "cc");
  return static_cast<int>(eax);
}

}  // namespace hvlab::guest::pv

namespace hvlab::guest::cpu {

namespace {

namespace page = x86::page;
using pv::hypercall;
using pv::shared;
using pv::start_info;

auto& vcpu_info() { return shared().vcpu_info[0]; }

/// A call the layer cannot do without: its failure stops the guest with the reason.
void must(int rc, const char* what) {
  if (rc >= 0) return;
  kprintf("# paravirt: %s refused by the monitor: error %d\nBail out! paravirtual cpuops failed\n", what, rc);
  machine_exit(exit_status::kFailure);
}

// ---- Events ---------------------------------------------------------------------------------

void events_on() {
  vcpu_info().evtchn_upcall_mask = 0;
  asm volatile("" ::: "memory");
  // Something arrived while masked: any hypercall delivers it on its way back.
  if (vcpu_info().evtchn_upcall_pending) hypercall(HVLAB_PV_version);
}

// The kernel's traps return through the boot code's IRET, which cannot change the event
// mask: restore it from the frame's IF (the monitor saved "events enabled" there).
// A frame the monitor built for the kernel holds its CS as the kernel believes it (RPL 0),
// which an IRET at ring 1 refuses: the return goes with RPL 1, the ring the kernel really
// runs in, so returning from a trap to the kernel costs no monitor entry either.
// A return to user mode leaves the mask set: the monitor clears it at its first entry from
// user mode (the ABI: user mode runs with events enabled), so an event that waits is taken
// in user mode, after the IRET, as the CPU takes an interrupt after an IRET that sets IF.
void trap_entry(TrapFrame* f) {
  hvlab_trap_entry(f);
  if ((f->eflags & x86::eflags::IF) && !f->from_user()) events_on();
  if ((f->cs & 3) == 0 && (f->cs & ~3u) != 0) f->cs |= 1;
}

// ---- Page tables ----------------------------------------------------------------------------

// Frames the layer made into tables (their kernel mapping is read-only): writes to them go
// through the monitor. One bit per frame of the first GiB.
constexpr std::uint32_t kTrackedFrames = 1u << 18;
std::uint32_t g_table[kTrackedFrames / 32], g_directory[kTrackedFrames / 32], g_pinned[kTrackedFrames / 32];
bool test(const std::uint32_t* set, std::uint32_t f) { return f < kTrackedFrames && (set[f / 32] >> (f % 32)) & 1; }
void mark(std::uint32_t* set, std::uint32_t f) {
  if (f < kTrackedFrames) set[f / 32] |= 1u << (f % 32);
}

bool g_paging = false;    // the layer has turned paging on: tables are the monitor's
std::uint32_t g_cr3 = 0;  // the directory in use, once the layer has loaded one

// ---- Calls held back ------------------------------------------------------------------------
// A page-table write (and, inside batch_begin()/batch_end(), a port write) waits here and
// goes to the monitor with the calls around it: one hypercall, or one multicall for several.
// Consecutive page-table writes share one mmu_update.
constexpr unsigned kMaxCalls = 16, kMaxUpdates = 64;
hvlab_pv_multicall_entry g_calls[kMaxCalls];
std::uint32_t g_done[kMaxCalls];
unsigned g_ncalls = 0;
hvlab_pv_mmu_update g_queue[kMaxUpdates];
unsigned g_queued = 0;
unsigned g_batch_depth = 0;

// A refused page-table write is the guest's mistake, not the layer's: it is reported (the
// monitor changed nothing for it) and the writes after it go on, as on bare hardware the
// store would have happened and whatever follows would show it.
void retry_after_refusal(const hvlab_pv_multicall_entry& c, std::uint32_t done, int rc) {
  auto* req = reinterpret_cast<hvlab_pv_mmu_update*>(c.args[0]);
  for (std::uint32_t start = 0, count = c.args[1];;) {
    const hvlab_pv_mmu_update& bad = req[start + done];
    kprintf("# paravirt: mmu_update of the entry at 0x%08x to 0x%08x refused by the monitor: error %d\n", bad.ptr,
            bad.val, rc);
    start += done + 1;
    if (start >= count) return;
    done = 0;
    rc = hypercall(HVLAB_PV_mmu_update, reinterpret_cast<std::uint32_t>(req + start), count - start,
                   reinterpret_cast<std::uint32_t>(&done));
    if (rc >= 0) return;
  }
}

void flush_calls() {
  if (g_ncalls == 0) return;
  if (g_ncalls == 1) {
    hvlab_pv_multicall_entry& c = g_calls[0];
    c.result = hypercall(c.op, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4]);
  } else {
    must(hypercall(HVLAB_PV_multicall, reinterpret_cast<std::uint32_t>(g_calls), g_ncalls), "multicall");
  }
  const unsigned n = g_ncalls;
  g_ncalls = 0;
  for (unsigned i = 0; i < n; ++i) {
    const hvlab_pv_multicall_entry& c = g_calls[i];
    if (c.result >= 0) continue;
    if (c.op == HVLAB_PV_mmu_update) retry_after_refusal(c, g_done[i], c.result);
    else must(c.result, c.op == HVLAB_PV_port_io ? "port_io" : "mmuext_op");
  }
  g_queued = 0;
}

void hold(std::uint32_t op, std::uint32_t a1 = 0, std::uint32_t a2 = 0, std::uint32_t a3 = 0, std::uint32_t a4 = 0) {
  if (g_ncalls == kMaxCalls) flush_calls();
  g_calls[g_ncalls] = {op, 0, {a1, a2, a3, a4, 0, 0}};
  ++g_ncalls;
}

void hold_update(std::uint32_t gpa, std::uint32_t value) {
  if (g_queued == kMaxUpdates) flush_calls();
  hvlab_pv_multicall_entry* last = g_ncalls ? &g_calls[g_ncalls - 1] : nullptr;
  const std::uint32_t at = reinterpret_cast<std::uint32_t>(&g_queue[g_queued]);
  if (last && last->op == HVLAB_PV_mmu_update && last->args[0] + last->args[1] * sizeof g_queue[0] == at) {
    ++last->args[1];
  } else {
    hold(HVLAB_PV_mmu_update, at, 1, reinterpret_cast<std::uint32_t>(&g_done[g_ncalls == kMaxCalls ? 0 : g_ncalls]));
  }
  g_queue[g_queued++] = {gpa, value};
}

// Writes an entry: through the monitor when it lies in a table and paging is on, else a store.
void write_entry(std::uint32_t gpa, std::uint32_t value) {
  if (g_paging && test(g_table, gpa >> 12)) {
    hold_update(gpa, value);
  } else {
    *reinterpret_cast<volatile std::uint32_t*>(gpa) = value;
  }
}

// The kernel's own mapping of frame `f` (identity: virtual = physical) in directory `pd`.
volatile std::uint32_t* identity_pte(std::uint32_t pd, std::uint32_t f) {
  const std::uint32_t va = f << 12;
  const std::uint32_t pde = reinterpret_cast<volatile std::uint32_t*>(pd)[va >> 22];
  if (!(pde & page::P) || (pde & page::PS)) return nullptr;
  return reinterpret_cast<volatile std::uint32_t*>(pde & ~0xfffu) + ((va >> 12) & 0x3ff);
}

// Makes frame `f` a table: its kernel mapping (in `pd`) read-only first.
void make_table(std::uint32_t pd, std::uint32_t f, bool directory) {
  if (directory) mark(g_directory, f);
  if (test(g_table, f)) return;
  if (volatile std::uint32_t* pte = identity_pte(pd, f); pte && (*pte & page::RW))
    write_entry(reinterpret_cast<std::uint32_t>(pte), *pte & ~page::RW);
  mark(g_table, f);
}

// Directory `pd` and every table it names become tables (before the monitor validates them).
void make_tables(std::uint32_t pd) {
  const std::uint32_t map = g_paging ? g_cr3 : pd;  // whose identity map the kernel uses now
  make_table(map, pd >> 12, true);
  const unsigned slots = start_info().hypervisor_virt_start >> 22;
  for (unsigned i = 0; i < slots; ++i) {
    const std::uint32_t pde = reinterpret_cast<volatile std::uint32_t*>(pd)[i];
    if ((pde & page::P) && !(pde & page::PS)) make_table(map, pde >> 12, false);
  }
}

// Pins `pd` (once) and makes it the base: one mmuext_op, with the writes before it.
void switch_to(std::uint32_t pd) {
  static hvlab_pv_mmuext_op ops[2];
  unsigned n = 0;
  if (!test(g_pinned, pd >> 12)) {
    ops[n++] = {HVLAB_PV_MMUEXT_pin_l2_table, pd};
    mark(g_pinned, pd >> 12);
  }
  ops[n++] = {HVLAB_PV_MMUEXT_new_baseptr, pd};
  hold(HVLAB_PV_mmuext_op, reinterpret_cast<std::uint32_t>(ops), n);
  flush_calls();
  g_cr3 = pd;
}

std::uint32_t g_stack_ss = 0, g_stack_esp = 0;

// The kernel's console (kprintf) through console_write: a hypercall per piece of text
// instead of two port accesses per character. A monitor without it gets the UART.
class HypercallConsole final : public FormatSink {
 public:
  void put(char c) override { write(&c, 1); }
  void write(const char* s, std::size_t n) override {
    if (hypercall(HVLAB_PV_console_write, reinterpret_cast<std::uint32_t>(s), n) >= 0) return;
    for (std::size_t i = 0; i < n; ++i) com1().put(s[i]);
  }
};

const char* g_unavailable = nullptr;

// Before any other code of the kernel runs: are we under lab03's monitor?
[[gnu::constructor]] void paravirt_init() {
  const char* magic = start_info().magic;
  const char want[] = HVLAB_PV_START_MAGIC;
  for (unsigned i = 0; i < sizeof want; ++i) {
    if (magic[i] != want[i]) {
      g_unavailable = "this is the paravirtual build: it runs only under lab03's monitor (no hvlab paravirtual start info)";
      return;  // the runner says so, with the names of the tests that cannot run
    }
  }
  if (hypercall(HVLAB_PV_version) >> 16 != HVLAB_PV_ABI_VERSION >> 16) {
    kprintf("KTAP version 1\n1..0\nBail out! the monitor speaks another paravirtual ABI\n");
    machine_exit(exit_status::kFailure);
  }
  set_trap_entry(trap_entry, 0x10);  // the kernel's data selector, as common/boot's
  static HypercallConsole console;
  set_console(&console);
}

}  // namespace

const char* flavour() { return "paravirt"; }
const char* unavailable() { return g_unavailable; }

void irq_disable() {
  vcpu_info().evtchn_upcall_mask = 1;
  asm volatile("" ::: "memory");
}
void irq_enable() { events_on(); }
void restore_flags(std::uint32_t eflags) {
  x86::write_eflags(eflags & ~x86::eflags::IF);  // POPF cannot change IF here: the mask does
  if (eflags & x86::eflags::IF)
    events_on();
  else
    irq_disable();
}
void halt() {
  // HLT with events masked waits for nothing a paravirtual guest can receive: as on bare
  // hardware with IF = 0, the monitor decides (it stops such a guest).
  if (vcpu_info().evtchn_upcall_mask)
    x86::hlt();
  else
    hypercall(HVLAB_PV_sched_op, HVLAB_PV_SCHEDOP_block);
}

namespace {
// An IN goes with whatever is held back; an OUT waits inside a batch.
std::uint32_t port_in(std::uint16_t port, unsigned size) {
  std::uint32_t v = 0;
  hold(HVLAB_PV_port_io, port, size | HVLAB_PV_PORT_IN, 0, reinterpret_cast<std::uint32_t>(&v));
  flush_calls();
  return v;
}
void port_out(std::uint16_t port, unsigned size, std::uint32_t v) {
  hold(HVLAB_PV_port_io, port, size, v);
  if (!g_batch_depth) flush_calls();
}
}  // namespace

void batch_begin() { ++g_batch_depth; }
void batch_end() {
  if (g_batch_depth && --g_batch_depth == 0) flush_calls();
}

std::uint8_t in8(std::uint16_t port) { return static_cast<std::uint8_t>(port_in(port, 1)); }
std::uint16_t in16(std::uint16_t port) { return static_cast<std::uint16_t>(port_in(port, 2)); }
std::uint32_t in32(std::uint16_t port) { return port_in(port, 4); }
void out8(std::uint16_t port, std::uint8_t v) { port_out(port, 1, v); }
void out16(std::uint16_t port, std::uint16_t v) { port_out(port, 2, v); }
void out32(std::uint16_t port, std::uint32_t v) { port_out(port, 4, v); }

void pic_eoi(unsigned irq) {
  if (irq >= 8) out8(0xa0, 0x20);  // OCW2: non-specific EOI
  out8(0x20, 0x20);
}

std::uint32_t read_cr0() { return x86::read_cr0(); }
void write_cr0(std::uint32_t v) { x86::write_cr0(v); }
std::uint32_t read_cr2() { return vcpu_info().cr2; }
std::uint32_t read_cr3() { return g_cr3 ? g_cr3 : x86::read_cr3(); }
std::uint32_t read_cr4() { return x86::read_cr4(); }
void write_cr4(std::uint32_t v) { x86::write_cr4(v); }

void load_cr3(std::uint32_t pd) {
  make_tables(pd);
  switch_to(pd);
}

void enable_paging(std::uint32_t pd, std::uint32_t cr0_extra) {
  make_tables(pd);  // paging is off: plain stores
  switch_to(pd);
  g_paging = true;
  write_cr0(read_cr0() | x86::cr0::PG | cr0_extra);  // the monitor validates the pinned tables now
}

void set_pte(volatile std::uint32_t* entry, std::uint32_t value) {
  const std::uint32_t gpa = reinterpret_cast<std::uint32_t>(entry);
  // A directory entry that names a table: that table's mapping goes read-only first.
  if (g_paging && test(g_directory, gpa >> 12) && (value & page::P) && !(value & page::PS))
    make_table(g_cr3, value >> 12, false);
  write_entry(gpa, value);
  if (!g_batch_depth) flush_calls();
}

// An mmu_update has taken effect when it returns (the ABI: the monitor's shadows follow at
// once and every entry into the guest flushes the TLB), so no INVLPG needs the monitor.
// Inside a batch the write has not been made yet: the batch's end makes it.
void invlpg(std::uint32_t) {}

void load_gdt(const x86::DescriptorTableRegister& gdtr, std::uint16_t code, std::uint16_t data) {
  // LGDT and the far return trap; the monitor emulates them (as its trap back end does).
  insn::load_gdt(gdtr, code, data);
}

void load_idt(const x86::DescriptorTableRegister& idtr) {
  // Every vector the IDT covers, converted: present interrupt and trap gates become entries
  // (an interrupt gate masks events, as it clears IF), the rest are removed. A gate user mode
  // may use (DPL 3: the system call) does not mask events, whatever its type: the monitor can
  // then let INT 0x80 go straight to the kernel (Xen's direct trap), and the handler runs with
  // events on, as Linux's system calls do. The same table again is not sent again.
  static hvlab_pv_trap_info table[256], sent[256];
  static bool have_sent = false;
  const unsigned vectors = (idtr.limit + 1u) / 8u;
  const auto* gates = reinterpret_cast<const x86::GateDescriptor*>(idtr.base);
  for (unsigned v = 0; v < 256; ++v) {
    table[v] = {static_cast<std::uint8_t>(v), 0, 0, 0};
    if (v >= vectors) continue;
    const x86::GateDescriptor& g = gates[v];
    const unsigned type = g.type;
    if (!g.p || (type != x86::desc_type::kInterruptGate32 && type != x86::desc_type::kTrapGate32)) continue;
    const bool masks = type == x86::desc_type::kInterruptGate32 && g.dpl != 3;
    table[v].flags = static_cast<std::uint8_t>(g.dpl | (masks ? HVLAB_PV_TI_MASK_EVENTS : 0));
    table[v].cs = static_cast<std::uint16_t>(g.selector);
    table[v].address = g.offset();
  }
  if (have_sent && __builtin_memcmp(table, sent, sizeof table) == 0) return;
  flush_calls();
  must(hypercall(HVLAB_PV_set_trap_table, reinterpret_cast<std::uint32_t>(table), 256), "set_trap_table");
  __builtin_memcpy(sent, table, sizeof table);
  have_sent = true;
}
void load_ldt(std::uint16_t selector) { x86::lldt(selector); }
// The monitor emulates LTR, but the CPU switches to the stack stack_switch named: a TSS's
// ring-0 stack becomes the kernel stack (Xen's guests do the same on a task switch).
void load_tr(std::uint16_t selector, x86::Tss32* tss) {
  x86::ltr(selector);
  if (tss && tss->esp0) set_kernel_stack(tss->ss0, tss->esp0);
}
void write_descriptor(volatile std::uint64_t* slot, std::uint64_t value) { *slot = value; }
void set_kernel_stack(std::uint16_t ss0, std::uint32_t esp0) {
  if (ss0 == g_stack_ss && esp0 == g_stack_esp) return;
  flush_calls();
  must(hypercall(HVLAB_PV_stack_switch, ss0, esp0), "stack_switch");
  g_stack_ss = ss0;
  g_stack_esp = esp0;
}
void load_data_segments(std::uint16_t data) { insn::load_data_segments(data); }

std::uint64_t rdmsr(std::uint32_t msr) { return x86::rdmsr(msr); }
void wrmsr(std::uint32_t msr, std::uint64_t v) { x86::wrmsr(msr, v); }
std::uint64_t rdtsc() { return x86::rdtsc(); }

std::uint32_t read_dr(unsigned n) { return insn::read_dr(n); }
void write_dr(unsigned n, std::uint32_t v) { insn::write_dr(n, v); }

void enter_user(void* frame) {
  // The IRET to ring 3 runs at ring 1, where it cannot load IF. Unmasking here would let an interrupt that waits be taken before the IRET, in the kernel:
  // the monitor unmasks at its first entry from user mode instead (see trap_entry).
  hvlab_enter_frame(static_cast<TrapFrame*>(frame));
}

}  // namespace hvlab::guest::cpu
