#pragma once
// lab03's back end: lab01's trap back end (the guest kernel at ring 1, its user code at ring
// 3, the monitor in the top 256 MiB of every address space) with the paravirtual parts added
// through the hooks that back end offers, never by copying it:
//
//   hypercalls   INT 0x82 through a gate only ring 1 may use (add_hypercall_vector): the trap
//                arrives as an Event with Source::hypercall, dispatched by the one run loop
//   delivery     exceptions and interrupts go through the guest's trap table (deliver()), not
//                through an IDT the monitor would have to read
//   events       the guest's interrupt flag is the event mask in the shared info page: the
//                vCPU's IF follows it at every exit, and it follows the vCPU's IF (an
//                emulated CLI, STI or IRET) at every entry; waiting events are delivered
//                through the event callback before the guest runs
//   time         the shared info page's time record before each entry; the one-shot timer
//                wakes a blocked guest through the Board's wake deadline
//   page tables  the shadows follow the validated tables (PvShadow, the PV MMU's observer)
//   user mode    the guest kernel returns to ring 3 with its own IRET (ring-3 code is not
//                hidden), and a system-call vector its trap table leaves unmasked gets a real
//                gate straight to the guest kernel (Xen's direct trap): INT 0x80 costs no
//                monitor entry
//
// install_pv_handlers() puts lab01's handlers in the dispatcher, the hypercall handler, and
// lab03's own for control registers (a CR3 load is a validated base pointer, paging on and
// off reach the PV MMU, CR0.WP stays set).

#include <cstdint>

#include "common/vmm/dispatcher.hpp"
#include "lab01-trap-and-emulate/src/trap_backend.hpp"
#include "lab03-paravirt/src/domain.hpp"
#include "lab03-paravirt/src/pv_shadow.hpp"

namespace hvlab::lab03 {

class PvBackend final : public lab01::TrapBackend, public TrapObserver {
 public:
  struct Config {
    lab01::TrapBackend::Config trap;
    PvShadow::Config shadow;  ///< directory: the trap back end's; host, guest filled in here
  };

  PvBackend(vmm::Board& board, const Config& c, Domain& domain);

  /// The machine the handlers act on (deliver() needs it); before the first entry.
  void attach(PvMachine& m) { machine_ = &m; }

  const char* name() const override { return "trap+pv"; }
  bool inject(vmm::VCpu& v, const vmm::PendingEvent& e) override;
  vmm::Event enter(vmm::VCpu& v) override;
  void finish(vmm::TraceWriter& trace) override;

  // ---- TrapObserver -------------------------------------------------------------------------
  void trap_table_changed(const Domain& d) override;
  void kernel_stack_changed(const Domain& d) override;

  PvShadow& shadow() { return shadow_; }
  /// Vectors that reach the guest kernel through a direct gate now.
  unsigned direct_gates() const { return direct_count_; }

 private:
  Domain& domain_;
  PvShadow shadow_;
  PvMachine* machine_ = nullptr;
  std::uint8_t direct_[256 / 8] = {};
  unsigned direct_count_ = 0;
  bool ring1_stack_ = false;
};

/// lab01's handlers, the hypercall handler and lab03's control-register handler.
void install_pv_handlers(vmm::Dispatcher& d);

/// MOV to CR0 and CR3 for a paravirtual guest: a new CR3 is a base pointer the PV MMU
/// validates (refused: #GP(0)), paging on validates the pinned tables, paging off drops every
/// type, and CR0.WP cannot be cleared while paging is on (the guest kernel could then write
/// its read-only page tables). Everything else is lab01's on_cr_access.
vmm::Action on_cr_access_pv(vmm::Machine& m, vmm::VCpu& v, const vmm::Event& e);

}  // namespace hvlab::lab03
