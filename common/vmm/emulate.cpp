#include "common/vmm/emulate.hpp"

#include "common/arch/x86.hpp"
#include "common/vmm/machine.hpp"

namespace hvlab::vmm {

std::uint32_t& gpr(VCpu& vcpu, unsigned index) {
  auto& r = vcpu.regs;
  switch (index & 7) {
    case 0: return r.eax;
    case 1: return r.ecx;
    case 2: return r.edx;
    case 3: return r.ebx;
    case 4: return r.esp;
    case 5: return r.ebp;
    case 6: return r.esi;
    default: return r.edi;
  }
}

bool cr0_write_faults(std::uint32_t v) {
  return ((v & x86::cr0::PG) && !(v & x86::cr0::PE)) || ((v & x86::cr0::NW) && !(v & x86::cr0::CD));
}

std::uint32_t cr0_after_lmsw(std::uint32_t cr0, std::uint16_t source) {
  return (cr0 & ~0xeu) | (source & 0xfu) | (cr0 & x86::cr0::PE);
}

namespace {

constexpr std::uint32_t mask_of(unsigned size) { return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1; }

Action string_io(Machine& m, VCpu& vcpu, const Event& e) {
  Board& b = m.board();
  const unsigned size = e.io.size;
  std::uint32_t count = e.io.rep ? vcpu.regs.ecx : 1;
  if (count == 0) return Action::advance;
  const bool down = (vcpu.eflags & x86::eflags::DF) != 0;
  GuestVirtAddr linear = e.io.linear;
  std::uint32_t& index = e.io.in ? vcpu.regs.edi : vcpu.regs.esi;
  const bool user = vcpu.cpl == 3;
  for (std::uint32_t done = 0; done < count && done < kMaxStringElementsPerEvent; ++done) {
    std::uint32_t v = 0;
    if (e.io.in) {
      // The CPU checks the destination before it reads the port, so a fault leaves the port
      // unread: write the old bytes back first (the check, and the dirty bit).
      if (!m.read_linear(linear, &v, size, user) || !m.write_linear(linear, &v, size, user)) return Action::resume;
      v = b.ports().read_or_float(e.io.port, size);
      if (!m.write_linear(linear, &v, size, user)) return Action::resume;
    } else {
      if (!m.read_linear(linear, &v, size, user)) return Action::resume;
      (void)b.ports().write(e.io.port, size, v & mask_of(size));  // unmapped ports drop writes
    }
    linear = down ? linear - size : linear + size;
    index += down ? -size : size;
    if (e.io.rep) --vcpu.regs.ecx;
    if (!b.running()) return Action::stop;
  }
  // A REP longer than one batch runs the instruction again for the rest.
  if (e.io.rep && vcpu.regs.ecx != 0) return Action::resume;
  return Action::advance;
}

}  // namespace

Action emulate_io(Machine& m, VCpu& vcpu, const Event& e) {
  Board& b = m.board();
  if (e.io.string) return string_io(m, vcpu, e);
  const std::uint32_t mask = mask_of(e.io.size);
  if (e.io.in) {
    std::uint32_t v = b.ports().read_or_float(e.io.port, e.io.size);
    vcpu.regs.eax = (vcpu.regs.eax & ~mask) | (v & mask);
  } else {
    (void)b.ports().write(e.io.port, e.io.size, vcpu.regs.eax & mask);  // unmapped ports drop writes
  }
  return b.running() ? Action::advance : Action::stop;
}

Action emulate_hlt(Machine&, VCpu& vcpu, const Event&) {
  vcpu.halted = true;
  return Action::advance;
}

}  // namespace hvlab::vmm
