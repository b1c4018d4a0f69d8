#pragma once
// The KVM back end: the kit's Backend over a KVM vCPU. enter() is one KVM_RUN; the exit the
// kvm_run page reports becomes the kit's Event, which the kit's Dispatcher sends to the same
// handlers and the same device models a bare-metal monitor uses (common/vmm). inject() and
// request_interrupt_window() become KVM_INTERRUPT and kvm_run's request_interrupt_window;
// arm_timer() a host timer that kicks the vCPU thread out of KVM_RUN.
//
// What KVM does itself, so this back end does not: it completes every instruction it
// reports (an IN takes its value from the run page at the next KVM_RUN, RIP moves past an
// OUT or a HLT), emulates string I/O (the run page holds all the elements), runs CPUID and
// MSR accesses against the tables it was given, and with an in-kernel irqchip delivers
// interrupts and sleeps through HLT without coming back at all.
//
// Registers travel in the run page (KVM_CAP_SYNC_REGS): KVM stores the general and segment
// registers there at every exit, and loads the general ones back when this back end marks
// them dirty. No KVM_GET_REGS or KVM_SET_REGS per exit: on these machines each system call
// costs about as much as the exit itself.

#include <cstdint>
#include <string>

#include "common/vmm/backend.hpp"
#include "common/vmm/trace.hpp"
#include "lab05-type1-vs-type2/src/host_timer.hpp"
#include "lab05-type1-vs-type2/src/vm.hpp"

namespace hvlab::lab05 {

class GdbStub;

/// What KVM_EXIT_IO says, as the kit's port access (the data stays in the run page).
vmm::IoAccess decode_io(kvm_run& run);

/// What the kvm_run page says about the exit that just happened, as the kit's Event. `vcpu`
/// holds the registers as KVM stored them at the exit.
vmm::Event decode_exit(kvm_run& run, const vmm::VCpu& vcpu);

class KvmBackend final : public vmm::Backend {
 public:
  KvmBackend(vmm::Board& board, Vm& vm, HostTimer& timer);

  const char* name() const override { return "kvm"; }
  std::uint64_t now() override;
  bool inject(vmm::VCpu& vcpu, const vmm::PendingEvent& e) override;
  void request_interrupt_window(vmm::VCpu& vcpu, bool on) override;
  void arm_timer(std::uint64_t deadline, std::uint64_t watchdog) override;
  vmm::Event enter(vmm::VCpu& vcpu) override;
  bool read_linear(vmm::VCpu& vcpu, GuestVirtAddr la, void* dst, std::size_t n, bool user,
                   vmm::ExceptionInfo* fault) override;
  bool write_linear(vmm::VCpu& vcpu, GuestVirtAddr la, const void* src, std::size_t n, bool user,
                    vmm::ExceptionInfo* fault) override;
  /// KVM's own counters for the vCPU (how many exits the host kernel handled without coming
  /// back), as a "kvm_stats" record.
  void finish(vmm::TraceWriter& trace) override;

  /// One KVM_RUN: 0 when the vCPU exited (the reason in the run page), -EINTR when a signal
  /// (the host timer, a kick) took it out, another -errno when KVM refused. Records the
  /// moment the guest stopped in exit_time_.
  long run_vcpu();

  /// Asks KVM to sync registers through the run page and reads the state KVM holds (the
  /// entry state set before) into `vcpu`. Also reads the TSC frequency for the Board.
  bool start(vmm::VCpu& vcpu, std::string* why);
  /// Where records the back end writes itself go (the first exit).
  void set_trace(vmm::TraceWriter* trace) { trace_ = trace; }
  /// Called before every KVM_RUN (the console: flush output, feed input).
  void set_entry_hook(void (*hook)(void*), void* arg) {
    hook_ = hook;
    hook_arg_ = arg;
  }
  /// Makes sure the vCPU comes back within `ticks` of host TSC (output waiting to be
  /// written while the guest may sleep in KVM_RUN).
  void wake_within(std::uint64_t ticks);
  void set_debugger(GdbStub* gdb) { gdb_ = gdb; }
  GdbStub* debugger() const { return gdb_; }

  /// Copies guest-virtual memory through the vCPU's current translation (KVM_TRANSLATE);
  /// false where nothing is mapped.
  bool copy_virtual(GuestVirtAddr va, void* buf, std::size_t n, bool write);

  Vm& vm() { return vm_; }
  std::uint64_t runs() const { return runs_; }
  unsigned shutdown_quirks() const { return quirks_; }

 private:
  vmm::Event wait_halted(vmm::VCpu& vcpu);
  void load_registers(vmm::VCpu& vcpu);
  void store_registers(const vmm::VCpu& vcpu);
  void sync_tsc();

  Vm& vm_;
  kvm_run* run_;
  HostTimer& timer_;
  vmm::TraceWriter* trace_ = nullptr;
  GdbStub* gdb_ = nullptr;
  void (*hook_)(void*) = nullptr;
  void* hook_arg_ = nullptr;
  vmm::VCpu synced_;              // the registers as KVM last gave them
  std::uint64_t armed_ = 0;       // host TSC the timer is set to fire at; 0: not armed
  std::uint64_t tsc_offset_ = 0;  // the Board's TSC offset KVM's guest TSC follows
  bool tsc_synced_ = false;
  bool ran_ = false;
  std::uint32_t entry_eip_ = 0;
  std::uint64_t runs_ = 0;
  unsigned quirks_ = 0;
};

}  // namespace hvlab::lab05
