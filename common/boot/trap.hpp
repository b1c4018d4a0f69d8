#pragma once
// Exception and IRQ dispatch: every vector enters through one stub (isr.S) with a full
// register frame, then a handler from a table indexed by vector. An unexpected exception
// prints a readable dump and stops the machine.

#include <cstdint>

namespace hvlab {

/// The frame isr.S builds, lowest address first. user_esp/user_ss exist only when the trap
/// came from a less privileged ring (cs & 3 != 0).
struct TrapFrame {
  std::uint32_t gs, fs, es, ds;
  std::uint32_t edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax;
  std::uint32_t vector, error_code;
  std::uint32_t eip, cs, eflags;
  std::uint32_t user_esp, user_ss;

  bool from_user() const { return (cs & 3) != 0; }
};
static_assert(sizeof(TrapFrame) == 19 * 4);

using TrapHandler = void (*)(TrapFrame&);

/// Installs `handler` for `vector` (nullptr restores the default); returns the previous one.
TrapHandler set_trap_handler(unsigned vector, TrapHandler handler);

/// Sets the DPL of an IDT gate (3 lets INT n reach it from user mode) and its type
/// (interrupt gate: IF cleared on entry; trap gate: IF kept).
void set_gate_access(unsigned vector, unsigned dpl, bool trap_gate = false);

/// Prints the frame as a register dump to the console.
void dump_frame(const TrapFrame& f);

/// Routes every trap to `entry` instead of the table-driven dispatch, with `data_selector`
/// loaded into DS and ES first: for a monitor whose segments differ from the kernel's (lab01
/// runs its own at base 0xF0000000). The stubs and hvlab_enter_frame stay the same.
void set_trap_entry(void (*entry)(TrapFrame*), std::uint16_t data_selector);

/// Counts of traps taken per vector, for tests and traces.
std::uint32_t trap_count(unsigned vector);

/// First IRQ vector after the PICs are remapped (IRQ n = vector kIrqBase + n).
inline constexpr unsigned kIrqBase = 0x20;

/// The monitor's side of a trap back end's switch into the guest and back (isr.S).
struct GuestSwitch {
  std::uint32_t ebx, esi, edi, ebp, esp;  ///< the monitor's, saved by hvlab_guest_enter
  /// Where hvlab_guest_enter goes to IRET into the guest (a far jump, with ESP at the frame);
  /// iret_cs = 0: hvlab_trap_return. A monitor that switches CR3 on the way in and out of
  /// its guest (lab01) points this at code mapped in both address spaces.
  std::uint32_t iret_eip = 0;
  std::uint16_t iret_cs = 0;
};
static_assert(__builtin_offsetof(GuestSwitch, iret_eip) == 20 && __builtin_offsetof(GuestSwitch, iret_cs) == 24,
              "isr.S reads these offsets");

}  // namespace hvlab

extern "C" {
/// Enters the guest through `frame` (IRET); returns when the monitor's trap entry calls
/// hvlab_guest_leave() for a trap the guest took, with interrupts disabled.
void hvlab_guest_enter(hvlab::TrapFrame* frame, hvlab::GuestSwitch* sw);
/// From the trap entry, on the trap stack: back into hvlab_guest_enter's caller.
[[noreturn]] void hvlab_guest_leave(hvlab::GuestSwitch* sw);
}

extern "C" void hvlab_trap_entry(hvlab::TrapFrame* frame);
/// Loads `frame` and IRETs through it (enters user mode, or resumes a saved context).
extern "C" [[noreturn]] void hvlab_enter_frame(hvlab::TrapFrame* frame);
