// 8259A pair. Names and bit layouts are the data sheet's (ICW1-4, OCW1-3).

#include "common/devices/pic8259.hpp"

namespace hvlab::dev {

namespace {
// ICW1 (A0=0, D4=1)
constexpr std::uint8_t kIcw1Ic4 = 0x01;   // ICW4 needed
constexpr std::uint8_t kIcw1Sngl = 0x02;  // single (no ICW3)
constexpr std::uint8_t kIcw1Ltim = 0x08;  // level-triggered mode
constexpr std::uint8_t kIcw1 = 0x10;
// ICW4
constexpr std::uint8_t kIcw4Aeoi = 0x02;
constexpr std::uint8_t kIcw4Sfnm = 0x10;
// OCW3 (A0=0, D4=0, D3=1)
constexpr std::uint8_t kOcw3 = 0x08;
constexpr std::uint8_t kOcw3Ris = 0x01;   // read ISR (else IRR)
constexpr std::uint8_t kOcw3Rr = 0x02;    // RIS is valid
constexpr std::uint8_t kOcw3Poll = 0x04;
constexpr std::uint8_t kOcw3Smm = 0x20;   // special mask mode
constexpr std::uint8_t kOcw3Esmm = 0x40;  // SMM is valid
}  // namespace

int Pic8259::highest_in(std::uint8_t bits) const {
  if (!bits) return -1;
  // Walk from the highest priority (the pin after the lowest-priority one) downwards.
  for (unsigned i = 0; i < 8; ++i) {
    unsigned pin = (lowest_priority_ + 1 + i) & 7;
    if (bits & (1u << pin)) return static_cast<int>(pin);
  }
  return -1;
}

int Pic8259::highest_request() const {
  if (init_step_ != 0) return -1;  // no interrupts while being initialised
  int req = highest_in(static_cast<std::uint8_t>(irr_ & ~imr_));
  if (req < 0) return -1;
  std::uint8_t in_service = isr_;
  // Special mask mode: a masked level in service does not hold off lower priorities.
  if (special_mask_) in_service &= static_cast<std::uint8_t>(~imr_);
  // Special fully nested mode: the cascade input may interrupt its own service routine,
  // so higher-priority slave requests get through.
  if (is_master_ && special_fully_nested_) in_service &= static_cast<std::uint8_t>(~(1u << Pic8259Pair::kCascadeLine));
  int cur = highest_in(in_service);
  if (cur >= 0 && rank(static_cast<unsigned>(req)) >= rank(static_cast<unsigned>(cur))) return -1;
  return req;
}

void Pic8259::set_input(unsigned pin, bool level) {
  std::uint8_t mask = static_cast<std::uint8_t>(1u << pin);
  if (level_triggered_) {
    irr_ = level ? (irr_ | mask) : (irr_ & ~mask);
  } else if (level && !(levels_ & mask)) {
    irr_ |= mask;  // edge-sense: only a low-to-high transition requests
  }
  levels_ = level ? (levels_ | mask) : (levels_ & ~mask);
}

void Pic8259::inta(unsigned pin) {
  std::uint8_t mask = static_cast<std::uint8_t>(1u << pin);
  // Edge-triggered requests are consumed; a level-triggered IRR follows its pin.
  if (!level_triggered_) irr_ &= ~mask;
  if (auto_eoi_) {
    // AEOI: the ISR bit is cleared at the end of the last INTA pulse, so never seen set.
    if (rotate_on_aeoi_) lowest_priority_ = static_cast<std::uint8_t>(pin);
  } else {
    isr_ |= mask;
  }
}

void Pic8259::ocw2(std::uint8_t value) {
  const unsigned level = value & 7;
  switch (value >> 5) {  // R, SL, EOI
    case 0b001: {        // non-specific EOI: the highest-priority level in service
      int pin = highest_in(isr_);
      if (pin >= 0) isr_ &= static_cast<std::uint8_t>(~(1u << pin));
      break;
    }
    case 0b011:  // specific EOI
      isr_ &= static_cast<std::uint8_t>(~(1u << level));
      break;
    case 0b101: {  // rotate on non-specific EOI
      int pin = highest_in(isr_);
      if (pin >= 0) {
        isr_ &= static_cast<std::uint8_t>(~(1u << pin));
        lowest_priority_ = static_cast<std::uint8_t>(pin);
      }
      break;
    }
    case 0b111:  // rotate on specific EOI
      isr_ &= static_cast<std::uint8_t>(~(1u << level));
      lowest_priority_ = static_cast<std::uint8_t>(level);
      break;
    case 0b110:  // set priority: `level` becomes the lowest
      lowest_priority_ = static_cast<std::uint8_t>(level);
      break;
    case 0b100: rotate_on_aeoi_ = true; break;
    case 0b000: rotate_on_aeoi_ = false; break;
    default: break;  // 0b010: no operation
  }
}

void Pic8259::command(std::uint8_t value) {
  if (value & kIcw1) {
    // ICW1 starts initialisation: IMR cleared, IR7 lowest priority, special mask mode off,
    // status read set to IRR, and the edge-sense circuit reset (an input already high must
    // go low and high again to request). ISR is cleared as well, as QEMU and Bochs do.
    level_triggered_ = value & kIcw1Ltim;
    single_ = value & kIcw1Sngl;
    need_icw4_ = value & kIcw1Ic4;
    imr_ = 0;
    isr_ = 0;
    irr_ = level_triggered_ ? levels_ : 0;
    lowest_priority_ = 7;
    special_mask_ = false;
    read_isr_ = false;
    poll_ = false;
    rotate_on_aeoi_ = false;
    if (!need_icw4_) {
      icw4_ = 0;
      auto_eoi_ = false;
      special_fully_nested_ = false;
    }
    init_step_ = 2;
    return;
  }
  if (value & kOcw3) {
    if (value & kOcw3Poll) poll_ = true;
    if (value & kOcw3Rr) read_isr_ = value & kOcw3Ris;
    if (value & kOcw3Esmm) special_mask_ = value & kOcw3Smm;
    return;
  }
  ocw2(value);
}

void Pic8259::data(std::uint8_t value) {
  switch (init_step_) {
    case 2:  // ICW2: T7-T3 of the vector (8086 mode); the low three bits are the IR number
      vector_base_ = value & 0xf8;
      init_step_ = single_ ? (need_icw4_ ? 4 : 0) : 3;
      break;
    case 3:  // ICW3: slave bitmap (master) or slave ID; the cascade wiring is fixed here
      icw3_ = value;
      init_step_ = need_icw4_ ? 4 : 0;
      break;
    case 4:  // ICW4. uPM=0 (8080 mode) is not modelled: vectors are always 8086-style.
      icw4_ = value;
      auto_eoi_ = value & kIcw4Aeoi;
      special_fully_nested_ = value & kIcw4Sfnm;
      init_step_ = 0;
      break;
    default:  // OCW1
      imr_ = value;
      break;
  }
}

Result<std::uint32_t> Pic8259::read(std::uint32_t offset, unsigned size) {
  if (size != 1) return Error::unsupported;
  if (offset > 1) return Error::not_found;
  std::uint8_t v;
  if (offset == 1) {
    v = imr_;
  } else if (poll_) {
    // Poll: this read is the INTA. Bit 7 says whether there was a request, bits 2:0 which.
    poll_ = false;
    int pin = highest_request();
    if (pin >= 0) {
      inta(static_cast<unsigned>(pin));
      v = static_cast<std::uint8_t>(0x80 | pin);
    } else {
      v = 0;
    }
    pair_->update();
  } else {
    v = read_isr_ ? isr_ : irr_;
  }
  return v;
}

Status Pic8259::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (size != 1) return Error::unsupported;
  if (offset > 1) return Error::not_found;
  std::uint8_t v = static_cast<std::uint8_t>(value);
  if (offset == 0) {
    command(v);
  } else {
    data(v);
  }
  pair_->update();
  return {};
}

Pic8259Pair::Pic8259Pair() {
  master_.pair_ = this;
  master_.is_master_ = true;
  slave_.pair_ = this;
  slave_.is_master_ = false;
}

Status Pic8259Pair::attach(PortBus& bus) {
  HV_TRY(bus.attach(kMasterPort, 2, master_));
  Status s = bus.attach(kSlavePort, 2, slave_);
  if (!s.ok()) {
    (void)bus.detach(master_);  // all or nothing
    return s;
  }
  return {};
}

void Pic8259Pair::bios_init(std::uint8_t master_base, std::uint8_t slave_base) {
  // The same ICW sequence a BIOS sends: ICW1 = edge, cascade, ICW4 needed; ICW3 = slave on
  // IR2 (master) / slave ID 2; ICW4 = 8086 mode.
  master_.command(kIcw1 | kIcw1Ic4);
  master_.data(master_base);
  master_.data(1u << kCascadeLine);
  master_.data(0x01);
  master_.data(static_cast<std::uint8_t>(~(1u << kCascadeLine)));
  slave_.command(kIcw1 | kIcw1Ic4);
  slave_.data(slave_base);
  slave_.data(kCascadeLine);
  slave_.data(0x01);
  slave_.data(0xff);
  update();
}

void Pic8259Pair::connect_intr(IrqSink* cpu, unsigned line) {
  cpu_ = cpu;
  cpu_line_ = line;
  intr_ = has_pending();
  if (cpu_) cpu_->set_irq(cpu_line_, intr_);
}

void Pic8259Pair::update() {
  master_.set_input(kCascadeLine, slave_.output());
  bool intr = master_.output();
  if (intr != intr_) {
    intr_ = intr;
    if (cpu_) cpu_->set_irq(cpu_line_, intr);
  }
}

void Pic8259Pair::set_irq(unsigned line, bool level) {
  if (line >= kLines || line == kCascadeLine) return;
  if (line < 8) {
    master_.set_input(line, level);
  } else {
    slave_.set_input(line - 8, level);
  }
  update();
}

Result<std::uint8_t> Pic8259Pair::pending_vector() const {
  int m = master_.highest_request();
  if (m < 0) return Error::not_found;
  if (static_cast<unsigned>(m) != kCascadeLine) {
    return static_cast<std::uint8_t>(master_.vector_base_ + m);
  }
  int s = slave_.highest_request();
  return static_cast<std::uint8_t>(slave_.vector_base_ + (s < 0 ? 7 : s));
}

std::uint8_t Pic8259Pair::acknowledge() {
  int m = master_.highest_request();
  if (m < 0) return static_cast<std::uint8_t>(master_.vector_base_ + 7);  // spurious IRQ7
  master_.inta(static_cast<unsigned>(m));
  std::uint8_t vector;
  if (static_cast<unsigned>(m) == kCascadeLine) {
    // The slave drives the vector in the second INTA pulse.
    int s = slave_.highest_request();
    if (s < 0) {
      vector = static_cast<std::uint8_t>(slave_.vector_base_ + 7);  // spurious IRQ15
    } else {
      slave_.inta(static_cast<unsigned>(s));
      vector = static_cast<std::uint8_t>(slave_.vector_base_ + s);
    }
  } else {
    vector = static_cast<std::uint8_t>(master_.vector_base_ + m);
  }
  update();
  return vector;
}

}  // namespace hvlab::dev
