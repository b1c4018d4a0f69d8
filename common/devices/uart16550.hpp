#pragma once
// A National Semiconductor PC16550D UART (the PC's COM1 at 0x3F8, IRQ4), as seen through its
// eight registers. The serial line itself is not modelled bit by bit: transmitted bytes go to
// a ByteSink, received bytes are injected by the host, and "time on the line" is measured in
// character times that the monitor advances (or not at all, in the default immediate mode).

#include <cstddef>
#include <cstdint>

#include "common/devices/bus.hpp"

namespace hvlab::dev {

/// Options for Uart16550. Defaults suit a monitor with no notion of time (QEMU-like).
struct UartConfig {
  /// false: a byte written to THR reaches the sink at once and THRE never stays clear.
  /// true: bytes wait in the TX FIFO and the shift register until advance_char_times().
  bool paced_tx = false;
  /// FIFO mode character-timeout indication (IIR 0xC) after this many character times with
  /// no RX FIFO activity; 0 raises it as soon as fewer bytes than the trigger level wait
  /// (the line is idle the instant the host has injected its bytes).
  unsigned rx_timeout_chars = 0;
  /// PC wiring: the INTR pin reaches the PIC only through MCR.OUT2 (and never in loopback,
  /// where OUT2 is looped internally). QEMU ignores OUT2, so this is off by default.
  bool out2_gates_irq = false;
};

/// A 16550A UART at 8 consecutive I/O ports (attach with count 8). Byte accesses only.
class Uart16550 final : public Device {
 public:
  static constexpr unsigned kFifoSize = 16;
  /// Baud = kBaudBase / divisor (1.8432 MHz crystal, 16x oversampling).
  static constexpr std::uint32_t kBaudBase = 115200;
  static constexpr std::uint16_t kCom1Port = 0x3f8;
  static constexpr unsigned kCom1Irq = 4;

  /// Register offsets (DLAB=1 turns offsets 0 and 1 into DLL and DLM).
  enum Reg : std::uint32_t {
    kRbrThr = 0,  ///< RBR (read) / THR (write); DLL when DLAB=1
    kIer = 1,     ///< interrupt enable; DLM when DLAB=1
    kIirFcr = 2,  ///< IIR (read) / FCR (write)
    kLcr = 3,
    kMcr = 4,
    kLsr = 5,
    kMsr = 6,
    kScr = 7,
    kRegCount = 8,
  };

  // IER bits.
  static constexpr std::uint8_t kIerRxData = 0x01;      ///< ERBFI: received data available
  static constexpr std::uint8_t kIerThre = 0x02;        ///< ETBEI: THR empty
  static constexpr std::uint8_t kIerLineStatus = 0x04;  ///< ELSI: receiver line status
  static constexpr std::uint8_t kIerModem = 0x08;       ///< EDSSI: modem status

  // IIR values (bit 0 clear = interrupt pending; bits 7:6 set when FIFOs are enabled).
  static constexpr std::uint8_t kIirNone = 0x01;
  static constexpr std::uint8_t kIirLineStatus = 0x06;
  static constexpr std::uint8_t kIirRxData = 0x04;
  static constexpr std::uint8_t kIirRxTimeout = 0x0c;
  static constexpr std::uint8_t kIirThre = 0x02;
  static constexpr std::uint8_t kIirModem = 0x00;
  static constexpr std::uint8_t kIirFifoEnabled = 0xc0;

  // FCR bits.
  static constexpr std::uint8_t kFcrEnable = 0x01;
  static constexpr std::uint8_t kFcrRxReset = 0x02;
  static constexpr std::uint8_t kFcrTxReset = 0x04;
  static constexpr std::uint8_t kFcrDma = 0x08;

  // LCR, MCR bits.
  static constexpr std::uint8_t kLcrDlab = 0x80;
  static constexpr std::uint8_t kMcrDtr = 0x01;
  static constexpr std::uint8_t kMcrRts = 0x02;
  static constexpr std::uint8_t kMcrOut1 = 0x04;
  static constexpr std::uint8_t kMcrOut2 = 0x08;
  static constexpr std::uint8_t kMcrLoop = 0x10;

  // LSR bits.
  static constexpr std::uint8_t kLsrDr = 0x01;    ///< data ready
  static constexpr std::uint8_t kLsrOe = 0x02;    ///< overrun error
  static constexpr std::uint8_t kLsrPe = 0x04;    ///< parity error
  static constexpr std::uint8_t kLsrFe = 0x08;    ///< framing error
  static constexpr std::uint8_t kLsrBi = 0x10;    ///< break interrupt
  static constexpr std::uint8_t kLsrThre = 0x20;  ///< THR (TX FIFO) empty
  static constexpr std::uint8_t kLsrTemt = 0x40;  ///< THR and shift register empty
  static constexpr std::uint8_t kLsrErrors = kLsrOe | kLsrPe | kLsrFe | kLsrBi;

  // MSR bits.
  static constexpr std::uint8_t kMsrDcts = 0x01;
  static constexpr std::uint8_t kMsrDdsr = 0x02;
  static constexpr std::uint8_t kMsrTeri = 0x04;  ///< trailing edge of ring indicator
  static constexpr std::uint8_t kMsrDdcd = 0x08;
  static constexpr std::uint8_t kMsrCts = 0x10;
  static constexpr std::uint8_t kMsrDsr = 0x20;
  static constexpr std::uint8_t kMsrRi = 0x40;
  static constexpr std::uint8_t kMsrDcd = 0x80;

  /// `irq` may be null (polled-only guests), as may `tx_sink` (output discarded).
  Uart16550(IrqSink* irq, unsigned irq_line, ByteSink* tx_sink, UartConfig config = UartConfig{});

  /// Back to the power-on state (host-side modem inputs are kept).
  void reset();

  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  // ---- Host side ------------------------------------------------------------------------

  /// A byte arrives on the serial input. Returns false when it was not stored cleanly: the
  /// receiver is disconnected (loopback) or full (the guest sees an overrun, LSR.OE).
  bool receive(std::uint8_t byte);
  /// Receive bytes while there is room (never causes an overrun); returns how many were taken.
  std::size_t receive_available(const std::uint8_t* bytes, std::size_t count);
  /// Bytes the receiver can still take without an overrun (0 in loopback).
  unsigned rx_space() const;

  /// Let `n` character times pass on the line: in paced mode that many bytes leave the
  /// transmitter; in FIFO mode the RX character timeout counts them.
  void advance_char_times(unsigned n);

  /// The external modem inputs (CTS, DSR, RI, DCD); changes set MSR delta bits unless in
  /// loopback. Defaults: CTS, DSR and DCD asserted, RI not (like QEMU).
  void set_modem_inputs(bool cts, bool dsr, bool ri, bool dcd);

  // ---- Inspection -----------------------------------------------------------------------

  bool irq_level() const { return irq_level_; }
  std::uint16_t divisor() const { return static_cast<std::uint16_t>(dll_ | (dlm_ << 8)); }
  /// Baud rate from the divisor latch; 0 for divisor 0.
  std::uint32_t baud_rate() const;
  bool fifo_enabled() const { return fifo_enabled_; }
  unsigned rx_count() const { return rx_.count; }
  unsigned tx_count() const { return tx_.count; }
  bool loopback() const { return (mcr_ & kMcrLoop) != 0; }
  /// IIR's low nibble as the guest would read it now (no side effects).
  std::uint8_t interrupt_id() const;
  /// RX FIFO trigger level (1, 4, 8 or 14).
  unsigned rx_trigger_level() const;

 private:
  struct Fifo {
    std::uint8_t data[kFifoSize] = {};
    unsigned head = 0;
    unsigned count = 0;
    void clear() { head = count = 0; }
    void push(std::uint8_t b);
    std::uint8_t pop();
    std::uint8_t& back();
  };

  unsigned capacity() const { return fifo_enabled_ ? kFifoSize : 1; }
  std::uint8_t modem_lines() const;
  void note_modem_change(std::uint8_t before);
  std::uint8_t lsr() const;
  bool rx_timeout() const;
  void rx_byte(std::uint8_t byte);  // a byte from the line (host or loopback)
  void start_tx();                  // move THR/FIFO head into an idle shift register
  void shift_out();                 // the shift register finishes one character
  void write_thr(std::uint8_t byte);
  void write_fcr(std::uint8_t value);
  void update_irq();

  IrqSink* irq_;
  unsigned irq_line_;
  ByteSink* tx_sink_;
  UartConfig config_;

  std::uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0, dlm_ = 0;
  std::uint8_t fcr_ = 0;         // last FCR with bit 0 set (trigger level, DMA mode)
  std::uint8_t lsr_errors_ = 0;  // OE/PE/FE/BI, cleared by reading LSR
  std::uint8_t msr_deltas_ = 0;  // MSR bits 3:0, cleared by reading MSR
  std::uint8_t modem_inputs_ = kMsrCts | kMsrDsr | kMsrDcd;  // external lines, MSR layout
  bool fifo_enabled_ = false;
  bool thre_pending_ = false;  // THRE interrupt latch (cleared by THR write or IIR read)
  bool tsr_busy_ = false;
  std::uint8_t tsr_ = 0;
  unsigned rx_idle_chars_ = 0;
  bool irq_level_ = false;
  Fifo rx_, tx_;
};

}  // namespace hvlab::dev
