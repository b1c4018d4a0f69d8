#include "common/boot/console.hpp"

#include <initializer_list>

#include "common/arch/intrinsics.hpp"

namespace hvlab {

using x86::inb;
using x86::outb;

void SerialPort::init() {
  outb(base_ + 1, 0x00);  // IER: no interrupts, the kernel polls
  outb(base_ + 3, 0x80);  // LCR: DLAB on
  outb(base_ + 0, 0x01);  // DLL: 115200 baud
  outb(base_ + 1, 0x00);  // DLM
  outb(base_ + 3, 0x03);  // LCR: 8N1, DLAB off
  outb(base_ + 2, 0x07);  // FCR: enable and clear the FIFOs
  outb(base_ + 4, 0x03);  // MCR: DTR, RTS
}

void SerialPort::put(char c) {
  // Wait for THRE, but never forever: emulated UARTs drain at once.
  for (unsigned spin = 0; spin < 100000 && !(inb(base_ + 5) & 0x20); ++spin) x86::pause();
  outb(base_, static_cast<std::uint8_t>(c));
}

int SerialPort::try_get() { return (inb(base_ + 5) & 0x01) ? inb(base_) : -1; }

void DebugConsole::put(char c) { outb(kDebugConsolePort, static_cast<std::uint8_t>(c)); }

SerialPort& com1() {
  static SerialPort port(kCom1);
  return port;
}
SerialPort& com2() {
  static SerialPort port(kCom2);
  return port;
}
DebugConsole& debugcon() {
  static DebugConsole con;
  return con;
}

namespace {
// Serial lines want CR LF; KTAP parsers accept both.
class CrlfSink final : public FormatSink {
 public:
  explicit CrlfSink(FormatSink& s) : s_(s) {}
  void put(char c) override {
    if (c == '\n') s_.put('\r');
    s_.put(c);
  }

 private:
  FormatSink& s_;
};

// Collects text and passes it on in pieces (one write() per piece).
class PieceSink final : public FormatSink {
 public:
  explicit PieceSink(FormatSink& s) : s_(s) {}
  ~PieceSink() { flush(); }
  void put(char c) override {
    if (n_ == sizeof buf_) flush();
    buf_[n_++] = c;
  }
  void flush() {
    if (n_) s_.write(buf_, n_);
    n_ = 0;
  }

 private:
  FormatSink& s_;
  char buf_[256];
  std::size_t n_ = 0;
};

FormatSink* g_console = nullptr;
}  // namespace

void set_console(FormatSink* sink) { g_console = sink; }

void kvprintf(const char* fmt, va_list ap) {
  if (g_console) {
    PieceSink pieces(*g_console);
    CrlfSink sink(pieces);
    vformat_to(sink, fmt, ap);
    return;
  }
  CrlfSink sink(com1());
  vformat_to(sink, fmt, ap);
}

void kprintf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kvprintf(fmt, ap);
  va_end(ap);
}

void dprintf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vformat_to(debugcon(), fmt, ap);
  va_end(ap);
}

void machine_exit(int status) {
  x86::cli();
  // Bochs drops what is still in a UART's transmitter when the machine stops: let COM1 and
  // COM2 drain (LSR.TEMT) first, within a bound.
  for (std::uint16_t base : {kCom1, kCom2}) {
    for (unsigned spin = 0; spin < 1000000 && !(inb(base + 5) & 0x40); ++spin) x86::pause();
  }
  dprintf("\nhvlab-exit: %d\n", status);
  // QEMU: isa-debug-exit at 0xf4 ends the emulator with (status << 1) | 1.
  outb(0xf4, static_cast<std::uint8_t>(status));
  // Bochs: the string "Shutdown" on port 0x8900.
  for (const char* p = "Shutdown"; *p; ++p) outb(0x8900, static_cast<std::uint8_t>(*p));
  for (;;) x86::hlt();
}

}  // namespace hvlab
