#include "common/boot/trap.hpp"

#include "common/arch/intrinsics.hpp"
#include "common/arch/x86.hpp"
#include "common/boot/console.hpp"
#include "common/boot/legacy_pic.hpp"

namespace hvlab {

namespace {
TrapHandler g_handlers[256];
std::uint32_t g_counts[256];
}  // namespace

TrapHandler set_trap_handler(unsigned vector, TrapHandler handler) {
  if (vector >= 256) return nullptr;
  TrapHandler old = g_handlers[vector];
  g_handlers[vector] = handler;
  return old;
}

extern "C" {
extern void (*hvlab_trap_entry_function)(TrapFrame*);
extern std::uint16_t hvlab_trap_data_selector;
}

void set_trap_entry(void (*entry)(TrapFrame*), std::uint16_t data_selector) {
  hvlab_trap_entry_function = entry;
  hvlab_trap_data_selector = data_selector;
}

std::uint32_t trap_count(unsigned vector) { return vector < 256 ? g_counts[vector] : 0; }

void dump_frame(const TrapFrame& f) {
  kprintf("\n*** trap %u (%s), error code 0x%x, from ring %u\n", f.vector, x86::vector::name(f.vector),
          f.error_code, f.cs & 3);
  kprintf("  eip=%08x cs=%04x eflags=%08x", f.eip, f.cs, f.eflags);
  if (f.from_user()) kprintf(" esp=%08x ss=%04x", f.user_esp, f.user_ss);
  kprintf("\n  eax=%08x ebx=%08x ecx=%08x edx=%08x\n  esi=%08x edi=%08x ebp=%08x\n", f.eax, f.ebx, f.ecx,
          f.edx, f.esi, f.edi, f.ebp);
  kprintf("  ds=%04x es=%04x fs=%04x gs=%04x\n", f.ds, f.es, f.fs, f.gs);
  kprintf("  cr0=%08x cr2=%08x cr3=%08x cr4=%08x\n", x86::read_cr0(), x86::read_cr2(), x86::read_cr3(),
          x86::read_cr4());
}

}  // namespace hvlab

extern "C" void hvlab_trap_entry(hvlab::TrapFrame* frame) {
  using namespace hvlab;
  unsigned v = frame->vector & 0xff;
  ++g_counts[v];
  if (TrapHandler h = g_handlers[v]) {
    h(*frame);
    return;
  }
  if (v >= kIrqBase && v < kIrqBase + 16) {
    // An IRQ nobody asked for: acknowledge it so the PIC keeps delivering the others.
    pic::eoi(v - kIrqBase);
    return;
  }
  dump_frame(*frame);
  kprintf("unexpected trap: stopping\n");
  dprintf("unexpected trap %u (%s) at eip=%08x error=0x%x\n", v, x86::vector::name(v), frame->eip,
          frame->error_code);
  machine_exit(exit_status::kUnexpectedTrap);
}
