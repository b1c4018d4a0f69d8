// The native flavour of the CPU-operations layer: each operation is the instruction.

#include "autograder/guests/cpuops/cpuops.hpp"
#include "autograder/guests/cpuops/instructions.hpp"

#include "common/arch/intrinsics.hpp"
#include "common/boot/trap.hpp"

namespace hvlab::guest::cpu {

namespace {
x86::Tss32* g_tss = nullptr;  // the TSS TR names, for set_kernel_stack
}

const char* flavour() { return "native"; }
const char* unavailable() { return nullptr; }

// Each operation is the kit's wrapper of that instruction (common/arch/intrinsics.hpp).
void irq_disable() { x86::cli(); }
void irq_enable() { x86::sti(); }
void restore_flags(std::uint32_t eflags) { x86::write_eflags(eflags); }
void halt() { x86::hlt(); }

std::uint8_t in8(std::uint16_t port) { return x86::inb(port); }
std::uint16_t in16(std::uint16_t port) { return x86::inw(port); }
std::uint32_t in32(std::uint16_t port) { return x86::inl(port); }
void out8(std::uint16_t port, std::uint8_t v) { x86::outb(port, v); }
void out16(std::uint16_t port, std::uint16_t v) { x86::outw(port, v); }
void out32(std::uint16_t port, std::uint32_t v) { x86::outl(port, v); }

void pic_eoi(unsigned irq) {
  if (irq >= 8) out8(0xa0, 0x20);  // OCW2: non-specific EOI
  out8(0x20, 0x20);
}

std::uint32_t read_cr0() { return x86::read_cr0(); }
void write_cr0(std::uint32_t v) { x86::write_cr0(v); }
std::uint32_t read_cr2() { return x86::read_cr2(); }
std::uint32_t read_cr3() { return x86::read_cr3(); }
std::uint32_t read_cr4() { return x86::read_cr4(); }
void write_cr4(std::uint32_t v) { x86::write_cr4(v); }
void load_cr3(std::uint32_t pd) { x86::write_cr3(pd); }

void enable_paging(std::uint32_t pd, std::uint32_t cr0_extra) {
  load_cr3(pd);
  write_cr0(read_cr0() | x86::cr0::PG | cr0_extra);
}

void set_pte(volatile std::uint32_t* entry, std::uint32_t value) { *entry = value; }
void invlpg(std::uint32_t linear) { x86::invlpg(linear); }
void batch_begin() {}
void batch_end() {}

void load_gdt(const x86::DescriptorTableRegister& gdtr, std::uint16_t code, std::uint16_t data) {
  insn::load_gdt(gdtr, code, data);
}
void load_idt(const x86::DescriptorTableRegister& idtr) { x86::lidt(idtr); }
void load_ldt(std::uint16_t selector) { x86::lldt(selector); }
void load_tr(std::uint16_t selector, x86::Tss32* tss) {
  x86::ltr(selector);
  g_tss = tss;
}
void write_descriptor(volatile std::uint64_t* slot, std::uint64_t value) { *slot = value; }
void set_kernel_stack(std::uint16_t ss0, std::uint32_t esp0) {
  if (!g_tss) return;
  g_tss->ss0 = ss0;
  g_tss->esp0 = esp0;
}
void load_data_segments(std::uint16_t data) { insn::load_data_segments(data); }

std::uint64_t rdmsr(std::uint32_t msr) { return x86::rdmsr(msr); }
void wrmsr(std::uint32_t msr, std::uint64_t v) { x86::wrmsr(msr, v); }
std::uint64_t rdtsc() { return x86::rdtsc(); }

std::uint32_t read_dr(unsigned n) { return insn::read_dr(n); }
void write_dr(unsigned n, std::uint32_t v) { insn::write_dr(n, v); }

void enter_user(void* frame) { hvlab_enter_frame(static_cast<TrapFrame*>(frame)); }

}  // namespace hvlab::guest::cpu
