#pragma once
// The kernel's output channels: COM1 (the console: what the guest prints, KTAP), COM2 (the
// monitor's event trace) and port 0xE9 (the debug console). See autograder/runner/boot.hpp.

#include <cstdarg>
#include <cstdint>

#include "common/runtime/format.hpp"

namespace hvlab {

inline constexpr std::uint16_t kCom1 = 0x3f8, kCom2 = 0x2f8, kDebugConsolePort = 0xe9;

/// A polled 16550 serial port, 115200 8N1. Writes give up after a bounded wait so a missing
/// UART cannot hang the kernel.
class SerialPort final : public FormatSink {
 public:
  explicit constexpr SerialPort(std::uint16_t base) : base_(base) {}
  void init();
  void put(char c) override;
  /// A received byte, or -1 when none is waiting.
  int try_get();

 private:
  std::uint16_t base_;
};

/// Port 0xE9: QEMU's -debugcon and Bochs' port_e9_hack.
class DebugConsole final : public FormatSink {
 public:
  void put(char c) override;
};

SerialPort& com1();
SerialPort& com2();
DebugConsole& debugcon();

/// printf to the console (COM1, or the sink of set_console()).
void kprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char* fmt, va_list ap);
/// Sends kprintf's text to `sink` instead of COM1 (nullptr: COM1 again): a paravirtual
/// guest's console hypercall. Each kprintf reaches it in a few write() calls of whole pieces
/// of text (CR LF line ends included), not a put() per character.
void set_console(FormatSink* sink);
/// printf to the debug console (port 0xE9).
void dprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

/// Stops the machine with `status`: prints the exit marker on port 0xE9, then uses QEMU's
/// isa-debug-exit and Bochs' shutdown port. Never returns.
[[noreturn]] void machine_exit(int status);

/// Exit statuses with a meaning for the runner.
namespace exit_status {
inline constexpr int kSuccess = 0, kFailure = 1, kPanic = 3, kUnexpectedTrap = 4;
}

}  // namespace hvlab
