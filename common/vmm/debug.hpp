#pragma once
// What a debugger reads in a running monitor: the machine being run, where the guest's RAM
// is, the hardware's second-level tables (shadow, EPT or nested) and the last events the run
// loop handled. run() keeps it up to date; nothing in the monitor reads it. GDB's hv-*
// commands (tools/gdb/hvlab.py) find it by its name, hvlab::vmm::g_debug.

#include <cstdint>

#include "common/vmm/dispatcher.hpp"
#include "common/vmm/event.hpp"

namespace hvlab::vmm {

class Machine;

/// One event as the run loop handled it.
struct DebugEvent {
  std::uint64_t seq = 0;  ///< 1 for the run's first event
  Reason reason = Reason::other;
  Action action = Action::resume;
  std::uint8_t vector = 0;        ///< exception, interrupt and INT n events
  std::uint32_t guest_eip = 0;
  std::uint32_t number = 0;       ///< Event::number(): MSR, CR, INT n vector or hypercall
  std::uint32_t raw_reason = 0;   ///< VT-x exit reason, SVM exit code, trap vector
  std::uint64_t raw_qualification = 0;
  const char* mnemonic = nullptr; ///< the decoded instruction's mnemonic (trap back ends)
};

/// The tables the hardware walks after the guest's own: which kind, and their root.
enum class SecondLevel : std::uint8_t {
  none,
  shadow32,  ///< lab01: a 32-bit shadow page directory (the guest's CR3 while it runs)
  ept,       ///< lab04, VT-x: the EPT PML4
  npt32,     ///< lab04, AMD-V: a 32-bit nested page directory (nCR3)
  npt_pae,   ///< lab04, AMD-V: a PAE nested page-directory-pointer table (nCR3)
};

/// The hardware's own block for the guest (lab04).
enum class ControlBlock : std::uint8_t {
  none,
  vmcs,  ///< VT-x: its layout is the processor's; only VMREAD reads it
  vmcb,  ///< AMD-V: the layout of AMD APM vol. 2, appendix B
};

/// One hypercall as the monitor dispatched it (lab03): noted on entry, its result on return.
struct DebugHypercall {
  std::uint64_t seq = 0;          ///< 1 for the run's first hypercall
  std::uint32_t number = 0;       ///< EAX on entry
  std::uint32_t args[5] = {};     ///< EBX, ECX, EDX, ESI, EDI on entry
  std::uint32_t guest_eip = 0;    ///< the trapping instruction
  std::int32_t result = 0;        ///< EAX on return (a negated error code below 0)
  bool done = false;              ///< false while the call is still being handled
  Action action = Action::advance;  ///< the handler's: only advance returns a result in EAX
  std::uint8_t nargs = 0;         ///< how many of args the call takes
  const char* name = nullptr;     ///< the ABI's name of the call
  const char* error = nullptr;    ///< the error's name when result < 0
};

struct DebugState {
  static constexpr unsigned kRing = 64;
  static constexpr unsigned kHypercallRing = 16;
  std::uint32_t magic = 0x64767668;  ///< "hvvd": the state is initialised
  Machine* machine = nullptr;        ///< the machine run() is running
  const char* lab = "";              ///< its name ("lab01", "lab04")
  std::uint64_t ram_host_phys = 0;   ///< guest-physical 0 in host-physical memory
  std::uint64_t ram_bytes = 0;
  SecondLevel second_level = SecondLevel::none;
  std::uint64_t second_level_root = 0;  ///< host-physical
  ControlBlock control_block = ControlBlock::none;
  std::uint64_t control_block_phys = 0;  ///< host-physical
  std::uint64_t events = 0;             ///< events recorded; the last is ring[(events-1) % kRing]
  DebugEvent ring[kRing];
  std::uint64_t hypercalls = 0;         ///< noted; the last is hypercall_ring[(hypercalls-1) % kHypercallRing]
  DebugHypercall hypercall_ring[kHypercallRing];

  void record(const Event& e, Action a, const char* mnemonic);
  /// Notes a hypercall on entry; returns the entry to finish with hypercall_done().
  DebugHypercall& hypercall_begun(std::uint32_t number, const char* name, unsigned nargs,
                                  const std::uint32_t (&args)[5], std::uint32_t guest_eip);
  static void hypercall_done(DebugHypercall& h, Action a, std::int32_t result, const char* error);
};

/// The one debug state of a monitor.
extern DebugState g_debug;

/// Back ends call this when they (re)build their second-level tables.
inline void debug_note_second_level(SecondLevel kind, std::uint64_t root) {
  g_debug.second_level = kind;
  g_debug.second_level_root = root;
}

/// lab04 calls this with its VMCS or VMCB.
inline void debug_note_control_block(ControlBlock kind, std::uint64_t phys) {
  g_debug.control_block = kind;
  g_debug.control_block_phys = phys;
}

}  // namespace hvlab::vmm
