#pragma once
// How the hosted VMM gets its vCPU thread back out of KVM_RUN: a host timer (the user-space
// PIT's next interrupt, or the watchdog) and a "kick" from another thread (keyboard input, a
// debugger's interrupt), both as a signal to the vCPU thread. Its handler sets the kvm_run
// page's immediate_exit (api.rst, "immediate_exit"), so a signal that arrives while the VMM
// is in user space still makes the next KVM_RUN return at once: no wake-up is lost and no
// extra system call is needed on the way in.

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace hvlab::lab05 {

/// The timer the back end arms; tests substitute a recorder.
class HostTimer {
 public:
  /// The vCPU must leave KVM_RUN within `ns` nanoseconds (0 disarms).
  virtual void arm_in(std::uint64_t ns) = 0;

 protected:
  ~HostTimer() = default;
};

/// The real timer and kick, for the one vCPU thread. One per process.
class SignalKick final : public HostTimer {
 public:
  SignalKick() = default;
  ~SignalKick();
  /// Installs the handlers (the kick signal, and SIGTERM, SIGINT, SIGHUP to stop the run
  /// cleanly) and creates a timer aimed at the calling thread, which runs the vCPU.
  bool install(kvm_run* run, std::string* why);
  void arm_in(std::uint64_t ns) override;
  /// From any thread: make the vCPU leave KVM_RUN now.
  void kick();
  /// The terminating signal received (SIGTERM, ...), or 0.
  static int stop_signal();

 private:
  bool installed_ = false;
  void* timer_ = nullptr;  // timer_t
  unsigned long thread_ = 0;
};

}  // namespace hvlab::lab05
