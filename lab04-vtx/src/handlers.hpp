#pragma once
// The exit handlers, one per kit-level Reason, shared by the VT-x and AMD-V back ends.
// Each is a function of (VCpu&, const Event&) that works on the virtual CPU and on the
// Platform (platform.hpp); neither the VMCS nor the VMCB is visible here, which is what lets
// GoogleTest drive them with made-up exits.
//
// Conventions for Events built by the back ends (so one handler serves both):
//   - io_instruction: e.io filled in; for INS/OUTS e.address is the guest-linear address of
//     the first element (VT-x's guest-linear-address field).
//   - cr_access: e.qualification in the VT-x layout (SDM table 27-3), e.number = CR number.
//   - msr_read / msr_write: e.number = ECX.
//   - privileged_instruction: e.raw_reason holds the VT-x basic exit reason of the
//     instruction (the AMD-V back end translates its exit codes to these).

#include <cstdint>

#include "common/vmm/event.hpp"
#include "common/vmm/monitor.hpp"
#include "common/vmm/vcpu.hpp"

namespace hvlab::lab04 {

vmm::Action handle_cpuid(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_io(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_hlt(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_cr_access(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_msr_read(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_msr_write(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_external_interrupt(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_interrupt_window(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_exception(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_privileged_instruction(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_hypercall(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_ept_violation(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_ept_misconfig(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_triple_fault(vmm::VCpu& vcpu, const vmm::Event& e);
vmm::Action handle_entry_failure(vmm::VCpu& vcpu, const vmm::Event& e);
/// The fallback: names the exit and stops (never a silent resume).
vmm::Action handle_unexpected(vmm::VCpu& vcpu, const vmm::Event& e);

/// Fills the table: one handler per Reason, handle_unexpected for the rest.
void install_handlers(vmm::Dispatcher& d);

/// The register a VT-x CR-access qualification names (0 EAX ... 7 EDI, SDM table 27-3).
std::uint32_t& gpr(vmm::VCpu& vcpu, unsigned index);

/// Upper bound on elements moved by one INS/OUTS exit; a longer REP resumes the
/// instruction, which exits again (so a huge ECX cannot stall the monitor).
inline constexpr std::uint32_t kMaxStringElementsPerExit = 4096;

}  // namespace hvlab::lab04
