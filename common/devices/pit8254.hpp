#pragma once
// The Intel 8254 programmable interval timer of the PC (ports 0x40-0x43, 1.193182 MHz input
// clock on all three counters; counter 0's OUT is IRQ0, counter 2's gate and OUT appear in
// port 0x61). Behaviour follows the Intel 8254 data sheet (order no. 231164).
//
// There is no real clock: the monitor advances virtual time in input-clock ticks (or
// nanoseconds). Each counter's state is a closed-form function of the time since its count
// was loaded, so advancing by a day costs the same as advancing by one tick.

#include <cstdint>

#include "common/devices/bus.hpp"

namespace hvlab::dev {

class Pit8254;

/// Port 0x61 (system control port B): bit 0 counter 2 gate, bit 1 speaker data enable,
/// bits 2-3 stored (parity/IOCHK enables), bit 4 refresh toggle (read-only, flips every 18
/// ticks ~ 15 us), bit 5 counter 2 OUT (read-only). Byte accesses only.
class PitPort61 final : public Device {
 public:
  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;
  bool speaker_enabled() const { return (bits_ & 0x02) != 0; }

 private:
  friend class Pit8254;
  explicit PitPort61(Pit8254& pit) : pit_(pit) {}
  Pit8254& pit_;
  std::uint8_t bits_ = 0;
};

/// The 8254: counter data ports at offsets 0-2, the control word register at offset 3.
/// Byte accesses only. Modes 0-5 are modelled, binary and BCD counting.
///
/// Simplifications: a new count written in mode 3 takes effect at the end of the current
/// full period (the data sheet says half-period); a count of 1 in modes 2 and 3 (illegal on
/// the chip) behaves as 2.
class Pit8254 final : public Device {
 public:
  static constexpr std::uint32_t kInputHz = 1193182;
  static constexpr std::uint16_t kBasePort = 0x40;
  static constexpr std::uint16_t kPort61 = 0x61;
  static constexpr unsigned kIrqLine = 0;
  static constexpr unsigned kCounters = 3;
  static constexpr std::uint32_t kControlPort = 3;  ///< offset of the control word register

  /// `irq` receives counter 0's OUT on `irq_line` (null: nobody listens).
  explicit Pit8254(IrqSink* irq, unsigned irq_line = kIrqLine);
  Pit8254(const Pit8254&) = delete;
  Pit8254& operator=(const Pit8254&) = delete;

  /// Power-on state: every counter idle in mode 0 (OUT low) with lobyte/hibyte access,
  /// gates 0 and 1 high, gate 2 low. Time and the IRQ0 count are kept.
  void reset();

  /// Attach the counters at 0x40-0x43 and port B at 0x61.
  Status attach(PortBus& bus);

  /// Reads of offset 3 (the control word register) return 0xff: the data sheet makes that
  /// access a no-op that leaves the bus floating, and it changes nothing.
  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  /// Let `ticks` input-clock periods pass. Returns how many rising edges counter 0's OUT
  /// made meanwhile (each one is an IRQ0 request; an edge-triggered PIC latches one).
  std::uint64_t advance(std::uint64_t ticks);
  /// advance() by a duration; fractions of a tick carry over to the next call, so many
  /// small steps lose no time.
  std::uint64_t advance_ns(std::uint64_t ns);
  /// Ticks since construction.
  std::uint64_t now() const { return now_; }
  /// Rising edges of counter 0's OUT since construction.
  std::uint64_t irq0_edges() const { return irq0_edges_; }
  /// Ticks until counter 0's next rising OUT edge; 0 if none is coming (idle, one-shot done).
  /// A monitor arms its host timer with this.
  std::uint64_t ticks_until_next_irq0() const;

  /// Counter `counter`'s OUT pin now (false for a counter number >= 3, as for gate()).
  bool output(unsigned counter) const;
  bool gate(unsigned counter) const;
  /// Drive a counter's GATE input (on a PC only counter 2's is wired, through port 0x61).
  /// Counter numbers >= 3 are ignored.
  void set_gate(unsigned counter, bool level);
  /// The counting element as a latch command would capture it (BCD-encoded in BCD mode).
  std::uint16_t count(unsigned counter) const;
  /// The mode (0-5) counter `counter` was last programmed with.
  unsigned mode(unsigned counter) const;

  PitPort61& port61() { return port61_; }

  /// ns -> whole ticks (rounded down) and ticks -> ns (rounded up) at kInputHz.
  static std::uint64_t ns_to_ticks(std::uint64_t ns);
  static std::uint64_t ticks_to_ns(std::uint64_t ticks);

 private:
  struct Counter {
    std::uint8_t control = 0x30;  // SC-stripped control word: RW (5:4), M (3:1), BCD (0)
    std::uint8_t rw = 3;          // 1 LSB only, 2 MSB only, 3 LSB then MSB
    std::uint8_t mode = 0;
    bool bcd = false;
    bool gate = true;

    // The count register (CR) as last written, expanded (0 -> 65536 or 10000).
    std::uint32_t cr = 0;
    bool have_count = false;  // CR written since the control word
    bool null_count = true;   // CR not yet transferred into CE
    std::uint64_t null_clear_at = ~std::uint64_t{0};

    // Counting segment: CE was loaded with n at tick `load` and has counted since, unless
    // !loaded, when CE holds `frozen` and OUT is `idle_out`.
    bool loaded = false;
    std::uint32_t n = 0;
    std::uint64_t load = 0;
    std::uint32_t frozen = 0;  // binary value, 0..modulus-1
    bool idle_out = false;
    std::uint64_t paused_elapsed = 0;  // modes 0/4 with gate low: ticks counted so far
    bool paused = false;

    // Modes 2/3: a count written while counting is loaded at the end of the period.
    bool next_pending = false;
    std::uint32_t next_n = 0;
    std::uint64_t next_load = 0;

    // Access state machines.
    bool write_msb_next = false;
    std::uint8_t write_lsb = 0;
    bool read_msb_next = false;
    bool count_latched = false;
    bool latch_msb_next = false;
    std::uint16_t latched = 0;
    bool status_latched = false;
    std::uint8_t status = 0;
  };

  std::uint32_t modulus(const Counter& c) const { return c.bcd ? 10000 : 65536; }
  std::uint32_t binary_count(const Counter& c, std::uint64_t t) const;
  bool out_at(const Counter& c, std::uint64_t t) const;
  std::uint16_t encode(const Counter& c, std::uint32_t value) const;
  std::uint64_t segment_edges(const Counter& c, std::uint64_t t0, std::uint64_t t1) const;
  void apply_next(Counter& c, std::uint64_t t);
  void write_control(std::uint8_t value);
  void read_back(std::uint8_t value);
  void latch_count(Counter& c);
  void latch_status(Counter& c);
  void write_counter(Counter& c, std::uint8_t value);
  void load_count(Counter& c, std::uint16_t raw);
  std::uint8_t read_counter(Counter& c);
  void freeze(Counter& c);
  void update_irq();

  IrqSink* irq_;
  unsigned irq_line_;
  Counter counters_[kCounters];
  PitPort61 port61_;
  std::uint64_t now_ = 0;
  std::uint64_t ns_frac_ = 0;  // leftover of ns * kInputHz below one tick, in 1e-9 ticks
  std::uint64_t irq0_edges_ = 0;
  bool irq_level_ = false;
};

}  // namespace hvlab::dev
