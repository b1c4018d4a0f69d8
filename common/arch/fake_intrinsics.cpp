#include "common/arch/fake_intrinsics.hpp"

namespace hvlab::x86 {
namespace fake {

Machine& machine() {
  static Machine m;
  return m;
}
void reset() { machine() = Machine{}; }

namespace {
std::uint32_t port_in(std::uint16_t port, unsigned size) {
  auto& m = machine();
  auto it = m.port_values.find(port);
  std::uint32_t mask = size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
  std::uint32_t v = (it == m.port_values.end() ? 0xffffffffu : it->second) & mask;
  m.port_log.push_back({port, size, v, false});
  return v;
}
void port_out(std::uint16_t port, unsigned size, std::uint32_t v) {
  machine().port_log.push_back({port, size, v, true});
}
}  // namespace
}  // namespace fake

using fake::machine;

void outb(std::uint16_t p, std::uint8_t v) { fake::port_out(p, 1, v); }
void outw(std::uint16_t p, std::uint16_t v) { fake::port_out(p, 2, v); }
void outl(std::uint16_t p, std::uint32_t v) { fake::port_out(p, 4, v); }
std::uint8_t inb(std::uint16_t p) { return static_cast<std::uint8_t>(fake::port_in(p, 1)); }
std::uint16_t inw(std::uint16_t p) { return static_cast<std::uint16_t>(fake::port_in(p, 2)); }
std::uint32_t inl(std::uint16_t p) { return fake::port_in(p, 4); }
std::uint32_t read_cr0() { return machine().cr0; }
std::uint32_t read_cr2() { return machine().cr2; }
std::uint32_t read_cr3() { return machine().cr3; }
std::uint32_t read_cr4() { return machine().cr4; }
void write_cr0(std::uint32_t v) { machine().cr0 = v; }
void write_cr2(std::uint32_t v) { machine().cr2 = v; }
void write_cr3(std::uint32_t v) { machine().cr3 = v; }
void write_cr4(std::uint32_t v) { machine().cr4 = v; }
std::uint32_t read_eflags() { return machine().eflags; }
void write_eflags(std::uint32_t v) { machine().eflags = v | eflags::FIXED1; }
void lgdt(const DescriptorTableRegister& r) { machine().gdtr = r; }
void lidt(const DescriptorTableRegister& r) { machine().idtr = r; }
DescriptorTableRegister sgdt() { return machine().gdtr; }
DescriptorTableRegister sidt() { return machine().idtr; }
void ltr(std::uint16_t s) { machine().tr = s; }
void lldt(std::uint16_t s) { machine().ldtr = s; }
CpuidResult read_cpuid(std::uint32_t leaf, std::uint32_t) {
  auto it = machine().cpuid_leaves.find(leaf);
  return it == machine().cpuid_leaves.end() ? CpuidResult{0, 0, 0, 0} : it->second;
}
std::uint64_t rdmsr(std::uint32_t msr) { return machine().msrs[msr]; }
void wrmsr(std::uint32_t msr, std::uint64_t v) { machine().msrs[msr] = v; }
std::uint64_t rdtsc() { return machine().tsc += machine().tsc_step; }
void cli() { machine().eflags &= ~eflags::IF; }
void sti() { machine().eflags |= eflags::IF; }
void hlt() { ++machine().halts; }
void invlpg(std::uint32_t va) { machine().invlpg_log.push_back(va); }
void pause() {}

}  // namespace hvlab::x86
