// Range routing for the port and MMIO buses. A linear scan: with at most 32 ranges it is as
// fast as anything cleverer and obviously correct.

#include "common/devices/bus.hpp"

namespace hvlab::dev {
namespace detail {

namespace {
// Inclusive last address; callers guarantee length > 0 and no wrap.
constexpr std::uint64_t last_of(std::uint64_t base, std::uint64_t length) { return base + (length - 1); }
}  // namespace

Status RangeTable::attach(std::uint64_t base, std::uint64_t length, std::uint64_t limit,
                          Device& device) {
  if (length == 0) return Error::invalid_argument;
  if (last_of(base, length) < base) return Error::invalid_argument;  // wraps the 64-bit space
  // limit == 0 stands for "the whole 64-bit space" (2^64 does not fit).
  if (limit != 0 && (base >= limit || length > limit - base)) return Error::invalid_argument;

  const std::uint64_t last = last_of(base, length);
  Entry* free_slot = nullptr;
  for (Entry& e : entries_) {
    if (e.length == 0) {
      if (!free_slot) free_slot = &e;
      continue;
    }
    // Two closed intervals overlap unless one ends before the other starts.
    if (!(last < e.base || last_of(e.base, e.length) < base)) return Error::already_exists;
  }
  if (!free_slot) return Error::out_of_memory;
  *free_slot = Entry{base, length, &device};
  ++count_;
  return {};
}

Status RangeTable::detach(const Device& device) {
  bool found = false;
  for (Entry& e : entries_) {
    if (e.length != 0 && e.device == &device) {
      e = Entry{};
      --count_;
      found = true;
    }
  }
  return found ? Status{} : Status{Error::not_found};
}

const RangeTable::Entry* RangeTable::find(std::uint64_t addr, unsigned size, bool* straddles) const {
  if (straddles) *straddles = false;
  for (const Entry& e : entries_) {
    if (e.length == 0 || addr < e.base || addr - e.base >= e.length) continue;
    // The access starts inside; it must also end inside (a 2-byte IN at the last port of a
    // device would otherwise reach a neighbour the device knows nothing about).
    if (size > e.length - (addr - e.base)) {
      if (straddles) *straddles = true;
      return nullptr;
    }
    return &e;
  }
  return nullptr;
}

Result<std::uint32_t> RangeTable::read(std::uint64_t addr, unsigned size) const {
  if (!valid_access_size(size)) return Error::invalid_argument;
  bool straddles = false;
  const Entry* e = find(addr, size, &straddles);
  if (!e) return straddles ? Error::unsupported : Error::not_found;
  Result<std::uint32_t> r = e->device->read(static_cast<std::uint32_t>(addr - e->base), size);
  if (!r.ok()) return r;
  // A device must not leak bits above the access width into the guest's register.
  return r.value() & floating_bus_value(size);
}

Status RangeTable::write(std::uint64_t addr, unsigned size, std::uint32_t value) const {
  if (!valid_access_size(size)) return Error::invalid_argument;
  bool straddles = false;
  const Entry* e = find(addr, size, &straddles);
  if (!e) return straddles ? Error::unsupported : Error::not_found;
  return e->device->write(static_cast<std::uint32_t>(addr - e->base), size,
                          value & floating_bus_value(size));
}

}  // namespace detail

Device* PortBus::device_at(std::uint16_t port) const {
  const detail::RangeTable::Entry* e = table_.find(port, 1, nullptr);
  return e ? e->device : nullptr;
}

std::uint32_t PortBus::read_or_float(std::uint16_t port, unsigned size) {
  Result<std::uint32_t> r = read(port, size);
  return r.ok() ? r.value() : floating_bus_value(size);
}

Status MmioBus::attach(GuestPhysAddr base, std::uint64_t length, Device& device) {
  if (length > (std::uint64_t{1} << 32)) return Error::invalid_argument;  // offsets are 32-bit
  return table_.attach(base.value(), length, 0, device);
}

Device* MmioBus::device_at(GuestPhysAddr addr) const {
  const detail::RangeTable::Entry* e = table_.find(addr.value(), 1, nullptr);
  return e ? e->device : nullptr;
}

}  // namespace hvlab::dev
