#pragma once
// The VMX instructions (SDM vol. 3C chapter 31, vol. 2 "VMX instructions") as small named
// wrappers, and the Vmcs interface over VMREAD/VMWRITE. Kernel only.

#include <cstdint>

#include "common/vmm/vcpu.hpp"
#include "lab04-vtx/src/vmcs.hpp"

namespace hvlab::lab04::hw {

/// The outcome of a VMX instruction (SDM 31.2): VMsucceed, VMfailInvalid (CF = 1, no
/// current VMCS) or VMfailValid (ZF = 1, error number in the VMCS).
enum class VmxStatus : std::uint8_t { ok = 0, fail_invalid = 1, fail_valid = 2 };

VmxStatus vmxon(std::uint64_t region_pa);
VmxStatus vmclear(std::uint64_t vmcs_pa);
VmxStatus vmptrld(std::uint64_t vmcs_pa);
VmxStatus vmxoff();

/// VMREAD/VMWRITE: in a 32-bit host each moves 32 bits; HardwareVmcs splits 64-bit fields.
class HardwareVmcs final : public vmx::Vmcs {
 public:
  using Vmcs::read;
  using Vmcs::write;
  std::uint64_t read(vmx::Field f) override;
  void write(vmx::Field f, std::uint64_t value) override;
  /// VMWRITEs that failed since the last call (a field the processor does not support).
  unsigned take_write_errors(vmx::Field* last) {
    unsigned n = write_errors_;
    if (last) *last = last_failed_;
    write_errors_ = 0;
    return n;
  }

 private:
  unsigned write_errors_ = 0;
  vmx::Field last_failed_ = vmx::Field::VIRTUAL_PROCESSOR_ID;
};

}  // namespace hvlab::lab04::hw

extern "C" {
/// Enters the guest (VMLAUNCH when !launched, else VMRESUME) with `regs` in its general
/// registers; returns 0 after a VM exit with the guest's registers saved back into `regs`,
/// or 1 (VMfailInvalid) / 2 (VMfailValid) if the entry did not happen. vmx_entry.S.
int hvlab_vmx_run(hvlab::vmm::GeneralRegisters* regs, int launched);
/// Where VM exits land (HOST_RIP).
void hvlab_vmx_exit();
/// AMD-V: VMSAVE of the host's state to `host_save_pa`, VMLOAD and VMRUN of the guest's VMCB at
/// `vmcb_pa`, and after the #VMEXIT VMSAVE of the guest's and VMLOAD of the host's again.
void hvlab_svm_run(hvlab::vmm::GeneralRegisters* regs, std::uint32_t vmcb_pa, std::uint32_t host_save_pa);
/// WRMSR / XSETBV that return 1 instead of taking a #GP (vmx_entry.S, with the #GP hook in host_ops.cpp).
int hvlab_safe_wrmsr(std::uint32_t msr, std::uint32_t lo, std::uint32_t hi);
int hvlab_safe_xsetbv(std::uint32_t xcr, std::uint32_t lo, std::uint32_t hi);
extern char hvlab_safe_wrmsr_insn[], hvlab_safe_xsetbv_insn[];
extern volatile std::uint32_t hvlab_safe_fault;
}
