#pragma once
// The state a multiboot loader hands a kernel (Multiboot Specification 0.6.96, section 3.2,
// "Machine state"), as KVM's register structures: what the hosted VMM loads into the vCPU
// before the first KVM_RUN. A bare-metal monitor builds the same state in a VMCS (lab04) or
// an IRET frame (lab01); KVM takes it as two structures, kvm_regs (general registers, EIP,
// EFLAGS) and kvm_sregs (segment registers with their hidden parts, control registers,
// descriptor tables).

#include <linux/kvm.h>

#include <cstdint>
#include <string>

namespace hvlab::lab05 {

/// Where the loaded kernel starts, and what the loader tells it.
struct MultibootEntry {
  std::uint32_t entry = 0;      ///< EIP: the ELF's entry point (a physical address)
  std::uint32_t magic = 0;      ///< EAX: 0x2BADB002
  std::uint32_t info = 0;       ///< EBX: the multiboot information's guest-physical address
};

/// Fills `regs` and `sregs` (as read from a fresh vCPU: they keep what is not set here,
/// such as the APIC base) with the multiboot entry state.
void multiboot_entry_state(const MultibootEntry& entry, kvm_regs* regs, kvm_sregs* sregs);

/// Checks a vCPU's state, as read back from KVM, against the multiboot contract. Empty if
/// it holds, else what breaks it ("CS is not a 32-bit code segment").
std::string check_multiboot_state(const MultibootEntry& entry, const kvm_regs& regs, const kvm_sregs& sregs);

/// One line describing the state, for the trace ("eip=0x0010000c eax=0x2badb002 ...").
std::string describe_entry_state(const kvm_regs& regs, const kvm_sregs& sregs);

}  // namespace hvlab::lab05
