#pragma once
// How a PC wires its interrupt lines: each ISA IRQ reaches both the 8259 pair and an I/O APIC
// pin, so a guest may use either controller (the MP specification's "symmetric I/O mode" with
// the 8259s kept for virtual wire). The pin is the IRQ number, except that IRQ0 (the PIT) is
// on pin 2, where the MP table's interrupt source override says it is; pin 0 carries the 8259
// pair's INTR for ExtINT delivery.

#include <cstdint>

#include "common/devices/bus.hpp"

namespace hvlab::dev {

/// The I/O APIC pin ISA IRQ `irq` is wired to (IRQ0 -> 2, others unchanged).
constexpr unsigned isa_irq_to_ioapic_pin(unsigned irq) { return irq == 0 ? 2 : irq; }

/// An IrqSink for devices that forwards ISA IRQ `line` (0-15) to the 8259 pair (line
/// unchanged) and to the I/O APIC (isa_irq_to_ioapic_pin(line)). Either sink may be null.
/// Lines above 15 are not ISA IRQs and are dropped.
class IsaIrqRouter final : public IrqSink {
 public:
  static constexpr unsigned kIsaIrqs = 16;

  IsaIrqRouter(IrqSink* pic, IrqSink* ioapic) : pic_(pic), ioapic_(ioapic) {}

  void set_irq(unsigned line, bool level) override {
    if (line >= kIsaIrqs) return;
    if (pic_) pic_->set_irq(line, level);
    if (ioapic_) ioapic_->set_irq(isa_irq_to_ioapic_pin(line), level);
  }

 private:
  IrqSink* pic_;
  IrqSink* ioapic_;
};

/// One output driving two inputs, each on its own line: the 8259 pair's INTR goes to the
/// local APIC's LINT0 and to I/O APIC pin 0 (Pic8259Pair::connect_intr takes one sink).
/// Every line in is forwarded; either sink may be null.
class IrqTee final : public IrqSink {
 public:
  IrqTee(IrqSink* a, unsigned a_line, IrqSink* b, unsigned b_line)
      : a_(a), b_(b), a_line_(a_line), b_line_(b_line) {}

  void set_irq(unsigned, bool level) override {
    if (a_) a_->set_irq(a_line_, level);
    if (b_) b_->set_irq(b_line_, level);
  }

 private:
  IrqSink* a_;
  IrqSink* b_;
  unsigned a_line_, b_line_;
};

}  // namespace hvlab::dev
