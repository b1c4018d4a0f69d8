#pragma once
// lab01's emulation routines: functions of the virtual CPU, the decoded instruction and a
// small interface to the machine around the vCPU (GuestEnv). They are the same code on the
// host (GoogleTest, tests/) and in the monitor kernel (monitor.cpp), so everything the
// guest can observe through an emulated instruction is unit-tested without booting.
//
// Ring scheme (see labs/lab01.md): the guest kernel runs at ring 1 (virtual CPL 0), guest
// user code at ring 3 (virtual CPL 3), the monitor at ring 0 in the top 256 MiB of every
// linear address space, which guest segments never reach.

#include <cstddef>
#include <cstdint>

#include "common/arch/x86.hpp"
#include "common/decoder/decoder.hpp"
#include "common/vmm/event.hpp"
#include "common/vmm/monitor.hpp"
#include "common/vmm/vcpu.hpp"

namespace hvlab::lab01 {

using decoder::Instruction;
using vmm::Action;
using vmm::Event;
using vmm::Reason;
using vmm::VCpu;

/// Where the monitor lives in every linear address space: guest segments end below it.
inline constexpr std::uint32_t kMonitorBase = 0xF0000000u;
/// The last linear address a guest segment may reach.
inline constexpr std::uint32_t kGuestLinearLimit = kMonitorBase - 1;

/// A guest exception raised while emulating (an operand read that page-faults, #GP(0) for a
/// privileged instruction at virtual CPL 3, ...).
struct Fault {
  std::uint8_t vector = 0;
  bool has_error = false;
  std::uint32_t error = 0;
  std::uint32_t cr2 = 0;  ///< for #PF

  static Fault gp(std::uint32_t error = 0) { return {x86::vector::GP, true, error, 0}; }
  static Fault ud() { return {x86::vector::UD, false, 0, 0}; }
};

/// What the emulation routines need from the machine: guest memory through the guest's own
/// (virtual) MMU, guest segments, the device bus, and hooks that keep the monitor's shadow
/// structures in step with the virtual CPU.
class GuestEnv {
 public:
  /// Reads `n` bytes at guest-linear `la` as the guest's MMU would (supervisor or user
  /// access). On a guest page fault fills *fault (#PF, CR2, error code) and returns false.
  virtual bool read_linear(std::uint32_t la, void* dst, std::size_t n, bool user, Fault* fault) = 0;
  virtual bool write_linear(std::uint32_t la, const void* src, std::size_t n, bool user, Fault* fault) = 0;
  /// Base address of the segment `selector` names in the guest's GDT (0 for a null one).
  virtual std::uint32_t segment_base(std::uint16_t selector) = 0;
  /// Guest port I/O, through the device models.
  virtual std::uint32_t io_read(std::uint16_t port, unsigned size) = 0;
  virtual void io_write(std::uint16_t port, unsigned size, std::uint32_t value) = 0;
  /// The guest wrote CR0, CR3 or CR4 (`cr`), or ran INVLPG on `la`.
  virtual void control_register_written(unsigned cr, std::uint32_t old_value) = 0;
  virtual void invalidate_page(std::uint32_t la) = 0;
  /// The guest loaded GDTR (the shadow GDT must be rebuilt).
  virtual void gdt_loaded() = 0;
  /// The guest loaded LDTR with an LDT at guest-linear `base` (`limit` bytes - 1); 0, 0
  /// for a null selector.
  virtual void ldt_loaded(std::uint32_t base, std::uint32_t limit) = 0;
  virtual std::uint64_t read_tsc() = 0;
  /// Something the monitor refuses to emulate: the guest is stopped with `why`.
  virtual void contain(const char* why) = 0;

  /// The exception an emulation routine raised (delivered by the monitor on Action::reflect).
  void raise(const Fault& f) {
    pending = f;
    has_pending = true;
  }
  Fault pending{};
  bool has_pending = false;

 protected:
  ~GuestEnv() = default;
};

// ---- registers and operands -----------------------------------------------------------

/// A general register (8, 16 or 32 bits) of the vCPU, by Zydis name.
std::uint32_t read_register(const VCpu& v, ZydisRegister r);
void write_register(VCpu& v, ZydisRegister r, std::uint32_t value);
/// The guest's selector in segment register `r` (ZYDIS_REGISTER_CS ... GS).
std::uint16_t segment_selector(const VCpu& v, ZydisRegister r);
/// Linear address of a memory operand (segment base + base + index * scale + disp).
std::uint32_t operand_linear_address(const VCpu& v, const ZydisDecodedOperand& op, GuestEnv& env);
/// Reads a register, immediate or memory operand (`size` bytes). False after raising a fault.
bool read_operand(const VCpu& v, const ZydisDecodedOperand& op, GuestEnv& env, std::uint32_t* value);

// ---- the trap -> event step (exercise e1) --------------------------------------------

/// The Reason for an instruction that trapped with #GP at the guest's deprivileged ring:
/// privileged_instruction, io_instruction, cr_access, msr_read/msr_write, hlt, invlpg,
/// software_interrupt; Reason::exception when the #GP is the guest's own (reflect it).
Reason classify_instruction(const Instruction& insn);

/// Builds the Event for a hardware trap `vector` taken while the guest ran, with the
/// faulting instruction decoded (`insn` may be null when it could not be fetched).
Event make_trap_event(const VCpu& v, unsigned vector, std::uint32_t error_code, std::uint32_t cr2,
                      const Instruction* insn);

// ---- emulation ------------------------------------------------------------------------

/// Emulates the decoded instruction of `e` on the vCPU. Returns Action::advance when it is
/// done (the Dispatcher moves EIP), Action::resume when the routine set EIP itself (IRET,
/// far RET, INT n), Action::reflect after env.raise(), Action::stop after env.contain().
Action emulate_instruction(VCpu& v, const Event& e, const Instruction& insn, GuestEnv& env);

Action emulate_cli_sti(VCpu& v, const Instruction& insn, GuestEnv& env);
Action emulate_io(VCpu& v, const Instruction& insn, GuestEnv& env);
Action emulate_control_register(VCpu& v, const Instruction& insn, GuestEnv& env);
Action emulate_iret(VCpu& v, const Instruction& insn, GuestEnv& env);

// ---- the virtual IDT (exercise e6) ----------------------------------------------------

enum class Delivery : std::uint8_t {
  exception,  ///< a fault or trap: EIP as given, the error code if any
  software,   ///< INT n / INT3 / INTO: gate DPL checked against the virtual CPL
  external,   ///< a device interrupt from the virtual PIC
};

/// Delivers `vector` through the guest's own IDT as the CPU would at the guest's virtual
/// CPL: reads the gate, switches to the guest TSS's ring-0 stack when coming from user
/// mode, pushes the frame the guest expects (its virtual CS, EFLAGS with the virtual IF),
/// and points the vCPU at the handler. `return_eip` is what gets pushed as the saved EIP.
/// Returns false if even a double fault could not be delivered (the guest triple-faults).
bool deliver_interrupt(VCpu& v, GuestEnv& env, std::uint8_t vector, Delivery kind, bool has_error,
                       std::uint32_t error, std::uint32_t return_eip);

// ---- segments -------------------------------------------------------------------------

/// The descriptor the real GDT holds for a guest descriptor (exercise e8): ring 0 becomes
/// ring 1, limits end below the monitor, system descriptors are not loaded natively.
x86::SegmentDescriptor deprivilege_descriptor(x86::SegmentDescriptor guest);

/// Selector conversions between what the guest believes (RPL 0 in its kernel) and what the
/// CPU holds (RPL 1).
constexpr std::uint16_t to_real_selector(std::uint16_t sel) { return (sel & 3) == 0 && (sel & ~3) ? sel | 1 : sel; }
constexpr std::uint16_t to_virtual_selector(std::uint16_t sel) { return (sel & 3) == 1 ? sel & ~3 : sel; }

/// Iterations of a REP INS/OUTS emulated per trap: the rest run after the instruction traps
/// again (a guest's REP OUTSB with ECX = 0xFFFFFFFF must not hold the monitor for hours).
inline constexpr std::uint32_t kRepChunk = 4096;

/// EFLAGS bits the guest's own POPF/IRET may change at virtual CPL 0 / CPL 3.
inline constexpr std::uint32_t kEflagsGuestMask = 0x003f7fd5u;

}  // namespace hvlab::lab01
