#pragma once
// The Machine: what a handler acts on. One object per run, built by the monitor's main and
// handed to every handler with the virtual CPU and the Event, so no handler reaches the
// Board, the back end or the trace through a global. It also holds the virtual CPU's MSR
// policy (msr_policy.hpp), whose TSC is the Board's guest TSC at the back end's clock.

#include <cstddef>
#include <cstdint>

#include "common/memory/address.hpp"
#include "common/vmm/backend.hpp"
#include "common/vmm/board.hpp"
#include "common/vmm/dispatcher.hpp"
#include "common/vmm/msr_policy.hpp"
#include "common/vmm/trace.hpp"
#include "common/vmm/vcpu.hpp"

namespace hvlab {
class FormatSink;
}

namespace hvlab::vmm {

class Machine final : public MsrHost {
 public:
  /// `name` prefixes the monitor's messages ("lab01", "lab04"); `diag` is where they go (the
  /// debug console, and as KTAP comments on COM1 where the monitor chooses so).
  Machine(const char* name, Board& board, Backend& backend, Dispatcher& dispatcher, TraceWriter& trace,
          FormatSink& diag)
      : name_(name),
        board_(board),
        backend_(backend),
        dispatcher_(dispatcher),
        trace_(trace),
        diag_(diag),
        msr_policy_(vcpu_, this, &board.lapic()) {}
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  const char* name() const { return name_; }
  Board& board() { return board_; }
  Backend& backend() { return backend_; }
  Dispatcher& dispatcher() { return dispatcher_; }
  TraceWriter& trace() { return trace_; }
  FormatSink& diag() { return diag_; }
  VCpu& vcpu() { return vcpu_; }
  /// RDMSR and WRMSR of the virtual CPU: what is emulated, hidden, ignored or refused.
  MsrPolicy& msr_policy() { return msr_policy_; }

  /// MsrHost: the guest's TSC now, and a WRMSR to it (moves only the guest's TSC, never the
  /// Board's device clock: a TSC written backwards cannot stall the timers).
  std::uint64_t guest_tsc() override { return board_.guest_tsc(backend_.now()); }
  void set_guest_tsc(std::uint64_t value) override { board_.set_guest_tsc(value, backend_.now()); }

  /// Raises `vector` in the guest at the next entry (a #GP, #UD or #PF found by a handler);
  /// returns Action::resume, so a handler can `return m.raise(...)`. A #PF takes `cr2`.
  Action raise(unsigned vector, bool has_error_code = false, std::uint32_t error_code = 0, std::uint32_t cr2 = 0);
  Action raise_gp(std::uint32_t error_code = 0) { return raise(13, true, error_code); }
  Action raise_ud() { return raise(6); }

  /// Guest-linear memory through the guest's MMU (the back end's read_linear/write_linear).
  /// On a guest page fault the #PF is raised for the next entry and false returned.
  bool read_linear(GuestVirtAddr la, void* dst, std::size_t n, bool user);
  bool write_linear(GuestVirtAddr la, const void* src, std::size_t n, bool user);

 private:
  const char* name_;
  Board& board_;
  Backend& backend_;
  Dispatcher& dispatcher_;
  TraceWriter& trace_;
  FormatSink& diag_;
  VCpu vcpu_;
  MsrPolicy msr_policy_;
};

}  // namespace hvlab::vmm
