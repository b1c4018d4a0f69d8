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

// The back end holds the data (KVM's run page): move `count` elements between it and the
// port. The back end completes the instruction (registers, memory, RIP), so the handler
// only reports it emulated.
Action buffered_io(Board& b, const Event& e) {
  const unsigned size = e.io.size;
  for (std::uint32_t i = 0; i < e.io.count; ++i) {
    std::uint8_t* p = e.io.data + i * size;
    if (e.io.in) {
      const std::uint32_t v = b.ports().read_or_float(e.io.port, size);
      for (unsigned k = 0; k < size; ++k) p[k] = static_cast<std::uint8_t>(v >> (8 * k));
    } else {
      std::uint32_t v = 0;
      for (unsigned k = 0; k < size; ++k) v |= std::uint32_t{p[k]} << (8 * k);
      (void)b.ports().write(e.io.port, size, v);  // unmapped ports drop writes
    }
    if (!b.running()) return Action::stop;
  }
  return Action::advance;
}

}  // namespace

Action emulate_io(Machine& m, VCpu& vcpu, const Event& e) {
  Board& b = m.board();
  if (!dev::valid_access_size(e.io.size)) {
    b.fail("an I/O access of %u bytes to port %04x at eip %08x", e.io.size, e.io.port, e.guest_eip);
    return Action::stop;
  }
  if (e.io.data) return buffered_io(b, e);
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

Action emulate_mmio_buffered(Machine& m, VCpu&, const Event& e) {
  Board& b = m.board();
  const GuestPhysAddr gpa = e.memory.physical;
  const char* access = e.memory.write ? "write" : "read";
  if (!e.memory.data || e.memory.size == 0 || e.memory.size > 8) {
    b.fail("an MMIO %s of %u bytes at guest-physical %08llx that the monitor cannot carry out (eip %08x)", access,
           e.memory.size, static_cast<unsigned long long>(gpa.value()), e.guest_eip);
    return Action::stop;
  }
  if (!b.mmio().is_mmio(gpa)) {
    b.contain("the guest touched guest-physical 0x%llx, which is neither its RAM nor a device (%u-byte %s at eip %08x)",
              static_cast<unsigned long long>(gpa.value()), e.memory.size, access, e.guest_eip);
    return Action::stop;
  }
  // Device registers are at most 4 bytes wide: an 8-byte move is two 4-byte accesses, low
  // half first; an odd size goes byte by byte.
  const unsigned step = e.memory.size % 4 == 0 ? 4 : e.memory.size % 2 == 0 ? 2 : 1;
  for (unsigned off = 0; off < e.memory.size; off += step) {
    std::uint8_t* p = e.memory.data + off;
    if (e.memory.write) {
      std::uint32_t v = 0;
      for (unsigned k = 0; k < step; ++k) v |= std::uint32_t{p[k]} << (8 * k);
      (void)b.mmio().write(gpa + off, step, v);  // a width the device refuses is dropped
    } else {
      auto r = b.mmio().read(gpa + off, step);
      const std::uint32_t v = r.ok() ? r.value() : dev::floating_bus_value(step);
      for (unsigned k = 0; k < step; ++k) p[k] = static_cast<std::uint8_t>(v >> (8 * k));
    }
  }
  return b.running() ? Action::advance : Action::stop;
}

Action emulate_hlt(Machine&, VCpu& vcpu, const Event&) {
  vcpu.halted = true;
  return Action::advance;
}

}  // namespace hvlab::vmm
