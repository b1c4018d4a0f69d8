// 16550A UART. Register semantics follow the PC16550D data sheet (National Semiconductor,
// 1995): register summary (table II), IIR priorities (table IV), FCR, LSR and MSR chapters.

#include "common/devices/uart16550.hpp"

namespace hvlab::dev {

// The FIFO ring wraps with %; a power of two keeps that a mask.
static_assert((Uart16550::kFifoSize & (Uart16550::kFifoSize - 1)) == 0);

void Uart16550::Fifo::push(std::uint8_t b) {
  data[(head + count) % kFifoSize] = b;
  ++count;
}

std::uint8_t Uart16550::Fifo::pop() {
  std::uint8_t b = data[head];
  head = (head + 1) % kFifoSize;
  --count;
  return b;
}

std::uint8_t& Uart16550::Fifo::back() { return data[(head + count - 1) % kFifoSize]; }

Uart16550::Uart16550(IrqSink* irq, unsigned irq_line, ByteSink* tx_sink, UartConfig config)
    : irq_(irq), irq_line_(irq_line), tx_sink_(tx_sink), config_(config) {
  reset();
}

void Uart16550::reset() {
  ier_ = lcr_ = mcr_ = scr_ = 0;
  dll_ = 12;  // the data sheet leaves the latch undefined; 9600 baud is what BIOSes set
  dlm_ = 0;
  fcr_ = 0;
  lsr_errors_ = 0;
  msr_deltas_ = 0;
  fifo_enabled_ = false;
  thre_pending_ = false;  // the THRE interrupt needs an IER write or a transmitted byte first
  tsr_busy_ = false;
  rx_idle_chars_ = 0;
  rx_.clear();
  tx_.clear();
  update_irq();
}

std::uint32_t Uart16550::baud_rate() const {
  std::uint16_t d = divisor();
  return d == 0 ? 0 : kBaudBase / d;
}

unsigned Uart16550::rx_trigger_level() const {
  static constexpr unsigned kLevels[4] = {1, 4, 8, 14};
  return kLevels[fcr_ >> 6];
}

// MSR bits 7:4 as the chip sees them. In loopback the modem outputs are wired to the inputs
// inside the chip: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
std::uint8_t Uart16550::modem_lines() const {
  if (!loopback()) return modem_inputs_;
  std::uint8_t v = 0;
  if (mcr_ & kMcrRts) v |= kMsrCts;
  if (mcr_ & kMcrDtr) v |= kMsrDsr;
  if (mcr_ & kMcrOut1) v |= kMsrRi;
  if (mcr_ & kMcrOut2) v |= kMsrDcd;
  return v;
}

void Uart16550::note_modem_change(std::uint8_t before) {
  std::uint8_t after = modem_lines();
  std::uint8_t changed = before ^ after;
  if (changed & kMsrCts) msr_deltas_ |= kMsrDcts;
  if (changed & kMsrDsr) msr_deltas_ |= kMsrDdsr;
  if (changed & kMsrDcd) msr_deltas_ |= kMsrDdcd;
  // TERI is only the trailing edge: RI (the complement of the RI# pin) going from 1 to 0.
  if ((before & kMsrRi) && !(after & kMsrRi)) msr_deltas_ |= kMsrTeri;
}

void Uart16550::set_modem_inputs(bool cts, bool dsr, bool ri, bool dcd) {
  std::uint8_t before = modem_lines();
  modem_inputs_ = static_cast<std::uint8_t>((cts ? kMsrCts : 0) | (dsr ? kMsrDsr : 0) |
                                            (ri ? kMsrRi : 0) | (dcd ? kMsrDcd : 0));
  note_modem_change(before);  // in loopback the pins are disconnected: no change seen
  update_irq();
}

std::uint8_t Uart16550::lsr() const {
  std::uint8_t v = lsr_errors_;
  if (rx_.count > 0) v |= kLsrDr;
  if (tx_.count == 0) v |= kLsrThre;
  if (tx_.count == 0 && !tsr_busy_) v |= kLsrTemt;
  // Bit 7 (error in RX FIFO) would need per-byte error tags; only overruns are modelled and
  // those never sit in the FIFO, so it stays 0.
  return v;
}

bool Uart16550::rx_timeout() const {
  return fifo_enabled_ && rx_.count > 0 && rx_.count < rx_trigger_level() &&
         rx_idle_chars_ >= config_.rx_timeout_chars;
}

std::uint8_t Uart16550::interrupt_id() const {
  // Data sheet table IV, highest priority first.
  if ((ier_ & kIerLineStatus) && (lsr_errors_ & kLsrErrors)) return kIirLineStatus;
  if (ier_ & kIerRxData) {
    bool at_trigger = fifo_enabled_ ? rx_.count >= rx_trigger_level() : rx_.count > 0;
    if (at_trigger) return kIirRxData;
    if (rx_timeout()) return kIirRxTimeout;
  }
  if ((ier_ & kIerThre) && thre_pending_) return kIirThre;
  if ((ier_ & kIerModem) && (msr_deltas_ & 0x0f)) return kIirModem;
  return kIirNone;
}

void Uart16550::update_irq() {
  bool level = (interrupt_id() & 1) == 0;
  if (config_.out2_gates_irq && (!(mcr_ & kMcrOut2) || loopback())) level = false;
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_) irq_->set_irq(irq_line_, level);
}

void Uart16550::rx_byte(std::uint8_t byte) {
  rx_idle_chars_ = 0;
  if (rx_.count >= capacity()) {
    // Overrun. Without FIFOs the new character overwrites RBR; with FIFOs the FIFO is kept
    // and the character in the shift register is lost.
    lsr_errors_ |= kLsrOe;
    if (!fifo_enabled_) rx_.back() = byte;
  } else {
    rx_.push(byte);
  }
  update_irq();
}

bool Uart16550::receive(std::uint8_t byte) {
  if (loopback()) return false;  // the serial input pin is disconnected in loopback
  bool clean = rx_.count < capacity();
  rx_byte(byte);
  return clean;
}

unsigned Uart16550::rx_space() const { return loopback() ? 0 : capacity() - rx_.count; }

std::size_t Uart16550::receive_available(const std::uint8_t* bytes, std::size_t count) {
  std::size_t n = 0;
  while (n < count && rx_space() > 0) rx_byte(bytes[n++]);
  return n;
}

void Uart16550::start_tx() {
  if (tsr_busy_ || tx_.count == 0) return;
  tsr_ = tx_.pop();
  tsr_busy_ = true;
  if (tx_.count == 0) thre_pending_ = true;  // THR just became empty: that is the event
}

void Uart16550::shift_out() {
  if (!tsr_busy_) return;
  tsr_busy_ = false;
  std::uint8_t byte = tsr_;
  if (loopback()) {
    rx_byte(byte);  // the serial output is looped to the receiver inside the chip
  } else if (tx_sink_) {
    tx_sink_->put(byte);
  }
  start_tx();
}

void Uart16550::write_thr(std::uint8_t byte) {
  thre_pending_ = false;  // writing THR clears the THRE interrupt
  update_irq();           // a falling edge here, so the next THRE is a fresh rising edge
  if (tx_.count < capacity()) tx_.push(byte);  // a write to a full FIFO is lost
  start_tx();
  if (!config_.paced_tx) {
    while (tsr_busy_) shift_out();
  }
  update_irq();
}

void Uart16550::advance_char_times(unsigned n) {
  // Saturating: the timeout only compares against a small threshold.
  auto idle_for = [this](unsigned k) {
    rx_idle_chars_ = (rx_idle_chars_ + k < rx_idle_chars_) ? ~0u : rx_idle_chars_ + k;
  };
  for (unsigned i = 0; i < n; ++i) {
    if (!tsr_busy_) {
      idle_for(n - i);
      break;
    }
    // The character time passes, then the character is complete (and, in loopback, lands
    // in the receiver, which restarts the RX timeout).
    idle_for(1);
    shift_out();
  }
  update_irq();
}

void Uart16550::write_fcr(std::uint8_t value) {
  bool enable = (value & kFcrEnable) != 0;
  if (enable != fifo_enabled_) {
    // Changing FCR0 clears both FIFOs (data sheet, FCR bit 0).
    if (tx_.count != 0) thre_pending_ = true;  // THR becomes empty: a THRE event
    rx_.clear();
    tx_.clear();
    fifo_enabled_ = enable;
  }
  // The other bits are only written while FCR0 is 1.
  if (!enable) return;
  if (value & kFcrRxReset) {
    rx_.clear();
    rx_idle_chars_ = 0;
  }
  if ((value & kFcrTxReset) && tx_.count != 0) {
    tx_.clear();
    thre_pending_ = true;
  }
  fcr_ = value & 0xc8;  // keep trigger level and DMA mode; the reset bits self-clear
}

Result<std::uint32_t> Uart16550::read(std::uint32_t offset, unsigned size) {
  if (size != 1) return Error::unsupported;
  std::uint8_t v = 0;
  switch (offset) {
    case kRbrThr:
      if (lcr_ & kLcrDlab) {
        v = dll_;
      } else if (rx_.count > 0) {
        v = rx_.pop();
        rx_idle_chars_ = 0;  // a FIFO read restarts the timeout
      } else {
        v = 0;  // empty RBR: the last byte on real chips; undefined, 0 here
      }
      break;
    case kIer:
      v = (lcr_ & kLcrDlab) ? dlm_ : ier_;
      break;
    case kIirFcr: {
      std::uint8_t id = interrupt_id();
      // Reading IIR while it reports THRE is what clears that interrupt.
      if (id == kIirThre) thre_pending_ = false;
      v = static_cast<std::uint8_t>(id | (fifo_enabled_ ? kIirFifoEnabled : 0));
      break;
    }
    case kLcr: v = lcr_; break;
    case kMcr: v = mcr_; break;
    case kLsr:
      v = lsr();
      lsr_errors_ = 0;  // reading LSR clears OE/PE/FE/BI and the line status interrupt
      break;
    case kMsr:
      v = static_cast<std::uint8_t>(modem_lines() | msr_deltas_);
      msr_deltas_ = 0;
      break;
    case kScr: v = scr_; break;
    default: return Error::not_found;
  }
  update_irq();
  return v;
}

Status Uart16550::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (size != 1) return Error::unsupported;
  std::uint8_t v = static_cast<std::uint8_t>(value);
  switch (offset) {
    case kRbrThr:
      if (lcr_ & kLcrDlab) {
        dll_ = v;
      } else {
        write_thr(v);
      }
      break;
    case kIer:
      if (lcr_ & kLcrDlab) {
        dlm_ = v;
      } else {
        std::uint8_t old = ier_;
        ier_ = v & 0x0f;  // bits 7:4 are always 0 on a 16550A
        // Enabling ETBEI while THR is empty raises THRE at once (drivers rely on this to
        // kick off interrupt-driven transmission).
        if ((ier_ & kIerThre) && !(old & kIerThre) && tx_.count == 0) thre_pending_ = true;
      }
      break;
    case kIirFcr: write_fcr(v); break;
    case kLcr: lcr_ = v; break;
    case kMcr: {
      std::uint8_t before = modem_lines();
      mcr_ = v & 0x1f;  // bits 7:5 are always 0
      note_modem_change(before);
      break;
    }
    case kLsr:
    case kMsr:
      break;  // factory-test writes; ignored
    case kScr: scr_ = v; break;
    default: return Error::not_found;
  }
  update_irq();
  return {};
}

}  // namespace hvlab::dev
