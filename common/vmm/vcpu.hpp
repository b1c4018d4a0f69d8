#pragma once
// The virtual CPU: the state the guest believes it has. Handlers are functions of
// (VCpu&, const Event&) so they can be unit-tested on the host with made-up events.

#include <array>
#include <cstdint>

#include "common/arch/x86.hpp"

namespace hvlab::vmm {

struct GeneralRegisters {
  std::uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
};

struct VCpu {
  GeneralRegisters regs{};
  std::uint32_t eip = 0;
  std::uint32_t eflags = x86::eflags::FIXED1;  ///< as the guest sees it (virtual IF and IOPL)
  std::uint8_t cpl = 0;                        ///< the guest's virtual CPL (0 kernel, 3 user)
  std::uint16_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0;
  std::uint32_t cs_base = 0;  ///< CS's base: instructions are fetched at cs_base + eip

  std::uint32_t cr0 = x86::cr0::PE | x86::cr0::ET, cr2 = 0, cr3 = 0, cr4 = 0;
  std::array<std::uint32_t, 8> dr{0, 0, 0, 0, 0xffff0ff0, 0xffff0ff0, 0xffff0ff0, 0x400};
  x86::DescriptorTableRegister gdtr{}, idtr{};
  std::uint16_t ldtr = 0, tr = 0;
  std::uint64_t msr_sysenter_cs = 0, msr_sysenter_esp = 0, msr_sysenter_eip = 0, msr_pat = 0x0007040600070406ull;
  std::uint64_t msr_efer = 0;

  bool halted = false;             ///< in HLT until an interrupt arrives
  bool interrupt_shadow = false;   ///< one instruction after STI / MOV SS
  std::uint64_t instructions_emulated = 0;

  bool interrupts_enabled() const { return (eflags & x86::eflags::IF) != 0; }
  unsigned iopl() const { return x86::eflags::iopl(eflags); }
};

}  // namespace hvlab::vmm
