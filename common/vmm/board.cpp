#include "common/vmm/board.hpp"

#include <cstdarg>

#include "common/arch/x86.hpp"
#include "common/runtime/format.hpp"
#include "common/vmm/trace.hpp"

namespace hvlab::vmm {

namespace {
constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
}  // namespace

std::uint64_t convert_ticks(std::uint64_t delta, std::uint64_t from_hz, std::uint64_t to_hz, std::uint64_t* rem) {
  // Whole seconds first, so delta * to_hz never overflows for the rest. Between two exits
  // delta is far below a second: skip that division then, and take each remainder by a
  // multiplication (a 64-bit division is a library call in the 32-bit monitors, and this
  // runs three times at every exit).
  std::uint64_t out = 0;
  if (delta >= from_hz) {
    const std::uint64_t seconds = delta / from_hz;
    out = seconds * to_hz;
    delta -= seconds * from_hz;
  }
  const std::uint64_t frac = delta * to_hz + *rem;
  const std::uint64_t q = frac / from_hz;
  *rem = frac - q * from_hz;
  return out + q;
}

Board::Board(dev::ByteSink* console, dev::ByteSink* debug)
    : pit_(&irq_router_),
      cmos_(&irq_router_),
      console_sink_(*this, console),
      com1_(&irq_router_, dev::Uart16550::kCom1Irq, &console_sink_),
      com2_(&irq_router_, 3, nullptr),
      debug_sink_(*this, debug),
      debug_console_(&debug_sink_),
      exit_port_(*this),
      shutdown_port_(*this),
      ata_(&isa_),
      fw_cfg_(dev::FwCfg::Config{.ram_bytes = 0, .cpus = 1}) {
  wiring_ = wire_devices();
}

Status Board::wire_devices() {
  // A PC as a BIOS leaves it; the guest reprograms the PICs and the PIT itself. The local
  // APIC in virtual wire mode passes the 8259's INTR through LINT0, so a guest that never
  // touches the APICs gets its 8259 interrupts as on a PC without them.
  pic_.bios_init();
  lapic_.bios_init();
  cga_.bios_init();
  ioapic_.connect(&lapic_);
  lapic_.connect_eoi(&ioapic_);
  pic_.connect_intr(&pic_intr_);
  HV_TRY(lapic_.attach(mmio_));
  HV_TRY(ioapic_.attach(mmio_));
  HV_TRY(pic_.attach(ports_));
  HV_TRY(pit_.attach(ports_));
  HV_TRY(ports_.attach(dev::CmosRtc::kIndexPort, 2, cmos_));
  HV_TRY(ports_.attach(dev::Uart16550::kCom1Port, 8, com1_));
  HV_TRY(ports_.attach(kCom2Port, 8, com2_));
  HV_TRY(ports_.attach(dev::DebugConsole::kPort, 1, debug_console_));
  HV_TRY(ports_.attach(dev::DebugExit::kPort, dev::DebugExit::kPortCount, exit_port_));
  HV_TRY(ports_.attach(kBochsShutdownPort, 4, shutdown_port_));  // a word or dword OUT too
  HV_TRY(ports_.attach(kPostPort, 1, post_port_));
  HV_TRY(ata_.attach(ports_));
  HV_TRY(fw_cfg_.attach(ports_));
  HV_TRY(cga_.attach(ports_, nullptr));  // the CRT controller; the buffer comes with RAM
  return {};
}

Status Board::add_ram(std::uint64_t bytes, void* host, HostPhysAddr hpa) {
  HV_TRY(memory_.add_region(GuestPhysAddr(0), bytes, host, hpa));
  cmos_.set_memory_size(bytes);
  fw_cfg_.set_ram_bytes(bytes);
  // The text buffer is ordinary guest RAM where RAM covers it (no trap per character, and
  // the monitor reads the screen from memory); otherwise the device's own, behind MMIO.
  if (bytes >= dev::CgaText::kBase + dev::CgaText::kVramSize) {
    cga_.use_vram(static_cast<std::uint8_t*>(host) + dev::CgaText::kBase);
  } else if (!mmio_.is_mmio(GuestPhysAddr(dev::CgaText::kBase))) {
    HV_TRY(mmio_.attach(GuestPhysAddr(dev::CgaText::kBase), dev::CgaText::kVramSize, cga_));
  }
  return {};
}

Result<PcBiosLayout> Board::write_bios_tables(std::uint32_t cpu_signature, std::uint32_t cpu_features) {
  PcBiosConfig c;
  c.lapic_id = lapic_.id();
  c.ioapic_id = ioapic_.id();
  c.cpu_signature = cpu_signature;
  c.cpu_features = cpu_features;
  return write_pc_bios_tables(memory_, c);
}

CpuidContext Board::cpuid_context(const VCpu& vcpu) const {
  CpuidContext c;
  c.apic_id = lapic_.id();
  c.apic_enabled = lapic_.globally_enabled();
  c.guest_cr4 = vcpu.cr4;
  return c;
}

void Board::poll_console_input() {
  if (!console_input_) return;
  std::uint8_t b;
  while (input_count_ < kConsoleInputBuffer && console_input_->get(&b))
    input_buf_[(input_head_ + input_count_++) % kConsoleInputBuffer] = b;
  while (input_count_ > 0 && com1_.rx_space() > 0) {
    com1_.receive(input_buf_[input_head_]);
    input_head_ = (input_head_ + 1) % kConsoleInputBuffer;
    --input_count_;
  }
}

Status Board::add_ram(std::uint64_t bytes, void* host) {
  HV_TRY(memory_.add_region(GuestPhysAddr(0), bytes, host));
  cmos_.set_memory_size(bytes);
  return {};
}

Status Board::hand_interrupts_to(dev::IrqSink& sink) {
  HV_TRY(ports_.detach(pic_.master()));
  HV_TRY(ports_.detach(pic_.slave()));
  HV_TRY(ports_.detach(pit_));
  (void)ports_.detach(pit_.port61());  // port 0x61 belongs to the host kernel's PIT too
  irq_router_.redirect(&sink, true);
  return {};
}

// ---- Time ------------------------------------------------------------------------------

void Board::advance_to(std::uint64_t t) {
  if (!time_started_) {
    time_started_ = true;
    device_time_ = start_time_ = last_progress_ = t;
    return;
  }
  if (t <= device_time_) return;
  std::uint64_t delta = t - device_time_;
  device_time_ = t;
  std::uint64_t pit_ticks = convert_ticks(delta, tsc_hz_, dev::Pit8254::kInputHz, &pit_rem_);
  if (pit_ticks) pit_.advance(pit_ticks);
  std::uint64_t rtc_ticks = convert_ticks(delta, tsc_hz_, dev::CmosRtc::kOscillatorHz, &rtc_rem_);
  if (rtc_ticks) cmos_.advance_ticks(rtc_ticks);
  std::uint64_t ns = convert_ticks(delta, tsc_hz_, kNsPerSecond, &lapic_rem_);
  if (ns) lapic_.advance_ns(ns);
}

void Board::on_entry(std::uint64_t host_tsc) {
  if (prepared_ && hide_monitor_time_ && host_tsc > prepared_host_tsc_) time_offset_ -= host_tsc - prepared_host_tsc_;
  prepared_ = false;
}

void Board::on_exit(std::uint64_t host_tsc) {
  advance_to(guest_time(host_tsc));
  exit_host_tsc_ = host_tsc;
  in_monitor_ = true;
}

namespace {

// `ticks` of a clock at `hz` in TSC ticks, rounded up.
std::uint64_t ticks_to_tsc(std::uint64_t ticks, std::uint64_t hz, std::uint64_t tsc_hz) {
  return (ticks / hz) * tsc_hz + ((ticks % hz) * tsc_hz + hz - 1) / hz;
}

}  // namespace

std::uint64_t Board::earliest(std::uint64_t a, std::uint64_t b) {
  if (a == 0) return b;
  return b == 0 || a < b ? a : b;
}

std::uint64_t Board::next_timer_deadline() const {
  // An external irqchip (KVM's in-kernel one) runs its own timers.
  if (external_irqchip()) return 0;
  std::uint64_t best = 0;
  // A masked interrupt wakes nobody: no need for timer exits then. The PIT's IRQ0 reaches
  // the processor through the 8259 or through I/O APIC pin 2. Round up, and never land
  // before the edge.
  const bool irq0_open = !(pic_.master().imr() & 1) ||
                         !(ioapic_.entry(dev::isa_irq_to_ioapic_pin(0)) & dev::IoApic::kEntryMasked);
  if (std::uint64_t ticks = irq0_open ? pit_.ticks_until_next_irq0() : 0)
    best = device_time_ + ticks_to_tsc(ticks, dev::Pit8254::kInputHz, tsc_hz_) + 1;
  if (std::uint64_t ns = lapic_.ns_until_timer()) {
    const std::uint64_t t = device_time_ + ticks_to_tsc(ns, kNsPerSecond, tsc_hz_) + 1;
    if (best == 0 || t < best) best = t;
  }
  return best;
}

void Board::note_timer_sample(const VCpu& vcpu) {
  const GeneralRegisters& r = vcpu.regs;
  const GeneralRegisters& s = sample_regs_;
  const bool same_regs = r.eax == s.eax && r.ecx == s.ecx && r.edx == s.edx && r.ebx == s.ebx && r.esp == s.esp &&
                         r.ebp == s.ebp && r.esi == s.esi && r.edi == s.edi;
  const std::uint32_t lo = vcpu.eip < sample_lo_ ? vcpu.eip : sample_lo_;
  const std::uint32_t hi = vcpu.eip > sample_hi_ ? vcpu.eip : sample_hi_;
  if (have_sample_ && same_regs && hi - lo < kSpinWindow) {
    sample_lo_ = lo;
    sample_hi_ = hi;
    return;
  }
  if (have_sample_) last_progress_ = device_time_;  // the first sample after an event proves nothing
  have_sample_ = true;
  sample_regs_ = r;
  sample_lo_ = sample_hi_ = vcpu.eip;
}

// ---- Events ----------------------------------------------------------------------------

void Board::inject_exception(unsigned vector, bool has_error_code, std::uint32_t error_code) {
  pending_ = PendingEvent{};
  pending_.valid = true;
  pending_.type = PendingEvent::Type::hardware_exception;
  pending_.vector = static_cast<std::uint8_t>(vector);
  pending_.has_error_code = has_error_code;
  pending_.error_code = error_code;
}

bool Board::can_wake(const VCpu& vcpu) const {
  const dev::ApicPending p = lapic_.pending();
  return p == dev::ApicPending::nmi || (p != dev::ApicPending::none && vcpu.interrupts_enabled());
}

std::uint8_t Board::take_interrupt() {
  if (lapic_.pending() == dev::ApicPending::fixed) return lapic_.acknowledge();
  // ExtINT: the 8259 pair supplies the vector in its INTA cycle (SDM 10.5.1).
  const std::uint8_t vector = pic_.acknowledge();
  lapic_.acknowledge_extint();
  return vector;
}

EntryPlan Board::prepare_entry(VCpu& vcpu, std::uint64_t host_tsc) {
  EntryPlan plan;
  if (in_monitor_) {
    // The guest's clock stood still while the monitor worked (unsigned: wraps as it must).
    if (hide_monitor_time_ && host_tsc > exit_host_tsc_) time_offset_ -= host_tsc - exit_host_tsc_;
    in_monitor_ = false;
  }
  advance_to(guest_time(host_tsc));
  prepared_host_tsc_ = host_tsc;
  prepared_ = true;
  poll_console_input();

  // A halted vCPU waits for an interrupt it can take. Rather than spin, move the guest's
  // clock to the next timer interrupt (bounded, in case it is masked on the way).
  if (vcpu.halted && !pending_.valid && idle_wait_ && vcpu.interrupts_enabled() && !can_wake(vcpu) && !wake_due()) {
    // The back end sleeps with the halted vCPU until its timer or another event.
    plan.timer_deadline = earliest(next_timer_deadline(), wake_deadline_);
    plan.watchdog = device_time_ + tsc_hz_ / 4;
    return plan;
  }
  if (vcpu.halted && !pending_.valid) {
    for (unsigned round = 0; !can_wake(vcpu) && !wake_due() && !idle_wait_; ++round) {
      std::uint64_t deadline = earliest(next_timer_deadline(), wake_deadline_);
      if (!vcpu.interrupts_enabled() || deadline == 0 || round > 10000) break;
      if (deadline > guest_time(host_tsc)) time_offset_ += deadline - guest_time(host_tsc);
      ++idle_skips_;
      advance_to(guest_time(host_tsc));
    }
    if (!can_wake(vcpu) && !(vcpu.interrupts_enabled() && wake_due())) {
      contain("the guest halted with %s: nothing can wake it (eip %08x)",
              vcpu.interrupts_enabled() ? "no timer running" : "interrupts disabled", vcpu.eip);
      plan.stop = true;
      return plan;
    }
  }

  const dev::ApicPending apic = lapic_.pending();
  if (pending_.valid) {
    // An exception (or an event whose delivery was cut short) goes first; a device
    // interrupt waits for the next window (SDM 26.6: one event per entry).
    plan.inject = pending_;
    pending_ = PendingEvent{};
    plan.interrupt_window = apic != dev::ApicPending::none;
  } else if (apic == dev::ApicPending::nmi) {
    // An NMI ignores EFLAGS.IF (SDM 6.8.1), not blocking by MOV SS (SDM 26.3.1.5).
    if (!vcpu.interrupt_shadow) {
      plan.inject.valid = true;
      plan.inject.type = PendingEvent::Type::nmi;
      plan.inject.vector = 2;
      lapic_.acknowledge_nmi();
      ++injected_;
    } else {
      plan.interrupt_window = true;
    }
  } else if (apic != dev::ApicPending::none) {
    // SDM 26.6.5: an external interrupt is injected only if RFLAGS.IF = 1 and there is no
    // blocking by STI or MOV SS; otherwise ask for an interrupt-window exit.
    if (vcpu.interrupts_enabled() && !vcpu.interrupt_shadow) {
      plan.inject.valid = true;
      plan.inject.type = PendingEvent::Type::external_interrupt;
      plan.inject.vector = take_interrupt();  // the INTA cycle
      ++injected_;
    } else {
      plan.interrupt_window = true;
    }
  }
  if (plan.inject.valid) vcpu.halted = false;
  plan.timer_deadline = earliest(next_timer_deadline(), wake_deadline_);
  // Even with no timer running the monitor looks in now and then (a quarter second of
  // guest time), so a guest spinning with interrupts off is noticed.
  plan.watchdog = device_time_ + tsc_hz_ / 4;
  return plan;
}

// ---- Stopping --------------------------------------------------------------------------

void Board::note_exit_request(int status) {
  if (state_ != RunState::running) return;
  state_ = RunState::guest_exited;
  status_ = status;
  format(stop_reason_, sizeof stop_reason_, "guest exited with status %d", status);
}

void Board::note_shutdown_request() {
  // Bochs' shutdown port carries no status: use the guest's own marker if it printed one.
  note_exit_request(marker_status_ >= 0 ? marker_status_ : 0);
}

void Board::stop(RunState s, const char* fmt, va_list ap) {
  if (state_ != RunState::running) return;
  state_ = s;
  vformat(stop_reason_, sizeof stop_reason_, fmt, ap);
}

void Board::contain(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  stop(RunState::contained, fmt, ap);
  va_end(ap);
}

void Board::fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  stop(RunState::failed, fmt, ap);
  va_end(ap);
}

int Board::exit_status() const {
  switch (state_) {
    case RunState::guest_exited: return status_;
    case RunState::contained: return kStatusContained;
    case RunState::running:
    case RunState::failed: break;
  }
  return kStatusFailed;
}

Result<std::uint32_t> Board::ExitPort::read(std::uint32_t offset, unsigned size) {
  return b_.debug_exit_.read(offset, size);
}

Status Board::ExitPort::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  Status s = b_.debug_exit_.write(offset, size, value);
  if (b_.debug_exit_.exit_requested()) b_.note_exit_request(static_cast<int>(b_.debug_exit_.value()));
  return s;
}

Status Board::ShutdownPort::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  static constexpr char kWord[] = "Shutdown";
  if (offset != 0) return {};  // only port 0x8900 itself listens
  for (unsigned i = 0; i < size; ++i) {
    char c = static_cast<char>(value >> (8 * i));
    matched_ = (c == kWord[matched_]) ? matched_ + 1 : (c == kWord[0] ? 1 : 0);
    if (matched_ == sizeof kWord - 1) {
      matched_ = 0;
      b_.note_shutdown_request();
    }
  }
  return {};
}

namespace {

/// The number after "hvlab-exit: " at the start of `line`, or -1.
int exit_marker(const char* line) {
  static constexpr char kMarker[] = "hvlab-exit: ";
  unsigned i = 0;
  while (kMarker[i] && line[i] == kMarker[i]) ++i;
  if (kMarker[i]) return -1;
  int v = -1;
  for (const char* d = line + i; *d >= '0' && *d <= '9' && v < 100000; ++d) v = (v < 0 ? 0 : v * 10) + (*d - '0');
  return v;
}

}  // namespace

void Board::GuestDebugSink::put(std::uint8_t byte) {
  if (++bytes_ > b_.budgets_.output_bytes) {
    b_.contain("output flood: the guest wrote more than its output budget to port 0xE9");
    return;
  }
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
    int marker = exit_marker(line_);
    if (marker >= 0) b_.marker_status_ = marker;
    len_ = 0;
  } else if (byte != '\r' && len_ + 1 < sizeof line_) {
    line_[len_++] = static_cast<char>(byte);
  }
}

void Board::GuestConsoleSink::put(std::uint8_t byte) {
  if (++b_.console_bytes_ > b_.budgets_.output_bytes) {
    b_.contain("output flood: the guest wrote more than its output budget to COM1");
    return;
  }
  if (out_) out_->put(byte);
  if (byte == '\n') {
    line_[len_] = '\0';
    // KTAP result lines ("ok 3 name", "not ok 4 name") become trace notes, so the trace
    // can be cut into per-test pieces (events per guest test).
    auto starts = [this](const char* s) {
      unsigned i = 0;
      while (s[i] && i < len_ && line_[i] == s[i]) ++i;
      return s[i] == '\0';
    };
    if ((starts("ok ") || starts("not ok ")) && b_.trace_) b_.trace_->note("ktap", line_);
    len_ = 0;
  } else if (byte != '\r' && len_ + 1 < sizeof line_) {
    line_[len_++] = static_cast<char>(byte);
  }
}

}  // namespace hvlab::vmm
