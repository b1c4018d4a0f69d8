#pragma once
// Privileged instructions behind one small interface. In a kernel each is a line of inline
// assembly; on the host the same names are backed by a fake machine (fake_intrinsics.hpp)
// so code that uses them can be unit-tested.

#include <cstdint>

#include "common/arch/cpuid.hpp"
#include "common/arch/x86.hpp"

namespace hvlab::x86 {

#if HVLAB_KERNEL

inline void outb(std::uint16_t port, std::uint8_t v) { asm volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
inline void outw(std::uint16_t port, std::uint16_t v) { asm volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
inline void outl(std::uint16_t port, std::uint32_t v) { asm volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
inline std::uint8_t inb(std::uint16_t port) {
  std::uint8_t v;
  asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
inline std::uint16_t inw(std::uint16_t port) {
  std::uint16_t v;
  asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
inline std::uint32_t inl(std::uint16_t port) {
  std::uint32_t v;
  asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

#define HVLAB_CR_ACCESSORS(n)                                                   \
  inline std::uint32_t read_cr##n() {                                           \
    std::uint32_t v;                                                            \
    asm volatile("mov %%cr" #n ", %0" : "=r"(v));                               \
    return v;                                                                   \
  }                                                                             \
  inline void write_cr##n(std::uint32_t v) { asm volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); }
HVLAB_CR_ACCESSORS(0)
HVLAB_CR_ACCESSORS(2)
HVLAB_CR_ACCESSORS(3)
HVLAB_CR_ACCESSORS(4)
#undef HVLAB_CR_ACCESSORS

inline std::uint32_t read_eflags() {
  std::uint32_t v;
  asm volatile("pushfl; popl %0" : "=r"(v));
  return v;
}
inline void write_eflags(std::uint32_t v) { asm volatile("pushl %0; popfl" ::"r"(v) : "memory", "cc"); }

inline void lgdt(const DescriptorTableRegister& r) { asm volatile("lgdt %0" ::"m"(r)); }
inline void lidt(const DescriptorTableRegister& r) { asm volatile("lidt %0" ::"m"(r)); }
inline DescriptorTableRegister sgdt() {
  DescriptorTableRegister r;
  asm volatile("sgdt %0" : "=m"(r));
  return r;
}
inline DescriptorTableRegister sidt() {
  DescriptorTableRegister r;
  asm volatile("sidt %0" : "=m"(r));
  return r;
}
inline void ltr(std::uint16_t sel) { asm volatile("ltr %0" ::"r"(sel)); }
inline void lldt(std::uint16_t sel) { asm volatile("lldt %0" ::"r"(sel)); }

inline CpuidResult read_cpuid(std::uint32_t leaf, std::uint32_t subleaf = 0) {
  CpuidResult r;
  asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
  return r;
}
inline std::uint64_t rdmsr(std::uint32_t msr) {
  std::uint32_t lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}
inline void wrmsr(std::uint32_t msr, std::uint64_t v) {
  asm volatile("wrmsr" ::"c"(msr), "a"(static_cast<std::uint32_t>(v)), "d"(static_cast<std::uint32_t>(v >> 32)));
}
inline std::uint64_t rdtsc() {
  std::uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}
inline void cli() { asm volatile("cli" ::: "memory"); }
inline void sti() { asm volatile("sti" ::: "memory"); }
inline void hlt() { asm volatile("hlt" ::: "memory"); }
inline void invlpg(std::uint32_t va) { asm volatile("invlpg (%0)" ::"r"(va) : "memory"); }
inline void pause() { asm volatile("pause"); }

#else  // host: the fake machine in fake_intrinsics.cpp

void outb(std::uint16_t port, std::uint8_t v);
void outw(std::uint16_t port, std::uint16_t v);
void outl(std::uint16_t port, std::uint32_t v);
std::uint8_t inb(std::uint16_t port);
std::uint16_t inw(std::uint16_t port);
std::uint32_t inl(std::uint16_t port);
std::uint32_t read_cr0();
std::uint32_t read_cr2();
std::uint32_t read_cr3();
std::uint32_t read_cr4();
void write_cr0(std::uint32_t v);
void write_cr2(std::uint32_t v);
void write_cr3(std::uint32_t v);
void write_cr4(std::uint32_t v);
std::uint32_t read_eflags();
void write_eflags(std::uint32_t v);
void lgdt(const DescriptorTableRegister& r);
void lidt(const DescriptorTableRegister& r);
DescriptorTableRegister sgdt();
DescriptorTableRegister sidt();
void ltr(std::uint16_t sel);
void lldt(std::uint16_t sel);
CpuidResult read_cpuid(std::uint32_t leaf, std::uint32_t subleaf = 0);
std::uint64_t rdmsr(std::uint32_t msr);
void wrmsr(std::uint32_t msr, std::uint64_t v);
std::uint64_t rdtsc();
void cli();
void sti();
void hlt();
void invlpg(std::uint32_t va);
void pause();

#endif

}  // namespace hvlab::x86
