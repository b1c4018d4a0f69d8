// dev: the legacy devices every PC (and every hvlab monitor's device models) has: the
// 16550A UART on COM1, the 8254 PIT, the 8259A PIC and the MC146818 CMOS/RTC. The console
// is COM1: tests that change its registers are restored by the reset between tests, and
// their diagnostics are printed after it.

#include "autograder/guests/suite/suite.hpp"

namespace hvlab::guest {
namespace {

using cpu::in8;
using cpu::out8;

constexpr std::uint16_t kCom1 = 0x3f8;
constexpr std::uint16_t RBR = 0, THR = 0, DLL = 0, DLM = 1, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;
constexpr std::uint8_t LSR_DR = 0x01, LSR_THRE = 0x20, LSR_TEMT = 0x40, MCR_LOOP = 0x10;

bool uart_idle() {
  return wait_until([] { return (in8(kCom1 + LSR) & (LSR_THRE | LSR_TEMT)) == (LSR_THRE | LSR_TEMT); }, 20);
}

void drain_rx() {
  for (unsigned i = 0; i < 64 && (in8(kCom1 + LSR) & LSR_DR); ++i) (void)in8(kCom1 + RBR);
}

void dev_uart_scratch() {
  const std::uint8_t patterns[] = {0x5a, 0xa5, 0x00, 0xff, 0x3c};
  for (std::uint8_t p : patterns) {
    out8(kCom1 + SCR, p);
    EXPECT_EQ(in8(kCom1 + SCR), p, "scratch register read back");
  }
}

// The divisor latch (DLAB = 1) and LCR read back.
void dev_uart_divisor() {
  EXPECT(uart_idle(), "COM1 transmitter never went idle (LSR 0x%02x)", in8(kCom1 + LSR));
  out8(kCom1 + LCR, 0x83);
  out8(kCom1 + DLL, 0x0c);
  out8(kCom1 + DLM, 0x00);
  std::uint8_t lcr = in8(kCom1 + LCR), dll = in8(kCom1 + DLL), dlm = in8(kCom1 + DLM);
  out8(kCom1 + DLL, 0x01);  // back to 115200 baud
  out8(kCom1 + LCR, 0x03);
  EXPECT_EQ(lcr, 0x83u, "LCR with DLAB set");
  EXPECT_EQ(dll, 0x0cu, "DLL");
  EXPECT_EQ(dlm, 0x00u, "DLM");
  EXPECT_EQ(in8(kCom1 + LCR), 0x03u, "LCR after clearing DLAB");
}

// An idle transmitter shows THRE and TEMT; the receiver shows no data.
void dev_uart_lsr() {
  bool idle = uart_idle();  // the console's last line may still be going out
  out8(kCom1 + MCR, MCR_LOOP | 0x03);  // loopback: nothing from the outside can arrive
  drain_rx();
  std::uint8_t lsr = in8(kCom1 + LSR);
  EXPECT(idle, "transmitter not idle after 20 ms (LSR 0x%02x)", lsr);
  EXPECT_EQ(lsr & (LSR_DR | LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT, "LSR DR, THRE and TEMT when idle");
}

// Loopback: a transmitted byte comes back as received data, then DR clears.
void dev_uart_loopback() {
  EXPECT(uart_idle(), "transmitter not idle after 20 ms (LSR 0x%02x)", in8(kCom1 + LSR));
  out8(kCom1 + MCR, MCR_LOOP | 0x03);
  drain_rx();
  out8(kCom1 + THR, 0xa7);
  bool got = wait_until([] { return (in8(kCom1 + LSR) & LSR_DR) != 0; }, 20);
  std::uint8_t byte = in8(kCom1 + RBR);
  std::uint8_t lsr = in8(kCom1 + LSR);
  EXPECT(got, "no byte received in loopback mode within 20 ms");
  EXPECT_EQ(byte, 0xa7u, "byte received in loopback");
  EXPECT_EQ(lsr & LSR_DR, 0u, "LSR.DR after reading the byte");
}

// Loopback ties the modem outputs to the inputs: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
void dev_uart_modem_loopback() {
  EXPECT(uart_idle(), "transmitter not idle after 20 ms (LSR 0x%02x)", in8(kCom1 + LSR));
  out8(kCom1 + MCR, MCR_LOOP | 0x0f);
  std::uint8_t all = in8(kCom1 + MSR) & 0xf0;
  out8(kCom1 + MCR, MCR_LOOP);
  std::uint8_t none = in8(kCom1 + MSR) & 0xf0;
  out8(kCom1 + MCR, MCR_LOOP | 0x01);  // DTR only
  std::uint8_t dsr = in8(kCom1 + MSR) & 0xf0;
  EXPECT_EQ(all, 0xf0u, "MSR DCD/RI/DSR/CTS with DTR, RTS, OUT1, OUT2 set in loopback");
  EXPECT_EQ(none, 0x00u, "MSR DCD/RI/DSR/CTS with the outputs clear in loopback");
  EXPECT_EQ(dsr, 0x20u, "MSR with only DTR set (DSR)");
}

// PIT channel 0's count, latched twice, goes down (mode 2, binary, full 16-bit range).
std::uint16_t pit_latch0() {
  out8(0x43, 0x00);  // counter latch, channel 0
  std::uint8_t lo = in8(0x40);
  std::uint8_t hi = in8(0x40);
  return static_cast<std::uint16_t>(lo | (hi << 8));
}

void dev_pit_latch() {
  mark_dirty(dirty::kPit);
  out8(0x43, 0x34);  // channel 0, lo/hi, mode 2
  out8(0x40, 0x00);
  out8(0x40, 0x00);  // count 0 = 65536: a 55 ms period
  std::uint16_t a = pit_latch0();
  std::uint16_t b = a;
  bool changed = wait_until([&b, a] { return (b = pit_latch0()) != a; }, 10);
  EXPECT(changed, "PIT channel 0 count stuck at %u for 10 ms", a);
  // Down-counting, unless it wrapped from near 0 to near 65535 between the two reads.
  EXPECT(b < a || (a < 0x1000 && b > 0xf000), "PIT count went up: %u then %u", a, b);
}

// The read-back command returns the programmed mode in the status byte.
void dev_pit_readback() {
  mark_dirty(dirty::kPit);
  out8(0x43, 0x34);  // channel 0, lo/hi (11), mode 2 (010), binary
  out8(0x40, 0xa9);
  out8(0x40, 0x04);
  out8(0x43, 0xe2);  // read-back: latch status (not count) of channel 0
  std::uint8_t status = in8(0x40);
  EXPECT_EQ(status & 0x3f, 0x34u, "status byte access mode, operating mode and BCD bits");
}

// Channel 2 in mode 0 (gate from port 0x61): OUT2 is low while counting, high at zero.
void dev_pit_channel2() {
  out8(0x61, static_cast<std::uint8_t>((in8(0x61) & ~0x03) | 0x01));  // gate on, speaker off
  out8(0x43, 0xb0);
  out8(0x42, 0xa9);
  out8(0x42, 0x04);  // 1193: 1 ms
  std::uint8_t early = in8(0x61);
  bool high = wait_until([] { return (in8(0x61) & 0x20) != 0; }, 50);
  EXPECT_EQ(early & 0x20, 0u, "OUT2 (port 0x61 bit 5) right after arming a 1 ms count");
  EXPECT(high, "OUT2 did not go high within 50 ms of a 1 ms count");
}

void dev_pic_imr() {
  // Masks that change with every boot; IRQ2 (the cascade) stays open.
  const auto mask = static_cast<std::uint16_t>(boot_value(4) & 0xfffb);
  const std::uint16_t patterns[] = {mask, static_cast<std::uint16_t>(~mask & 0xfffb), 0xfffb};
  for (std::uint16_t p : patterns) {
    pic8259::set_masks(p);
    EXPECT_EQ(pic8259::masks(), p, "IMR (slave:master) read back");
  }
}

// With nothing in service, OCW3 reads of ISR give 0.
void dev_pic_isr_idle() { EXPECT_EQ(pic8259::read_isr(), 0u, "ISR with no interrupt in service"); }

std::uint8_t cmos(std::uint8_t reg) {
  out8(0x70, static_cast<std::uint8_t>(0x80 | reg));  // bit 7: keep NMI disabled
  return in8(0x71);
}
void cmos_write(std::uint8_t reg, std::uint8_t v) {
  out8(0x70, static_cast<std::uint8_t>(0x80 | reg));
  out8(0x71, v);
}

unsigned from_bcd(std::uint8_t v, bool binary) { return binary ? v : (v >> 4) * 10 + (v & 0xf); }
bool bcd_ok(std::uint8_t v, bool binary) { return binary || ((v & 0xf) <= 9 && (v >> 4) <= 9); }

// The update-in-progress protocol: wait for UIP = 0, read, and read again until two reads
// agree; then every field is in range for the format register B announces.
void dev_cmos_time() {
  std::uint8_t t[6], u[6];
  const std::uint8_t regs[6] = {0x00, 0x02, 0x04, 0x07, 0x08, 0x09};  // s, min, h, day, month, year
  bool stable = false;
  for (unsigned attempt = 0; attempt < 5 && !stable; ++attempt) {
    if (!wait_until([] { return (cmos(0x0a) & 0x80) == 0; }, 20)) continue;
    for (unsigned i = 0; i < 6; ++i) t[i] = cmos(regs[i]);
    if (!wait_until([] { return (cmos(0x0a) & 0x80) == 0; }, 20)) continue;
    for (unsigned i = 0; i < 6; ++i) u[i] = cmos(regs[i]);
    stable = true;
    for (unsigned i = 0; i < 6; ++i) stable = stable && t[i] == u[i];
  }
  EXPECT(stable, "no two consecutive RTC reads agreed (UIP never clear or the clock races)");
  std::uint8_t b = cmos(0x0b);
  bool binary = b & 0x04, h24 = b & 0x02;
  for (unsigned i = 0; i < 6; ++i) {
    std::uint8_t v = i == 2 ? (t[i] & 0x7f) : t[i];
    EXPECT(bcd_ok(v, binary), "RTC register 0x%02x = 0x%02x is not valid BCD", regs[i], t[i]);
  }
  unsigned sec = from_bcd(t[0], binary), min = from_bcd(t[1], binary), hour = from_bcd(t[2] & 0x7f, binary);
  unsigned day = from_bcd(t[3], binary), month = from_bcd(t[4], binary);
  EXPECT(sec < 60 && min < 60, "RTC time %u:%u out of range", min, sec);
  EXPECT(h24 ? hour < 24 : (hour >= 1 && hour <= 12), "RTC hour %u out of range (%s mode)", hour, h24 ? "24-hour" : "12-hour");
  EXPECT(day >= 1 && day <= 31 && month >= 1 && month <= 12, "RTC date %u/%u out of range", day, month);
}

// Register A: the 32.768 kHz time base runs; register D: the RAM is valid (VRT).
void dev_cmos_status() {
  std::uint8_t a = cmos(0x0a), b = cmos(0x0b), d = cmos(0x0d);
  EXPECT_EQ(a & 0x70, 0x20u, "register A divider bits (32.768 kHz time base)");
  EXPECT_EQ(d, 0x80u, "register D (VRT set)");
  EXPECT_EQ(b & 0x80, 0u, "register B SET bit (the clock is not halted for setting)");
}

// A byte of CMOS RAM keeps what is written (restored afterwards).
void dev_cmos_ram() {
  constexpr std::uint8_t reg = 0x7e;
  const auto first = static_cast<std::uint8_t>(boot_value(3)), second = static_cast<std::uint8_t>(~first);
  std::uint8_t old = cmos(reg);
  cmos_write(reg, first);
  std::uint8_t a = cmos(reg);
  cmos_write(reg, second);
  std::uint8_t b = cmos(reg);
  cmos_write(reg, old);
  EXPECT_EQ(a, first, "CMOS RAM byte 0x7e read back");
  EXPECT_EQ(b, second, "CMOS RAM byte 0x7e read back");
}

const TestCase kTests[] = {
    {"dev_uart_scratch", dev_uart_scratch},
    {"dev_uart_divisor", dev_uart_divisor},
    {"dev_uart_lsr", dev_uart_lsr},
    {"dev_uart_loopback", dev_uart_loopback},
    {"dev_uart_modem_loopback", dev_uart_modem_loopback},
    {"dev_pit_latch", dev_pit_latch},
    {"dev_pit_readback", dev_pit_readback},
    {"dev_pit_channel2", dev_pit_channel2},
    {"dev_pic_imr", dev_pic_imr},
    {"dev_pic_isr_idle", dev_pic_isr_idle},
    {"dev_cmos_time", dev_cmos_time},
    {"dev_cmos_status", dev_cmos_status},
    {"dev_cmos_ram", dev_cmos_ram},
};

}  // namespace

GUEST_TEST_GROUP(kDevGroup, kTests);

}  // namespace hvlab::guest
