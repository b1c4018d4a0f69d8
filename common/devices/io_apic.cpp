// 82093AA I/O APIC. Section numbers are the data sheet's.

#include "common/devices/io_apic.hpp"

namespace hvlab::dev {

namespace {
// Bits software may write in an entry: vector, delivery mode, destination mode, polarity,
// trigger mode, mask, destination (bits 63:56). Delivery status and Remote IRR are read-only;
// bits 55:17 are reserved.
constexpr std::uint64_t kEntryWritable = 0xff0000000001afffull;
}  // namespace

IoApic::IoApic(std::uint8_t id) : id_(static_cast<std::uint32_t>(id & 0x0f) << 24) {
  for (std::uint64_t& e : table_) e = kEntryMasked;
}

Status IoApic::attach(MmioBus& bus) { return bus.attach(GuestPhysAddr(kDefaultBase), kMmioSize, *this); }

bool IoApic::asserted(unsigned pin) const { return levels_[pin] != ((table_[pin] & kEntryActiveLow) != 0); }

void IoApic::service(unsigned pin) {
  const std::uint64_t e = table_[pin];
  if (e & kEntryMasked) return;
  const bool level = (e & kEntryLevel) != 0;
  if (level && (e & kEntryRemoteIrr)) return;  // the last one has not been EOId yet
  ApicMessage m;
  m.vector = static_cast<std::uint8_t>(e);
  m.mode = static_cast<ApicDelivery>((e >> 8) & 7);
  m.level_triggered = level;
  m.logical = (e & kEntryLogical) != 0;
  m.destination = static_cast<std::uint8_t>(e >> 56);
  ++sent_;
  const bool accepted = target_ && target_->deliver(m);
  if (!accepted) {
    ++refused_;
    return;
  }
  // Remote IRR is set when a local APIC accepts a level interrupt (3.2.4).
  if (level && (m.mode == ApicDelivery::fixed || m.mode == ApicDelivery::lowest_priority)) {
    table_[pin] |= kEntryRemoteIrr;
  }
}

void IoApic::set_irq(unsigned line, bool level) {
  if (line >= kPins) return;
  const bool was = asserted(line);
  levels_[line] = level;
  const bool now = asserted(line);
  if (table_[line] & kEntryLevel) {
    if (now) service(line);
  } else if (now && !was) {
    service(line);
  }
}

void IoApic::end_of_interrupt(std::uint8_t vector) {
  for (unsigned pin = 0; pin < kPins; ++pin) {
    std::uint64_t& e = table_[pin];
    if (!(e & kEntryLevel) || !(e & kEntryRemoteIrr) || static_cast<std::uint8_t>(e) != vector) continue;
    e &= ~kEntryRemoteIrr;
    if (asserted(pin)) service(pin);  // still asserted: a new interrupt
  }
}

void IoApic::write_entry_half(unsigned pin, bool high, std::uint32_t value) {
  std::uint64_t& e = table_[pin];
  std::uint64_t v = high ? (std::uint64_t{value} << 32) | (e & 0xffffffffu)
                         : (e & 0xffffffff00000000ull) | value;
  e = (e & ~kEntryWritable) | (v & kEntryWritable);
  if (!(e & kEntryLevel)) e &= ~kEntryRemoteIrr;  // Remote IRR is undefined for edge entries
  // Unmasking (or making level) a pin that is asserted now delivers it for level entries;
  // an edge that happened while masked is gone.
  if ((e & kEntryLevel) && asserted(pin)) service(pin);
}

Result<std::uint32_t> IoApic::read(std::uint32_t offset, unsigned size) {
  if (size != 4) return Error::unsupported;
  if (offset >= kMmioSize) return Error::not_found;
  if (offset == kIoRegSel) return std::uint32_t{select_};
  if (offset != kIoWin) return std::uint32_t{0};
  switch (select_) {
    case kRegId: return id_;
    case kRegVersion: return kVersion;
    case kRegArbitration: return id_;  // the arbitration ID is loaded from the ID (3.2.3)
    default: break;
  }
  if (select_ >= kRegRedirectionTable && select_ < kRegRedirectionTable + 2 * kPins) {
    const unsigned n = select_ - kRegRedirectionTable;
    const std::uint64_t e = table_[n / 2];
    return static_cast<std::uint32_t>((n & 1) ? e >> 32 : e);
  }
  return std::uint32_t{0};
}

Status IoApic::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (size != 4) return Error::unsupported;
  if (offset >= kMmioSize) return Error::not_found;
  if (offset == kIoRegSel) {
    select_ = static_cast<std::uint8_t>(value);
    return {};
  }
  if (offset != kIoWin) return {};
  if (select_ == kRegId) {
    id_ = value & 0x0f000000u;  // a 4-bit ID in bits 27:24
  } else if (select_ >= kRegRedirectionTable && select_ < kRegRedirectionTable + 2 * kPins) {
    const unsigned n = select_ - kRegRedirectionTable;
    write_entry_half(n / 2, (n & 1) != 0, value);
  }
  return {};  // version and arbitration are read-only
}

}  // namespace hvlab::dev
