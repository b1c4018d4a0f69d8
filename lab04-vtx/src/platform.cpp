#include "lab04-vtx/src/platform.hpp"

#include <cstdarg>

#include "common/runtime/exercise.hpp"
#include "common/arch/x86.hpp"
#include "common/runtime/format.hpp"

namespace hvlab::lab04 {

namespace {
Platform* g_platform = nullptr;
}

Platform& platform() { return *g_platform; }
void bind_platform(Platform* p) { g_platform = p; }

std::uint64_t convert_ticks(std::uint64_t delta, std::uint64_t from_hz, std::uint64_t to_hz, std::uint64_t* rem) {
  // Whole seconds first, so delta * to_hz never overflows for the rest.
  std::uint64_t out = (delta / from_hz) * to_hz;
  std::uint64_t frac = (delta % from_hz) * to_hz + *rem;
  out += frac / from_hz;
  *rem = frac % from_hz;
  return out;
}

Platform::Platform(dev::ByteSink* console, dev::ByteSink* debug)
    : pit_(&pic_),
      cmos_(&pic_),
      console_sink_(*this, console),
      com1_(&pic_, dev::Uart16550::kCom1Irq, &console_sink_),
      com2_(&pic_, 3, nullptr),
      debug_sink_(*this, debug),
      debug_console_(&debug_sink_),
      exit_port_(*this),
      shutdown_port_(*this) {
  wire_devices();
}

void Platform::wire_devices() {
  // A PC as a BIOS leaves it; the guest reprograms the PICs and the PIT itself.
  pic_.bios_init();
  (void)pic_.attach(ports_);
  (void)pit_.attach(ports_);
  (void)ports_.attach(dev::CmosRtc::kIndexPort, 2, cmos_);
  (void)ports_.attach(dev::Uart16550::kCom1Port, 8, com1_);
  (void)ports_.attach(0x2f8, 8, com2_);
  (void)ports_.attach(dev::DebugConsole::kPort, 1, debug_console_);
  (void)ports_.attach(dev::DebugExit::kPort, dev::DebugExit::kPortCount, exit_port_);
  (void)ports_.attach(0x8900, 1, shutdown_port_);
}

// ---- Time ------------------------------------------------------------------------------

void Platform::advance_to(std::uint64_t guest_tsc) {
  if (!time_started_) {
    time_started_ = true;
    device_time_ = guest_tsc;
    return;
  }
  if (guest_tsc <= device_time_) return;
  std::uint64_t delta = guest_tsc - device_time_;
  device_time_ = guest_tsc;
  std::uint64_t pit_ticks = convert_ticks(delta, tsc_hz_, dev::Pit8254::kInputHz, &pit_rem_);
  if (pit_ticks) pit_.advance(pit_ticks);
  std::uint64_t rtc_ticks = convert_ticks(delta, tsc_hz_, dev::CmosRtc::kOscillatorHz, &rtc_rem_);
  if (rtc_ticks) cmos_.advance_ticks(rtc_ticks);
}

void Platform::on_exit(std::uint64_t host_tsc) {
  advance_to(guest_tsc(host_tsc));
  exit_host_tsc_ = host_tsc;
  in_monitor_ = true;
}

std::uint64_t Platform::next_timer_deadline() const {
  // A masked IRQ0 wakes nobody: no need for timer exits then.
  if (pic_.master().imr() & 1) return 0;
  std::uint64_t ticks = pit_.ticks_until_next_irq0();
  if (ticks == 0) return 0;
  // Round up, and never land before the edge.
  std::uint64_t tsc = (ticks / dev::Pit8254::kInputHz) * tsc_hz_ +
                      ((ticks % dev::Pit8254::kInputHz) * tsc_hz_ + dev::Pit8254::kInputHz - 1) /
                          dev::Pit8254::kInputHz;
  return device_time_ + tsc + 1;
}

// ---- Events ----------------------------------------------------------------------------

void Platform::inject_exception(unsigned vector, bool has_error_code, std::uint32_t error_code) {
  pending_ = PendingEvent{};
  pending_.valid = true;
  pending_.type = PendingEvent::Type::hardware_exception;
  pending_.vector = static_cast<std::uint8_t>(vector);
  pending_.has_error_code = has_error_code;
  pending_.error_code = error_code;
}

EntryPlan Platform::prepare_entry(vmm::VCpu& vcpu, std::uint64_t host_tsc) {
  // BEGIN SOLUTION lab04-e7
  EntryPlan plan;
  if (in_monitor_) {
    // The guest's clock stood still while the monitor worked (unsigned: wraps as it must).
    if (host_tsc > exit_host_tsc_) tsc_offset_ -= host_tsc - exit_host_tsc_;
    in_monitor_ = false;
  }
  advance_to(guest_tsc(host_tsc));

  // A halted vCPU waits for an interrupt it can take. Rather than spin, move the guest's
  // clock to the next timer edge (bounded, in case the edge is masked at the PIC).
  if (vcpu.halted && !pending_.valid) {
    for (unsigned round = 0; !pic_.has_pending(); ++round) {
      std::uint64_t deadline = next_timer_deadline();
      if (!vcpu.interrupts_enabled() || deadline == 0 || round > 10000) {
        plan.stop = true;
        return plan;
      }
      tsc_offset_ += deadline - guest_tsc(host_tsc);
      ++idle_skips_;
      advance_to(guest_tsc(host_tsc));
    }
    if (!vcpu.interrupts_enabled()) {
      plan.stop = true;
      return plan;
    }
  }

  if (pending_.valid) {
    // An exception (or an event whose delivery was cut short) goes first; a device
    // interrupt waits for the next window (SDM 26.6: one event per entry).
    plan.inject = pending_;
    pending_ = PendingEvent{};
    plan.interrupt_window = pic_.has_pending();
  } else if (pic_.has_pending()) {
    // SDM 26.6.5: an external interrupt is injected only if RFLAGS.IF = 1 and there is no
    // blocking by STI or MOV SS; otherwise ask for an interrupt-window exit.
    if (vcpu.interrupts_enabled() && !vcpu.interrupt_shadow) {
      plan.inject.valid = true;
      plan.inject.type = PendingEvent::Type::external_interrupt;
      plan.inject.vector = pic_.acknowledge();  // the INTA cycle
      ++injected_;
      vcpu.halted = false;
    } else {
      plan.interrupt_window = true;
    }
  }
  if (plan.inject.valid) vcpu.halted = false;
  plan.timer_deadline = next_timer_deadline();
  // Even with no timer running the monitor looks in now and then (a quarter second of
  // guest time), so a guest spinning with interrupts off is noticed.
  plan.watchdog = device_time_ + tsc_hz_ / 4;
  return plan;
  // STUB: EntryPlan plan; (void)vcpu; (void)host_tsc; return plan;
  // END SOLUTION
}

// ---- Stopping --------------------------------------------------------------------------

void Platform::note_exit_request(int status) {
  if (exited_) return;
  exited_ = true;
  status_ = status;
  set_stop_reason("guest exited with status %d", status);
}

void Platform::set_stop_reason(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vformat(stop_reason_, sizeof stop_reason_, fmt, ap);
  va_end(ap);
}

void Platform::note_shutdown_request() {
  // Bochs' shutdown port carries no status: use the guest's own marker if it printed one.
  note_exit_request(marker_status_ >= 0 ? marker_status_ : 0);
}

Result<std::uint32_t> Platform::ExitPort::read(std::uint32_t offset, unsigned size) {
  return p_.debug_exit_.read(offset, size);
}

Status Platform::ExitPort::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  Status s = p_.debug_exit_.write(offset, size, value);
  if (p_.debug_exit_.exit_requested()) p_.note_exit_request(static_cast<int>(p_.debug_exit_.value()));
  return s;
}

Status Platform::ShutdownPort::write(std::uint32_t, unsigned size, std::uint32_t value) {
  static constexpr char kWord[] = "Shutdown";
  for (unsigned i = 0; i < size; ++i) {
    char c = static_cast<char>(value >> (8 * i));
    matched_ = (c == kWord[matched_]) ? matched_ + 1 : (c == kWord[0] ? 1 : 0);
    if (matched_ == sizeof kWord - 1) {
      matched_ = 0;
      p_.note_shutdown_request();
    }
  }
  return {};
}

void Platform::GuestDebugSink::put(std::uint8_t byte) {
  // Prefix every guest line, so "hvlab-exit: N" from the guest never starts a line on the
  // monitor's debug console (the runner trusts only the monitor's own marker).
  static constexpr char kPrefix[] = "guest: ";
  if (out_ && at_line_start_ && byte != '\n') {
    for (const char* p = kPrefix; *p; ++p) out_->put(static_cast<std::uint8_t>(*p));
    at_line_start_ = false;
  }
  if (out_) out_->put(byte);
  if (byte == '\n') {
    at_line_start_ = true;
    line_[len_ < sizeof line_ ? len_ : sizeof line_ - 1] = '\0';
    static constexpr char kMarker[] = "hvlab-exit: ";
    unsigned i = 0;
    while (kMarker[i] && line_[i] == kMarker[i]) ++i;
    if (!kMarker[i]) {
      int v = 0;
      bool digits = false;
      for (const char* d = line_ + i; *d >= '0' && *d <= '9'; ++d) {
        v = v * 10 + (*d - '0');
        digits = true;
      }
      if (digits) p_.marker_status_ = v;
    }
    len_ = 0;
  } else if (byte != '\r' && len_ + 1 < sizeof line_) {
    line_[len_++] = static_cast<char>(byte);
  }
}

void Platform::GuestConsoleSink::put(std::uint8_t byte) {
  if (++p_.console_bytes_ > kConsoleLimit) {
    if (!p_.exited_) p_.set_stop_reason("the guest flooded its console (more than %llu bytes)",
                                        static_cast<unsigned long long>(kConsoleLimit));
    return;
  }
  if (out_) out_->put(byte);
  if (byte == '\n') {
    line_[len_] = '\0';
    // KTAP result lines ("ok 3 name", "not ok 4 name") become trace notes, so the trace
    // can be cut into per-test pieces (exits per guest test).
    bool result = (len_ >= 3 && line_[0] == 'o' && line_[1] == 'k' && line_[2] == ' ') ||
                  (len_ >= 7 && line_[0] == 'n' && line_[1] == 'o' && line_[2] == 't' && line_[3] == ' ' &&
                   line_[4] == 'o' && line_[5] == 'k' && line_[6] == ' ');
    if (result && p_.trace_) p_.trace_->note("ktap", line_);
    len_ = 0;
  } else if (byte != '\r' && len_ + 1 < sizeof line_) {
    line_[len_++] = static_cast<char>(byte);
  }
}

}  // namespace hvlab::lab04
