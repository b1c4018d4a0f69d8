#pragma once
// The PC/AT's two cascaded Intel 8259A programmable interrupt controllers: master at
// 0x20/0x21 with IRQ0-7, slave at 0xA0/0xA1 with IRQ8-15, the slave's INT wired to the
// master's IR2. Register behaviour follows the Intel 8259A data sheet (order no. 231468).
//
// A monitor routes device interrupts in with set_irq(), checks has_pending() when the
// guest can take an interrupt (EFLAGS.IF=1, no interrupt shadow), and calls acknowledge()
// to run the INTA cycle and learn the vector to inject.

#include <cstdint>

#include "common/devices/bus.hpp"

namespace hvlab::dev {

class Pic8259Pair;

/// One 8259A: two ports, offset 0 (A0=0: ICW1, OCW2, OCW3; reads IRR/ISR/poll) and offset 1
/// (A0=1: ICW2-4, OCW1; reads IMR). Byte accesses only. Owned by a Pic8259Pair.
class Pic8259 final : public Device {
 public:
  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  std::uint8_t irr() const { return irr_; }
  std::uint8_t isr() const { return isr_; }
  std::uint8_t imr() const { return imr_; }
  /// ICW2 with the low three bits cleared: the vector of IR0.
  std::uint8_t vector_base() const { return vector_base_; }
  /// False before the first ICW sequence and between ICW1 and the sequence's last ICW.
  bool initialized() const { return init_step_ == 0; }
  bool auto_eoi() const { return auto_eoi_; }
  bool level_triggered() const { return level_triggered_; }
  /// The IR pin with the lowest priority (7 unless rotated).
  unsigned lowest_priority() const { return lowest_priority_; }

  /// The pin the chip would report in an INTA cycle now (unmasked request of higher
  /// priority than everything in service), or -1.
  int highest_request() const;
  /// The INT output.
  bool output() const { return highest_request() >= 0; }

 private:
  friend class Pic8259Pair;
  Pic8259() = default;

  void set_input(unsigned pin, bool level);
  void inta(unsigned pin);  // second INTA pulse: IRR -> ISR (or auto-EOI)
  void command(std::uint8_t value);
  void data(std::uint8_t value);
  void ocw2(std::uint8_t value);
  unsigned rank(unsigned pin) const { return (pin - lowest_priority_ - 1) & 7; }
  int highest_in(std::uint8_t bits) const;  // the highest-priority pin in bits, or -1

  Pic8259Pair* pair_ = nullptr;
  bool is_master_ = false;
  std::uint8_t irr_ = 0, isr_ = 0, imr_ = 0;
  std::uint8_t levels_ = 0;  // input pin levels, for edge detection
  std::uint8_t vector_base_ = 0;
  std::uint8_t icw3_ = 0, icw4_ = 0;
  std::uint8_t lowest_priority_ = 7;
  std::uint8_t init_step_ = 1;  // 0: operational; 1: never initialised; 2-4: expecting ICWn
  bool need_icw4_ = false, single_ = false, level_triggered_ = false;
  bool auto_eoi_ = false, rotate_on_aeoi_ = false, special_fully_nested_ = false;
  bool special_mask_ = false, read_isr_ = false, poll_ = false;
};

/// The master/slave pair. Also the IrqSink devices raise their IRQs into.
class Pic8259Pair final : public IrqSink {
 public:
  static constexpr std::uint16_t kMasterPort = 0x20;
  static constexpr std::uint16_t kSlavePort = 0xa0;
  static constexpr unsigned kCascadeLine = 2;  ///< master IR2 <- slave INT
  static constexpr unsigned kLines = 16;

  Pic8259Pair();
  Pic8259Pair(const Pic8259Pair&) = delete;
  Pic8259Pair& operator=(const Pic8259Pair&) = delete;

  /// Attach the master at 0x20-0x21 and the slave at 0xA0-0xA1.
  Status attach(PortBus& bus);

  /// Program both chips the way a PC BIOS leaves them (edge-triggered, cascade on IR2,
  /// 8086 mode, normal EOI) with the given vector bases, all lines masked except the
  /// cascade. Without this (or the guest's own ICW sequence) the chips deliver nothing: a
  /// power-on 8259A has no valid vector base.
  void bios_init(std::uint8_t master_base = 0x08, std::uint8_t slave_base = 0x70);

  Pic8259& master() { return master_; }
  Pic8259& slave() { return slave_; }
  const Pic8259& master() const { return master_; }
  const Pic8259& slave() const { return slave_; }

  /// Drive IRQ `line` (0-15; 8-15 are the slave's IR0-7). Line 2 is the cascade input and
  /// is not available to devices: setting it is ignored, as are lines above 15. Edge-triggered inputs latch a
  /// request on a rising edge and keep it until acknowledged (the line may drop first, as
  /// with QEMU); level-triggered ones (ICW1.LTIM) follow the line.
  void set_irq(unsigned line, bool level) override;

  /// The master's INT output: an interrupt would be delivered if the CPU allowed it.
  bool has_pending() const { return master_.output(); }
  /// The vector acknowledge() would return now, without side effects; not_found if nothing
  /// is pending.
  Result<std::uint8_t> pending_vector() const;
  /// The INTA cycle: moves the winning request from IRR to ISR (unless auto-EOI) and returns
  /// its vector. With nothing to deliver it returns the spurious vector of IR7 (master base
  /// + 7) and sets no ISR bit; if the master picked the cascade but the slave has nothing,
  /// the slave's IR7 vector (spurious IRQ15) with the master's IR2 left in service, as on
  /// real hardware (the guest must EOI only the master).
  std::uint8_t acknowledge();

  /// Optional: tell `cpu` (line `line`) whenever the INT output to the CPU changes.
  void connect_intr(IrqSink* cpu, unsigned line = 0);

 private:
  friend class Pic8259;
  void update();  // propagate the slave's INT to master IR2, and INT to the CPU

  Pic8259 master_, slave_;
  IrqSink* cpu_ = nullptr;
  unsigned cpu_line_ = 0;
  bool intr_ = false;
};

}  // namespace hvlab::dev
