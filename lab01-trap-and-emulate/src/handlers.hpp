#pragma once
// lab01's handlers: one per Event reason, registered on the run loop's Dispatcher. Each is a
// function of the machine (board, trap back end), the virtual CPU and the Event, the same
// code on the host (GoogleTest, tests/) and in the monitor kernel, so everything the guest
// can observe through an emulated instruction is unit-tested without booting.
//
// Ring scheme (labs/lab01.md): the guest kernel runs at ring 1 (virtual CPL 0), guest user
// code at ring 3 (virtual CPL 3), the monitor at ring 0 in the top 256 MiB of every linear
// address space, which guest segments never reach.
//
//   privileged_instruction  what has no reason of its own: CLI/STI (e2), LGDT/LIDT/LLDT/LTR,
//                           IRET (e7), far RET, MOV/POP/LSS SS, MOV DRn, WBINVD/INVD,
//                           RDTSC/RDTSCP, RDPMC
//   io_instruction          the virtual IOPL check, then vmm::emulate_io (the shared one)
//   cr_access               MOV to/from CRn, CLTS, LMSW on e.cr (e4)
//   msr_read, msr_write     the MSRs a 32-bit guest kernel uses, the TSC on the Board's clock
//   hlt                     vmm::emulate_hlt: the Board skips ahead to the next interrupt
//   invlpg                  the shadow entry and the soft TLB
//   page_fault              the shadow MMU (e5): fill, reflect the guest's own, or contain
//   exception               an access the monitor's window explains is contained; the rest
//                           reflected (the run loop's one reflect path)
//   software_interrupt      INT n through the guest's IDT, planned as an event to inject
//   external_interrupt, interrupt_window   nothing to do: the loop decides what comes next

#include <cstdint>

#include "common/decoder/decoder.hpp"
#include "common/vmm/dispatcher.hpp"
#include "common/vmm/event.hpp"
#include "common/vmm/machine.hpp"
#include "common/vmm/vcpu.hpp"

namespace hvlab::lab01 {

using decoder::Instruction;
using vmm::Action;
using vmm::Event;
using vmm::Machine;
using vmm::Reason;
using vmm::VCpu;

/// Registers lab01's handler for every reason a trap back end produces.
void install_handlers(vmm::Dispatcher& d);

Action on_privileged_instruction(Machine& m, VCpu& v, const Event& e);
Action on_io_instruction(Machine& m, VCpu& v, const Event& e);
Action on_cr_access(Machine& m, VCpu& v, const Event& e);  // exercise lab01-e4
Action on_msr_read(Machine& m, VCpu& v, const Event& e);
Action on_msr_write(Machine& m, VCpu& v, const Event& e);
Action on_hlt(Machine& m, VCpu& v, const Event& e);
Action on_invlpg(Machine& m, VCpu& v, const Event& e);
Action on_page_fault(Machine& m, VCpu& v, const Event& e);
Action on_exception(Machine& m, VCpu& v, const Event& e);
Action on_software_interrupt(Machine& m, VCpu& v, const Event& e);
Action on_resume(Machine& m, VCpu& v, const Event& e);

/// CLI and STI on the virtual IF (exercise lab01-e2).
Action emulate_cli_sti(Machine& m, VCpu& v, const Instruction& insn);
/// IRET at virtual CPL 0 (exercise lab01-e7).
Action emulate_iret(Machine& m, VCpu& v, const Instruction& insn);

/// The linear address in the monitor's window that explains a #GP(0) or #SS(0) the guest
/// took (the access was inside the guest's own segment limit, but the truncated limit of the
/// real segment stopped it), or 0 if the fault is the guest's own.
std::uint32_t reserved_access(Machine& m, const VCpu& v, const Event& e);

}  // namespace hvlab::lab01
