#pragma once
// Decoders for what the monitors report: VM-exit reasons and qualifications (Intel SDM vol. 3,
// "VMX Basic Exit Reasons" and the "Exit Qualification for ..." tables), VMCS field values,
// I/O ports and MSRs, in words a lecture hall can read.

#include <cstdint>
#include <string>
#include <string_view>

namespace hvlab::demo {

/// The SDM's name of a basic exit reason (bits 15:0 of VM_EXIT_REASON), e.g. "I/O instruction".
std::string exit_reason_name(unsigned basic_reason);

/// The exit qualification of `basic_reason` in words ("" where the SDM defines none).
/// `ecx` is the MSR number for RDMSR/WRMSR exits (the qualification is undefined there).
std::string decode_qualification(unsigned basic_reason, std::uint64_t qualification, std::int64_t ecx = -1);

/// What is usually behind an I/O port on a PC, e.g. "COM1" ("" when unknown).
std::string port_name(unsigned port);
/// The architectural name of an MSR, e.g. "IA32_APIC_BASE" ("" when unknown).
std::string msr_name(std::uint32_t msr);
/// "#GP" for vector 13, and so on.
std::string vector_mnemonic(unsigned vector);

/// A VMCS field's value in words, chosen by the field's name (SDM "Guest-State Area" and
/// "VM-Execution Control Fields"): access
/// rights (*_AR_BYTES), selectors, CR0, CR4, pin-based controls, the link pointer.
/// "" when the field has no decoder.
std::string decode_vmcs_field(std::string_view name, std::uint64_t value);

}  // namespace hvlab::demo
