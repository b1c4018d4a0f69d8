#pragma once
// The kit-level event. Every way a guest enters a monitor — a trap taken while the guest ran
// deprivileged (lab01, lab02), a hypercall (lab03), a VM exit (lab04, lab05) — is turned into
// one Event before any handler runs. Handlers, traces and tests see only Events, so the labs
// share one monitor loop (monitor.hpp) and one trace format (trace.hpp).

#include <cstdint>

namespace hvlab::vmm {

/// How the guest entered the monitor.
enum class Source : std::uint8_t {
  trap,       ///< an exception or interrupt taken by a deprivileged guest (lab01, lab02)
  hypercall,  ///< a paravirtual call (lab03)
  vm_exit,    ///< a hardware-assisted exit: VT-x or AMD-V (lab04), KVM (lab05)
};

/// Why the guest entered the monitor, independent of the mechanism. One handler per reason.
/// X-macro: the enum, the names and the handler table are generated from this one list.
#define HVLAB_EVENT_REASONS(X)                                                         \
  X(privileged_instruction) /* a CPL-0 instruction to emulate (decoded by the monitor) */ \
  X(io_instruction)         /* IN, OUT, INS, OUTS: port, size, direction              */ \
  X(cpuid)                  /* CPUID                                                   */ \
  X(msr_read)               /* RDMSR                                                   */ \
  X(msr_write)              /* WRMSR                                                   */ \
  X(cr_access)              /* MOV to or from a control register, CLTS, LMSW           */ \
  X(hlt)                    /* HLT                                                     */ \
  X(invlpg)                 /* INVLPG                                                  */ \
  X(page_fault)             /* a #PF: a guest fault to reflect, or a shadow-table fill  */ \
  X(exception)              /* another guest exception, to reflect or to emulate around */ \
  X(software_interrupt)     /* INT n executed by the guest                             */ \
  X(external_interrupt)     /* a (virtual) device interrupt arrived                    */ \
  X(interrupt_window)       /* the guest can take an interrupt now                     */ \
  X(hypercall)              /* a paravirtual call                                      */ \
  X(ept_violation)          /* a guest-physical access with no or wrong EPT/NPT entry  */ \
  X(ept_misconfig)          /* an EPT entry that is itself invalid                     */ \
  X(triple_fault)           /* the guest shut itself down                              */ \
  X(entry_failure)          /* the hardware refused to enter the guest                 */ \
  X(other)                  /* anything else: the fallback handler decides             */

enum class Reason : std::uint8_t {
#define HVLAB_X(name) name,
  HVLAB_EVENT_REASONS(HVLAB_X)
#undef HVLAB_X
      count
};

const char* reason_name(Reason r);

/// I/O details, for Reason::io_instruction.
struct IoAccess {
  std::uint16_t port;
  std::uint8_t size;  ///< 1, 2 or 4 bytes
  bool in;            ///< IN/INS (guest reads)
  bool string;        ///< INS/OUTS
  bool rep;           ///< REP prefix
};

/// One entry into the monitor.
struct Event {
  Source source = Source::trap;
  Reason reason = Reason::other;
  std::uint32_t guest_eip = 0;    ///< the instruction that caused it (or the next one, for traps)
  std::uint8_t guest_cpl = 0;     ///< the guest's virtual CPL
  std::uint8_t vector = 0;        ///< exception or interrupt vector, when there is one
  bool has_error_code = false;
  std::uint32_t error_code = 0;
  std::uint64_t address = 0;      ///< faulting linear or guest-physical address (#PF: CR2)
  std::uint32_t raw_reason = 0;   ///< the mechanism's own code: VT-x exit reason, SVM exit code
  std::uint64_t qualification = 0;///< VT-x exit qualification / SVM EXITINFO1
  std::uint32_t number = 0;       ///< hypercall number, MSR index, CR number, INT n vector
  IoAccess io{};
  std::uint8_t insn_length = 0;   ///< length of the instruction, 0 if unknown
};

}  // namespace hvlab::vmm
