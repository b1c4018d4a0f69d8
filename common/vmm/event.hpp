#pragma once
// The kit-level event. Every way a guest enters a monitor — a trap taken while the guest ran
// deprivileged (lab01, lab02), a hypercall (lab03), a VM exit (lab04, lab05) — is turned into
// one Event by the back end before any handler runs. Handlers, traces and tests see only
// Events, so the labs share one run loop (run.hpp) and one trace format (trace.hpp).
//
// The payload is typed: a handler reads `e.cr`, `e.io`, `e.msr`, `e.memory` or `e.exception`
// for its reason, with the kit's address types, and never the mechanism's own encoding. The
// mechanism's codes (`raw_reason`, `raw_qualification`) are kept for the trace only.

#include <cstdint>

#include "common/memory/address.hpp"

namespace hvlab::decoder {
struct Instruction;
}

namespace hvlab::vmm {

/// How the guest entered the monitor.
enum class Source : std::uint8_t {
  trap,       ///< an exception or interrupt taken by a deprivileged guest (lab01, lab02)
  hypercall,  ///< a paravirtual call (lab03)
  vm_exit,    ///< a hardware-assisted exit: VT-x or AMD-V (lab04), KVM (lab05)
};

/// Why the guest entered the monitor, independent of the mechanism. One handler per reason.
/// X-macro: the enum, the names and the handler table are generated from this one list.
#define HVLAB_EVENT_REASONS(X)                                                              \
  X(privileged_instruction) /* a CPL-0 instruction to emulate: e.insn (decoded) or e.op  */ \
  X(io_instruction)         /* IN, OUT, INS, OUTS: e.io                                   */ \
  X(cpuid)                  /* CPUID                                                      */ \
  X(msr_read)               /* RDMSR: e.msr                                               */ \
  X(msr_write)              /* WRMSR: e.msr                                               */ \
  X(cr_access)              /* MOV to or from a control register, CLTS, LMSW: e.cr        */ \
  X(hlt)                    /* HLT                                                        */ \
  X(invlpg)                 /* INVLPG: e.memory.linear                                    */ \
  X(page_fault)             /* a #PF: e.memory.linear, e.exception.error_code             */ \
  X(exception)              /* another guest exception: e.exception                       */ \
  X(software_interrupt)     /* INT n executed by the guest: e.exception.vector            */ \
  X(external_interrupt)     /* a real interrupt arrived (the monitor's timer, a device)   */ \
  X(interrupt_window)       /* the guest can take an interrupt now                        */ \
  X(hypercall)              /* a paravirtual call: e.hypercall                            */ \
  X(ept_violation)          /* a guest-physical access with no or wrong EPT/NPT entry     */ \
  X(ept_misconfig)          /* an EPT entry that is itself invalid                        */ \
  X(mmio)                   /* an access to a device's guest-physical range: e.memory     */ \
  X(triple_fault)           /* the guest shut itself down                                 */ \
  X(entry_failure)          /* the hardware refused to enter the guest                    */ \
  X(other)                  /* anything else: the fallback handler decides                */

enum class Reason : std::uint8_t {
#define HVLAB_X(name) name,
  HVLAB_EVENT_REASONS(HVLAB_X)
#undef HVLAB_X
      count
};

const char* reason_name(Reason r);

/// Privileged instructions a hardware back end names without decoding them (the exit
/// reason says which), for Reason::privileged_instruction. Trap back ends decode instead
/// and leave this at `decoded`.
#define HVLAB_PRIVILEGED_OPS(X) \
  X(decoded)                    \
  X(invd)                       \
  X(wbinvd)                     \
  X(xsetbv)                     \
  X(rdtsc)                      \
  X(rdtscp)                     \
  X(rdpmc)                      \
  X(monitor)                    \
  X(mwait)                      \
  X(vmx_instruction)            \
  X(svm_instruction)

enum class PrivilegedOp : std::uint8_t {
#define HVLAB_X(name) name,
  HVLAB_PRIVILEGED_OPS(HVLAB_X)
#undef HVLAB_X
      count
};

const char* privileged_op_name(PrivilegedOp op);

/// An exception or interrupt vector, with its error code when it has one.
struct ExceptionInfo {
  std::uint8_t vector = 0;
  bool has_error_code = false;
  std::uint32_t error_code = 0;
  /// A #PF the monitor's own access to guest memory ran into (Backend::read_linear): the
  /// linear address that faulted, for CR2. (An Event's #PF has it in e.memory.linear.)
  std::uint32_t address = 0;
};

/// I/O details, for Reason::io_instruction.
struct IoAccess {
  std::uint16_t port = 0;
  std::uint8_t size = 0;  ///< 1, 2 or 4 bytes
  bool in = false;        ///< IN/INS (guest reads)
  bool string = false;    ///< INS/OUTS
  bool rep = false;       ///< REP prefix
  /// INS/OUTS: the guest-linear address of the first element (ES:EDI or DS:ESI).
  GuestVirtAddr linear;
};

/// A control-register access, for Reason::cr_access (the four kinds SDM table 28-3 names).
struct CrAccess {
  enum class Type : std::uint8_t { mov_to, mov_from, clts, lmsw };
  Type type = Type::mov_to;
  std::uint8_t cr = 0;            ///< 0, 2, 3, 4 (8 has no meaning here)
  std::uint8_t gpr = 0;           ///< mov_to / mov_from: 0 EAX, 1 ECX, ... 7 EDI
  std::uint16_t lmsw_source = 0;  ///< lmsw: the operand's value
};

/// The MSR of an RDMSR or WRMSR (the value travels in EDX:EAX).
struct MsrAccess {
  std::uint32_t index = 0;
};

/// A memory access that stopped the guest: a page fault (linear), an EPT violation or an
/// MMIO access (physical), an INVLPG (linear).
struct MemoryAccess {
  GuestVirtAddr linear;
  GuestPhysAddr physical;
  bool has_linear = false;
  bool has_physical = false;
  bool read = false, write = false, fetch = false;
  std::uint8_t size = 0;  ///< bytes, when the mechanism knows (MMIO)
  /// A write whose value the mechanism reports (VT-x's APIC-write exit, KVM's MMIO exit):
  /// the instruction has completed, only the device's side of it is left to do.
  bool has_value = false;
  std::uint32_t value = 0;
};

/// One entry into the monitor.
struct Event {
  Source source = Source::trap;
  Reason reason = Reason::other;
  std::uint32_t guest_eip = 0;  ///< the instruction that caused it (or the next one, for traps)
  std::uint8_t guest_cpl = 0;   ///< the guest's virtual CPL
  std::uint8_t insn_length = 0; ///< length of the instruction, 0 if unknown

  // The payload: which part is filled depends on the reason (see HVLAB_EVENT_REASONS).
  ExceptionInfo exception;  ///< exception, page_fault, software_interrupt, external_interrupt
  IoAccess io;
  CrAccess cr;
  MsrAccess msr;
  MemoryAccess memory;
  PrivilegedOp op = PrivilegedOp::decoded;
  std::uint32_t hypercall = 0;  ///< the hypercall's number
  /// The faulting instruction, decoded by a trap back end (nullptr otherwise). It lives in
  /// the back end's decode cache until the next entry.
  const decoder::Instruction* insn = nullptr;

  // For the trace only: the mechanism's own codes.
  std::uint32_t raw_reason = 0;         ///< VT-x exit reason, SVM exit code, KVM exit reason, vector
  std::uint64_t raw_qualification = 0;  ///< VT-x exit qualification, SVM EXITINFO1

  /// The trace's "number": the MSR index, the CR number, the INT n vector or the hypercall.
  std::uint32_t number() const;
};

}  // namespace hvlab::vmm
