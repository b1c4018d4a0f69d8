#pragma once
// The virtual PC around the guest, shared by the VT-x and the AMD-V back ends: guest RAM,
// the port bus with the common device models (16550 UARTs, 8259 pair, 8254, CMOS, the debug
// exit ports), virtual time, the event waiting to be injected at the next entry, and how the
// guest asked to stop. Nothing here knows about VMCS or VMCB, so it is unit-tested on the host.
//
// Time: the guest's clock is the host time-stamp counter plus an offset (VT-x "TSC offset",
// AMD-V "TSC_OFFSET"). The monitor's own time is hidden from the guest: the offset shrinks by
// the time spent between an exit and the next entry, so the guest's TSC and its devices
// stand still while the monitor (and its trace, which crawls out of a serial port) runs.
// The guest then sees the same timing however slow the monitor is: no timer-interrupt
// storm from a slow exit path, and a TSC calibration against the PIT that comes out right.
// While the guest halts with nothing to do, the monitor skips ahead to the next timer
// interrupt by growing the offset, so an idle guest costs no emulated time.

#include <cstdint>

#include "common/devices/bus.hpp"
#include "common/devices/cmos_rtc.hpp"
#include "common/devices/debug_exit.hpp"
#include "common/devices/pic8259.hpp"
#include "common/devices/pit8254.hpp"
#include "common/devices/uart16550.hpp"
#include "common/memory/guest_memory.hpp"
#include "common/vmm/trace.hpp"
#include "common/vmm/vcpu.hpp"

namespace hvlab::lab04 {

/// An event for the next VM entry (SDM 26.6 event injection; AMD APM 15.20 EVENTINJ).
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

/// What the entry path should do about interrupts, decided by Platform::prepare_entry().
struct EntryPlan {
  PendingEvent inject;            ///< valid: deliver this at entry
  bool interrupt_window = false;  ///< exit as soon as the guest can take an interrupt
  std::uint64_t timer_deadline = 0;  ///< guest TSC of the next timer interrupt; 0: none
  std::uint64_t watchdog = 0;        ///< guest TSC by which the monitor wants an exit anyway
  bool stop = false;              ///< the guest can never run again (halted for good)
};

/// A byte sink over a function pointer, so the kernel can route device output anywhere.
class FunctionSink final : public dev::ByteSink {
 public:
  using Fn = void (*)(std::uint8_t byte, void* ctx);
  FunctionSink(Fn fn, void* ctx) : fn_(fn), ctx_(ctx) {}
  void put(std::uint8_t byte) override {
    if (fn_) fn_(byte, ctx_);
  }

 private:
  Fn fn_;
  void* ctx_;
};

class Platform final {
 public:
  static constexpr std::uint64_t kDefaultTscHz = 1'000'000'000;

  /// `console` receives the guest's COM1 bytes, `debug` its port 0xE9 bytes (the platform
  /// prefixes each debug line with "guest: " so the guest's own exit marker cannot be taken
  /// for the monitor's).
  Platform(dev::ByteSink* console, dev::ByteSink* debug);
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  mem::GuestMemory& memory() { return memory_; }
  dev::PortBus& ports() { return ports_; }
  dev::Pic8259Pair& pic() { return pic_; }
  dev::Pit8254& pit() { return pit_; }
  dev::CmosRtc& cmos() { return cmos_; }
  dev::Uart16550& com1() { return com1_; }
  dev::DebugExit& debug_exit() { return debug_exit_; }

  /// Bytes of guest console output after which the guest counts as flooding it (a monitor
  /// must contain a guest that prints forever; the suite prints about 3 KiB).
  static constexpr std::uint64_t kConsoleLimit = 64 * 1024;
  bool console_flooded() const { return console_bytes_ > kConsoleLimit; }

  /// Optional: where KTAP result lines are noted (one trace record per guest test).
  void set_trace(vmm::TraceWriter* trace) { trace_ = trace; }

  // ---- Time --------------------------------------------------------------------------
  void set_tsc_hz(std::uint64_t hz) { tsc_hz_ = hz ? hz : kDefaultTscHz; }
  std::uint64_t tsc_hz() const { return tsc_hz_; }
  std::uint64_t tsc_offset() const { return tsc_offset_; }
  void set_tsc_offset(std::uint64_t off) { tsc_offset_ = off; }
  /// The guest's time-stamp counter for a host TSC reading.
  std::uint64_t guest_tsc(std::uint64_t host_tsc) const { return host_tsc + tsc_offset_; }
  /// Brings the devices up to guest time `guest_tsc` (never backwards).
  void advance_to(std::uint64_t guest_tsc);
  /// The guest stopped running at host TSC `host_tsc`: devices catch up to that moment
  /// before the handler looks at them, and the monitor's time starts counting.
  void on_exit(std::uint64_t host_tsc);
  /// Guest TSC at which the PIT's next IRQ0 edge falls; 0 if none is coming.
  std::uint64_t next_timer_deadline() const;
  /// Guest TSC of the last exit that showed progress (anything but a bare timer exit).
  void note_progress() { last_progress_ = device_time_; }
  /// True when the guest has run `seconds` of its own time with interrupts disabled and no
  /// exit but the monitor's timer: CLI; JMP $ and the like, which would run forever.
  bool spinning_with_interrupts_off(const vmm::VCpu& vcpu, unsigned seconds) const {
    return !vcpu.interrupts_enabled() && device_time_ - last_progress_ > seconds * tsc_hz_;
  }

  // ---- Events ------------------------------------------------------------------------
  /// Queue an exception for the next entry (a handler's #GP or #UD, a reflected fault).
  void inject_exception(unsigned vector, bool has_error_code = false, std::uint32_t error_code = 0);
  /// Queue an arbitrary event (the back end re-injects an event whose delivery an exit cut short).
  void inject(const PendingEvent& e) { pending_ = e; }
  bool has_pending_event() const { return pending_.valid; }
  const PendingEvent& pending_event() const { return pending_; }

  /// Decides what happens at the next entry. Called after each exit has been handled, with
  /// the host TSC now; hides the time since on_exit() from the guest. A halted vCPU with interrupts enabled and nothing pending has time
  /// skipped forward to the next timer interrupt; one that can never wake gets plan.stop.
  EntryPlan prepare_entry(vmm::VCpu& vcpu, std::uint64_t host_tsc);
  /// Counters for the summary.
  std::uint64_t interrupts_injected() const { return injected_; }
  std::uint64_t idle_skips() const { return idle_skips_; }

  // ---- Stopping ----------------------------------------------------------------------
  /// The guest asked to stop (port 0xf4, or "Shutdown" on port 0x8900).
  bool guest_exited() const { return exited_; }
  /// The status it asked for: the value written to 0xf4, or the number in its own
  /// "hvlab-exit: N" line when it only used 0x8900.
  int guest_status() const { return status_; }
  /// Called by the port models.
  void note_exit_request(int status);
  void note_shutdown_request();
  /// Why the monitor stopped the guest (for the trace summary and the console), printf-style.
  void set_stop_reason(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  const char* stop_reason() const { return stop_reason_; }

 private:
  // The guest's 0xE9 console: prefixed lines out, its own exit marker parsed.
  class GuestDebugSink final : public dev::ByteSink {
   public:
    GuestDebugSink(Platform& p, dev::ByteSink* out) : p_(p), out_(out) {}
    void put(std::uint8_t byte) override;

   private:
    Platform& p_;
    dev::ByteSink* out_;
    char line_[64] = {};
    unsigned len_ = 0;
    bool at_line_start_ = true;
  };
  // The guest's COM1: bytes out to the console, KTAP result lines noted in the trace.
  class GuestConsoleSink final : public dev::ByteSink {
   public:
    GuestConsoleSink(Platform& p, dev::ByteSink* out) : p_(p), out_(out) {}
    void put(std::uint8_t byte) override;

   private:
    Platform& p_;
    dev::ByteSink* out_;
    char line_[96] = {};
    unsigned len_ = 0;
  };
  // Port 0xf4: QEMU's isa-debug-exit, which ends the guest at once.
  class ExitPort final : public dev::Device {
   public:
    explicit ExitPort(Platform& p) : p_(p) {}
    Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
    Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

   private:
    Platform& p_;
  };
  // Port 0x8900: Bochs' shutdown port; the string "Shutdown" stops the machine.
  class ShutdownPort final : public dev::Device {
   public:
    explicit ShutdownPort(Platform& p) : p_(p) {}
    Result<std::uint32_t> read(std::uint32_t, unsigned size) override { return dev::floating_bus_value(size); }
    Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

   private:
    Platform& p_;
    unsigned matched_ = 0;
  };

  void wire_devices();

  mem::GuestMemory memory_;
  dev::PortBus ports_;
  dev::Pic8259Pair pic_;
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
  vmm::TraceWriter* trace_ = nullptr;

  std::uint64_t tsc_hz_ = kDefaultTscHz;
  std::uint64_t tsc_offset_ = 0;
  std::uint64_t device_time_ = 0;  // guest TSC the devices have reached
  bool time_started_ = false;
  bool in_monitor_ = false;
  std::uint64_t exit_host_tsc_ = 0;
  std::uint64_t last_progress_ = 0;
  std::uint64_t pit_rem_ = 0;  // remainders of the TSC -> device-clock conversions
  std::uint64_t rtc_rem_ = 0;

  PendingEvent pending_;
  std::uint64_t injected_ = 0, idle_skips_ = 0;
  bool exited_ = false;
  int status_ = 0;
  std::uint64_t console_bytes_ = 0;
  int marker_status_ = -1;  // from the guest's own "hvlab-exit: N" on 0xE9
  char stop_reason_[192] = "running";
};

/// The platform the handlers act on (bound once by the monitor, or by a test).
Platform& platform();
void bind_platform(Platform* p);

/// Converts `delta` ticks of a clock at `from_hz` into ticks at `to_hz`, carrying the
/// remainder in *rem so that many small steps lose nothing. No 128-bit arithmetic needed.
std::uint64_t convert_ticks(std::uint64_t delta, std::uint64_t from_hz, std::uint64_t to_hz, std::uint64_t* rem);

}  // namespace hvlab::lab04
