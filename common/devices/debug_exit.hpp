#pragma once
// The two "talk to the emulator" ports test guests use: QEMU's isa-debug-exit (a write of v
// asks to stop with exit status (v << 1) | 1; hvlab puts it at 0xf4) and the Bochs/QEMU port
// 0xE9 debug console (each byte written is printed).

#include <cstdint>

#include "common/devices/bus.hpp"

namespace hvlab::dev {

/// isa-debug-exit: records the first stop request so the monitor can end the guest.
/// Accepts 1-, 2- and 4-byte writes at any offset of its range (QEMU ignores the offset);
/// reads return 0, as QEMU's do.
class DebugExit final : public Device {
 public:
  static constexpr std::uint16_t kPort = 0xf4;
  static constexpr std::uint32_t kPortCount = 4;  ///< QEMU: -device isa-debug-exit,iobase=0xf4,iosize=0x04

  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  /// The guest asked to stop. The monitor should stop running it.
  bool exit_requested() const { return requested_; }
  /// The value the guest wrote (zero-extended from the access width).
  std::uint32_t value() const { return value_; }
  /// QEMU's exit status for that write: (value << 1) | 1, so it is always odd and a guest
  /// cannot fake QEMU's own success (0). Wraps at 32 bits.
  std::uint32_t exit_status() const { return (value_ << 1) | 1u; }
  /// What a shell would see from QEMU: the status truncated to 8 bits.
  std::uint8_t exit_code() const { return static_cast<std::uint8_t>(exit_status()); }
  /// Forget the request (e.g. when the monitor reruns the guest).
  void clear() { requested_ = false; value_ = 0; }

 private:
  bool requested_ = false;
  std::uint32_t value_ = 0;
};

/// The port 0xE9 debug console: byte writes go to the sink; reads return 0xE9 so a guest can
/// detect the port (Bochs and QEMU's debugcon do the same). Byte accesses only.
class DebugConsole final : public Device {
 public:
  static constexpr std::uint16_t kPort = 0xe9;
  static constexpr std::uint8_t kReadback = 0xe9;

  explicit DebugConsole(ByteSink* sink) : sink_(sink) {}

  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  /// Bytes written by the guest since construction.
  std::uint64_t bytes_written() const { return count_; }

 private:
  ByteSink* sink_;
  std::uint64_t count_ = 0;
};

}  // namespace hvlab::dev
