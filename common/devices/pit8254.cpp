// 8254 PIT. Each counter's CE and OUT are computed from (mode, reload value n, tick at which
// CE was loaded); everything that changes that triple happens at a port write or a gate
// change, at the current tick, so advance() only has to count OUT edges in closed form.
//
// Timing per the data sheet's waveforms, with e = ticks since the CLK pulse that loaded CE
// (CE = n at e = 0):
//   mode 0: OUT low until CE reaches 0 at e = n, then high.        CE = n - e (wraps)
//   mode 1: OUT low from the load after a trigger until e = n.     CE = n - e (wraps)
//   mode 2: OUT low for one tick when CE = 1 (e = n-1 mod n).      CE = n - e mod n
//   mode 3: OUT high for ceil(n/2) ticks, low for floor(n/2).      CE steps by 2
//   mode 4/5: OUT low for one tick when CE reaches 0 (e = n).      CE = n - e (wraps)

#include "common/devices/pit8254.hpp"

namespace hvlab::dev {

namespace {

constexpr std::uint64_t kNsPerSecond = 1000000000;
constexpr std::uint64_t kNever = ~std::uint64_t{0};

std::uint32_t bcd_to_binary(std::uint16_t v) {
  return ((v >> 12) & 0xf) * 1000u + ((v >> 8) & 0xf) * 100u + ((v >> 4) & 0xf) * 10u + (v & 0xf);
}

std::uint16_t binary_to_bcd(std::uint32_t v) {
  return static_cast<std::uint16_t>(((v / 1000) % 10) << 12 | ((v / 100) % 10) << 8 |
                                    ((v / 10) % 10) << 4 | (v % 10));
}

// Modes 2 and 3 divide by n; n = 1 is illegal there and would never toggle OUT.
std::uint32_t periodic_n(std::uint32_t n) { return n < 2 ? 2 : n; }

}  // namespace

// ---- Port 0x61 -----------------------------------------------------------------------------

Result<std::uint32_t> PitPort61::read(std::uint32_t offset, unsigned size) {
  if (size != 1) return Error::unsupported;
  if (offset != 0) return Error::not_found;
  std::uint32_t v = bits_ & 0x0f;
  // The DRAM refresh request toggles every ~15.085 us; BIOS-style delay loops count flips.
  if ((pit_.now() / 18) & 1) v |= 0x10;
  if (pit_.output(2)) v |= 0x20;
  return v;
}

Status PitPort61::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (size != 1) return Error::unsupported;
  if (offset != 0) return Error::not_found;
  bits_ = static_cast<std::uint8_t>(value & 0x0f);  // bits 4-7 are read-only status
  pit_.set_gate(2, (value & 1) != 0);
  return {};
}

// ---- 8254 ----------------------------------------------------------------------------------

Pit8254::Pit8254(IrqSink* irq, unsigned irq_line) : irq_(irq), irq_line_(irq_line), port61_(*this) {
  reset();
}

void Pit8254::reset() {
  for (unsigned i = 0; i < kCounters; ++i) {
    counters_[i] = Counter{};
    counters_[i].gate = (i != 2);  // gates 0 and 1 are tied high; gate 2 is port 0x61 bit 0
  }
  port61_.bits_ = 0;
  update_irq();
}

Status Pit8254::attach(PortBus& bus) {
  HV_TRY(bus.attach(kBasePort, 4, *this));
  Status s = bus.attach(kPort61, 1, port61_);
  if (!s.ok()) {
    (void)bus.detach(*this);
    return s;
  }
  return {};
}

std::uint32_t Pit8254::binary_count(const Counter& c, std::uint64_t t) const {
  if (!c.loaded || t < c.load) return c.frozen;
  std::uint32_t n = c.n;
  std::uint64_t load = c.load;
  if (c.next_pending && t >= c.next_load) {
    n = c.next_n;
    load = c.next_load;
  }
  const std::uint64_t e = t - load;
  const std::uint32_t m = modulus(c);
  switch (c.mode) {
    case 2: {
      std::uint32_t np = periodic_n(n);
      return (np - static_cast<std::uint32_t>(e % np)) % m;
    }
    case 3: {
      std::uint32_t np = periodic_n(n);
      std::uint32_t p = static_cast<std::uint32_t>(e % np);
      std::uint32_t high = (np + 1) / 2;  // ticks OUT stays high in a period
      std::uint32_t v;
      if (np % 2 == 0) {
        // Even: load n, subtract 2 per tick, toggle OUT and reload at 0.
        v = p < high ? np - 2 * p : np - 2 * (p - high);
      } else if (p < high) {
        // Odd, OUT high: the first tick subtracts 1, later ones 2.
        v = p == 0 ? np : np + 1 - 2 * p;
      } else {
        // Odd, OUT low: the first tick after the reload subtracts 3, later ones 2.
        std::uint32_t q = p - high;
        v = q == 0 ? np : np - 1 - 2 * q;
      }
      return v % m;
    }
    default: {  // 0, 1, 4, 5: count down through 0 and wrap
      std::uint32_t em = static_cast<std::uint32_t>(e % m);
      return (n + m - em) % m;
    }
  }
}

bool Pit8254::out_at(const Counter& c, std::uint64_t t) const {
  if (!c.loaded || t < c.load) return c.idle_out;
  std::uint32_t n = c.n;
  std::uint64_t load = c.load;
  if (c.next_pending && t >= c.next_load) {
    n = c.next_n;
    load = c.next_load;
  }
  const std::uint64_t e = t - load;
  switch (c.mode) {
    case 0:
    case 1: return e >= n;
    case 2: {
      std::uint32_t np = periodic_n(n);
      return e % np != np - 1;
    }
    case 3: {
      std::uint32_t np = periodic_n(n);
      return e % np < (np + 1) / 2;
    }
    default: return e != n;  // 4, 5: a one-tick low strobe
  }
}

std::uint64_t Pit8254::segment_edges(const Counter& c, std::uint64_t t0, std::uint64_t t1) const {
  // Rising OUT edges at ticks in (t0, t1] of the current segment. Every mode's rising edges
  // fall at e >= 1, so clamping e0 at 0 is exact.
  if (!c.loaded || t1 <= c.load) return 0;
  const std::uint64_t e1 = t1 - c.load;
  const std::uint64_t e0 = t0 > c.load ? t0 - c.load : 0;
  switch (c.mode) {
    case 0:
    case 1: return (e0 < c.n && c.n <= e1) ? 1 : 0;
    case 2:
    case 3: {
      std::uint32_t np = periodic_n(c.n);
      return e1 / np - e0 / np;  // OUT rises as CE is reloaded, every np ticks
    }
    default: {
      std::uint64_t edge = std::uint64_t{c.n} + 1;  // the strobe ends one tick after CE = 0
      return (e0 < edge && edge <= e1) ? 1 : 0;
    }
  }
}

void Pit8254::apply_next(Counter& c, std::uint64_t t) {
  if (!c.next_pending || t < c.next_load) return;
  c.n = c.next_n;
  c.load = c.next_load;
  c.next_pending = false;
}

std::uint16_t Pit8254::encode(const Counter& c, std::uint32_t value) const {
  return c.bcd ? binary_to_bcd(value) : static_cast<std::uint16_t>(value);
}

// The inspection calls take a counter number from the monitor; out-of-range numbers read as
// an idle counter rather than indexing past the array.
bool Pit8254::output(unsigned counter) const {
  return counter < kCounters && out_at(counters_[counter], now_);
}
bool Pit8254::gate(unsigned counter) const { return counter < kCounters && counters_[counter].gate; }

unsigned Pit8254::mode(unsigned counter) const { return counter < kCounters ? counters_[counter].mode : 0; }

std::uint16_t Pit8254::count(unsigned counter) const {
  if (counter >= kCounters) return 0;
  const Counter& c = counters_[counter];
  return encode(c, binary_count(c, now_));
}

void Pit8254::freeze(Counter& c) {
  c.frozen = binary_count(c, now_);
  c.idle_out = out_at(c, now_);
  c.loaded = false;
  c.next_pending = false;
}

void Pit8254::update_irq() {
  bool level = out_at(counters_[0], now_);
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_) irq_->set_irq(irq_line_, level);
}

std::uint64_t Pit8254::advance(std::uint64_t ticks) {
  if (ticks == 0) return 0;
  const std::uint64_t t1 = now_ + ticks;
  Counter& c0 = counters_[0];
  std::uint64_t edges = 0;
  std::uint64_t t0 = now_;
  if (c0.next_pending && c0.next_load <= t1) {
    edges += segment_edges(c0, t0, c0.next_load);
    t0 = c0.next_load;
    apply_next(c0, t0);
  }
  edges += segment_edges(c0, t0, t1);
  for (Counter& c : counters_) apply_next(c, t1);
  now_ = t1;
  irq0_edges_ += edges;
  if (edges > 0 && irq_) {
    // However many edges there were, an edge-triggered PIC latches one request; make sure
    // it sees a low-to-high transition even if OUT was high before and after.
    if (irq_level_) irq_->set_irq(irq_line_, false);
    irq_->set_irq(irq_line_, true);
    irq_level_ = true;
  }
  update_irq();
  return edges;
}

std::uint64_t Pit8254::advance_ns(std::uint64_t ns) {
  // Split so ns * kInputHz cannot overflow; keep the sub-tick remainder for next time.
  std::uint64_t frac = (ns % kNsPerSecond) * kInputHz + ns_frac_;
  std::uint64_t ticks = (ns / kNsPerSecond) * kInputHz + frac / kNsPerSecond;
  ns_frac_ = frac % kNsPerSecond;
  return advance(ticks);
}

std::uint64_t Pit8254::ns_to_ticks(std::uint64_t ns) {
  return (ns / kNsPerSecond) * kInputHz + (ns % kNsPerSecond) * kInputHz / kNsPerSecond;
}

std::uint64_t Pit8254::ticks_to_ns(std::uint64_t ticks) {
  return (ticks / kInputHz) * kNsPerSecond + ((ticks % kInputHz) * kNsPerSecond + kInputHz - 1) / kInputHz;
}

std::uint64_t Pit8254::ticks_until_next_irq0() const {
  const Counter& c = counters_[0];
  if (!c.loaded) return 0;
  std::uint64_t first_edge;  // e of the first rising edge after the load
  switch (c.mode) {
    case 0:
    case 1: first_edge = c.n; break;
    case 2:
    case 3: first_edge = periodic_n(c.n); break;
    default: first_edge = std::uint64_t{c.n} + 1; break;
  }
  if (c.load > now_) return (c.load - now_) + first_edge;
  const std::uint64_t e = now_ - c.load;
  if (c.mode == 2 || c.mode == 3) {
    std::uint32_t np = periodic_n(c.n);
    return np - e % np;  // also right with a count pending: it loads at this same edge
  }
  return e < first_edge ? first_edge - e : 0;
}

void Pit8254::set_gate(unsigned counter, bool level) {
  if (counter >= kCounters) return;
  Counter& c = counters_[counter];
  if (c.gate == level) return;
  c.gate = level;
  switch (c.mode) {
    case 0:
    case 4:
      // GATE low suspends counting; high resumes it where it stopped.
      if (!level) {
        if (c.loaded) {
          c.paused_elapsed = now_ >= c.load ? now_ - c.load : 0;
          bool pending_load = now_ < c.load;
          freeze(c);
          if (pending_load) c.frozen = c.n % modulus(c);  // CE is still loaded on the next CLK
          c.paused = true;
        }
      } else if (c.paused) {
        c.paused = false;
        c.loaded = true;
        c.load = now_ - c.paused_elapsed;
      }
      break;
    case 2:
    case 3:
      // GATE low stops counting and forces OUT high; a rising GATE reloads CE on the next CLK.
      if (!level) {
        std::uint32_t latest = c.next_pending ? c.next_n : c.n;
        freeze(c);
        c.n = latest;
        c.idle_out = true;
      } else if (c.have_count) {
        c.n = c.cr;
        c.loaded = true;
        c.load = now_ + 1;
        if (c.null_clear_at > now_ + 1) c.null_clear_at = now_ + 1;
      }
      break;
    default:  // 1, 5: a rising GATE is the trigger; the level does not matter
      if (level && c.have_count) {
        c.idle_out = out_at(c, now_);
        c.n = c.cr;
        c.loaded = true;
        c.load = now_ + 1;
        if (c.null_clear_at > now_ + 1) c.null_clear_at = now_ + 1;
      }
      break;
  }
  if (counter == 0) update_irq();
}

void Pit8254::latch_count(Counter& c) {
  if (c.count_latched) return;  // a second latch before the first was read is ignored
  c.latched = encode(c, binary_count(c, now_));
  c.count_latched = true;
  c.latch_msb_next = false;
}

void Pit8254::latch_status(Counter& c) {
  if (c.status_latched) return;
  bool null_count = c.null_count && now_ < c.null_clear_at;
  c.status = static_cast<std::uint8_t>((out_at(c, now_) ? 0x80 : 0) | (null_count ? 0x40 : 0) | c.control);
  c.status_latched = true;
}

void Pit8254::read_back(std::uint8_t value) {
  // Read-back command: D5 = 0 latches counts, D4 = 0 latches status, D3-D1 select CNT2-0.
  for (unsigned i = 0; i < kCounters; ++i) {
    if (!(value & (2u << i))) continue;
    if (!(value & 0x20)) latch_count(counters_[i]);
    if (!(value & 0x10)) latch_status(counters_[i]);
  }
}

void Pit8254::write_control(std::uint8_t value) {
  const unsigned sc = value >> 6;
  if (sc == 3) {
    read_back(value);
    return;
  }
  Counter& c = counters_[sc];
  const std::uint8_t rw = (value >> 4) & 3;
  if (rw == 0) {
    latch_count(c);  // counter latch command; the counter's mode is unchanged
    return;
  }
  // A control word resets the counter's control logic: counting stops until a count is
  // written, and OUT takes its initial level (low in mode 0, high otherwise).
  freeze(c);
  c.control = value & 0x3f;
  c.rw = rw;
  c.mode = (value >> 1) & 7;
  if (c.mode > 5) c.mode -= 4;  // 110 and 111 are modes 2 and 3
  c.bcd = value & 1;
  c.frozen %= modulus(c);
  c.idle_out = c.mode != 0;
  c.have_count = false;
  c.null_count = true;
  c.null_clear_at = kNever;
  c.paused = false;
  c.write_msb_next = false;
  c.read_msb_next = false;
  c.count_latched = false;
  c.status_latched = false;
}

void Pit8254::load_count(Counter& c, std::uint16_t raw) {
  const std::uint32_t m = modulus(c);
  std::uint32_t n = c.bcd ? bcd_to_binary(raw) : raw;
  if (n == 0) n = m;  // 0 is the largest count: 2^16 binary, 10^4 BCD
  if (n > m) n = m;   // invalid BCD digits
  c.cr = n;
  c.have_count = true;
  c.null_count = true;
  c.null_clear_at = kNever;
  switch (c.mode) {
    case 0:
    case 4: {
      // The new count is loaded on the next CLK pulse; until then CE keeps its value.
      bool out = c.mode == 0 ? false : out_at(c, now_);
      freeze(c);
      c.idle_out = out;
      c.n = n;
      c.null_clear_at = now_ + 1;
      if (c.gate) {
        c.loaded = true;
        c.load = now_ + 1;
        c.paused = false;
      } else {
        c.frozen = n % m;
        c.paused = true;
        c.paused_elapsed = 0;
      }
      break;
    }
    case 2:
    case 3: {
      const bool counting = c.loaded && c.load <= now_;
      if (counting) {
        // Mid-count writes do not disturb the current period; CE takes the count at its end.
        if (!c.next_pending) {
          std::uint32_t np = periodic_n(c.n);
          c.next_load = c.load + ((now_ - c.load) / np + 1) * np;
        }
        c.next_n = n;
        c.next_pending = true;
        c.null_clear_at = c.next_load;
      } else {
        c.n = n;
        if (c.gate) {
          if (!c.loaded) {
            c.loaded = true;
            c.load = now_ + 1;
          }
          c.null_clear_at = c.load;
        }
      }
      break;
    }
    default:
      break;  // modes 1 and 5 wait for a GATE trigger; a running one-shot is not disturbed
  }
}

void Pit8254::write_counter(Counter& c, std::uint8_t value) {
  switch (c.rw) {
    case 1: load_count(c, value); break;
    case 2: load_count(c, static_cast<std::uint16_t>(value << 8)); break;
    default:
      if (!c.write_msb_next) {
        c.write_lsb = value;
        c.write_msb_next = true;
        // Mode 0: writing the first byte stops counting and drives OUT low at once.
        if (c.mode == 0) {
          freeze(c);
          c.idle_out = false;
        }
      } else {
        c.write_msb_next = false;
        load_count(c, static_cast<std::uint16_t>(c.write_lsb | (value << 8)));
      }
      break;
  }
}

std::uint8_t Pit8254::read_counter(Counter& c) {
  if (c.status_latched) {  // after a read-back, status comes before the count
    c.status_latched = false;
    return c.status;
  }
  std::uint16_t v;
  bool msb;
  if (c.count_latched) {
    v = c.latched;
    if (c.rw == 3) {
      msb = c.latch_msb_next;
      c.latch_msb_next = !msb;
      if (msb) c.count_latched = false;
    } else {
      msb = c.rw == 2;
      c.count_latched = false;
    }
  } else {
    v = encode(c, binary_count(c, now_));
    if (c.rw == 3) {
      msb = c.read_msb_next;
      c.read_msb_next = !msb;
    } else {
      msb = c.rw == 2;
    }
  }
  return static_cast<std::uint8_t>(msb ? v >> 8 : v);
}

Result<std::uint32_t> Pit8254::read(std::uint32_t offset, unsigned size) {
  if (size != 1) return Error::unsupported;
  if (offset < kCounters) return std::uint32_t{read_counter(counters_[offset])};
  if (offset == kControlPort) return std::uint32_t{0xff};
  return Error::not_found;
}

Status Pit8254::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (size != 1) return Error::unsupported;
  std::uint8_t v = static_cast<std::uint8_t>(value);
  if (offset < kCounters) {
    write_counter(counters_[offset], v);
  } else if (offset == kControlPort) {
    write_control(v);
  } else {
    return Error::not_found;
  }
  update_irq();
  return {};
}

}  // namespace hvlab::dev
