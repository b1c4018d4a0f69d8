#pragma once
// The seams between a monitor and its device models: a device answers register accesses at an
// offset from its base, two buses (x86 I/O ports and MMIO) route an access to the device that
// owns the address, an interrupt-line interface lets a device raise an IRQ without knowing who
// receives it (the 8259 pair, a test recorder), and a byte sink carries console output out.
//
// Everything is fixed-capacity and allocation-free so the same code runs in a 32-bit kernel.

#include <cstddef>
#include <cstdint>

#include "common/memory/address.hpp"
#include "common/runtime/result.hpp"

namespace hvlab::dev {

/// True for the access widths an x86 IN/OUT or a MOV to MMIO can have: 1, 2 or 4 bytes.
constexpr bool valid_access_size(unsigned size) { return size == 1 || size == 2 || size == 4; }

/// All-ones for an access of `size` bytes: what an x86 read returns when nothing drives the
/// bus (the data lines float high), e.g. 0xff for a byte.
constexpr std::uint32_t floating_bus_value(unsigned size) {
  return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1u;
}

static_assert(floating_bus_value(1) == 0xff && floating_bus_value(2) == 0xffff &&
              floating_bus_value(4) == 0xffffffffu);

/// A device model: registers at offsets from the base it is attached at.
///
/// `size` is 1, 2 or 4 (the bus has already checked that). A device that does not accept a
/// width returns Error::unsupported; the value of a narrower read sits in the low bytes.
class Device {
 public:
  /// A guest read of `size` bytes at `offset`.
  virtual Result<std::uint32_t> read(std::uint32_t offset, unsigned size) = 0;

  /// A guest write of the low `size` bytes of `value` at `offset`.
  virtual Status write(std::uint32_t offset, unsigned size, std::uint32_t value) = 0;

 protected:
  // Never deleted through the interface (kernels have no heap to speak of), so no virtual
  // destructor and no dependency on operator delete.
  ~Device() = default;
};

/// An interrupt controller's input pins, as seen from a device. `level` is the electrical
/// level of the device's IRQ output: edge-triggered receivers act on false->true changes.
class IrqSink {
 public:
  /// Drive input `line` to `level`. Devices only call this when their output changes.
  virtual void set_irq(unsigned line, bool level) = 0;

 protected:
  ~IrqSink() = default;
};

/// Where a device's output bytes go (the UART's transmitter, the 0xE9 console): a monitor
/// forwards them to its own console, a test records them.
class ByteSink {
 public:
  virtual void put(std::uint8_t byte) = 0;

 protected:
  ~ByteSink() = default;
};

/// Where a device's input bytes come from (a monitor's own console, polled; a test's
/// script). Never blocks.
class ByteSource {
 public:
  /// The next byte into *byte, if one has arrived; false if none is waiting.
  virtual bool get(std::uint8_t* byte) = 0;

 protected:
  ~ByteSource() = default;
};

namespace detail {

/// The fixed-capacity range table behind both buses: [base, base+length) -> Device.
/// Addresses are 64-bit so the same code serves 16-bit ports and guest-physical addresses.
class RangeTable {
 public:
  static constexpr std::size_t kCapacity = 32;

  struct Entry {
    std::uint64_t base = 0;
    std::uint64_t length = 0;  ///< 0 marks a free slot
    Device* device = nullptr;
  };

  /// Add a range. invalid_argument for an empty range or one that wraps `limit` (one past the
  /// highest address), already_exists on overlap, out_of_memory when the table is full.
  Status attach(std::uint64_t base, std::uint64_t length, std::uint64_t limit, Device& device);
  /// Remove every range of `device`; not_found if it had none.
  Status detach(const Device& device);
  /// The entry covering [addr, addr+size), or nullptr. *straddles is set when `addr` is
  /// mapped but the access runs past the end of its range.
  const Entry* find(std::uint64_t addr, unsigned size, bool* straddles) const;
  std::size_t count() const { return count_; }

  Result<std::uint32_t> read(std::uint64_t addr, unsigned size) const;
  Status write(std::uint64_t addr, unsigned size, std::uint32_t value) const;

 private:
  Entry entries_[kCapacity];
  std::size_t count_ = 0;
};

}  // namespace detail

/// x86 I/O port space (0x0000-0xffff), routed by range.
///
/// Errors: invalid_argument for a width other than 1, 2, 4; not_found for an unmapped port
/// (a monitor usually answers reads with floating_bus_value() and drops writes);
/// unsupported for an access that runs past the end of its device's range or a width the
/// device refuses.
class PortBus {
 public:
  static constexpr std::size_t kCapacity = detail::RangeTable::kCapacity;

  /// Map ports [base, base+count) to `device`; offsets passed to it start at 0.
  Status attach(std::uint16_t base, std::uint32_t count, Device& device) {
    return table_.attach(base, count, 0x10000, device);
  }
  /// Unmap every range of `device`.
  Status detach(const Device& device) { return table_.detach(device); }
  /// The device owning `port`, or nullptr.
  Device* device_at(std::uint16_t port) const;

  /// A guest IN of `size` bytes from `port`.
  Result<std::uint32_t> read(std::uint16_t port, unsigned size) { return table_.read(port, size); }
  /// A guest OUT of `size` bytes to `port`.
  Status write(std::uint16_t port, unsigned size, std::uint32_t value) {
    return table_.write(port, size, value);
  }
  /// A read as the guest sees it: an unmapped or refused read gives all ones.
  std::uint32_t read_or_float(std::uint16_t port, unsigned size);

  std::size_t range_count() const { return table_.count(); }

 private:
  detail::RangeTable table_;
};

/// Guest-physical MMIO space, routed by range. Same error conventions as PortBus. A range is
/// at most 4 GiB long (device offsets are 32-bit).
class MmioBus {
 public:
  static constexpr std::size_t kCapacity = detail::RangeTable::kCapacity;

  /// Map [base, base+length) to `device`.
  Status attach(GuestPhysAddr base, std::uint64_t length, Device& device);
  Status detach(const Device& device) { return table_.detach(device); }
  Device* device_at(GuestPhysAddr addr) const;
  /// Whether any device claims `addr` (a monitor's EPT/shadow fault handler asks this first).
  bool is_mmio(GuestPhysAddr addr) const { return device_at(addr) != nullptr; }

  Result<std::uint32_t> read(GuestPhysAddr addr, unsigned size) { return table_.read(addr.value(), size); }
  Status write(GuestPhysAddr addr, unsigned size, std::uint32_t value) {
    return table_.write(addr.value(), size, value);
  }

  std::size_t range_count() const { return table_.count(); }

 private:
  detail::RangeTable table_;
};

}  // namespace hvlab::dev
