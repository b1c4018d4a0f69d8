#pragma once
// The VT-x back end: the kit's Backend over a VMCS. enter() writes what changed in the
// virtual CPU into the VMCS, runs the guest (VMLAUNCH, then VMRESUME), and turns the exit
// into an Event; inject(), request_interrupt_window() and arm_timer() become the VM-entry
// interruption field, interrupt-window exiting and the VMX-preemption timer. The VMCS is
// behind the Vmcs interface and the entry itself behind a function pointer, so GoogleTest
// drives the whole back end with a fake VMCS and made-up exits.

#include <cstdint>

#include "common/runtime/format.hpp"
#include "common/vmm/backend.hpp"
#include "common/vmm/trace.hpp"
#include "lab04-vtx/src/vmcs.hpp"

namespace hvlab::lab04 {

class VmxBackend final : public vmm::Backend {
 public:
  /// Enters the guest with `regs` (VMLAUNCH when !launched, else VMRESUME); 0 after an exit
  /// with the guest's registers in `regs`, 1 for VMfailInvalid, 2 for VMfailValid.
  using RunFn = int (*)(vmm::GeneralRegisters* regs, int launched);

  /// `diag` receives the entry-failure explanations.
  VmxBackend(vmm::Board& board, vmx::Vmcs& vmcs, const vmx::Capabilities& caps, const vmx::Controls& ctls, RunFn run,
             FormatSink& diag);

  const char* name() const override { return "vmx"; }
  std::uint64_t now() override;
  bool inject(vmm::VCpu& vcpu, const vmm::PendingEvent& e) override;
  void request_interrupt_window(vmm::VCpu& vcpu, bool on) override;
  void arm_timer(std::uint64_t deadline, std::uint64_t watchdog) override;
  vmm::Event enter(vmm::VCpu& vcpu) override;

  /// The guest's starting state, read from the VMCS set up by vmx::setup_vmcs().
  void load_initial_state(vmm::VCpu& vcpu);
  /// With APIC virtualization (Controls::apic_virtualization()): `page` is the virtual-APIC
  /// page the VMCS names, as the monitor sees it. Before each entry it mirrors the Board's
  /// local APIC (when the APIC changed) and the TPR threshold follows; after each exit the
  /// guest's TPR writes, which do not exit, reach the APIC, and an APIC-write exit carries
  /// the value written.
  void enable_apic_virtualization(std::uint32_t* page) { vapic_ = page; }
  bool launched() const { return launched_; }
  /// The trace that also receives each entry failure's explanation, as an
  /// {"kind":"entry_failure"} record (the rubric grades the explanation from it).
  void set_trace(vmm::TraceWriter* trace) { trace_ = trace; }

 private:
  void explain_failure(bool vmfail_invalid);

  vmx::Vmcs& vmcs_;
  const vmx::Capabilities& caps_;
  const vmx::Controls& ctls_;
  RunFn run_;
  FormatSink& diag_;
  vmm::TraceWriter* trace_ = nullptr;
  vmm::VCpu before_;  // the state the VMCS holds, to write only what a handler changed
  bool launched_ = false;
  bool window_ = false;
  std::uint64_t deadline_ = 0, watchdog_ = 0;
  std::uint32_t* vapic_ = nullptr;
  bool vapic_filled_ = false;
  std::uint64_t vapic_version_ = 0;
};

}  // namespace hvlab::lab04
