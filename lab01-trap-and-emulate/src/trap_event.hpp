#pragma once
// The trap -> Event step of the trap back end: a trap the deprivileged guest took, with its
// faulting instruction decoded, becomes one vmm::Event with its reason and its typed payload
// (e.io, e.cr, e.msr, e.memory, e.exception), before any handler runs.

#include <cstdint>

#include "common/decoder/decoder.hpp"
#include "common/vmm/event.hpp"
#include "common/vmm/vcpu.hpp"
#include "lab01-trap-and-emulate/src/descriptors.hpp"

namespace hvlab::lab01 {

using decoder::Instruction;
using vmm::Event;
using vmm::Reason;
using vmm::VCpu;

/// The Reason for an instruction that trapped with #GP at the guest's deprivileged ring
/// (exercise lab01-e1): privileged_instruction, io_instruction, cr_access, msr_read or
/// msr_write, cpuid, hlt, invlpg, software_interrupt; Reason::exception when the #GP is the
/// guest's own (the instruction would fault on bare metal too: reflect it).
Reason classify_instruction(const Instruction& insn);

/// The port access of a trapped IN, OUT, INS or OUTS (exercise lab01-e3): port, size,
/// direction, string, REP, and for INS/OUTS the linear address of the first element.
vmm::IoAccess io_access(const VCpu& v, const Instruction& insn, const SegmentBases& seg);

/// The control-register access of a trapped MOV to/from CRn, CLTS or LMSW. For LMSW with a
/// memory operand lmsw_source is left 0: the back end reads the operand (it may fault).
vmm::CrAccess cr_access(const VCpu& v, const Instruction& insn);

/// Builds the Event for hardware trap `vector` (error code, CR2) taken while the guest ran,
/// with the instruction at CS:EIP decoded for a #GP, #NP or #SS (`insn`, null when it could
/// not be fetched). `seg` gives the guest's segment bases.
Event make_trap_event(const VCpu& v, unsigned vector, std::uint32_t error_code, std::uint32_t cr2,
                      const Instruction* insn, const SegmentBases& seg);

}  // namespace hvlab::lab01
