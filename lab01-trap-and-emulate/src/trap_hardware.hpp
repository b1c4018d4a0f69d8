#pragma once
// What the trap back end needs of the real machine, behind one small interface: the switch
// into the guest and back, the time-stamp counter, the real PIT and PIC, DR6 and CR4.TSD.
// The kernel implements it with the real instructions (kernel/hardware.cpp); host tests
// fake it, so the whole back end (events, injection, single steps, time) runs under
// GoogleTest with made-up traps.

#include <cstdint>

#include "common/boot/trap.hpp"

namespace hvlab::lab01 {

class TrapHardware {
 public:
  /// The frame the next entry IRETs through, and that the guest's next trap fills: on the
  /// trap stack, where the CPU and the stubs build it.
  virtual TrapFrame& frame() = 0;
  /// Runs the guest from frame() until it traps; frame() then holds the trap (its vector and
  /// error code, the guest's registers). Interrupts are disabled on return.
  virtual void run_guest() = 0;
  /// Host TSC readings around the last run_guest(): at the switch into the guest and first
  /// thing after its trap.
  virtual std::uint64_t entered_at() const = 0;
  virtual std::uint64_t exited_at() const = 0;
  /// CR2 as the guest's last trap left it.
  virtual std::uint32_t trap_cr2() const = 0;

  virtual std::uint64_t rdtsc() = 0;
  /// Arms the real PIT, one-shot, for `pit_ticks`. A tick that expired while the monitor
  /// worked is taken inside the monitor first (see kernel/hardware.cpp).
  virtual void arm_timer(std::uint16_t pit_ticks) = 0;
  /// Ends a real IRQ the guest's run was interrupted by; false for a spurious one (IRQ 7 or
  /// 15 not in service), which gets no EOI.
  virtual bool end_of_interrupt(unsigned irq) = 0;
  /// DR6 after a #DB, cleared for the next one.
  virtual std::uint32_t take_dr6() = 0;
  /// The real CR4.TSD: whether RDTSC and RDTSCP trap at CPL > 0.
  virtual void set_rdtsc_traps(bool on) = 0;

 protected:
  ~TrapHardware() = default;
};

}  // namespace hvlab::lab01
