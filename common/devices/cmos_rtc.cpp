// MC146818A RTC + CMOS NVRAM. The clock registers are not stored: they are computed from the
// current Unix second whenever the guest reads them, in the format status B asks for, so a
// format change never leaves stale BCD behind.

#include "common/devices/cmos_rtc.hpp"

namespace hvlab::dev {

namespace {

constexpr std::uint64_t kNsPerSecond = 1000000000;
constexpr std::uint32_t kSecondsPerDay = 86400;
constexpr std::uint32_t kSubsecondMask = CmosRtc::kOscillatorHz - 1;
// Seconds carry out of the sub-second tick count by a shift.
static_assert(CmosRtc::kOscillatorHz == (1u << 15));
// UIP rises 244 us (8 oscillator periods) before each update.
constexpr std::uint32_t kUipTicks = 8;

constexpr bool is_leap(std::uint32_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

constexpr unsigned days_in_month(std::uint32_t y, unsigned m) {
  constexpr std::uint8_t kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return (m == 2 && is_leap(y)) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 for a date on or after it. The proleptic Gregorian calendar is
// counted in 400-year eras starting on 1 March, so the leap day falls at the end of a year
// (the "days from civil" construction).
std::uint32_t days_from_civil(std::uint32_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::uint32_t era = y / 400;
  const std::uint32_t yoe = y - era * 400;                          // [0, 399]
  const std::uint32_t mp = m > 2 ? m - 3 : m + 9;                   // March = 0
  const std::uint32_t doy = (153 * mp + 2) / 5 + d - 1;             // [0, 365]
  const std::uint32_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;  // [0, 146096]
  return era * 146097 + doe - 719468;  // 719468 = days from 0000-03-01 to 1970-01-01
}

void civil_from_days(std::uint32_t days, std::uint32_t* y, unsigned* m, unsigned* d) {
  const std::uint32_t z = days + 719468;
  const std::uint32_t era = z / 146097;
  const std::uint32_t doe = z - era * 146097;
  const std::uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::uint32_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yoe + era * 400 + (*m <= 2 ? 1 : 0);
}

constexpr std::uint8_t to_bcd(unsigned v) { return static_cast<std::uint8_t>((v / 10) << 4 | (v % 10)); }

}  // namespace

RtcDateTime CmosRtc::to_date(std::uint64_t unix_seconds) {
  RtcDateTime t;
  const std::uint32_t days = static_cast<std::uint32_t>(unix_seconds / kSecondsPerDay);
  const std::uint32_t tod = static_cast<std::uint32_t>(unix_seconds % kSecondsPerDay);
  unsigned m = 0, d = 0;
  civil_from_days(days, &t.year, &m, &d);
  t.month = static_cast<std::uint8_t>(m);
  t.day = static_cast<std::uint8_t>(d);
  t.hour = static_cast<std::uint8_t>(tod / 3600);
  t.minute = static_cast<std::uint8_t>(tod / 60 % 60);
  t.second = static_cast<std::uint8_t>(tod % 60);
  t.weekday = static_cast<std::uint8_t>((days + 4) % 7 + 1);  // 1970-01-01 was a Thursday
  return t;
}

Result<std::uint64_t> CmosRtc::from_date(const RtcDateTime& t) {
  if (t.year < 1970 || t.year > 9999 || t.month < 1 || t.month > 12 || t.day < 1 ||
      t.day > days_in_month(t.year, t.month) || t.hour > 23 || t.minute > 59 || t.second > 59) {
    return Error::invalid_argument;
  }
  std::uint64_t days = days_from_civil(t.year, t.month, t.day);
  return days * kSecondsPerDay + t.hour * 3600u + t.minute * 60u + t.second;
}

CmosRtc::CmosRtc(IrqSink* irq, unsigned irq_line) : irq_(irq), irq_line_(irq_line) {
  ram_[kStatusA] = 0x26;  // DV = 010 (32.768 kHz time base), RS = 0110 (1024 Hz)
  ram_[kStatusB] = kB24Hour;
  update_checksum();
}

std::uint8_t CmosRtc::encode(unsigned value) const {
  return (ram_[kStatusB] & kBBinary) ? static_cast<std::uint8_t>(value) : to_bcd(value);
}

bool CmosRtc::decode(std::uint8_t raw, unsigned* value) const {
  if (ram_[kStatusB] & kBBinary) {
    *value = raw;
    return true;
  }
  if ((raw & 0x0f) > 9 || (raw >> 4) > 9) return false;
  *value = (raw >> 4) * 10u + (raw & 0x0f);
  return true;
}

std::uint8_t CmosRtc::encode_hours(unsigned hour) const {
  if (ram_[kStatusB] & kB24Hour) return encode(hour);
  // 12-hour mode: 12, 1..11 with bit 7 set for PM (in both binary and BCD).
  unsigned h12 = hour % 12 == 0 ? 12 : hour % 12;
  return static_cast<std::uint8_t>(encode(h12) | (hour >= 12 ? 0x80 : 0));
}

bool CmosRtc::decode_hours(std::uint8_t raw, unsigned* hour) const {
  if (ram_[kStatusB] & kB24Hour) return decode(raw, hour);
  unsigned h12 = 0;
  if (!decode(raw & 0x7f, &h12) || h12 < 1 || h12 > 12) return false;
  *hour = (h12 % 12) + ((raw & 0x80) ? 12 : 0);
  return true;
}

void CmosRtc::set_time(std::uint64_t unix_seconds) {
  seconds_ = unix_seconds;
  subsecond_ = 0;
}

void CmosRtc::update_checksum() {
  // The AT BIOS checksum: a 16-bit sum of 0x10-0x2D, high byte first.
  std::uint16_t sum = 0;
  for (unsigned i = 0x10; i <= 0x2d; ++i) sum = static_cast<std::uint16_t>(sum + ram_[i]);
  ram_[kChecksumHigh] = static_cast<std::uint8_t>(sum >> 8);
  ram_[kChecksumLow] = static_cast<std::uint8_t>(sum);
}

void CmosRtc::set_nvram(std::uint8_t index, std::uint8_t value) {
  index &= 0x7f;
  ram_[index] = value;
  if (index >= 0x10 && index <= 0x2d) update_checksum();
}

void CmosRtc::set_memory_size(std::uint64_t bytes) {
  constexpr std::uint64_t kMiB = 1024 * 1024;
  auto put16 = [this](std::uint8_t low_index, std::uint64_t v) {
    if (v > 0xffff) v = 0xffff;
    ram_[low_index] = static_cast<std::uint8_t>(v);
    ram_[low_index + 1] = static_cast<std::uint8_t>(v >> 8);
  };
  put16(kBaseMemLow, 640);
  std::uint64_t ext_kib = bytes > kMiB ? (bytes - kMiB) / 1024 : 0;
  put16(kExtMemLow, ext_kib);
  put16(kExtMem2Low, ext_kib);
  put16(kHighMemLow, bytes > 16 * kMiB ? (bytes - 16 * kMiB) / (64 * 1024) : 0);
  update_checksum();
}

bool CmosRtc::alarm_matches(std::uint64_t unix_seconds) const {
  // An alarm byte of 0xC0-0xFF is "don't care"; otherwise it must equal the time register
  // in the current format.
  const std::uint32_t tod = static_cast<std::uint32_t>(unix_seconds % kSecondsPerDay);
  auto match = [](std::uint8_t alarm, std::uint8_t now) { return (alarm & 0xc0) == 0xc0 || alarm == now; };
  return match(ram_[kSecondsAlarm], encode(tod % 60)) && match(ram_[kMinutesAlarm], encode(tod / 60 % 60)) &&
         match(ram_[kHoursAlarm], encode_hours(tod / 3600));
}

void CmosRtc::update_irq() {
  const std::uint8_t b = ram_[kStatusB];
  const bool level = ((flags_ & kCPf) && (b & kBPie)) || ((flags_ & kCAf) && (b & kBAie)) ||
                     ((flags_ & kCUf) && (b & kBUie));
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_) irq_->set_irq(irq_line_, level);
}

void CmosRtc::advance_ticks(std::uint64_t ticks) {
  if (ticks == 0) return;
  // Periodic interrupt: rate select 1 and 2 give 256 and 128 Hz, 3-15 give 32768 >> (RS-1).
  const unsigned rs = ram_[kStatusA] & 0x0f;
  if (rs != 0) {
    const unsigned shift = rs <= 2 ? rs + 6 : rs - 1;
    if (((osc_ticks_ + ticks) >> shift) != (osc_ticks_ >> shift)) flags_ |= kCPf;
  }
  osc_ticks_ += ticks;

  const std::uint64_t total = subsecond_ + ticks;
  subsecond_ = static_cast<std::uint32_t>(total & kSubsecondMask);
  const std::uint64_t crossed = total >> 15;
  if (crossed != 0 && !(ram_[kStatusB] & kBSet)) {  // SET inhibits updates
    const std::uint64_t first = seconds_ + 1;
    seconds_ += crossed;
    flags_ |= kCUf;
    // Any second passed through may match the alarm; a day covers every pattern.
    const std::uint64_t checks = crossed < kSecondsPerDay ? crossed : kSecondsPerDay;
    for (std::uint64_t i = 0; i < checks; ++i) {
      if (alarm_matches(first + i)) {
        flags_ |= kCAf;
        break;
      }
    }
  }
  update_irq();
}

void CmosRtc::advance_ns(std::uint64_t ns) {
  std::uint64_t frac = (ns % kNsPerSecond) * kOscillatorHz + ns_frac_;
  std::uint64_t ticks = (ns / kNsPerSecond) * kOscillatorHz + frac / kNsPerSecond;
  ns_frac_ = frac % kNsPerSecond;
  advance_ticks(ticks);
}

std::uint8_t CmosRtc::read_register(std::uint8_t index) {
  const RtcDateTime now = to_date(seconds_);
  switch (index) {
    case kSeconds: return encode(now.second);
    case kMinutes: return encode(now.minute);
    case kHours: return encode_hours(now.hour);
    case kDayOfWeek: return encode(now.weekday);
    case kDayOfMonth: return encode(now.day);
    case kMonth: return encode(now.month);
    case kYear: return encode(now.year % 100);
    case kCentury: return encode(now.year / 100);
    case kStatusA: {
      bool uip = !(ram_[kStatusB] & kBSet) && subsecond_ >= kOscillatorHz - kUipTicks;
      return static_cast<std::uint8_t>((ram_[kStatusA] & 0x7f) | (uip ? kAUip : 0));
    }
    case kStatusC: {
      // Reading C returns the flags and clears them, which drops IRQ8.
      std::uint8_t v = flags_;
      if (irq_level_) v |= kCIrqf;
      flags_ = 0;
      update_irq();
      return v;
    }
    case kStatusD: return kDVrt;
    default: return ram_[index];
  }
}

void CmosRtc::write_time_field(std::uint8_t index, std::uint8_t value) {
  RtcDateTime t = to_date(seconds_);
  unsigned v = 0;
  bool ok = index == kHours ? decode_hours(value, &v) : decode(value, &v);
  if (!ok) return;
  switch (index) {
    case kSeconds: t.second = static_cast<std::uint8_t>(v); break;
    case kMinutes: t.minute = static_cast<std::uint8_t>(v); break;
    case kHours: t.hour = static_cast<std::uint8_t>(v); break;
    case kDayOfMonth: t.day = static_cast<std::uint8_t>(v); break;
    case kMonth: t.month = static_cast<std::uint8_t>(v); break;
    case kYear:
      if (v > 99) return;
      t.year = t.year / 100 * 100 + v;
      break;
    case kCentury:
      if (v > 99) return;
      t.year = v * 100 + t.year % 100;
      break;
    default: return;
  }
  Result<std::uint64_t> s = from_date(t);
  if (s.ok()) seconds_ = s.value();  // the sub-second phase is kept
}

void CmosRtc::write_register(std::uint8_t index, std::uint8_t value) {
  switch (index) {
    case kSeconds:
    case kMinutes:
    case kHours:
    case kDayOfMonth:
    case kMonth:
    case kYear:
    case kCentury:
      write_time_field(index, value);
      break;
    case kDayOfWeek:
      break;  // derived from the date
    case kStatusA:
      ram_[kStatusA] = value & 0x7f;  // UIP is read-only
      break;
    case kStatusB: {
      const bool was_set = ram_[kStatusB] & kBSet;
      // Setting SET also clears UIE (MC146818A data sheet, register B bit 7).
      if (value & kBSet) value &= static_cast<std::uint8_t>(~kBUie);
      ram_[kStatusB] = value;
      // Leaving SET restarts the clock at the start of a second: the guest just wrote it.
      if (was_set && !(value & kBSet)) subsecond_ = 0;
      update_irq();
      break;
    }
    case kStatusC:
    case kStatusD:
      break;  // read-only
    default:
      set_nvram(index, value);
      break;
  }
}

Result<std::uint32_t> CmosRtc::read(std::uint32_t offset, unsigned size) {
  if (size != 1) return Error::unsupported;
  if (offset == 0) return std::uint32_t{0xff};  // the index register is write-only
  if (offset == 1) return std::uint32_t{read_register(index_)};
  return Error::not_found;
}

Status CmosRtc::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (size != 1) return Error::unsupported;
  const std::uint8_t v = static_cast<std::uint8_t>(value);
  if (offset == 0) {
    index_ = v & 0x7f;
    nmi_disabled_ = (v & 0x80) != 0;
    return {};
  }
  if (offset == 1) {
    write_register(index_, v);
    return {};
  }
  return Error::not_found;
}

}  // namespace hvlab::dev
