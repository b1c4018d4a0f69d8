#pragma once
// MMIO by instruction emulation, for every monitor whose mechanism reports only *that* the
// guest touched a device page, not what it did there: a VT-x EPT violation (SDM 28.2.1:
// the guest-physical address and whether it was a read or a write, no value, no width), an
// AMD-V nested page fault without decode assists (APM 15.25.6: the address in EXITINFO2),
// a shadow-paging page fault under lab01. The monitor leaves the device pages out of the
// guest's mappings; the access faults; this module decodes the faulting instruction (Zydis,
// common/decoder), performs its memory operand's access on the Board's MMIO bus with the
// width the instruction implies, writes back the register or flags it changes, and moves
// EIP past it. (lab05's KVM reports the value and width itself and needs none of this.)
//
// Emulated: MOV in all its forms (r/m <- reg, reg <- r/m, r/m <- imm, the moffs forms),
// MOVZX and MOVSX, the ALU read-modify-writes and compares (ADD, ADC, SUB, SBB, AND, OR, XOR,
// CMP, TEST, with a register or an immediate, with flags as the SDM defines them), and XCHG.
// Anything else touching a device (string instructions, SSE, a locked bus cycle that spans
// RAM and a device) stops the guest with the instruction named: it must never be guessed.

#include <cstdint>

#include "common/memory/address.hpp"
#include "common/vmm/dispatcher.hpp"
#include "common/vmm/event.hpp"
#include "common/vmm/vcpu.hpp"

namespace hvlab::decoder {
struct Instruction;
}

namespace hvlab::vmm {

class Machine;

/// A handler for an access to guest-physical e.memory.physical, a page the Board's MMIO bus
/// claims (Reason::ept_violation, or Reason::mmio). Without a value (e.memory.has_value
/// clear) it fetches the instruction at CS:EIP through the guest's own page tables, decodes
/// it and emulates it with emulate_mmio_instruction(); with one (a write the mechanism
/// completed and reported, as VT-x's APIC-write exit or KVM's MMIO exit do) it only writes
/// the value to the device. Returns Action::resume with EIP past the instruction, or
/// Action::stop with the reason on the Board.
Action emulate_mmio(Machine& m, VCpu& vcpu, const Event& e);

/// The emulation proper, for an instruction already decoded (a trap back end decodes the
/// faulting instruction itself): `insn`'s memory operand is at guest-physical `gpa`. On
/// success EIP is past the instruction and Action::resume returned.
Action emulate_mmio_instruction(Machine& m, VCpu& vcpu, const decoder::Instruction& insn, GuestPhysAddr gpa);

/// EFLAGS after the ALU operation `mnemonic` (a ZydisMnemonic: ADD, ADC, SUB, SBB, CMP, AND,
/// OR, XOR, TEST) on `a` and `b` of `bits` (8, 16, 32) with the incoming `eflags`; the
/// result in *result. Exposed for tests.
std::uint32_t alu_flags(unsigned mnemonic, std::uint32_t a, std::uint32_t b, unsigned bits, std::uint32_t eflags,
                        std::uint32_t* result);

}  // namespace hvlab::vmm
