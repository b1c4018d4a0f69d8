#pragma once
// The dispatch step of the run loop: one table of handlers indexed by Reason, one fallback,
// and the instruction pointer advanced in one place (hvpp's style). Each lab fills the table;
// the back end (trap, hypercall or VM exit) only builds the Event.

#include <array>
#include <cstdint>

#include "common/vmm/event.hpp"
#include "common/vmm/vcpu.hpp"

namespace hvlab::vmm {

class Machine;

/// What the loop does after a handler.
enum class Action : std::uint8_t {
  resume,   ///< continue the guest at vcpu.eip as the handler left it
  advance,  ///< the instruction was emulated: eip += event.insn_length, then resume
  reflect,  ///< deliver e.exception to the guest's own IDT (the one reflect path, run.cpp)
  stop,     ///< stop the guest (the handler said why through the Board)
};
const char* action_name(Action a);

/// A handler: the machine it acts on (board, back end, trace), the virtual CPU and the Event.
using Handler = Action (*)(Machine&, VCpu&, const Event&);

class Dispatcher {
 public:
  Dispatcher();
  void set(Reason r, Handler h) { table_[static_cast<unsigned>(r)] = h; }
  void set_fallback(Handler h) { fallback_ = h; }
  Handler handler(Reason r) const { return table_[static_cast<unsigned>(r)]; }

  /// Runs the handler for `e` and applies Action::advance. Counts events per reason.
  Action dispatch(Machine& m, VCpu& vcpu, const Event& e);

  std::uint64_t count(Reason r) const { return counts_[static_cast<unsigned>(r)]; }
  std::uint64_t total() const;

 private:
  std::array<Handler, static_cast<unsigned>(Reason::count)> table_{};
  std::array<std::uint64_t, static_cast<unsigned>(Reason::count)> counts_{};
  Handler fallback_;
};

/// The default fallback: stops the guest, naming the event (never ignored silently).
Action stop_unhandled(Machine& m, VCpu& vcpu, const Event& e);

}  // namespace hvlab::vmm
