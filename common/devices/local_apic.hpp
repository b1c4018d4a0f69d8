#pragma once
// The local APIC of one processor in xAPIC mode: a 4 KiB page of 32-bit registers at
// IA32_APIC_BASE (0xFEE00000 at power-up). Behaviour follows Intel SDM vol. 3A, chapter 10
// ("Advanced Programmable Interrupt Controller"); section numbers below refer to it.
//
// What is modelled: ID, version, TPR/APR/PPR, EOI, LDR/DFR, SVR (software enable), ISR/TMR/IRR,
// ESR, the ICR for interrupts to this processor (fixed and NMI), the LVT timer (one-shot and
// periodic, with the divide configuration), LINT0/LINT1 (fixed, NMI, ExtINT) and the error
// LVT. Thermal and performance-counter LVTs are stored, never fired. There is one processor:
// INIT, SIPI and SMI requests are recorded and have no effect; TSC-deadline mode and x2APIC
// are not offered (the CPUID policy hides both).
//
// The monitor's side: deliver() takes messages from the I/O APIC, set_irq() drives the LINT
// pins (the 8259 pair's INTR goes to LINT0), pending() says what the processor would be
// interrupted by, acknowledge() runs the interrupt-acknowledge cycle, and advance_ns() moves
// the timer on the device clock.

#include <cstdint>

#include "common/devices/apic_bus.hpp"
#include "common/devices/bus.hpp"

namespace hvlab::dev {

/// What the processor would be interrupted by now, most urgent first.
enum class ApicPending : std::uint8_t {
  none,
  nmi,     ///< an NMI (LINT1 in virtual-wire mode, an NMI message or self-IPI)
  fixed,   ///< a vector in IRR above the processor priority: acknowledge() returns it
  extint,  ///< an ExtINT: the 8259 pair supplies the vector (its INTA cycle)
};

/// A processor's local APIC configuration.
struct LocalApicConfig {
  std::uint8_t apic_id = 0;
  /// The timer's input clock (the bus clock before the divider). QEMU's is 1 GHz: a count of
  /// 10,000,000 divided by 1 is 10 ms.
  std::uint64_t bus_hz = 1000000000;
};

/// One xAPIC. Register accesses must be 32-bit and 16-byte aligned (SDM 10.4.1); anything else
/// is Error::unsupported.
class LocalApic final : public Device, public IrqSink, public ApicMessageSink {
 public:
  static constexpr std::uint64_t kDefaultBase = 0xfee00000;  ///< the power-up base (SDM 10.4.4)
  static constexpr std::uint64_t kMmioSize = 0x1000;
  /// Version register: version 0x14 (an integrated xAPIC), six LVT entries (max LVT 5).
  static constexpr std::uint32_t kVersion = 0x00050014;

  /// IrqSink lines: the two local interrupt pins.
  static constexpr unsigned kLint0 = 0;
  static constexpr unsigned kLint1 = 1;

  /// Register offsets in the APIC page (SDM table 10-1).
  enum Reg : std::uint32_t {
    kId = 0x20,
    kVersionReg = 0x30,
    kTpr = 0x80,
    kApr = 0x90,
    kPpr = 0xa0,
    kEoi = 0xb0,
    kRrd = 0xc0,
    kLdr = 0xd0,
    kDfr = 0xe0,
    kSvr = 0xf0,
    kIsr = 0x100,  ///< eight registers, 0x100-0x170
    kTmr = 0x180,  ///< 0x180-0x1f0
    kIrr = 0x200,  ///< 0x200-0x270
    kEsr = 0x280,
    kIcrLow = 0x300,
    kIcrHigh = 0x310,
    kLvtTimer = 0x320,
    kLvtThermal = 0x330,
    kLvtPerf = 0x340,
    kLvtLint0 = 0x350,
    kLvtLint1 = 0x360,
    kLvtError = 0x370,
    kTimerInitialCount = 0x380,
    kTimerCurrentCount = 0x390,
    kTimerDivide = 0x3e0,
  };

  // SVR, LVT and ICR bits.
  static constexpr std::uint32_t kSvrEnable = 1u << 8;   ///< APIC software enable
  static constexpr std::uint32_t kLvtMasked = 1u << 16;
  static constexpr std::uint32_t kLvtPeriodic = 1u << 17;  ///< timer mode: periodic (else one-shot)
  static constexpr std::uint32_t kLvtLevel = 1u << 15;     ///< LINT trigger mode: level
  static constexpr std::uint32_t kLvtRemoteIrr = 1u << 14;
  static constexpr std::uint32_t kIcrLevelAssert = 1u << 14;
  static constexpr std::uint32_t kIcrLevelTrigger = 1u << 15;
  static constexpr std::uint32_t kIcrLogical = 1u << 11;
  static constexpr std::uint32_t kIcrDeliveryStatus = 1u << 12;

  // ESR bits (Pentium 4 and later; bits 0-3 are the P6's bus errors and stay 0).
  static constexpr std::uint32_t kEsrSendIllegalVector = 1u << 5;
  static constexpr std::uint32_t kEsrReceiveIllegalVector = 1u << 6;
  static constexpr std::uint32_t kEsrIllegalRegister = 1u << 7;

  // IA32_APIC_BASE bits (SDM 10.4.4).
  static constexpr std::uint64_t kBaseBsp = 1u << 8;
  static constexpr std::uint64_t kBaseExtd = 1u << 10;  ///< x2APIC enable
  static constexpr std::uint64_t kBaseEnable = 1u << 11;
  static constexpr std::uint64_t kBaseAddressMask = 0x0000000ffffff000ull;  ///< MAXPHYADDR 36

  /// A processor's local APIC configuration.
  using Config = LocalApicConfig;

  /// An ICR command that had no effect because there is one processor (INIT, SIPI, SMI, or a
  /// mode/shorthand combination the SDM leaves invalid).
  struct RefusedIpi {
    std::uint32_t icr_low = 0;
    std::uint32_t icr_high = 0;
  };

  /// Power-on state (SDM 10.4.7.1): globally enabled at kDefaultBase as the BSP, software
  /// disabled (SVR = 0xFF), every LVT masked, the timer stopped.
  explicit LocalApic(Config config = Config{});
  LocalApic(const LocalApic&) = delete;
  LocalApic& operator=(const LocalApic&) = delete;

  /// INIT reset: the power-on register state, keeping the APIC ID and IA32_APIC_BASE. Time
  /// and the statistics are kept.
  void reset();
  /// The state a PC BIOS hands over (virtual wire mode, MP spec 3.6.2.2): software enabled
  /// with spurious vector 0xFF, LINT0 as ExtINT (the 8259 pair's INTR) and LINT1 as NMI.
  void bios_init();

  /// Map the register page at the current base.
  Status attach(MmioBus& bus);

  /// Register reads. While globally disabled (IA32_APIC_BASE.EN = 0) the page is not
  /// decoded: reads float (all ones) and writes are dropped.
  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  /// Register writes (read-only registers ignore them; unknown offsets set ESR bit 7).
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  /// IrqSink: drive LINT0 (kLint0) or LINT1 (kLint1). Other lines are ignored.
  void set_irq(unsigned line, bool level) override;
  /// ApicMessageSink: a message from the I/O APIC (or another agent). Fixed and lowest
  /// priority go to IRR, NMI and ExtINT latch; INIT, SIPI and SMI are refused (recorded).
  bool deliver(const ApicMessage& message) override;

  /// Tell `sink` about EOIs of level-triggered interrupts (the I/O APIC); null: nobody.
  void connect_eoi(EoiSink* sink) { eoi_sink_ = sink; }
  /// Tell `cpu` (line `line`) whenever the INTR output (pending() != none) changes.
  void connect_intr(IrqSink* cpu, unsigned line = 0);

  // ---- The processor's side ------------------------------------------------------------

  /// What would interrupt the processor now (if its EFLAGS.IF allowed; NMI regardless).
  ApicPending pending() const;
  /// The vector acknowledge() would return now, or not_found if no fixed interrupt is
  /// deliverable (IRR empty, or nothing above the processor priority).
  Result<std::uint8_t> pending_vector() const;
  /// The interrupt-acknowledge cycle for a fixed interrupt: the highest IRR vector above
  /// PPR moves to ISR and is returned. With nothing deliverable (TPR was raised in between)
  /// the spurious vector from SVR, and no ISR bit is set (SDM 10.9).
  std::uint8_t acknowledge();
  /// The processor took the pending NMI.
  void acknowledge_nmi();
  /// The processor took the ExtINT (and got its vector from the 8259 pair). A level ExtINT
  /// on LINT0 stays pending while the pin is high; a message ExtINT is consumed.
  void acknowledge_extint();

  // ---- Clock -----------------------------------------------------------------------------

  /// Let `ns` of virtual time pass; the timer counts and fires. Fractions of a bus tick carry
  /// over. Returns how many times the timer reached zero meanwhile (one interrupt is raised
  /// however many: IRR holds one request per vector).
  std::uint64_t advance_ns(std::uint64_t ns);
  /// advance_ns() in bus-clock ticks (Config::bus_hz per second).
  std::uint64_t advance_ticks(std::uint64_t ticks);
  /// Bus-clock ticks since construction.
  std::uint64_t now_ticks() const { return now_; }
  /// Virtual ns until the timer next interrupts: 0 if it is not counting, or its interrupt
  /// is masked (or the APIC software-disabled), so nothing is coming. A monitor arms its host
  /// timer (a VMX-preemption timer) with this.
  std::uint64_t ns_until_timer() const;

  // ---- IA32_APIC_BASE ------------------------------------------------------------------

  /// The MSR as the guest reads it: base, EN and BSP.
  std::uint64_t apic_base() const { return apic_base_; }
  /// WRMSR IA32_APIC_BASE. Error::invalid_argument for reserved bits (the guest gets #GP);
  /// Error::unsupported, with *why set, for what is valid but not offered: x2APIC enable,
  /// moving the page. BSP is read-only. Clearing EN disables the APIC globally; setting it
  /// again brings it back in its power-on state (SDM 10.4.3).
  Status write_apic_base(std::uint64_t value, const char** why = nullptr);
  /// IA32_APIC_BASE.EN.
  bool globally_enabled() const { return (apic_base_ & kBaseEnable) != 0; }
  /// SVR bit 8.
  bool software_enabled() const { return (svr_ & kSvrEnable) != 0; }

  // ---- Inspection ----------------------------------------------------------------------

  /// The APIC ID (register 0x20, bits 31:24).
  std::uint8_t id() const { return static_cast<std::uint8_t>(id_ >> 24); }
  std::uint8_t tpr() const { return static_cast<std::uint8_t>(tpr_); }
  /// The processor priority (SDM 10.8.3.1).
  std::uint8_t ppr() const;
  bool irr(std::uint8_t vector) const { return test(irr_, vector); }
  bool isr(std::uint8_t vector) const { return test(isr_, vector); }
  bool tmr(std::uint8_t vector) const { return test(tmr_, vector); }
  /// The LVT entry at register offset `reg` (kLvtTimer ... kLvtError); 0 for other offsets.
  std::uint32_t lvt(std::uint32_t reg) const;
  /// Counts changes to the registers a guest can read (and more): equal values mean nothing
  /// a guest read would see has changed since, so a monitor mirroring the registers in a
  /// page the processor reads (VT-x's virtual-APIC page) copies them again only when it moved.
  std::uint64_t state_version() const { return state_version_; }
  /// The 4 KiB register page as guest reads would see it now: each register's value at its
  /// offset (the current count as of now, all ones while globally disabled); offsets that are
  /// no register are left as they are. For VT-x's virtual-APIC page (SDM 29.1).
  void fill_register_page(std::uint32_t* page) const;
  /// The timer's current count as a guest read would see it.
  std::uint32_t current_count() const;
  /// The divide value selected by the divide configuration register (1-128).
  std::uint32_t timer_divisor() const;
  /// Errors collected since the guest last wrote ESR (not yet visible in ESR).
  std::uint32_t pending_errors() const { return esr_pending_; }
  /// Times the timer reached zero, whether or not its interrupt was masked.
  std::uint64_t timer_expirations() const { return timer_expirations_; }
  /// INIT/SIPI/SMI commands refused since construction, and the last one.
  std::uint64_t refused_ipi_count() const { return refused_ipis_; }
  RefusedIpi last_refused_ipi() const { return last_refused_; }
  /// Fixed/NMI IPIs whose destination was no processor here (lost, as on a bus with no such
  /// APIC).
  std::uint64_t undelivered_ipi_count() const { return undelivered_ipis_; }

 private:
  static bool test(const std::uint32_t (&bits)[8], unsigned v) { return (bits[v >> 5] >> (v & 31)) & 1u; }
  static void set(std::uint32_t (&bits)[8], unsigned v) { bits[v >> 5] |= 1u << (v & 31); }
  static void clear(std::uint32_t (&bits)[8], unsigned v) { bits[v >> 5] &= ~(1u << (v & 31)); }
  static int highest(const std::uint32_t (&bits)[8]);

  enum LvtIndex : unsigned { kTimerLvt, kThermalLvt, kPerfLvt, kLint0Lvt, kLint1Lvt, kErrorLvt, kLvtCount };

  void power_on_registers();
  bool matches(std::uint8_t destination, bool logical) const;
  bool accept_fixed(std::uint8_t vector, bool level_triggered);
  void signal_error(std::uint32_t bits);
  void write_lvt(unsigned index, std::uint32_t value);
  void write_svr(std::uint32_t value);
  void write_icr_low(std::uint32_t value);
  void eoi();
  void lint_changed(unsigned pin, bool old_level, bool level);
  void lint_fixed_level_check(unsigned pin);
  void update_intr();
  std::uint32_t read_register(std::uint32_t offset);
  bool peek(std::uint32_t offset, std::uint32_t* value) const;  // false: no such register
  void write_register(std::uint32_t offset, std::uint32_t value);

  // Timer: the count was `anchor_count_` at bus tick `anchor_`, decrementing once every
  // divisor ticks since.
  void timer_restart_from(std::uint32_t count);
  std::uint64_t timer_zeroes_until(std::uint64_t tick) const;  // times it reached zero in (anchor_, tick]
  void timer_fire();

  Config config_;
  std::uint64_t apic_base_ = kDefaultBase | kBaseBsp | kBaseEnable;
  std::uint32_t id_ = 0;
  std::uint32_t tpr_ = 0, ldr_ = 0, dfr_ = 0xffffffffu, svr_ = 0xff;
  std::uint32_t esr_ = 0, esr_pending_ = 0;
  std::uint32_t icr_low_ = 0, icr_high_ = 0;
  std::uint32_t lvt_[kLvtCount] = {};
  std::uint32_t irr_[8] = {}, isr_[8] = {}, tmr_[8] = {};
  std::uint32_t initial_count_ = 0, divide_config_ = 0;

  bool lint_level_[2] = {false, false};
  bool nmi_pending_ = false;
  bool extint_message_ = false;

  std::uint64_t now_ = 0;
  std::uint64_t ns_frac_ = 0;
  std::uint64_t anchor_ = 0;
  std::uint32_t anchor_count_ = 0;  // 0: the timer is not counting
  std::uint64_t zeroes_seen_ = 0;   // timer_zeroes_until(now_) when last computed

  EoiSink* eoi_sink_ = nullptr;
  IrqSink* cpu_ = nullptr;
  unsigned cpu_line_ = 0;
  bool intr_ = false;

  std::uint64_t state_version_ = 0;
  std::uint64_t timer_expirations_ = 0;
  std::uint64_t refused_ipis_ = 0;
  std::uint64_t undelivered_ipis_ = 0;
  RefusedIpi last_refused_{};
};

}  // namespace hvlab::dev
