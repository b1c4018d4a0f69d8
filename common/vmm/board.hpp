#pragma once
// The Board: the guest's PC as one object, the same for every monitor of the kit and the same
// in the kernels and on the host. It owns guest RAM, the port and MMIO buses with the device
// models on them (16550 UARTs, 8259 pair, 8254, CMOS, the exit ports), the device clock, the
// sinks the guest's output goes to, the event waiting to be injected, the budgets, and how the
// run ends. Nothing here knows how the guest is entered (trap, VMCS, VMCB, KVM_RUN): that is
// the Backend's (backend.hpp), and the run loop (run.hpp) joins the two.
//
// The PC is the one xv6 and other unmodified kernels expect: besides the legacy devices, a
// local APIC at 0xFEE00000 and an I/O APIC at 0xFEC00000 (on the MMIO bus), every ISA IRQ
// wired to both the 8259 pair and an I/O APIC pin (IRQ0 on pin 2), the 8259's INTR on the
// local APIC's LINT0 (virtual wire mode, as a BIOS leaves it), an ATA channel at
// 0x1F0-0x1F7/0x3F6 with IRQ 14 and two drive slots, fw_cfg at 0x510, the CGA's CRT
// controller at 0x3D4 and its text buffer at 0xB8000 (guest RAM when RAM covers it, so the
// guest's writes need no trap), and, once write_bios_tables() has run, the BIOS data area
// and MP tables in low memory. The processor is interrupted through the local APIC alone:
// prepare_entry() asks it what is pending (an NMI, a fixed vector, or the 8259's ExtINT).
//
// Time: the guest's clock is the host's time-stamp counter plus an offset (VT-x "TSC offset",
// AMD-V TSC_OFFSET, or the offset a trap back end adds when it emulates RDTSC). The monitor's
// own time is hidden from the guest: the offset shrinks by the time spent between an exit and
// the next entry, so the guest's TSC and its devices stand still while the monitor (and its
// trace, which crawls out of a serial port) runs. The guest then sees the same timing however
// slow the monitor is: no timer-interrupt storm from a slow exit path, and a TSC calibration
// against the PIT that comes out right. While the guest halts with nothing to do, its clock
// skips ahead to the next timer interrupt, so an idle guest costs no time at all.

#include <cstdarg>
#include <cstdint>

#include "common/devices/ata.hpp"
#include "common/devices/bus.hpp"
#include "common/devices/cga.hpp"
#include "common/devices/cmos_rtc.hpp"
#include "common/devices/debug_exit.hpp"
#include "common/devices/fw_cfg.hpp"
#include "common/devices/io_apic.hpp"
#include "common/devices/irq_routing.hpp"
#include "common/devices/local_apic.hpp"
#include "common/devices/pic8259.hpp"
#include "common/devices/pit8254.hpp"
#include "common/devices/uart16550.hpp"
#include "common/memory/guest_memory.hpp"
#include "common/vmm/bios_tables.hpp"
#include "common/vmm/cpuid_policy.hpp"
#include "common/vmm/vcpu.hpp"

namespace hvlab::vmm {

class TraceWriter;

/// An event for the next entry (SDM 26.6 event injection; AMD APM 15.20 EVENTINJ; a trap back
/// end delivers it through the guest's own IDT).
struct PendingEvent {
  enum class Type : std::uint8_t { external_interrupt, nmi, hardware_exception, software_interrupt,
                                   privileged_software_exception, software_exception };
  bool valid = false;
  Type type = Type::hardware_exception;
  std::uint8_t vector = 0;
  bool has_error_code = false;
  std::uint32_t error_code = 0;
  std::uint8_t insn_length = 0;  ///< software interrupts and exceptions: the instruction's length
};

/// What the next entry must do about interrupts, decided by Board::prepare_entry().
struct EntryPlan {
  PendingEvent inject;               ///< valid: deliver this at entry
  bool interrupt_window = false;     ///< come back as soon as the guest can take an interrupt
  std::uint64_t timer_deadline = 0;  ///< guest time of the next timer interrupt; 0: none
  std::uint64_t watchdog = 0;        ///< guest time by which the monitor wants control anyway
  bool stop = false;                 ///< the guest can never run again (see Board::stop_reason)
};

/// Limits on what a guest may consume before it is contained.
struct Budgets {
  std::uint64_t output_bytes = 256 * 1024;  ///< on COM1, and again on port 0xE9
  std::uint64_t events = 5'000'000;         ///< monitor entries (traps, exits, hypercalls)
  std::uint64_t guest_seconds = 300;        ///< of the guest's own time
  /// Guest seconds with interrupts off, no event but the monitor's timer and no progress
  /// (the guest's registers unchanged and its EIP in one small loop) before it is stopped.
  unsigned spin_seconds = 2;
};

/// How a run ended (or that it has not).
enum class RunState : std::uint8_t {
  running,
  guest_exited,  ///< the guest asked to stop (port 0xf4, or "Shutdown" on port 0x8900)
  contained,     ///< the monitor stopped a guest that broke a rule or a budget
  failed,        ///< the monitor could not go on (an entry failure, an unhandled event)
};

/// Exit statuses of a monitor kernel (the same numbers as common/boot's exit_status).
inline constexpr int kStatusContained = 1, kStatusFailed = 3;

class Board final {
 public:
  static constexpr std::uint64_t kDefaultTscHz = 1'000'000'000;

  /// `console` receives the guest's COM1 bytes, `debug` its port 0xE9 lines, each prefixed
  /// with "guest: " so the guest's own exit marker cannot be taken for the monitor's.
  Board(dev::ByteSink* console, dev::ByteSink* debug);
  Board(const Board&) = delete;
  Board& operator=(const Board&) = delete;

  static constexpr std::uint16_t kCom2Port = 0x2f8, kBochsShutdownPort = 0x8900, kPostPort = 0x80;

  /// Whether every device of the standard PC found its ports (a monitor checks this once,
  /// before the guest runs, and refuses to start otherwise).
  Status wiring() const { return wiring_; }

  mem::GuestMemory& memory() { return memory_; }
  dev::PortBus& ports() { return ports_; }
  dev::MmioBus& mmio() { return mmio_; }
  dev::Pic8259Pair& pic() { return pic_; }
  dev::Pit8254& pit() { return pit_; }
  dev::CmosRtc& cmos() { return cmos_; }
  dev::Uart16550& com1() { return com1_; }
  dev::DebugExit& debug_exit() { return debug_exit_; }
  dev::LocalApic& lapic() { return lapic_; }
  const dev::LocalApic& lapic() const { return lapic_; }
  dev::IoApic& ioapic() { return ioapic_; }
  dev::AtaChannel& ata() { return ata_; }
  dev::FwCfg& fw_cfg() { return fw_cfg_; }
  dev::CgaText& cga() { return cga_; }
  /// Where devices raise ISA IRQs: the 8259 pair and the I/O APIC pin together.
  dev::IrqSink& isa_irqs() { return isa_; }

  /// Puts a disk backed by `store` (which must outlive the Board) in ATA slot `drive`: 0 the
  /// primary master, 1 the primary slave (where xv6 keeps its file system); null empties it.
  Status attach_disk(unsigned drive, dev::BlockStore* store) { return ata_.set_drive(drive, store); }

  /// Writes what a PC BIOS leaves in low memory (the BIOS data area, the EBDA, the MP
  /// floating pointer and configuration table describing this board's APICs) into guest RAM.
  /// Call it after the guest image is loaded (a loader may clear low memory) and before the
  /// first entry. `cpu_signature` and `cpu_features` are CPUID.1's EAX and EDX, for the MP
  /// table's processor entry.
  Result<PcBiosLayout> write_bios_tables(std::uint32_t cpu_signature = 0, std::uint32_t cpu_features = 0);

  /// What the CPUID policy needs to know about this board and `vcpu` (the APIC ID, whether
  /// the APIC is enabled, the guest's CR4).
  CpuidContext cpuid_context(const VCpu& vcpu) const;

  /// Bytes typed on the monitor's own console, polled before every entry and fed to the
  /// guest's COM1 as far as its receiver has room (null: none). The Board drains the source
  /// into a buffer of its own (kConsoleInputBuffer bytes) at every entry, so a source with a
  /// small FIFO (a real UART) loses nothing while the guest reads a byte at a time.
  void set_console_input(dev::ByteSource* input) { console_input_ = input; }
  static constexpr unsigned kConsoleInputBuffer = 4096;

  /// Guest RAM at guest-physical 0: `bytes` at host pointer `host`, host-physical `hpa`.
  /// Also tells the CMOS the memory size (what a BIOS would have recorded).
  Status add_ram(std::uint64_t bytes, void* host, HostPhysAddr hpa);

  Budgets& budgets() { return budgets_; }
  const Budgets& budgets() const { return budgets_; }

  /// Where KTAP result lines and the board's own notes go (one record per guest test).
  void set_trace(TraceWriter* trace) { trace_ = trace; }
  TraceWriter* trace() const { return trace_; }

  // ---- Time --------------------------------------------------------------------------
  // Two clocks, both in TSC ticks: guest time (host TSC + the time offset, which hides the
  // monitor's work and skips idle periods; the devices follow it and never go back) and the
  // guest's TSC (guest time + what the guest's own WRMSR to the TSC added). A guest that
  // writes its TSC backwards moves only its TSC: its timers keep running.
  void set_tsc_hz(std::uint64_t hz) { tsc_hz_ = hz ? hz : kDefaultTscHz; }
  std::uint64_t tsc_hz() const { return tsc_hz_; }
  /// Guest time for a host TSC reading.
  std::uint64_t guest_time(std::uint64_t host_tsc) const { return host_tsc + time_offset_; }
  /// The guest's time-stamp counter for a host TSC reading (what RDTSC returns).
  std::uint64_t guest_tsc(std::uint64_t host_tsc) const { return host_tsc + tsc_offset(); }
  /// guest TSC - host TSC: the VT-x "TSC offset" / AMD-V TSC_OFFSET field.
  std::uint64_t tsc_offset() const { return time_offset_ + tsc_adjust_; }
  /// The guest wrote its TSC (WRMSR 0x10) at host TSC `host_tsc`.
  void set_guest_tsc(std::uint64_t value, std::uint64_t host_tsc) { tsc_adjust_ = value - guest_time(host_tsc); }
  /// Whether the monitor's time is taken out of guest time (the default). Off: the guest's
  /// clocks include the monitor's work (lab01's clock=host).
  void set_hide_monitor_time(bool on) { hide_monitor_time_ = on; }
  /// Guest time the devices have reached (their notion of "now").
  std::uint64_t device_time() const { return device_time_; }
  /// Brings the devices up to guest time `t` (never backwards).
  void advance_to(std::uint64_t t);
  /// The guest started running at host TSC `host_tsc`, some time after prepare_entry(): the
  /// monitor's work in between (injecting, arming the timer, the back end's own switch) is
  /// hidden from the guest too.
  void on_entry(std::uint64_t host_tsc);
  /// The guest stopped running at host TSC `host_tsc`: the devices catch up to that moment
  /// before a handler looks at them, and the monitor's time starts counting.
  void on_exit(std::uint64_t host_tsc);
  /// What an emulated RDTSC (or RDMSR of the TSC) returns at host TSC `host_now`: while the
  /// monitor runs and hides its time, the guest's TSC as it was when the guest stopped, so
  /// the guest never sees its TSC jump by the monitor's work and then fall back.
  std::uint64_t read_guest_tsc(std::uint64_t host_now) const { return guest_tsc(guest_clock_host_tsc(host_now)); }
  /// An emulated WRMSR of the TSC at host TSC `host_now` (the same moment as read_guest_tsc).
  void write_guest_tsc(std::uint64_t value, std::uint64_t host_now) {
    set_guest_tsc(value, guest_clock_host_tsc(host_now));
  }
  /// Guest time of the next timer interrupt that can reach the processor: the PIT's next
  /// IRQ0 edge (unless both the 8259 and the I/O APIC mask it) or the local APIC timer's
  /// next expiry (unless masked), whichever is nearer; 0 if none is coming.
  std::uint64_t next_timer_deadline() const;
  /// The last event showed progress (anything but a bare timer interrupt).
  void note_progress() {
    last_progress_ = device_time_;
    have_sample_ = false;
  }
  /// The monitor's timer interrupted the guest, which is in `vcpu`'s state: progress if its
  /// general registers changed since the last such sample or its EIP left the small window
  /// (kSpinWindow bytes) the samples since the last progress stayed in. A long boot with
  /// interrupts off moves on; CLI; JMP $ or a PAUSE loop over a flag that never changes do not.
  void note_timer_sample(const VCpu& vcpu);
  static constexpr std::uint32_t kSpinWindow = 64;
  /// True when the guest has run budgets().spin_seconds of its own time with interrupts
  /// disabled, no event but the monitor's timer, and no progress at those timer samples.
  bool spinning_with_interrupts_off(const VCpu& vcpu) const {
    return !vcpu.interrupts_enabled() && device_time_ - last_progress_ > budgets_.spin_seconds * tsc_hz_;
  }
  /// Seconds of guest time since the first entry.
  std::uint64_t guest_seconds() const { return time_started_ ? (device_time_ - start_time_) / tsc_hz_ : 0; }

  // ---- Events ------------------------------------------------------------------------
  /// Queue an exception for the next entry (a handler's #GP or #UD, a reflected fault).
  void inject_exception(unsigned vector, bool has_error_code = false, std::uint32_t error_code = 0);
  /// Queue an arbitrary event (the back end re-injects an event whose delivery an exit cut short).
  void inject(const PendingEvent& e) { pending_ = e; }
  bool has_pending_event() const { return pending_.valid; }
  const PendingEvent& pending_event() const { return pending_; }
  /// Drops the queued event (a handler that raised one and then found it must stop).
  void clear_pending_event() { pending_ = PendingEvent{}; }

  /// Decides the next entry. Called after each event has been handled, with the host TSC now;
  /// hides the time since on_exit() from the guest. A halted vCPU with interrupts enabled
  /// and nothing pending has its clock skipped to the next timer interrupt; one that can
  /// never wake gets plan.stop (and the board a stop reason). An exception goes first; then
  /// what the local APIC has pending: an NMI, or a fixed interrupt (its acknowledge cycle)
  /// or the 8259's ExtINT (the 8259's INTA cycle), injected only when IF = 1 and there is no
  /// STI/MOV SS blocking (SDM 26.6.5), else the plan asks for an interrupt window.
  EntryPlan prepare_entry(VCpu& vcpu, std::uint64_t host_tsc);
  /// Whether the local APIC would interrupt the processor now (if EFLAGS.IF allowed).
  bool interrupt_pending() const { return lapic_.pending() != dev::ApicPending::none; }
  /// Counters for the summary.
  std::uint64_t interrupts_injected() const { return injected_; }
  std::uint64_t idle_skips() const { return idle_skips_; }

  // ---- Output ------------------------------------------------------------------------
  std::uint64_t console_bytes() const { return console_bytes_; }

  // ---- Stopping ----------------------------------------------------------------------
  RunState state() const { return state_; }
  bool running() const { return state_ == RunState::running; }
  /// The guest asked to stop with `status` (port 0xf4, or "Shutdown" with its own marker).
  void note_exit_request(int status);
  void note_shutdown_request();
  bool guest_exited() const { return state_ == RunState::guest_exited; }
  int guest_status() const { return status_; }
  /// Stops a guest that broke a rule or a budget; the first reason given is kept.
  void contain(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  /// Stops because the monitor cannot go on (not the guest's fault); the first reason is kept.
  void fail(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  /// Why the run ended ("running" while it has not).
  const char* stop_reason() const { return stop_reason_; }
  /// The status the monitor exits with: the guest's own, or kStatusContained/kStatusFailed.
  int exit_status() const;

 private:
  // The guest's 0xE9 console: prefixed lines out, its own exit marker parsed.
  class GuestDebugSink final : public dev::ByteSink {
   public:
    GuestDebugSink(Board& b, dev::ByteSink* out) : b_(b), out_(out) {}
    void put(std::uint8_t byte) override;

   private:
    Board& b_;
    dev::ByteSink* out_;
    char line_[64] = {};
    unsigned len_ = 0;
    bool at_line_start_ = true;
    std::uint64_t bytes_ = 0;
  };
  // The guest's COM1: bytes out to the console, KTAP result lines noted in the trace.
  class GuestConsoleSink final : public dev::ByteSink {
   public:
    GuestConsoleSink(Board& b, dev::ByteSink* out) : b_(b), out_(out) {}
    void put(std::uint8_t byte) override;

   private:
    Board& b_;
    dev::ByteSink* out_;
    char line_[96] = {};
    unsigned len_ = 0;
  };
  // Port 0xf4: QEMU's isa-debug-exit, which ends the guest at once.
  class ExitPort final : public dev::Device {
   public:
    explicit ExitPort(Board& b) : b_(b) {}
    Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
    Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

   private:
    Board& b_;
  };
  // Port 0x8900: Bochs' shutdown port; the string "Shutdown" stops the machine.
  class ShutdownPort final : public dev::Device {
   public:
    explicit ShutdownPort(Board& b) : b_(b) {}
    Result<std::uint32_t> read(std::uint32_t, unsigned size) override { return dev::floating_bus_value(size); }
    Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

   private:
    Board& b_;
    unsigned matched_ = 0;
  };
  // Port 0x80 (POST codes, used as an I/O delay): writes go nowhere, reads float.
  class PostPort final : public dev::Device {
   public:
    Result<std::uint32_t> read(std::uint32_t, unsigned size) override { return dev::floating_bus_value(size); }
    Status write(std::uint32_t, unsigned, std::uint32_t) override { return {}; }
  };

  Status wire_devices();
  void stop(RunState s, const char* fmt, va_list ap);
  bool can_wake(const VCpu& vcpu) const;
  std::uint8_t take_interrupt();  // the acknowledge cycle of what the local APIC has pending
  void poll_console_input();
  /// The host TSC that stands for "now" on the guest's clocks: the exit, while the monitor
  /// runs and hides its time.
  std::uint64_t guest_clock_host_tsc(std::uint64_t host_now) const {
    return in_monitor_ && hide_monitor_time_ ? exit_host_tsc_ : host_now;
  }

  mem::GuestMemory memory_;
  dev::PortBus ports_;
  dev::MmioBus mmio_;
  dev::Pic8259Pair pic_;
  dev::LocalApic lapic_;
  dev::IoApic ioapic_;
  dev::IsaIrqRouter isa_{&pic_, &ioapic_};
  dev::IrqTee pic_intr_{&lapic_, dev::LocalApic::kLint0, &ioapic_, 0};
  dev::Pit8254 pit_;
  dev::CmosRtc cmos_;
  GuestConsoleSink console_sink_;
  dev::Uart16550 com1_;
  dev::Uart16550 com2_;  // present so the guest's probes find a UART; output dropped
  GuestDebugSink debug_sink_;
  dev::DebugConsole debug_console_;
  dev::DebugExit debug_exit_;
  ExitPort exit_port_;
  ShutdownPort shutdown_port_;
  PostPort post_port_;
  dev::AtaChannel ata_;
  dev::FwCfg fw_cfg_;
  dev::CgaText cga_;
  dev::ByteSource* console_input_ = nullptr;
  std::uint8_t input_buf_[kConsoleInputBuffer] = {};
  unsigned input_head_ = 0, input_count_ = 0;  // a ring: bytes taken, not yet received by COM1
  TraceWriter* trace_ = nullptr;
  Budgets budgets_;
  Status wiring_;

  std::uint64_t tsc_hz_ = kDefaultTscHz;
  std::uint64_t time_offset_ = 0;  // guest time - host TSC
  std::uint64_t tsc_adjust_ = 0;   // guest TSC - guest time
  std::uint64_t device_time_ = 0;  // guest time the devices have reached
  std::uint64_t start_time_ = 0;
  bool time_started_ = false;
  bool hide_monitor_time_ = true;
  bool in_monitor_ = false;
  std::uint64_t exit_host_tsc_ = 0;
  std::uint64_t prepared_host_tsc_ = 0;  // prepare_entry()'s reading, for on_entry()
  bool prepared_ = false;
  std::uint64_t last_progress_ = 0;
  std::uint64_t pit_rem_ = 0;  // remainders of the TSC -> device-clock conversions
  std::uint64_t rtc_rem_ = 0;
  std::uint64_t lapic_rem_ = 0;
  // The spin watchdog's samples since the last progress (note_timer_sample).
  bool have_sample_ = false;
  GeneralRegisters sample_regs_{};
  std::uint32_t sample_lo_ = 0, sample_hi_ = 0;

  PendingEvent pending_;
  std::uint64_t injected_ = 0, idle_skips_ = 0;
  RunState state_ = RunState::running;
  int status_ = 0;
  std::uint64_t console_bytes_ = 0;
  int marker_status_ = -1;  // from the guest's own "hvlab-exit: N" on 0xE9
  char stop_reason_[192] = "running";
};

/// Converts `delta` ticks of a clock at `from_hz` into ticks at `to_hz`, carrying the
/// remainder in *rem so that many small steps lose nothing. No 128-bit arithmetic needed.
std::uint64_t convert_ticks(std::uint64_t delta, std::uint64_t from_hz, std::uint64_t to_hz, std::uint64_t* rem);

}  // namespace hvlab::vmm
