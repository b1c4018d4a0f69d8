#pragma once
// For host tests of handlers and back ends (GoogleTest): a Board with RAM, a scripted
// back end whose clock the test moves, and a Machine over them, recording every output.
// Host-only (it uses the standard library).

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/runtime/format.hpp"
#include "common/vmm/backend.hpp"
#include "common/vmm/board.hpp"
#include "common/vmm/dispatcher.hpp"
#include "common/vmm/machine.hpp"
#include "common/vmm/trace.hpp"

namespace hvlab::vmm::fake {

/// Bytes a device wrote, as a string.
struct RecordingSink final : dev::ByteSink {
  std::string bytes;
  void put(std::uint8_t b) override { bytes += static_cast<char>(b); }
};

/// Formatted text, as a string.
struct StringSink final : FormatSink {
  std::string text;
  void put(char c) override { text += c; }
};

/// A back end driven by the test: each enter() runs the next step of the script (which may
/// change the vCPU and returns the Event), and advances the clock by `step_tsc`. Everything
/// the loop asks of it is recorded.
class FakeBackend final : public Backend {
 public:
  using Step = std::function<Event(VCpu&)>;
  explicit FakeBackend(Board& b) : Backend(b) {}

  const char* name() const override { return "fake"; }
  std::uint64_t now() override { return clock; }
  bool inject(VCpu& v, const PendingEvent& e) override {
    injected.push_back(e);
    if (e.type == PendingEvent::Type::external_interrupt) v.halted = false;
    return accept_injection;
  }
  void request_interrupt_window(VCpu&, bool on) override { window = on; }
  void arm_timer(std::uint64_t deadline, std::uint64_t watchdog) override {
    timer_deadline = deadline;
    timer_watchdog = watchdog;
  }
  Event enter(VCpu& v) override {
    ++entries;
    entry_time_ = switch_margin ? clock + switch_margin : 0;
    clock += step_tsc;
    exit_time_ = clock - switch_margin;
    if (script.empty()) {  // nothing left: the guest asks to stop with status 0
      board_.note_exit_request(0);
      Event e;
      e.reason = Reason::other;
      return e;
    }
    Step s = std::move(script.front());
    script.pop_front();
    return s(v);
  }

  std::deque<Step> script;
  /// With switch_margin set, the guest runs only from `switch_margin` after enter() is
  /// called to `switch_margin` before it returns (a trap back end's own work on each side).
  std::uint64_t switch_margin = 0;
  std::uint64_t clock = 1000;
  std::uint64_t step_tsc = 100;
  bool accept_injection = true;
  bool window = false;
  std::uint64_t timer_deadline = 0, timer_watchdog = 0;
  std::vector<PendingEvent> injected;
  unsigned entries = 0;
};

/// A whole machine for tests: `ram_mib` of guest RAM at guest-physical 0.
struct FakeMachine {
  explicit FakeMachine(std::uint64_t ram_mib = 4)
      : ram(ram_mib << 20), board(&console, &debug), backend(board), trace(trace_out),
        machine("test", board, backend, dispatcher, trace, diag) {
    (void)board.add_ram(ram.size(), ram.data(), HostPhysAddr(0x100000));
    board.set_tsc_hz(1'000'000);  // 1 MHz: one microsecond per tick, easy to reason about
  }
  VCpu& vcpu() { return machine.vcpu(); }

  RecordingSink console, debug;
  StringSink trace_out, diag;
  std::vector<std::uint8_t> ram;
  Board board;
  FakeBackend backend;
  Dispatcher dispatcher;
  TraceWriter trace;
  Machine machine;
};

}  // namespace hvlab::vmm::fake
