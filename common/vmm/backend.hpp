#pragma once
// The Backend: the one thing that differs between the techniques. It enters the guest and
// comes back with an Event, injects an event at the next entry, asks for an interrupt
// window, and arms a timer so the monitor gets control back. Implementations: the
// deprivileged trap back end (lab01, and lab02 and lab03 on top of it), VMX and SVM (lab04),
// KVM_RUN (lab05). Everything else (devices, time, handlers, tracing, limits) is shared: the
// Board, the Dispatcher and the run loop (run.hpp).
//
//   run loop:  plan = board.prepare_entry()        what to inject, when to come back
//              backend.inject(plan.inject)          VMCS entry fields / EVENTINJ / guest IDT
//              backend.request_interrupt_window()   interrupt-window exiting / V_IRQ / TF
//              backend.arm_timer(deadline)          preemption timer / real PIT / none (KVM)
//              e = backend.enter(vcpu)              VMRESUME / VMRUN / IRET / KVM_RUN
//              dispatcher.dispatch(machine, e)      the handlers

#include <cstddef>
#include <cstdint>

#include "common/memory/address.hpp"
#include "common/vmm/board.hpp"
#include "common/vmm/event.hpp"
#include "common/vmm/vcpu.hpp"

namespace hvlab {
class FormatSink;
}

namespace hvlab::vmm {

class TraceWriter;

class Backend {
 public:
  /// A short name for traces and messages: "trap", "vmx", "svm", "kvm", ...
  virtual const char* name() const = 0;

  /// The host's time-stamp counter now (or the host clock in TSC units): the Board's time
  /// base. Virtual, so tests can drive time by hand.
  virtual std::uint64_t now() = 0;

  /// Delivers `e` at the next entry. False if the guest cannot take it at all (a trap back
  /// end that finds even the double fault undeliverable): the loop stops a triple-faulting
  /// guest then.
  virtual bool inject(VCpu& vcpu, const PendingEvent& e) = 0;

  /// Whether the next entry must come back as soon as the guest can take an interrupt.
  virtual void request_interrupt_window(VCpu& vcpu, bool on) = 0;

  /// The guest must be back in the monitor by guest TSC `deadline` (the next timer edge, 0
  /// for none) and at the latest by `watchdog` (so a spinning guest is noticed).
  virtual void arm_timer(std::uint64_t deadline, std::uint64_t watchdog) = 0;

  /// Runs the guest from `vcpu` until the next event, which it returns with `vcpu` holding
  /// the guest's state at that moment. It records in exit_time_ the now() of the moment the
  /// guest stopped, before the back end's own work (reading the VMCS, decoding): that work is
  /// the monitor's time, which the Board hides from the guest. A back end that also works
  /// between the call and the switch into the guest (a trap back end stores registers and
  /// rebuilds shadow tables there) records in entry_time_ the now() of the switch, so that
  /// work is the monitor's too.
  virtual Event enter(VCpu& vcpu) = 0;
  /// now() as the guest stopped running (see enter()).
  std::uint64_t exit_time() const { return exit_time_; }
  /// now() as the guest started running during the last enter(); 0 if the back end does not
  /// say (then the guest's time starts at the call).
  std::uint64_t entry_time() const { return entry_time_; }

  /// Reads `n` bytes of guest-linear memory at `la` as the guest's MMU would (a supervisor or
  /// user access). On a guest page fault fills *fault (vector 14, the #PF error code, and in
  /// fault->address the linear address that faulted, for CR2) and returns false; nothing is
  /// raised. The default walks the guest's own 32-bit page tables in the Board's memory
  /// (with A/D updates).
  virtual bool read_linear(VCpu& vcpu, GuestVirtAddr la, void* dst, std::size_t n, bool user, ExceptionInfo* fault);
  virtual bool write_linear(VCpu& vcpu, GuestVirtAddr la, const void* src, std::size_t n, bool user,
                            ExceptionInfo* fault);

  /// Anything the back end wants in the trace before the summary (its own counters).
  virtual void finish(TraceWriter&) {}

 protected:
  explicit Backend(Board& board) : board_(board) {}
  ~Backend() = default;
  Board& board_;
  std::uint64_t exit_time_ = 0;
  std::uint64_t entry_time_ = 0;
};

/// Copies between guest-linear memory and a buffer through the guest's own 32-bit page
/// tables (no paging: linear = physical), the way the default read_linear/write_linear do.
bool copy_linear(Board& board, const VCpu& vcpu, GuestVirtAddr la, void* buf, std::size_t n, bool user, bool write,
                 ExceptionInfo* fault);

}  // namespace hvlab::vmm
