#pragma once
// The trap back end's hardware side, in the kernel: the real GDT, IDT, LDT and TSS (the back
// end's CpuTables) loaded, the monitor's two address spaces (src/address_space.hpp), the
// switch into the guest and back (hvlab_guest_enter, kernel/trap_entry.S), the real PIT and
// PIC, DR6 and CR4.TSD.

#include <cstdint>

#include "common/boot/trap.hpp"
#include "common/memory/frame_allocator.hpp"
#include "common/runtime/result.hpp"
#include "lab01-trap-and-emulate/src/descriptors.hpp"
#include "lab01-trap-and-emulate/src/trap_hardware.hpp"

namespace hvlab::lab01 {

class KernelTrapHardware final : public TrapHardware {
 public:
  /// Moves the monitor into its window (paging on, its segments based at kMonitorBase) and
  /// loads `tables`: the monitor's directory maps host RAM [0, ram_top) and the trap pages,
  /// the guest's directory (`guest_directory`, whose lower part the shadow MMU fills) maps
  /// the trap pages only. Page tables come from `frames`. With `debugger_view` the monitor's
  /// directory also maps its window at linear 0 (host RAM at its physical address, the trap
  /// pages at their offsets), and its code segment is based at 0 there: a debugger reads and
  /// breaks by linear address, and the monitor's pointers are offsets in its segments.
  /// Returns why it could not.
  Status install(CpuTables& tables, std::uint64_t ram_top, mem::FrameAllocator& frames, HostPhysAddr guest_directory,
                 bool debugger_view = false);

  TrapFrame& frame() override { return *frame_; }
  void run_guest() override;
  std::uint64_t entered_at() const override { return entered_; }
  std::uint64_t exited_at() const override { return exited_; }
  std::uint32_t trap_cr2() const override { return cr2_; }
  std::uint64_t rdtsc() override;
  void arm_timer(std::uint16_t pit_ticks) override;
  bool end_of_interrupt(unsigned irq) override;
  std::uint32_t take_dr6() override;
  void set_rdtsc_traps(bool on) override;

  /// The trap entry (lab01_trap): a trap the guest took, and one taken inside the monitor.
  [[noreturn]] void guest_trapped(TrapFrame* f);
  void monitor_trap(TrapFrame& f);

  /// Real timer interrupts taken inside the monitor (in arm_timer's window).
  std::uint64_t monitor_ticks() const { return ticks_; }

 private:
  bool spurious(unsigned irq);

  TrapFrame* frame_ = nullptr;
  GuestSwitch sw_;
  std::uint64_t entered_ = 0, exited_ = 0, ticks_ = 0;
  std::uint32_t cr2_ = 0;
};

}  // namespace hvlab::lab01
