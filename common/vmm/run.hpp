#pragma once
// The one run loop of every monitor in the kit. It owns what is the same whatever the
// technique: the limits (events, guest time, a guest spinning with interrupts off), time
// (the Board's clock around each entry), the dispatch of each Event to its handler, the one
// path by which a guest exception is reflected, the trace, the decision to stop, and the
// end-of-run summary. The Backend only enters the guest and builds the Event.
//
//   for (;;) {
//     plan = board.prepare_entry(vcpu)              inject? window? next deadline?
//     backend.inject / request_interrupt_window / arm_timer
//     e = backend.enter(vcpu)                       the guest runs
//     board.on_exit(); limits                       time catches up; budgets checked
//     a = dispatcher.dispatch(machine, vcpu, e)     the handler
//     reflect -> board.inject_exception(...)        delivered at the next entry
//     trace.event(e, a); stop?
//   }
//   summary: accounting, instruction counts, the back end's counters, per-reason counts

#include <cstdint>

#include "common/vmm/machine.hpp"

namespace hvlab::decoder {
class Decoder;
}

namespace hvlab::vmm {

/// How much of the run goes into the trace (the monitor's trace= option).
enum class TraceMode : std::uint8_t {
  all,    ///< every event
  quiet,  ///< the first trace_cap events of each kind, the guest's COM1 traffic left out
  off,    ///< the summary only
};

struct RunOptions {
  TraceMode trace = TraceMode::quiet;
  std::uint32_t trace_cap = 100;  ///< quiet: records per kind (reason, or instruction when decoded)
  /// Formats e.insn in the trace (trap back ends); nullptr: no instruction text.
  const decoder::Decoder* decoder = nullptr;
};

/// Counters of one run, for the summary and for tests.
struct RunStats {
  std::uint64_t entries = 0;
  std::uint64_t guest_tsc = 0;    ///< host TSC ticks spent in the guest
  std::uint64_t monitor_tsc = 0;  ///< host TSC ticks spent in the monitor
  std::uint64_t reflected = 0;
};

/// Runs the guest in `m` until it exits or is stopped; returns the monitor's exit status
/// (the guest's own, or kStatusContained / kStatusFailed). The vCPU must hold the guest's
/// entry state. Writes the closing records to the trace and a line to the monitor's
/// diagnostics.
int run(Machine& m, const RunOptions& options, RunStats* stats = nullptr);

/// The one reflect path: queues e.exception for the guest (a #PF with its address in CR2).
void reflect(Machine& m, VCpu& vcpu, const Event& e);

}  // namespace hvlab::vmm
