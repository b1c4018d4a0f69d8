#pragma once
// The instructions both cpuops flavours execute as they are (internal to cpuops/): the GDT
// load with its segment reloads, the data-segment reload and the debug registers. The
// paravirtual flavour leaves them to trap, which the monitor emulates.

#include <cstdint>

#include "common/arch/x86.hpp"

namespace hvlab::guest::cpu::insn {

/// LGDT, then a far return into `code` and the data selector in DS, ES, FS, GS and SS.
inline void load_gdt(const x86::DescriptorTableRegister& gdtr, std::uint16_t code, std::uint16_t data) {
  asm volatile(
      "lgdt %0\n"
      // A far return reloads CS from the new table.
      "pushl %k1\n"
      "pushl $1f\n"
      "lret\n"
      "1:\n"
      "mov %w2, %%ds\n"
      "mov %w2, %%es\n"
      "mov %w2, %%fs\n"
      "mov %w2, %%gs\n"
      "mov %w2, %%ss\n" ::"m"(gdtr),
      "r"(static_cast<std::uint32_t>(code)), "r"(static_cast<std::uint32_t>(data))
      : "memory");
}

inline void load_data_segments(std::uint16_t data) {
  asm volatile(
      "mov %w0, %%ds\n"
      "mov %w0, %%es\n"
      "mov %w0, %%fs\n"
      "mov %w0, %%gs\n" ::"r"(static_cast<std::uint32_t>(data))
      : "memory");
}

inline std::uint32_t read_dr(unsigned n) {
  std::uint32_t v = 0;
  switch (n) {
    case 0: asm volatile("mov %%dr0, %0" : "=r"(v)); break;
    case 1: asm volatile("mov %%dr1, %0" : "=r"(v)); break;
    case 2: asm volatile("mov %%dr2, %0" : "=r"(v)); break;
    case 3: asm volatile("mov %%dr3, %0" : "=r"(v)); break;
    case 6: asm volatile("mov %%dr6, %0" : "=r"(v)); break;
    case 7: asm volatile("mov %%dr7, %0" : "=r"(v)); break;
    default: break;
  }
  return v;
}

inline void write_dr(unsigned n, std::uint32_t v) {
  switch (n) {
    case 0: asm volatile("mov %0, %%dr0" ::"r"(v)); break;
    case 1: asm volatile("mov %0, %%dr1" ::"r"(v)); break;
    case 2: asm volatile("mov %0, %%dr2" ::"r"(v)); break;
    case 3: asm volatile("mov %0, %%dr3" ::"r"(v)); break;
    case 6: asm volatile("mov %0, %%dr6" ::"r"(v)); break;
    case 7: asm volatile("mov %0, %%dr7" ::"r"(v)); break;
    default: break;
  }
}

}  // namespace hvlab::guest::cpu::insn
