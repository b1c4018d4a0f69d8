#include "common/vmm/run.hpp"

#include "common/decoder/decoder.hpp"
#include "common/vmm/debug.hpp"
#include "common/runtime/format.hpp"

namespace hvlab::vmm {

Action Machine::raise(unsigned vector, bool has_error_code, std::uint32_t error_code, std::uint32_t cr2) {
  if (vector == 14) vcpu_.cr2 = cr2;
  board_.inject_exception(vector, has_error_code, error_code);
  return Action::resume;
}

bool Machine::read_linear(GuestVirtAddr la, void* dst, std::size_t n, bool user) {
  ExceptionInfo f;
  if (backend_.read_linear(vcpu_, la, dst, n, user, &f)) return true;
  raise(f.vector, f.has_error_code, f.error_code, f.address);
  return false;
}

bool Machine::write_linear(GuestVirtAddr la, const void* src, std::size_t n, bool user) {
  ExceptionInfo f;
  if (backend_.write_linear(vcpu_, la, src, n, user, &f)) return true;
  raise(f.vector, f.has_error_code, f.error_code, f.address);
  return false;
}

void reflect(Machine& m, VCpu& vcpu, const Event& e) {
  if (e.exception.vector == 14 && e.memory.has_linear) vcpu.cr2 = e.memory.linear.low32();
  m.board().inject_exception(e.exception.vector, e.exception.has_error_code, e.exception.error_code);
}

namespace {

/// Which events reach the trace: in quiet mode the first `cap` of each kind (reason, or the
/// instruction when one was decoded, or the hypercall's number) per guest test, so every test's piece of the trace shows
/// each kind of event it caused while the channel (a serial line) stays short. Stops and
/// reflected exceptions are always recorded.
class TraceFilter {
 public:
  TraceFilter(const RunOptions& o, TraceWriter& t) : opt_(o), trace_(t) {}

  bool wanted(const Event& e, Action a) {
    if (opt_.trace == TraceMode::off) return false;
    if (opt_.trace == TraceMode::all || a == Action::stop || a == Action::reflect) return true;
    if (e.reason == Reason::io_instruction && e.io.port >= 0x3f8 && e.io.port <= 0x3ff) return false;
    if (trace_.ktap_notes() != epoch_) {
      epoch_ = trace_.ktap_notes();
      for (auto& s : slots_) s = Slot{};
    }
    // A kind: the reason, with the instruction when one was decoded, or the hypercall.
    std::uint32_t detail = e.insn ? static_cast<std::uint32_t>(e.insn->mnemonic()) : static_cast<std::uint32_t>(e.op);
    if (e.reason == Reason::hypercall) detail = e.hypercall & 0xffff;
    std::uint32_t key = static_cast<std::uint32_t>(e.reason) << 16 | detail;
    for (unsigned i = 0; i < kSlots; ++i) {
      Slot& s = slots_[(key * 2654435761u + i) % kSlots];
      if (s.used && s.key != key) continue;
      s.used = true;
      s.key = key;
      return s.count++ < opt_.trace_cap;
    }
    return false;  // a test with more kinds than slots: the rest are counted only
  }

 private:
  struct Slot {
    bool used = false;
    std::uint32_t key = 0, count = 0;
  };
  static constexpr unsigned kSlots = 128;
  const RunOptions& opt_;
  TraceWriter& trace_;
  std::uint64_t epoch_ = 0;
  Slot slots_[kSlots];
};

/// Emulated instructions by mnemonic (trap back ends decode what they emulate).
class InstructionCounts {
 public:
  void add(const decoder::Instruction& insn) {
    unsigned m = insn.mnemonic();
    if (m < kMax) ++counts_[m];
  }
  void write(FormatSink& out) const {
    bool any = false;
    for (unsigned m = 0; m < kMax && !any; ++m) any = counts_[m] != 0;
    if (!any) return;
    format_to(out, "{\"kind\":\"insn_counts\",\"counts\":{");
    bool first = true;
    for (unsigned m = 0; m < kMax; ++m) {
      if (!counts_[m]) continue;
      const char* name = ZydisMnemonicGetString(static_cast<ZydisMnemonic>(m));
      format_to(out, "%s\"%s\":%u", first ? "" : ",", name ? name : "?", counts_[m]);
      first = false;
    }
    format_to(out, "}}\n");
  }

 private:
  static constexpr unsigned kMax = ZYDIS_MNEMONIC_MAX_VALUE + 1;
  std::uint32_t counts_[kMax] = {};
};

InstructionCounts g_counts_storage;  // large: kept out of the kernel's small stack

void write_accounting(FormatSink& out, const RunStats& s, std::uint64_t emulated) {
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  auto per = [](std::uint64_t n, std::uint64_t d) { return static_cast<unsigned long long>(d ? n / d : 0); };
  format_to(out,
            "{\"kind\":\"accounting\",\"entries\":%llu,\"emulated\":%llu,\"reflected\":%llu,\"guest_tsc\":%llu,"
            "\"monitor_tsc\":%llu,\"guest_per_entry\":%llu,\"monitor_per_entry\":%llu,\"monitor_per_emulated\":%llu}\n",
            u(s.entries), u(emulated), u(s.reflected), u(s.guest_tsc), u(s.monitor_tsc), per(s.guest_tsc, s.entries),
            per(s.monitor_tsc, s.entries), per(s.monitor_tsc, emulated));
}

}  // namespace

int run(Machine& m, const RunOptions& options, RunStats* stats_out) {
  Board& board = m.board();
  Backend& backend = m.backend();
  TraceWriter& trace = m.trace();
  VCpu& vcpu = m.vcpu();
  board.set_trace(&trace);
  TraceFilter filter(options, trace);
  InstructionCounts& counts = g_counts_storage;
  counts = InstructionCounts{};
  RunStats stats;
  std::uint64_t t_exit = backend.now();
  g_debug.machine = &m;
  g_debug.lab = m.name();
  g_debug.events = 0;
  g_debug.hypercalls = 0;
  if (const mem::GuestRegion* ram = board.memory().find(GuestPhysAddr(0)); ram && ram->hpa_known) {
    g_debug.ram_host_phys = ram->hpa.value();
    g_debug.ram_bytes = ram->size;
  }

  while (board.running()) {
    if (stats.entries >= board.budgets().events) {
      board.contain("event budget exhausted after %llu events: the guest looks livelocked (raise events=)",
                    static_cast<unsigned long long>(stats.entries));
      break;
    }
    EntryPlan plan = board.prepare_entry(vcpu, backend.now());
    if (plan.stop || !board.running()) break;
    if (plan.inject.valid && !backend.inject(vcpu, plan.inject)) {
      board.contain("the guest triple-faulted (an exception it cannot take: vector %u)", plan.inject.vector);
      break;
    }
    backend.request_interrupt_window(vcpu, plan.interrupt_window);
    backend.arm_timer(plan.timer_deadline, plan.watchdog);

    std::uint64_t t_enter = backend.now();
    Event e = backend.enter(vcpu);
    // The back end knows when the guest really started and stopped: its own work on either
    // side of the switch is the monitor's (a stale or missing entry time: the call's start).
    const std::uint64_t exited = backend.exit_time();
    std::uint64_t entered = backend.entry_time();
    if (entered < t_enter || entered > exited) entered = t_enter;
    stats.monitor_tsc += entered - t_exit;
    stats.guest_tsc += exited - entered;
    t_exit = exited;
    ++stats.entries;
    board.on_entry(entered);
    board.on_exit(exited);

    // Limits that only time shows: a guest that never leaves the monitor anything to do but
    // take its timer, with interrupts off and its state standing still at those timer exits,
    // can never make progress. A long boot with interrupts off moves its EIP and registers.
    if (e.reason != Reason::external_interrupt) {
      board.note_progress();
    } else {
      board.note_timer_sample(vcpu);
      if (board.spinning_with_interrupts_off(vcpu))
        board.contain("the guest spins with interrupts disabled and no event for %u s of its time (eip %08x, "
                      "making no progress)",
                      board.budgets().spin_seconds, vcpu.eip);
    }
    if (board.guest_seconds() > board.budgets().guest_seconds)
      board.contain("guest time limit reached: %llu s of guest time (seconds=)",
                    static_cast<unsigned long long>(board.budgets().guest_seconds));

    Action a = board.running() ? m.dispatcher().dispatch(m, vcpu, e) : Action::stop;
    if (a == Action::reflect) {
      reflect(m, vcpu, e);
      ++stats.reflected;
    }
    if (e.insn && (a == Action::advance || a == Action::resume)) counts.add(*e.insn);
    g_debug.record(e, a, e.insn ? ZydisMnemonicGetString(static_cast<ZydisMnemonic>(e.insn->mnemonic())) : nullptr);
    if (a == Action::stop && board.running()) board.fail("stopped by the %s handler at eip %08x", reason_name(e.reason), e.guest_eip);
    if (filter.wanted(e, a)) {
      char text[96];
      const char* insn = nullptr;
      if (e.insn && options.decoder && options.decoder->format(*e.insn, e.guest_eip, text, sizeof text)) insn = text;
      trace.set_events_enabled(true);
      trace.event(e, a, insn);
    } else {
      trace.set_events_enabled(false);
      trace.event(e, a);  // numbered, not written: per-test counts stay exact
    }
  }

  // The closing records: why, where the time went, what was emulated, the back end's own
  // counters, and the per-reason counts.
  trace.set_events_enabled(true);
  const char* why = board.stop_reason();
  if (board.state() == RunState::contained) {
    trace.note("contained", why);
    format_to(m.diag(), "%s: contained the guest: %s (eip=%08x)\n", m.name(), why, vcpu.eip);
  } else if (board.state() == RunState::failed) {
    format_to(m.diag(), "%s: stopped: %s\n", m.name(), why);
  }
  trace.note("stop", why);
  write_accounting(trace.sink(), stats, vcpu.instructions_emulated);
  counts.write(trace.sink());
  backend.finish(trace);
  trace.summary(m.dispatcher(), vcpu.instructions_emulated, why);
  format_to(m.diag(), "%s: guest stopped: %s (events %llu, reflected %llu, interrupts %llu, idle skips %llu)\n",
            m.name(), why, static_cast<unsigned long long>(stats.entries),
            static_cast<unsigned long long>(stats.reflected), static_cast<unsigned long long>(board.interrupts_injected()),
            static_cast<unsigned long long>(board.idle_skips()));
  if (stats_out) *stats_out = stats;
  return board.exit_status();
}

}  // namespace hvlab::vmm
