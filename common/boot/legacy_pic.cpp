#include "common/boot/legacy_pic.hpp"

#include "common/arch/intrinsics.hpp"

namespace hvlab {

using x86::inb;
using x86::outb;

namespace {
constexpr std::uint16_t kMasterCmd = 0x20, kMasterData = 0x21, kSlaveCmd = 0xa0, kSlaveData = 0xa1;
// Port 0x80 is unused: writing it gives old PICs time between ICWs.
void io_wait() { outb(0x80, 0); }
}  // namespace

namespace pic {

void remap(std::uint8_t master_base, std::uint8_t slave_base) {
  outb(kMasterCmd, 0x11), io_wait();   // ICW1: edge, cascade, ICW4 follows
  outb(kSlaveCmd, 0x11), io_wait();
  outb(kMasterData, master_base), io_wait();  // ICW2: vector base
  outb(kSlaveData, slave_base), io_wait();
  outb(kMasterData, 0x04), io_wait();  // ICW3: slave on IR2
  outb(kSlaveData, 0x02), io_wait();   // ICW3: slave identity 2
  outb(kMasterData, 0x01), io_wait();  // ICW4: 8086 mode
  outb(kSlaveData, 0x01), io_wait();
  set_masks(0xfffb);  // all masked but the cascade line
}

void set_masks(std::uint16_t m) {
  outb(kMasterData, static_cast<std::uint8_t>(m));
  outb(kSlaveData, static_cast<std::uint8_t>(m >> 8));
}
std::uint16_t masks() { return static_cast<std::uint16_t>(inb(kMasterData) | (inb(kSlaveData) << 8)); }
void mask(unsigned irq) { set_masks(masks() | static_cast<std::uint16_t>(1u << irq)); }
void unmask(unsigned irq) { set_masks(masks() & static_cast<std::uint16_t>(~(1u << irq))); }

void eoi(unsigned irq) {
  if (irq >= 8) outb(kSlaveCmd, 0x20);
  outb(kMasterCmd, 0x20);
}

std::uint16_t read_isr() {
  outb(kMasterCmd, 0x0b), outb(kSlaveCmd, 0x0b);
  return static_cast<std::uint16_t>(inb(kMasterCmd) | (inb(kSlaveCmd) << 8));
}
std::uint16_t read_irr() {
  outb(kMasterCmd, 0x0a), outb(kSlaveCmd, 0x0a);
  return static_cast<std::uint16_t>(inb(kMasterCmd) | (inb(kSlaveCmd) << 8));
}

}  // namespace pic

namespace pit {

void start_periodic(std::uint32_t hz) {
  std::uint32_t divisor = hz ? kInputHz / hz : 0;
  if (divisor > 0xffff) divisor = 0;  // 0 means 65536
  outb(0x43, 0x34);  // channel 0, lobyte/hibyte, mode 2
  outb(0x40, static_cast<std::uint8_t>(divisor));
  outb(0x40, static_cast<std::uint8_t>(divisor >> 8));
}

void start_one_shot(std::uint16_t count) {
  outb(0x43, 0x30);  // channel 0, lobyte/hibyte, mode 0
  outb(0x40, static_cast<std::uint8_t>(count));
  outb(0x40, static_cast<std::uint8_t>(count >> 8));
}

std::uint16_t read_count() {
  outb(0x43, 0x00);  // counter latch, channel 0
  std::uint8_t lo = inb(0x40);
  std::uint8_t hi = inb(0x40);
  return static_cast<std::uint16_t>(lo | (hi << 8));
}

std::uint64_t measure_tsc_hz() {
  constexpr std::uint32_t kTicks = 11932;  // 10 ms
  x86::outb(0x61, static_cast<std::uint8_t>((x86::inb(0x61) & ~0x02) | 0x01));
  x86::outb(0x43, 0xb0);  // counter 2, lobyte/hibyte, mode 0, binary
  x86::outb(0x42, kTicks & 0xff);
  std::uint64_t t0 = x86::rdtsc();
  x86::outb(0x42, kTicks >> 8);
  std::uint32_t spins = 0;
  while (!(x86::inb(0x61) & 0x20) && ++spins < 50'000'000) {
  }
  std::uint64_t t1 = x86::rdtsc();
  if (spins >= 50'000'000 || t1 <= t0) return 0;
  return (t1 - t0) * kInputHz / kTicks;
}

}  // namespace pit
}  // namespace hvlab
