#pragma once
// lab03's paravirtual domain: everything the hypercalls change, beside the kit's Machine.
//
//   Domain      the guest's paravirtual state: validated page tables (PvMmu), the shared info
//               page and the event channels, the trap table, the event callback, the kernel
//               stack for traps from user mode, the one-shot timer, counters.
//   PvMachine   the kit's Machine with its Domain, so a handler (a function of Machine,
//               VCpu and Event, like every handler of the kit) reaches the domain without a
//               global.
//
// Guest pointers (guest_access.hpp), the hypercalls (hypercalls.hpp) and the delivery of
// exceptions, interrupts and events through the trap table (this file) all work on a
// PvMachine, so GoogleTest and the fuzzer drive them with the kit's fake back end.

#include <cstdint>

#include "common/memory/address.hpp"
#include "common/memory/guest_memory.hpp"
#include "common/runtime/format.hpp"
#include "common/vmm/board.hpp"
#include "common/vmm/machine.hpp"
#include "lab03-paravirt/abi/hvlab_pv.h"
#include "lab03-paravirt/src/event_channel.hpp"
#include "lab03-paravirt/src/pv_mmu.hpp"

namespace hvlab::lab03 {

/// One vector of the trap table (set_trap_table): where the guest handles it.
struct TrapEntry {
  std::uint16_t cs = 0;
  std::uint8_t flags = 0;  ///< HVLAB_PV_TI_*
  std::uint32_t address = 0;
  bool valid() const { return address != 0; }
};

/// A callback the guest registered (set_callbacks).
struct Callback {
  std::uint16_t cs = 0;
  std::uint32_t eip = 0;
  bool valid() const { return eip != 0; }
};

/// Where the guest's three start-of-day pages are (its hvlab_pv_header).
struct PvLayout {
  GuestPhysAddr hypercall_page, shared_info, start_info;
};

class Domain;

/// What the back end does when the guest names new handlers or a new kernel stack: a trap
/// back end points real IDT gates straight at the guest's system-call handlers (Xen's direct
/// trap) and the real TSS at its kernel stack. Host tests leave it unset.
class TrapObserver {
 public:
  virtual void trap_table_changed(const Domain& d) = 0;
  virtual void kernel_stack_changed(const Domain& d) = 0;

 protected:
  ~TrapObserver() = default;
};

class Domain {
 public:
  /// `frames`: one zeroed FrameInfo per guest frame, `nr_pages` of them.
  Domain(mem::GuestMemory& memory, FrameInfo* frames, std::uint32_t nr_pages,
         std::uint32_t hypervisor_virt_start = HVLAB_PV_HYPERVISOR_VIRT_START);
  Domain(const Domain&) = delete;
  Domain& operator=(const Domain&) = delete;

  std::uint32_t hypervisor_virt_start() const { return hypervisor_virt_start_; }

  PvMmu mmu;
  SharedInfo shared;
  EventChannels events;
  TrapEntry traps[256];
  Callback event_callback, failsafe_callback;
  std::uint16_t kernel_ss = 0;  ///< stack_switch: the stack for traps from user mode
  std::uint32_t kernel_esp = 0;
  bool kernel_stack_set = false;
  std::uint64_t timer_deadline_ns = 0;  ///< set_timer_op; 0: none
  bool blocked = false;                 ///< sched_op(block) until an event is pending
  PvLayout layout{};
  bool started = false;  ///< the start-of-day pages are in place
  TrapObserver* trap_observer = nullptr;

  /// Attaches the shared info page at `gpa` (zeroed, every event masked) and reserves its
  /// frame: the monitor writes it before every entry, so it never becomes a page table.
  bool attach_shared(GuestPhysAddr gpa);

  // ---- Time ------------------------------------------------------------------------------
  /// The guest's system time (ns since it started) at guest time `guest_time` (TSC ticks).
  std::uint64_t system_ns(std::uint64_t guest_time) const;
  /// Publishes the time record in the shared info page and fires the timer if it is due.
  /// The back end calls it before each entry.
  void publish_time(vmm::Board& board, std::uint64_t host_tsc);
  /// Raises VIRQ_TIMER if the one-shot timer is due at `now_ns` (and clears it).
  void check_timer(std::uint64_t now_ns);
  /// The system time of the last publish_time(): "now" for the hypercalls of this entry.
  std::uint64_t now_ns() const { return now_ns_; }
  /// The guest time (TSC ticks, the Board's clock) at which system time reaches `ns`: where
  /// the Board must wake a guest blocked on the one-shot timer.
  std::uint64_t guest_time_at(std::uint64_t ns) const;

  // ---- Counters for the trace's closing records ---------------------------------------------
  std::uint64_t calls[HVLAB_PV_MAX_HYPERCALLS] = {};    ///< by number, multicall entries included
  std::uint64_t refused[HVLAB_PV_MAX_HYPERCALLS] = {};  ///< of them, the ones that failed
  std::uint64_t unknown = 0;                            ///< numbers beyond the table
  std::uint64_t batches = 0;                            ///< mmu_update calls
  std::uint32_t largest_batch = 0;                      ///< updates in the largest one
  std::uint64_t upcalls = 0;                            ///< event callbacks delivered
  std::uint32_t refusal_notes = 0;                      ///< trace notes written for refusals

  /// Writes {"kind":"hypercalls",...}: calls per name, refusals, page-table update batches.
  void write_stats(FormatSink& out) const;

 private:
  std::uint32_t hypervisor_virt_start_;
  std::uint64_t time_base_ = 0;  // guest time at the first publish_time
  bool time_started_ = false;
  std::uint64_t now_ns_ = 0;
  std::uint32_t mul_ = 0;
  std::int8_t shift_ = 0;
  std::uint64_t tsc_hz_ = 0;
};

class PvMachine final : public vmm::Machine {
 public:
  PvMachine(const char* name, vmm::Board& board, vmm::Backend& backend, vmm::Dispatcher& dispatcher,
            vmm::TraceWriter& trace, FormatSink& diag, Domain& domain)
      : Machine(name, board, backend, dispatcher, trace, diag), domain_(domain) {}
  Domain& domain() { return domain_; }

  /// The PvMachine behind a handler's Machine. lab03 installs its handlers only on the
  /// dispatcher of a PvMachine, so the cast always holds there.
  static PvMachine& of(vmm::Machine& m) { return static_cast<PvMachine&>(m); }

 private:
  Domain& domain_;
};

// ---- Start of day ---------------------------------------------------------------------------

/// Looks for the guest's hvlab_pv_header in the first 8 KiB of its image at `image`, checks
/// it (magic, checksum, version, three distinct page-aligned pages of guest RAM), writes the
/// hypercall stubs, initialises the shared info page and fills in the start info page.
/// Returns nullptr, or why the guest cannot run paravirtualized.
const char* start_domain(PvMachine& m, GuestPhysAddr image, std::uint32_t tsc_khz);

/// The hypercall page: stub n at n * HVLAB_PV_STUB_SIZE is `mov $n, %eax; int $0x82; ret`.
void write_hypercall_page(std::uint8_t (&page)[HVLAB_PV_PAGE_SIZE]);

// ---- Delivery through the trap table (exercise e3) ------------------------------------------------

enum class Delivery : std::uint8_t {
  exception,  ///< a fault or trap the guest took (its handler from the trap table)
  software,   ///< INT n: the entry's DPL is checked against the guest's CPL
  external,   ///< a device interrupt
  upcall,     ///< the event callback
};

/// Bounces an event into the guest the way the CPU would through an IDT, with the trap
/// table in place of the IDT: onto the kernel stack (stack_switch's when the guest was in
/// user mode), a frame of EIP, CS, EFLAGS (IF = events not masked) and the error code, then
/// the handler. A handler entry with HVLAB_PV_TI_MASK_EVENTS (and the upcall) masks events.
/// Returns false when the guest cannot take it: no handler, no kernel stack, a stack it
/// cannot write; the machine is then contained with the reason. `insn_length` (INT n): the
/// frame's EIP is that far past v.eip, after the instruction.
bool deliver(PvMachine& m, unsigned vector, Delivery kind, bool has_error = false, std::uint32_t error = 0,
             std::uint8_t insn_length = 0);

/// The kit's pending event (a reflected exception, a PIC interrupt) through the trap table.
bool deliver(PvMachine& m, const vmm::PendingEvent& e);

/// Delivers the event callback if events are pending and not masked; true if it did.
bool deliver_upcall(PvMachine& m);

}  // namespace hvlab::lab03
