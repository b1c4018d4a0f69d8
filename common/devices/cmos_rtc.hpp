#pragma once
// The PC's CMOS RAM and real-time clock (a Motorola MC146818A, as in the PC/AT): an index
// port at 0x70 (bit 7 disables NMI) and a data port at 0x71 onto 128 bytes, of which 0x00-0x0D
// are the clock and the rest battery-backed NVRAM (the BIOS keeps memory sizes there).
//
// The time is a settable Unix epoch plus virtual time (advance_ns()); there is no host
// clock. All date arithmetic is integer (days-from-civil), valid from 1970 to 9999.

#include <cstdint>

#include "common/devices/bus.hpp"

namespace hvlab::dev {

/// A broken-down UTC time, as the RTC registers hold it (in binary).
struct RtcDateTime {
  std::uint32_t year = 1970;  ///< full year, 1970-9999
  std::uint8_t month = 1;     ///< 1-12
  std::uint8_t day = 1;       ///< 1-31
  std::uint8_t hour = 0;      ///< 0-23
  std::uint8_t minute = 0;
  std::uint8_t second = 0;
  std::uint8_t weekday = 5;   ///< 1 = Sunday ... 7 = Saturday (RTC register 6's encoding)
};

/// CMOS/RTC at two ports (attach with count 2: offset 0 = 0x70 index, offset 1 = 0x71 data).
/// Byte accesses only. IRQ8 is the RTC's IRQ# output (high while status C's IRQF is set).
///
/// Guest writes to the time registers set the clock (a write of an out-of-range value, or a
/// date before 1970, is ignored). The day of week is always derived from the date, so writes
/// to register 6 are ignored. Dividers in status A are stored but not modelled (the clock is
/// always 32.768 kHz-based).
class CmosRtc final : public Device {
 public:
  static constexpr std::uint16_t kIndexPort = 0x70;
  static constexpr unsigned kIrqLine = 8;
  static constexpr std::uint32_t kOscillatorHz = 32768;
  static constexpr unsigned kSize = 128;

  /// Register indices (data-sheet names; memory-size bytes as PC BIOSes use them).
  enum Reg : std::uint8_t {
    kSeconds = 0x00,
    kSecondsAlarm = 0x01,
    kMinutes = 0x02,
    kMinutesAlarm = 0x03,
    kHours = 0x04,
    kHoursAlarm = 0x05,
    kDayOfWeek = 0x06,
    kDayOfMonth = 0x07,
    kMonth = 0x08,
    kYear = 0x09,
    kStatusA = 0x0a,
    kStatusB = 0x0b,
    kStatusC = 0x0c,
    kStatusD = 0x0d,
    kBaseMemLow = 0x15,  ///< base memory in KiB (640), low byte
    kBaseMemHigh = 0x16,
    kExtMemLow = 0x17,   ///< memory above 1 MiB in KiB (max 65535), low byte
    kExtMemHigh = 0x18,
    kChecksumHigh = 0x2e,  ///< sum of 0x10-0x2D, big-endian
    kChecksumLow = 0x2f,
    kExtMem2Low = 0x30,  ///< copy of 0x17/0x18 (as the POST reports it)
    kExtMem2High = 0x31,
    kCentury = 0x32,
    kHighMemLow = 0x34,  ///< memory above 16 MiB in 64 KiB units (max 65535), low byte
    kHighMemHigh = 0x35,
  };

  // Status register bits.
  static constexpr std::uint8_t kAUip = 0x80;   ///< update in progress (read-only)
  static constexpr std::uint8_t kBSet = 0x80;   ///< halt updates so the time can be set
  static constexpr std::uint8_t kBPie = 0x40;   ///< periodic interrupt enable
  static constexpr std::uint8_t kBAie = 0x20;   ///< alarm interrupt enable
  static constexpr std::uint8_t kBUie = 0x10;   ///< update-ended interrupt enable
  static constexpr std::uint8_t kBBinary = 0x04;  ///< DM: binary (else BCD)
  static constexpr std::uint8_t kB24Hour = 0x02;  ///< 24-hour mode (else 12-hour, bit 7 = PM)
  static constexpr std::uint8_t kCIrqf = 0x80;
  static constexpr std::uint8_t kCPf = 0x40;
  static constexpr std::uint8_t kCAf = 0x20;
  static constexpr std::uint8_t kCUf = 0x10;
  static constexpr std::uint8_t kDVrt = 0x80;   ///< valid RAM and time

  /// Starts at 1970-01-01 00:00:00, status A = 0x26 (32.768 kHz, 1024 Hz periodic rate),
  /// B = 0x02 (24-hour, BCD), NVRAM zero, NMI enabled.
  explicit CmosRtc(IrqSink* irq = nullptr, unsigned irq_line = kIrqLine);
  CmosRtc(const CmosRtc&) = delete;
  CmosRtc& operator=(const CmosRtc&) = delete;

  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  /// Set the wall clock to `unix_seconds` now (the current second starts afresh).
  void set_time(std::uint64_t unix_seconds);
  /// The wall clock, in Unix seconds.
  std::uint64_t time() const { return seconds_; }
  /// Let virtual time pass: the clock ticks, and the update-ended, alarm and periodic
  /// flags and IRQ8 follow.
  void advance_ns(std::uint64_t ns);
  /// Let `ticks` periods of the 32.768 kHz oscillator pass.
  void advance_ticks(std::uint64_t ticks);

  /// Fill the BIOS memory-size bytes (0x15-0x18, 0x30/0x31, 0x34/0x35) for `bytes` of RAM
  /// and update the checksum at 0x2E/0x2F.
  void set_memory_size(std::uint64_t bytes);
  /// Raw NVRAM access for the monitor (no side effects; the clock registers 0x00-0x0D are
  /// computed on guest reads, so only the alarms, A and B are meaningful there).
  std::uint8_t nvram(std::uint8_t index) const { return ram_[index & 0x7f]; }
  void set_nvram(std::uint8_t index, std::uint8_t value);

  /// Bit 7 of the last index write.
  bool nmi_disabled() const { return nmi_disabled_; }
  bool irq_level() const { return irq_level_; }

  /// Unix seconds <-> broken-down UTC (1970-9999). from_date returns invalid_argument for a
  /// field out of range.
  static RtcDateTime to_date(std::uint64_t unix_seconds);
  static Result<std::uint64_t> from_date(const RtcDateTime& date);

 private:
  std::uint8_t encode(unsigned value) const;  // binary or BCD per status B
  bool decode(std::uint8_t raw, unsigned* value) const;
  std::uint8_t encode_hours(unsigned hour) const;
  bool decode_hours(std::uint8_t raw, unsigned* hour) const;
  std::uint8_t read_register(std::uint8_t index);
  void write_register(std::uint8_t index, std::uint8_t value);
  void write_time_field(std::uint8_t index, std::uint8_t value);
  bool alarm_matches(std::uint64_t unix_seconds) const;
  void update_checksum();
  void update_irq();

  IrqSink* irq_;
  unsigned irq_line_;
  std::uint8_t ram_[kSize] = {};
  std::uint8_t index_ = 0;
  bool nmi_disabled_ = false;
  std::uint64_t seconds_ = 0;      // Unix time of the current second
  std::uint32_t subsecond_ = 0;    // oscillator ticks into it (0..32767)
  std::uint64_t osc_ticks_ = 0;    // since construction, for the periodic interrupt
  std::uint64_t ns_frac_ = 0;      // sub-tick remainder of advance_ns, in 1e-9 ticks
  std::uint8_t flags_ = 0;         // status C's PF, AF, UF
  bool irq_level_ = false;
};

}  // namespace hvlab::dev
