// The CGA text buffer and CRT controller (6845 register file, VGA's 0x00-0x18).

#include "common/devices/cga.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace hvlab::dev {
namespace {

struct CgaTest : ::testing::Test {
  PortBus ports;
  MmioBus mmio;
  std::unique_ptr<CgaText> cga = std::make_unique<CgaText>();

  void SetUp() override { ASSERT_TRUE(cga->attach(ports, &mmio).ok()); }
  void out(std::uint16_t port, std::uint8_t v) { ASSERT_TRUE(ports.write(port, 1, v).ok()); }
  std::uint8_t in(std::uint16_t port) { return static_cast<std::uint8_t>(ports.read(port, 1).value()); }
  void put(unsigned row, unsigned col, const char* s, std::uint8_t attr = 0x07) {
    for (unsigned i = 0; s[i]; ++i) {
      ASSERT_TRUE(mmio.write(GuestPhysAddr(CgaText::kBase + 2 * (row * 80 + col + i)), 2,
                             static_cast<std::uint8_t>(s[i]) | attr << 8).ok());
    }
  }
  std::string screen() {
    char buf[CgaText::kScreenTextSize];
    Result<std::size_t> n = cga->screen_text(buf, sizeof buf);
    EXPECT_TRUE(n.ok());
    EXPECT_EQ(std::strlen(buf), n.value_or(0));
    return buf;
  }
};

TEST_F(CgaTest, CursorRegistersReadBackWhatWasWritten) {
  // xv6's cgaputc: read the cursor position, write it back moved on.
  out(0x3d4, 0x0e);
  EXPECT_EQ(in(0x3d5), 0);  // never 0xFF: xv6 would take that for a position
  out(0x3d5, 0x07);
  out(0x3d4, 0x0f);
  out(0x3d5, 0xd0);
  out(0x3d4, 0x0e);
  EXPECT_EQ(in(0x3d5), 0x07);
  out(0x3d4, 0x0f);
  EXPECT_EQ(in(0x3d5), 0xd0);
  EXPECT_EQ(cga->crtc().cursor(), 0x07d0);
  EXPECT_EQ(in(0x3d4), 0x0f);  // the index reads back too
}

TEST_F(CgaTest, EveryRegisterUpTo0x18IsStoredAndOthersReadZero) {
  for (std::uint8_t r = 0; r < Crtc::kRegisters; ++r) {
    out(0x3d4, r);
    out(0x3d5, static_cast<std::uint8_t>(0x80 + r));
  }
  for (std::uint8_t r = 0; r < Crtc::kRegisters; ++r) {
    out(0x3d4, r);
    EXPECT_EQ(in(0x3d5), 0x80 + r) << int{r};
  }
  out(0x3d4, 0x30);
  out(0x3d5, 0x55);
  EXPECT_EQ(in(0x3d5), 0);
  EXPECT_EQ(cga->crtc().reg(0x30), 0);
}

TEST_F(CgaTest, AWordWriteToTheIndexPortSetsIndexThenData) {
  ASSERT_TRUE(ports.write(0x3d4, 2, 0x0a | (0x20 << 8)).ok());  // cursor start: hide it
  EXPECT_EQ(cga->crtc().reg(Crtc::kCursorStart), 0x20);
  EXPECT_EQ(cga->crtc().index(), 0x0a);
  EXPECT_EQ(ports.read(0x3d4, 2).error(), Error::unsupported);
  EXPECT_EQ(ports.write(0x3d5, 2, 0).error(), Error::unsupported);  // runs past the device
}

TEST_F(CgaTest, BiosInitLeavesTextModeThreeCursorShape) {
  cga->bios_init();
  EXPECT_EQ(cga->crtc().reg(Crtc::kCursorStart), 0x0d);
  EXPECT_EQ(cga->crtc().reg(Crtc::kCursorEnd), 0x0e);
  EXPECT_EQ(cga->crtc().reg(0x01), 79);  // horizontal display end: 80 columns
  EXPECT_EQ(cga->crtc().cursor(), 0);
  EXPECT_EQ(cga->crtc().start_address(), 0);
}

TEST_F(CgaTest, ScreenTextShowsWhatTheGuestWrote) {
  EXPECT_EQ(screen(), "");  // blank at power-on
  put(0, 0, "xv6...");
  put(2, 4, "$ ls", 0x1f);
  EXPECT_EQ(screen(), "xv6...\n\n    $ ls\n");
  EXPECT_EQ(cga->cell(2, 4), '$' | 0x1f << 8);
  char row[CgaText::kColumns + 1];
  EXPECT_EQ(cga->row_text(2, row), 8u);
  EXPECT_STREQ(row, "    $ ls");
  EXPECT_EQ(cga->cell(25, 0), 0);
  EXPECT_EQ(cga->cell(0, 80), 0);
}

TEST_F(CgaTest, TheDisplayStartsAtTheCrtcStartAddress) {
  put(0, 0, "first");
  put(1, 0, "second");
  out(0x3d4, Crtc::kStartAddressHigh);
  out(0x3d5, 0);
  out(0x3d4, Crtc::kStartAddressLow);
  out(0x3d5, 80);
  EXPECT_EQ(screen().substr(0, 7), "second\n");
}

TEST_F(CgaTest, NonPrintableBytesShowAsDots) {
  put(0, 0, "a\x01\x7f" "b");
  EXPECT_EQ(screen(), "a..b\n");
}

TEST_F(CgaTest, ScreenTextRefusesABufferTooSmall) {
  put(0, 0, "hello");
  char small[4];
  EXPECT_EQ(cga->screen_text(small, sizeof small).error(), Error::out_of_memory);
  EXPECT_STREQ(small, "");
  EXPECT_EQ(cga->screen_text(small, 0).error(), Error::out_of_memory);
}

TEST_F(CgaTest, BufferTakesAnyWidthWithinSixteenKilobytes) {
  ASSERT_TRUE(mmio.write(GuestPhysAddr(CgaText::kBase), 4, 'O' | 0x07 << 8 | 'K' << 16 | 0x07 << 24).ok());
  EXPECT_EQ(screen(), "OK\n");
  EXPECT_EQ(mmio.read(GuestPhysAddr(CgaText::kBase + 1), 1).value(), 0x07u);
  EXPECT_EQ(mmio.read(GuestPhysAddr(CgaText::kBase + CgaText::kVramSize - 2), 2).value(), 0x0720u);
  EXPECT_FALSE(mmio.is_mmio(GuestPhysAddr(CgaText::kBase + CgaText::kVramSize)));
  EXPECT_EQ(mmio.read(GuestPhysAddr(CgaText::kBase + CgaText::kVramSize - 2), 4).error(), Error::unsupported);
  EXPECT_EQ(cga->read(CgaText::kVramSize - 2, 4).error(), Error::not_found);
  EXPECT_EQ(cga->writes(), 1u);
}

TEST(CgaInGuestRam, ScreenTextReadsMemoryTheGuestWritesDirectly) {
  std::vector<std::uint8_t> ram(CgaText::kVramSize, 0);
  CgaText cga(ram.data());
  PortBus ports;
  ASSERT_TRUE(cga.attach(ports, nullptr).ok());  // the buffer stays plain RAM
  EXPECT_EQ(ports.device_at(0x3d4), &cga.crtc());
  const char* msg = "init: starting sh";
  for (unsigned i = 0; msg[i]; ++i) {
    ram[2 * (80 + i)] = static_cast<std::uint8_t>(msg[i]);
    ram[2 * (80 + i) + 1] = 0x07;
  }
  char buf[CgaText::kScreenTextSize];
  ASSERT_TRUE(cga.screen_text(buf, sizeof buf).ok());
  EXPECT_STREQ(buf, "\ninit: starting sh\n");
  EXPECT_EQ(cga.writes(), 0u);
}

TEST(CgaAttach, IsAllOrNothing) {
  PortBus ports;
  MmioBus mmio;
  CgaText other, cga;
  ASSERT_TRUE(mmio.attach(GuestPhysAddr(CgaText::kBase), 0x1000, other).ok());
  EXPECT_EQ(cga.attach(ports, &mmio).error(), Error::already_exists);
  EXPECT_EQ(ports.device_at(0x3d4), nullptr);
}

}  // namespace
}  // namespace hvlab::dev
