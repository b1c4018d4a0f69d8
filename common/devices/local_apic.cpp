// Local APIC (xAPIC). Section numbers are Intel SDM vol. 3A's.

#include "common/devices/local_apic.hpp"

namespace hvlab::dev {

namespace {

constexpr std::uint64_t kNsPerSecond = 1000000000;

// Bits a write may change in each LVT (SDM figure 10-8). Delivery status (12) and remote IRR
// (14) are read-only; timer bit 18 (TSC-deadline) is reserved because the mode is not offered;
// LINT1 has no level-triggered mode (SDM 10.5.1: "LINT1 does not support level-sensitive").
constexpr std::uint32_t kLvtWritable[] = {
    0x000300ff,  // timer: vector, mask, periodic
    0x000107ff,  // thermal: vector, delivery mode, mask
    0x000107ff,  // performance counters
    0x0001a7ff,  // LINT0: vector, delivery mode, polarity, trigger mode, mask
    0x000127ff,  // LINT1: as LINT0 without trigger mode
    0x000100ff,  // error: vector, mask
};
constexpr std::uint32_t kLvtPolarityLow = 1u << 13;
// ICR bits software can write: vector, delivery mode, destination mode, level, trigger mode,
// destination shorthand (SDM figure 10-12).
constexpr std::uint32_t kIcrLowWritable = 0x000cdfff;

std::uint32_t lvt_mode(std::uint32_t lvt) { return (lvt >> 8) & 7; }

}  // namespace

LocalApic::LocalApic(Config config) : config_(config) {
  if (config_.bus_hz == 0) config_.bus_hz = 1;  // a clock must tick
  id_ = std::uint32_t{config_.apic_id} << 24;
  power_on_registers();
}

int LocalApic::highest(const std::uint32_t (&bits)[8]) {
  for (int word = 7; word >= 0; --word) {
    if (bits[word] == 0) continue;
    for (int b = 31; b >= 0; --b) {
      if (bits[word] & (1u << b)) return word * 32 + b;
    }
  }
  return -1;
}

void LocalApic::power_on_registers() {
  ++state_version_;
  // SDM 10.4.7.1: IRR, ISR, TMR, ICR, LDR and TPR zero; timer counts and divide zero; DFR all
  // ones; LVTs masked; SVR 0xFF (software disabled). The ID and IA32_APIC_BASE are kept.
  tpr_ = ldr_ = 0;
  dfr_ = 0xffffffffu;
  svr_ = 0xff;
  esr_ = esr_pending_ = 0;
  icr_low_ = icr_high_ = 0;
  for (std::uint32_t& l : lvt_) l = kLvtMasked;
  for (unsigned i = 0; i < 8; ++i) irr_[i] = isr_[i] = tmr_[i] = 0;
  initial_count_ = divide_config_ = 0;
  anchor_count_ = 0;
  zeroes_seen_ = 0;
  nmi_pending_ = false;
  extint_message_ = false;
}

void LocalApic::reset() {
  power_on_registers();
  update_intr();
}

void LocalApic::bios_init() {
  // Virtual wire mode A: the 8259 pair's INTR reaches the processor through LINT0 (ExtINT),
  // NMI through LINT1.
  svr_ = kSvrEnable | 0xff;
  lvt_[kLint0Lvt] = static_cast<std::uint32_t>(ApicDelivery::extint) << 8;
  lvt_[kLint1Lvt] = static_cast<std::uint32_t>(ApicDelivery::nmi) << 8;
  update_intr();
}

Status LocalApic::attach(MmioBus& bus) {
  return bus.attach(GuestPhysAddr(apic_base_ & kBaseAddressMask), kMmioSize, *this);
}

void LocalApic::connect_intr(IrqSink* cpu, unsigned line) {
  cpu_ = cpu;
  cpu_line_ = line;
  intr_ = pending() != ApicPending::none;
  if (cpu_) cpu_->set_irq(cpu_line_, intr_);
}

void LocalApic::update_intr() {
  ++state_version_;
  bool level = pending() != ApicPending::none;
  if (level == intr_) return;
  intr_ = level;
  if (cpu_) cpu_->set_irq(cpu_line_, level);
}

// ---- Priorities (SDM 10.8.3) ---------------------------------------------------------------

std::uint8_t LocalApic::ppr() const {
  const int isrv = highest(isr_);
  const std::uint32_t isr_class = isrv < 0 ? 0 : static_cast<std::uint32_t>(isrv) & 0xf0;
  return static_cast<std::uint8_t>((tpr_ & 0xf0) >= isr_class ? tpr_ : isr_class);
}

Result<std::uint8_t> LocalApic::pending_vector() const {
  const int v = highest(irr_);
  if (v < 0) return Error::not_found;
  // Deliverable only if its priority class is above the processor priority class.
  if ((static_cast<std::uint32_t>(v) & 0xf0) <= (ppr() & 0xf0u)) return Error::not_found;
  return static_cast<std::uint8_t>(v);
}

ApicPending LocalApic::pending() const {
  if (!globally_enabled()) {
    // Without an APIC the pins are the processor's plain INTR and NMI inputs.
    if (nmi_pending_) return ApicPending::nmi;
    return lint_level_[0] ? ApicPending::extint : ApicPending::none;
  }
  if (nmi_pending_) return ApicPending::nmi;
  if (software_enabled() && pending_vector().ok()) return ApicPending::fixed;
  if (extint_message_) return ApicPending::extint;
  const std::uint32_t l0 = lvt_[kLint0Lvt];
  const bool asserted = lint_level_[0] != ((l0 & kLvtPolarityLow) != 0);
  if (!(l0 & kLvtMasked) && lvt_mode(l0) == static_cast<std::uint32_t>(ApicDelivery::extint) && asserted) {
    return ApicPending::extint;
  }
  return ApicPending::none;
}

std::uint8_t LocalApic::acknowledge() {
  const std::uint8_t spurious = static_cast<std::uint8_t>(svr_);
  if (!globally_enabled() || !software_enabled()) return spurious;
  Result<std::uint8_t> v = pending_vector();
  if (!v.ok()) return spurious;
  clear(irr_, v.value());
  set(isr_, v.value());
  update_intr();
  return v.value();
}

void LocalApic::acknowledge_nmi() {
  nmi_pending_ = false;
  update_intr();
}

void LocalApic::acknowledge_extint() {
  extint_message_ = false;
  update_intr();
}

// ---- Accepting interrupts ------------------------------------------------------------------

bool LocalApic::matches(std::uint8_t destination, bool logical) const {
  if (destination == 0xff) return true;  // broadcast, in both modes
  if (!logical) return destination == id();
  const std::uint8_t ld = static_cast<std::uint8_t>(ldr_ >> 24);
  if ((dfr_ >> 28) == 0xf) return (ld & destination) != 0;  // flat model: a bit per APIC
  // Cluster model: the high nibble names the cluster, the low one APICs within it.
  const bool cluster = (destination >> 4) == (ld >> 4) || (destination >> 4) == 0xf;
  return cluster && (destination & ld & 0x0f) != 0;
}

bool LocalApic::accept_fixed(std::uint8_t vector, bool level_triggered) {
  if (vector < 16) {  // vectors 0-15 are illegal (SDM 10.5.2)
    signal_error(kEsrReceiveIllegalVector);
    return false;
  }
  // A second request for a vector already in IRR collapses into it (SDM 10.8.4).
  set(irr_, vector);
  if (level_triggered) {
    set(tmr_, vector);
  } else {
    clear(tmr_, vector);
  }
  update_intr();
  return true;
}

void LocalApic::signal_error(std::uint32_t bits) {
  const std::uint32_t fresh = bits & ~esr_pending_;
  esr_pending_ |= bits;
  const std::uint32_t lvt = lvt_[kErrorLvt];
  // The error interrupt is raised when an error is detected (SDM 10.5.3). An illegal error
  // vector sets bit 6, already set the second time, so this cannot recurse.
  if (fresh && !(lvt & kLvtMasked) && software_enabled()) accept_fixed(static_cast<std::uint8_t>(lvt), false);
}

bool LocalApic::deliver(const ApicMessage& m) {
  if (!globally_enabled() || !matches(m.destination, m.logical)) return false;
  switch (m.mode) {
    case ApicDelivery::fixed:
    case ApicDelivery::lowest_priority:  // one processor: it is the lowest-priority one
      return accept_fixed(m.vector, m.level_triggered);
    case ApicDelivery::nmi:
      nmi_pending_ = true;
      update_intr();
      return true;
    case ApicDelivery::extint:
      extint_message_ = true;
      update_intr();
      return true;
    default:
      ++refused_ipis_;
      last_refused_ = RefusedIpi{m.vector | (static_cast<std::uint32_t>(m.mode) << 8), 0};
      return false;
  }
}

void LocalApic::set_irq(unsigned line, bool level) {
  if (line > kLint1) return;
  const bool old = lint_level_[line];
  lint_level_[line] = level;
  if (old == level) return;
  if (!globally_enabled()) {
    if (line == kLint1 && level) nmi_pending_ = true;  // the plain NMI pin is edge-sensitive
    update_intr();
    return;
  }
  lint_changed(line, old, level);
  update_intr();
}

void LocalApic::lint_changed(unsigned pin, bool old_level, bool level) {
  const std::uint32_t lvt = lvt_[kLint0Lvt + pin];
  if (lvt & kLvtMasked) return;
  const bool active_low = (lvt & kLvtPolarityLow) != 0;
  const bool was = old_level != active_low, now = level != active_low;
  switch (static_cast<ApicDelivery>(lvt_mode(lvt))) {
    case ApicDelivery::fixed:
      if (lvt & kLvtLevel) {
        lint_fixed_level_check(pin);
      } else if (now && !was) {
        accept_fixed(static_cast<std::uint8_t>(lvt), false);
      }
      break;
    case ApicDelivery::nmi:
      if (now && !was) nmi_pending_ = true;  // NMI is always edge-sensitive
      break;
    default:
      break;  // ExtINT is sampled by pending(); SMI/INIT on a pin are not modelled
  }
}

void LocalApic::lint_fixed_level_check(unsigned pin) {
  std::uint32_t& lvt = lvt_[kLint0Lvt + pin];
  const bool asserted = lint_level_[pin] != ((lvt & kLvtPolarityLow) != 0);
  if ((lvt & kLvtMasked) || !(lvt & kLvtLevel) || (lvt & kLvtRemoteIrr) || !asserted) return;
  if (lvt_mode(lvt) != static_cast<std::uint32_t>(ApicDelivery::fixed)) return;
  // Remote IRR: set when the interrupt is accepted, cleared by its EOI (SDM 10.5.1).
  if (accept_fixed(static_cast<std::uint8_t>(lvt), true)) lvt |= kLvtRemoteIrr;
}

void LocalApic::eoi() {
  const int v = highest(isr_);
  if (v < 0) return;
  clear(isr_, static_cast<unsigned>(v));
  if (test(tmr_, static_cast<unsigned>(v))) {
    // Level-triggered: broadcast the EOI so the I/O APIC clears Remote IRR (SDM 10.8.5).
    if (eoi_sink_) eoi_sink_->end_of_interrupt(static_cast<std::uint8_t>(v));
    for (unsigned pin = 0; pin < 2; ++pin) {
      std::uint32_t& lvt = lvt_[kLint0Lvt + pin];
      if ((lvt & kLvtRemoteIrr) && (lvt & 0xff) == static_cast<std::uint32_t>(v)) {
        lvt &= ~kLvtRemoteIrr;
        lint_fixed_level_check(pin);
      }
    }
  }
  update_intr();
}

// ---- ICR (SDM 10.6) -------------------------------------------------------------------------

void LocalApic::write_icr_low(std::uint32_t value) {
  icr_low_ = value & kIcrLowWritable;  // delivery status reads 0: sending is instantaneous
  const std::uint8_t vector = static_cast<std::uint8_t>(value);
  const auto mode = static_cast<ApicDelivery>((value >> 8) & 7);
  const unsigned shorthand = (value >> 18) & 3;
  const bool logical = (value & kIcrLogical) != 0;
  const std::uint8_t destination = static_cast<std::uint8_t>(icr_high_ >> 24);

  bool to_self = false;
  switch (shorthand) {
    case 0: to_self = matches(destination, logical); break;
    case 1:                                           // self
    case 2: to_self = true; break;                    // all including self
    default: to_self = false; break;                  // all excluding self: nobody else here
  }
  auto refuse = [&] {
    ++refused_ipis_;
    last_refused_ = RefusedIpi{icr_low_, icr_high_};
  };

  switch (mode) {
    case ApicDelivery::fixed:
    case ApicDelivery::lowest_priority:
      // SDM table 10-3: lowest priority with the self shorthand is invalid.
      if (mode == ApicDelivery::lowest_priority && shorthand == 1) return refuse();
      if (vector < 16) return signal_error(kEsrSendIllegalVector);
      if (to_self) {
        accept_fixed(vector, false);
      } else {
        ++undelivered_ipis_;
      }
      break;
    case ApicDelivery::nmi:
      if (shorthand == 1) return refuse();  // only fixed IPIs may use the self shorthand
      if (to_self) {
        nmi_pending_ = true;
        update_intr();
      } else {
        ++undelivered_ipis_;
      }
      break;
    default:
      // INIT (assert or de-assert), SIPI, SMI: there is no other processor to start, and
      // resetting this one is not modelled.
      refuse();
      break;
  }
}

// ---- Registers -------------------------------------------------------------------------------

std::uint32_t LocalApic::lvt(std::uint32_t reg) const {
  if (reg < kLvtTimer || reg > kLvtError || (reg & 0xf)) return 0;
  return lvt_[(reg - kLvtTimer) >> 4];
}

void LocalApic::write_svr(std::uint32_t value) {
  // Bits 7:0 vector, 8 software enable, 9 focus processor checking. EOI-broadcast
  // suppression (bit 12) is not offered (version register bit 24 is 0).
  svr_ = value & 0x3ff;
  if (!software_enabled()) {
    for (std::uint32_t& l : lvt_) l |= kLvtMasked;  // SDM 10.4.7.2
  }
  update_intr();
}

void LocalApic::write_lvt(unsigned index, std::uint32_t value) {
  std::uint32_t v = value & kLvtWritable[index];
  if (!software_enabled()) v |= kLvtMasked;  // masks cannot be cleared while disabled
  std::uint32_t& lvt = lvt_[index];
  if (index == kTimerLvt && ((lvt ^ v) & kLvtPeriodic)) {
    // A mode change does not restart the timer: it counts on from where it is.
    std::uint32_t count = current_count();
    lvt = (lvt & ~kLvtWritable[index]) | v;
    timer_restart_from(count);
  } else {
    lvt = (lvt & ~kLvtWritable[index]) | v;
  }
  if (index == kLint0Lvt || index == kLint1Lvt) lint_fixed_level_check(index - kLint0Lvt);
  update_intr();
}

bool LocalApic::peek(std::uint32_t offset, std::uint32_t* value) const {
  std::uint32_t& v = *value;
  switch (offset) {
    case kId: v = id_; return true;
    case kVersionReg: v = kVersion; return true;
    case kTpr: v = tpr_; return true;
    case kApr: {
      // SDM 10.8.3.1's arbitration priority.
      const int irrv = highest(irr_), isrv = highest(isr_);
      const std::uint32_t irr_class = irrv < 0 ? 0 : static_cast<std::uint32_t>(irrv) & 0xf0;
      const std::uint32_t isr_class = isrv < 0 ? 0 : static_cast<std::uint32_t>(isrv) & 0xf0;
      const std::uint32_t tpr_class = tpr_ & 0xf0;
      const std::uint32_t m = tpr_class > isr_class ? tpr_class : isr_class;
      v = (tpr_class >= irr_class && tpr_class > isr_class) ? tpr_ : m > irr_class ? m : irr_class;
      return true;
    }
    case kPpr: v = ppr(); return true;
    case kEoi: v = 0; return true;  // write-only
    case kRrd: v = 0; return true;  // remote read is not supported by xAPICs
    case kLdr: v = ldr_; return true;
    case kDfr: v = dfr_; return true;
    case kSvr: v = svr_; return true;
    case kEsr: v = esr_; return true;
    case kIcrLow: v = icr_low_; return true;
    case kIcrHigh: v = icr_high_; return true;
    case kLvtTimer:
    case kLvtThermal:
    case kLvtPerf:
    case kLvtLint0:
    case kLvtLint1:
    case kLvtError: v = lvt_[(offset - kLvtTimer) >> 4]; return true;
    case kTimerInitialCount: v = initial_count_; return true;
    case kTimerCurrentCount: v = current_count(); return true;
    case kTimerDivide: v = divide_config_; return true;
    default: break;
  }
  if (offset >= kIsr && offset < kIrr + 0x80) {
    const unsigned word = ((offset - kIsr) >> 4) & 7;
    v = offset < kTmr ? isr_[word] : offset < kIrr ? tmr_[word] : irr_[word];
    return true;
  }
  v = 0;
  return false;
}

std::uint32_t LocalApic::read_register(std::uint32_t offset) {
  std::uint32_t v = 0;
  if (!peek(offset, &v)) signal_error(kEsrIllegalRegister);
  return v;
}

void LocalApic::fill_register_page(std::uint32_t* page) const {
  for (std::uint32_t offset = 0; offset < kMmioSize; offset += 16) {
    std::uint32_t v = 0;
    if (!globally_enabled()) {
      v = floating_bus_value(4);
    } else if (!peek(offset, &v)) {
      continue;
    }
    page[offset / 4] = v;
  }
}



void LocalApic::write_register(std::uint32_t offset, std::uint32_t value) {
  ++state_version_;
  switch (offset) {
    case kId: id_ = value & 0xff000000u; return;
    case kTpr:
      tpr_ = value & 0xff;
      update_intr();
      return;
    case kEoi: eoi(); return;
    case kLdr: ldr_ = value & 0xff000000u; return;
    case kDfr: dfr_ = value | 0x0fffffffu; return;  // bits 27:0 are reserved as ones
    case kSvr: write_svr(value); return;
    case kEsr:
      // A write makes the errors collected since the last write visible (SDM 10.5.3).
      esr_ = esr_pending_;
      esr_pending_ = 0;
      return;
    case kIcrLow: write_icr_low(value); return;
    case kIcrHigh: icr_high_ = value & 0xff000000u; return;
    case kLvtTimer:
    case kLvtThermal:
    case kLvtPerf:
    case kLvtLint0:
    case kLvtLint1:
    case kLvtError: write_lvt((offset - kLvtTimer) >> 4, value); return;
    case kTimerInitialCount:
      // Writing the initial count (re)starts the timer; 0 stops it (SDM 10.5.4).
      initial_count_ = value;
      timer_restart_from(value);
      return;
    case kTimerDivide: {
      std::uint32_t count = current_count();
      divide_config_ = value & 0xb;
      timer_restart_from(count);
      return;
    }
    case kVersionReg:
    case kApr:
    case kPpr:
    case kRrd:
    case kTimerCurrentCount: return;  // read-only
    default: break;
  }
  if (offset >= kIsr && offset < kIrr + 0x80) return;  // ISR, TMR, IRR are read-only
  signal_error(kEsrIllegalRegister);
}

Result<std::uint32_t> LocalApic::read(std::uint32_t offset, unsigned size) {
  if (size != 4 || (offset & 0xf)) return Error::unsupported;
  if (offset >= kMmioSize) return Error::not_found;
  if (!globally_enabled()) return floating_bus_value(4);
  return read_register(offset);
}

Status LocalApic::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (size != 4 || (offset & 0xf)) return Error::unsupported;
  if (offset >= kMmioSize) return Error::not_found;
  if (globally_enabled()) write_register(offset, value);
  return {};
}

// ---- Timer (SDM 10.5.4) ------------------------------------------------------------------

std::uint32_t LocalApic::timer_divisor() const {
  // Bits 3, 1:0: 000 -> 2, 001 -> 4, ..., 110 -> 128, 111 -> 1.
  const std::uint32_t code = ((divide_config_ >> 1) & 4) | (divide_config_ & 3);
  return code == 7 ? 1 : 2u << code;
}

void LocalApic::timer_restart_from(std::uint32_t count) {
  anchor_ = now_;
  anchor_count_ = count;
  zeroes_seen_ = 0;
}

std::uint32_t LocalApic::current_count() const {
  if (anchor_count_ == 0) return 0;
  const std::uint64_t e = (now_ - anchor_) / timer_divisor();
  if (e < anchor_count_) return static_cast<std::uint32_t>(anchor_count_ - e);
  if (!(lvt_[kTimerLvt] & kLvtPeriodic) || initial_count_ == 0) return 0;  // one-shot: done
  // Periodic: reloaded with the initial count each time it reached zero.
  return static_cast<std::uint32_t>(initial_count_ - (e - anchor_count_) % initial_count_);
}

std::uint64_t LocalApic::timer_zeroes_until(std::uint64_t tick) const {
  if (anchor_count_ == 0) return 0;
  const std::uint64_t e = (tick - anchor_) / timer_divisor();
  if (e < anchor_count_) return 0;
  if (!(lvt_[kTimerLvt] & kLvtPeriodic) || initial_count_ == 0) return 1;
  return 1 + (e - anchor_count_) / initial_count_;
}

std::uint64_t LocalApic::ns_until_timer() const {
  if (anchor_count_ == 0 || (lvt_[kTimerLvt] & kLvtMasked) || !globally_enabled()) return 0;
  const std::uint64_t div = timer_divisor();
  const std::uint64_t e = (now_ - anchor_) / div;
  std::uint64_t next;  // the decrement at which the count next reaches zero
  if (e < anchor_count_) {
    next = anchor_count_;
  } else if ((lvt_[kTimerLvt] & kLvtPeriodic) && initial_count_ != 0) {
    next = anchor_count_ + ((e - anchor_count_) / initial_count_ + 1) * initial_count_;
  } else {
    return 0;
  }
  const std::uint64_t ticks = anchor_ + next * div - now_;
  // Rounded up, so advancing by the answer always reaches the expiry.
  const std::uint64_t hz = config_.bus_hz;
  return ticks / hz * kNsPerSecond + ((ticks % hz) * kNsPerSecond + hz - 1) / hz;
}

void LocalApic::timer_fire() {
  const std::uint32_t lvt = lvt_[kTimerLvt];
  if (!(lvt & kLvtMasked) && software_enabled()) accept_fixed(static_cast<std::uint8_t>(lvt), false);
}

std::uint64_t LocalApic::advance_ns(std::uint64_t ns) {
  // Split so ns * bus_hz cannot overflow; keep the sub-tick remainder for next time.
  const std::uint64_t hz = config_.bus_hz;
  const std::uint64_t frac = (ns % kNsPerSecond) * hz + ns_frac_;
  const std::uint64_t ticks = (ns / kNsPerSecond) * hz + frac / kNsPerSecond;
  ns_frac_ = frac % kNsPerSecond;
  return advance_ticks(ticks);
}

std::uint64_t LocalApic::advance_ticks(std::uint64_t ticks) {
  if (ticks == 0) return 0;
  now_ += ticks;
  if (!globally_enabled()) return 0;
  const std::uint64_t zeroes = timer_zeroes_until(now_);
  const std::uint64_t fired = zeroes - zeroes_seen_;
  zeroes_seen_ = zeroes;
  if (fired) {
    timer_expirations_ += fired;
    timer_fire();
  }
  return fired;
}

// ---- IA32_APIC_BASE (SDM 10.4.4) ----------------------------------------------------------

Status LocalApic::write_apic_base(std::uint64_t value, const char** why) {
  constexpr std::uint64_t kDefined = kBaseAddressMask | kBaseBsp | kBaseExtd | kBaseEnable;
  auto refuse = [why](Error e, const char* reason) -> Status {
    if (why) *why = reason;
    return e;
  };
  if (value & ~kDefined) return refuse(Error::invalid_argument, "reserved bits of IA32_APIC_BASE set");
  if (value & kBaseExtd) {
    return refuse(Error::unsupported, "x2APIC mode is not offered (CPUID.1:ECX.x2APIC is clear)");
  }
  if ((value & kBaseAddressMask) != (apic_base_ & kBaseAddressMask)) {
    return refuse(Error::unsupported, "moving the local APIC page away from 0xFEE00000 is not modelled");
  }
  const bool enable = (value & kBaseEnable) != 0;
  if (enable != globally_enabled()) {
    // Disabling loses the APIC's state; enabling again starts from the power-on state.
    power_on_registers();
    apic_base_ = enable ? (apic_base_ | kBaseEnable) : (apic_base_ & ~kBaseEnable);
  }
  update_intr();
  return {};
}

}  // namespace hvlab::dev
