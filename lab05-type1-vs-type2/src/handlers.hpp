#pragma once
// The hosted VMM's handlers: what each Event from a KVM exit does. Port I/O, MMIO and HLT
// go to the kit's shared emulation (common/vmm/emulate.hpp), so the same device models a
// bare-metal monitor uses answer them; the rest is what only a hosted VMM sees.

#include "common/vmm/dispatcher.hpp"
#include "common/vmm/machine.hpp"
#include "lab05-type1-vs-type2/src/gdb_stub.hpp"
#include "lab05-type1-vs-type2/src/kvm_backend.hpp"

namespace hvlab::lab05 {

/// KVM_EXIT_SHUTDOWN: the guest triple-faulted; it is stopped and the place named.
vmm::Action handle_triple_fault(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
/// KVM_EXIT_FAIL_ENTRY: the hardware (or KVM) refused the guest's state.
vmm::Action handle_entry_failure(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
/// KVM_EXIT_DEBUG: a breakpoint or a step for the GDB stub.
vmm::Action handle_debug(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
/// A signal took the vCPU out of KVM_RUN (the host timer, keyboard input, GDB's interrupt).
vmm::Action handle_kick(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);
/// The rest: KVM's internal errors and exits this VMM never asks for, named.
vmm::Action handle_unexpected(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);

/// Fills the dispatcher's table.
void install_handlers(vmm::Dispatcher& d);

/// The GDB stub's view of the guest through KVM.
class KvmGdbTarget final : public GdbTarget {
 public:
  KvmGdbTarget(KvmBackend& backend, vmm::VCpu& vcpu) : backend_(backend), vcpu_(vcpu) {}
  vmm::VCpu& vcpu() override { return vcpu_; }
  bool read_memory(std::uint32_t va, void* dst, std::size_t n) override;
  bool write_memory(std::uint32_t va, const void* src, std::size_t n) override;
  bool set_debug(const std::array<std::uint32_t, 4>& addresses, unsigned used, bool single_step) override;

 private:
  KvmBackend& backend_;
  vmm::VCpu& vcpu_;
};

}  // namespace hvlab::lab05
