#pragma once
// What the guest's CPUID says. KVM answers CPUID itself, from a table the VMM gives it
// (KVM_SET_CPUID2); with no table every leaf reads as zeros. This VMM gives the table KVM
// supports on this host (KVM_GET_SUPPORTED_CPUID), minus what its own board lacks.

#include <linux/kvm.h>

#include <string>
#include <vector>

#include "lab05-type1-vs-type2/src/vm.hpp"

namespace hvlab::lab05 {

/// Adjusts KVM's supported table for this VMM's PC: without the in-kernel irqchip there is
/// no local APIC (CPUID.1:EDX.APIC, ECX.x2APIC and ECX.TSC-deadline are cleared).
void adjust_cpuid(std::vector<kvm_cpuid_entry2>& entries, bool kernel_irqchip);

/// Reads the supported table, adjusts it and gives it to the vCPU.
bool set_cpuid(Vm& vm, bool kernel_irqchip, std::string* why);

}  // namespace hvlab::lab05
