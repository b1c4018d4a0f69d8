#pragma once
// The exit handlers, one per kit-level Reason, shared by the VT-x and AMD-V back ends.
// Each is a function of (Machine&, VCpu&, const Event&): it works on the virtual CPU and on
// the Board through the Machine, and reads the Event's typed payload. Neither the VMCS nor
// the VMCB is visible here, which is what lets GoogleTest drive them with made-up exits.

#include <cstdint>

#include "common/vmm/dispatcher.hpp"
#include "common/vmm/event.hpp"
#include "common/vmm/machine.hpp"
#include "common/vmm/vcpu.hpp"

namespace hvlab::lab04 {

vmm::Action handle_cpuid(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_cr_access(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_msr_read(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_msr_write(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_exception(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
/// External interrupts (the monitor's timer) and interrupt windows: nothing to do but go on.
vmm::Action handle_resume(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_privileged_instruction(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_hypercall(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_ept_violation(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_ept_misconfig(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_triple_fault(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_entry_failure(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
/// The fallback: names the exit and stops (never a silent resume).
vmm::Action handle_unexpected(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);

/// Fills the table: one handler per Reason (the shared vmm::emulate_io and emulate_hlt for
/// port I/O and HLT), handle_unexpected for the rest.
void install_handlers(vmm::Dispatcher& d);

}  // namespace hvlab::lab04
