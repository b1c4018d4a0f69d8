#pragma once
// The I/O APIC (Intel 82093AA, data sheet order no. 290566): 24 interrupt input pins, each
// with a 64-bit redirection table entry that turns a pin's edge or level into an interrupt
// message for a local APIC. Software reaches the registers indirectly: it writes a register
// number to IOREGSEL (offset 0x00) and reads or writes the register through IOWIN (0x10).
//
// Devices drive the pins through IrqSink (the same interface they use for the 8259 pair; see
// irq_routing.hpp for wiring one device to both). The local APIC reports the EOI of a
// level-triggered interrupt through EoiSink, which clears the entry's Remote IRR.

#include <cstdint>

#include "common/devices/apic_bus.hpp"
#include "common/devices/bus.hpp"

namespace hvlab::dev {

/// One 82093AA. Registers are 32 bits wide and must be accessed as such (Error::unsupported
/// otherwise); offsets of the 4 KiB page other than IOREGSEL and IOWIN read 0 and ignore
/// writes.
class IoApic final : public Device, public IrqSink, public EoiSink {
 public:
  static constexpr std::uint64_t kDefaultBase = 0xfec00000;
  static constexpr std::uint64_t kMmioSize = 0x1000;
  static constexpr unsigned kPins = 24;
  /// The ID a PC BIOS gives the I/O APIC with one processor (APIC ID 0): the next free ID.
  static constexpr std::uint8_t kDefaultId = 1;
  /// IOAPICVER: version 0x11 (82093AA), maximum redirection entry 23.
  static constexpr std::uint32_t kVersion = 0x00170011;

  /// MMIO offsets.
  static constexpr std::uint32_t kIoRegSel = 0x00;
  static constexpr std::uint32_t kIoWin = 0x10;
  /// Register numbers (written to IOREGSEL).
  static constexpr std::uint8_t kRegId = 0x00;
  static constexpr std::uint8_t kRegVersion = 0x01;
  static constexpr std::uint8_t kRegArbitration = 0x02;
  static constexpr std::uint8_t kRegRedirectionTable = 0x10;  ///< entry n: low 0x10+2n, high 0x11+2n

  // Redirection entry bits (data sheet 3.2.4).
  static constexpr std::uint64_t kEntryLogical = 1u << 11;         ///< destination mode
  static constexpr std::uint64_t kEntryDeliveryStatus = 1u << 12;  ///< read-only
  static constexpr std::uint64_t kEntryActiveLow = 1u << 13;       ///< pin polarity
  static constexpr std::uint64_t kEntryRemoteIrr = 1u << 14;       ///< read-only
  static constexpr std::uint64_t kEntryLevel = 1u << 15;           ///< trigger mode
  static constexpr std::uint64_t kEntryMasked = 1u << 16;

  /// Reset state: every entry masked, edge, active high, fixed, vector 0.
  explicit IoApic(std::uint8_t id = kDefaultId);
  IoApic(const IoApic&) = delete;
  IoApic& operator=(const IoApic&) = delete;

  /// Map the registers at kDefaultBase.
  Status attach(MmioBus& bus);
  /// Send interrupt messages to `target` (the local APIC); null: they are lost.
  void connect(ApicMessageSink* target) { target_ = target; }

  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  /// IrqSink: the electrical level of input pin `line` (0-23; others are ignored). An
  /// edge-triggered entry sends one message per assertion; a level-triggered one sends while
  /// the pin is asserted and Remote IRR is clear. Masked entries ignore their pin (data sheet:
  /// edges on a masked pin are lost, not held).
  void set_irq(unsigned line, bool level) override;
  /// EoiSink: clear Remote IRR of the level-triggered entries with `vector`; a pin still
  /// asserted then interrupts again.
  void end_of_interrupt(std::uint8_t vector) override;

  /// The redirection table entry of `pin` (0 for pins >= 24).
  std::uint64_t entry(unsigned pin) const { return pin < kPins ? table_[pin] : 0; }
  std::uint8_t id() const { return static_cast<std::uint8_t>(id_ >> 24); }
  /// The register IOREGSEL selects.
  std::uint8_t selected() const { return select_; }
  /// Messages sent since construction, and those no local APIC accepted.
  std::uint64_t messages_sent() const { return sent_; }
  std::uint64_t messages_refused() const { return refused_; }

 private:
  bool asserted(unsigned pin) const;
  void service(unsigned pin);  // send pin's message if its entry allows
  void write_entry_half(unsigned pin, bool high, std::uint32_t value);

  ApicMessageSink* target_ = nullptr;
  std::uint32_t id_;
  std::uint8_t select_ = 0;
  std::uint64_t table_[kPins];
  bool levels_[kPins] = {};
  std::uint64_t sent_ = 0, refused_ = 0;
};

}  // namespace hvlab::dev
