#include "common/devices/cmos_rtc.hpp"

#include <gtest/gtest.h>

#include "common/devices/tests/test_support.hpp"

namespace hvlab::dev {
namespace {

using test::rd;
using test::wr;
using R = CmosRtc;

constexpr std::uint64_t kLeapDay2024 = 1709251198;  // 2024-02-29 23:59:58 UTC, a Thursday
constexpr std::uint64_t kSecond = 1'000'000'000;

struct RtcTest : ::testing::Test {
  test::IrqRecorder irq;
  CmosRtc rtc{&irq};

  std::uint8_t reg(std::uint8_t index) {
    wr(rtc, 0, index);
    return rd(rtc, 1);
  }
  void set(std::uint8_t index, std::uint8_t v) {
    wr(rtc, 0, index);
    wr(rtc, 1, v);
  }
};

TEST_F(RtcTest, PowerOnIsTheUnixEpochInBcd24Hour) {
  EXPECT_EQ(reg(R::kSeconds), 0x00);
  EXPECT_EQ(reg(R::kHours), 0x00);
  EXPECT_EQ(reg(R::kDayOfWeek), 5);  // Thursday (1 = Sunday)
  EXPECT_EQ(reg(R::kDayOfMonth), 0x01);
  EXPECT_EQ(reg(R::kMonth), 0x01);
  EXPECT_EQ(reg(R::kYear), 0x70);
  EXPECT_EQ(reg(R::kCentury), 0x19);
  EXPECT_EQ(reg(R::kStatusA), 0x26);
  EXPECT_EQ(reg(R::kStatusB), 0x02);
  EXPECT_EQ(reg(R::kStatusD), 0x80);  // VRT: RAM and time valid
}

TEST_F(RtcTest, TimeRegistersInBcd) {
  rtc.set_time(kLeapDay2024);
  EXPECT_EQ(reg(R::kSeconds), 0x58);
  EXPECT_EQ(reg(R::kMinutes), 0x59);
  EXPECT_EQ(reg(R::kHours), 0x23);
  EXPECT_EQ(reg(R::kDayOfWeek), 5);
  EXPECT_EQ(reg(R::kDayOfMonth), 0x29);
  EXPECT_EQ(reg(R::kMonth), 0x02);
  EXPECT_EQ(reg(R::kYear), 0x24);
  EXPECT_EQ(reg(R::kCentury), 0x20);
}

TEST_F(RtcTest, BinaryModeFromStatusBDataMode) {
  rtc.set_time(kLeapDay2024);
  set(R::kStatusB, R::kB24Hour | R::kBBinary);
  EXPECT_EQ(reg(R::kSeconds), 58);
  EXPECT_EQ(reg(R::kHours), 23);
  EXPECT_EQ(reg(R::kDayOfMonth), 29);
  EXPECT_EQ(reg(R::kYear), 24);
  EXPECT_EQ(reg(R::kCentury), 20);
}

TEST_F(RtcTest, TwelveHourModeUsesBit7ForPm) {
  rtc.set_time(kLeapDay2024);  // 23:59
  set(R::kStatusB, 0x00);      // BCD, 12-hour
  EXPECT_EQ(reg(R::kHours), 0x91);  // 11 PM
  set(R::kStatusB, R::kBBinary);
  EXPECT_EQ(reg(R::kHours), 0x8b);  // binary 11 | PM
  rtc.set_time(0);                  // midnight is 12 AM
  set(R::kStatusB, 0x00);
  EXPECT_EQ(reg(R::kHours), 0x12);
  rtc.set_time(12 * 3600);          // noon is 12 PM
  EXPECT_EQ(reg(R::kHours), 0x92);
}

TEST_F(RtcTest, AdvanceRollsOverLeapDayIntoMarch) {
  rtc.set_time(kLeapDay2024);
  rtc.advance_ns(1 * kSecond);
  EXPECT_EQ(reg(R::kSeconds), 0x59);
  rtc.advance_ns(1 * kSecond);
  EXPECT_EQ(reg(R::kSeconds), 0x00);
  EXPECT_EQ(reg(R::kHours), 0x00);
  EXPECT_EQ(reg(R::kDayOfMonth), 0x01);
  EXPECT_EQ(reg(R::kMonth), 0x03);
  EXPECT_EQ(reg(R::kDayOfWeek), 6);  // Friday
  EXPECT_EQ(rtc.time(), 1709251200u);
}

TEST_F(RtcTest, CenturyRollsOver) {
  rtc.set_time(4102444799);  // 2099-12-31 23:59:59
  EXPECT_EQ(reg(R::kCentury), 0x20);
  rtc.advance_ns(kSecond);
  EXPECT_EQ(reg(R::kCentury), 0x21);
  EXPECT_EQ(reg(R::kYear), 0x00);
  EXPECT_EQ(reg(R::kMonth), 0x01);
}

TEST_F(RtcTest, UpdateInProgressIsSetInTheLast244usOfEachSecond) {
  rtc.advance_ticks(R::kOscillatorHz - 9);
  EXPECT_EQ(reg(R::kStatusA) & R::kAUip, 0);
  rtc.advance_ticks(1);
  EXPECT_EQ(reg(R::kStatusA) & R::kAUip, R::kAUip);
  EXPECT_EQ(reg(R::kSeconds), 0x00);  // the update has not happened yet
  rtc.advance_ticks(8);
  EXPECT_EQ(reg(R::kStatusA) & R::kAUip, 0);
  EXPECT_EQ(reg(R::kSeconds), 0x01);
}

TEST_F(RtcTest, GuestSetsTheClockUnderStatusBSet) {
  set(R::kStatusB, R::kBSet | R::kB24Hour);
  set(R::kHours, 0x10);
  set(R::kMinutes, 0x30);
  set(R::kSeconds, 0x00);
  set(R::kCentury, 0x20);
  set(R::kYear, 0x25);
  set(R::kMonth, 0x06);
  set(R::kDayOfMonth, 0x15);
  rtc.advance_ns(5 * kSecond);
  EXPECT_EQ(reg(R::kSeconds), 0x00);  // SET halts updates
  EXPECT_EQ(reg(R::kStatusA) & R::kAUip, 0);
  set(R::kStatusB, R::kB24Hour);
  rtc.advance_ns(kSecond);
  EXPECT_EQ(reg(R::kSeconds), 0x01);
  EXPECT_EQ(rtc.time(), 1749983401u);  // 2025-06-15 10:30:01
  EXPECT_EQ(reg(R::kDayOfWeek), 1);    // a Sunday, derived from the date
}

TEST_F(RtcTest, OutOfRangeTimeWritesAreIgnored) {
  rtc.set_time(kLeapDay2024);
  set(R::kMonth, 0x13);        // month 13
  set(R::kSeconds, 0x5a);      // not BCD
  set(R::kDayOfMonth, 0x31);   // 31 February
  EXPECT_EQ(reg(R::kMonth), 0x02);
  EXPECT_EQ(reg(R::kSeconds), 0x58);
  EXPECT_EQ(reg(R::kDayOfMonth), 0x29);
  set(R::kStatusB, R::kB24Hour | R::kBBinary);
  set(R::kSeconds, 7);  // binary now: 7 is fine
  EXPECT_EQ(reg(R::kSeconds), 7);
}

TEST_F(RtcTest, MemorySizeBytesAndChecksum) {
  rtc.set_memory_size(32ull << 20);
  EXPECT_EQ(reg(R::kBaseMemLow), 0x80);  // 640 KiB
  EXPECT_EQ(reg(R::kBaseMemHigh), 0x02);
  EXPECT_EQ(reg(R::kExtMemLow), 0x00);   // 31 MiB = 31744 KiB = 0x7c00
  EXPECT_EQ(reg(R::kExtMemHigh), 0x7c);
  EXPECT_EQ(reg(R::kExtMem2Low), 0x00);
  EXPECT_EQ(reg(R::kExtMem2High), 0x7c);
  EXPECT_EQ(reg(R::kHighMemLow), 0x00);  // 16 MiB above 16 MiB = 256 x 64 KiB
  EXPECT_EQ(reg(R::kHighMemHigh), 0x01);
  EXPECT_EQ(reg(R::kChecksumHigh), 0x00);  // 0x80 + 0x02 + 0x00 + 0x7c
  EXPECT_EQ(reg(R::kChecksumLow), 0xfe);
  rtc.set_memory_size(4ull << 30);
  EXPECT_EQ(reg(R::kExtMemLow), 0xff);  // saturates at 65535 KiB
  EXPECT_EQ(reg(R::kExtMemHigh), 0xff);
  EXPECT_EQ(reg(R::kHighMemLow), 0x00);  // (4096 - 16) MiB / 64 KiB = 0xff00
  EXPECT_EQ(reg(R::kHighMemHigh), 0xff);
}

TEST_F(RtcTest, NvramRoundTripAndNmiDisableBit) {
  wr(rtc, 0, 0x80 | 0x40);
  EXPECT_TRUE(rtc.nmi_disabled());
  wr(rtc, 1, 0xab);
  EXPECT_EQ(rtc.nvram(0x40), 0xab);
  EXPECT_EQ(rd(rtc, 1), 0xab);  // read back with NMI still disabled
  wr(rtc, 0, 0x80 | R::kYear);
  EXPECT_EQ(rd(rtc, 1), 0x70);
  EXPECT_EQ(reg(0x40), 0xab);  // bit 7 of the index is not part of the address
  EXPECT_FALSE(rtc.nmi_disabled());
  rtc.set_nvram(0x7f, 0x5c);
  EXPECT_EQ(reg(0x7f), 0x5c);
  EXPECT_EQ(rd(rtc, 0), 0xff);  // the index register is write-only
}

TEST_F(RtcTest, UpdateEndedInterruptAndStatusCReadClears) {
  set(R::kStatusB, R::kBUie | R::kB24Hour);
  rtc.advance_ns(kSecond - 1);
  EXPECT_FALSE(irq.level[8]);
  rtc.advance_ns(1);
  EXPECT_TRUE(irq.level[8]);
  // PF is set at the periodic rate (1024 Hz by default) even with PIE clear.
  EXPECT_EQ(reg(R::kStatusC), R::kCIrqf | R::kCPf | R::kCUf);
  EXPECT_FALSE(irq.level[8]);
  EXPECT_EQ(reg(R::kStatusC), 0x00);
}

TEST_F(RtcTest, FlagsAreSetEvenWhenDisabledButRaiseNoIrq) {
  rtc.advance_ns(kSecond);
  EXPECT_EQ(irq.calls, 0u);
  EXPECT_EQ(reg(R::kStatusC), R::kCPf | R::kCUf);  // no IRQF
  set(R::kStatusA, 0x20);  // RS = 0: no periodic flag at all
  rtc.advance_ns(kSecond);
  EXPECT_EQ(reg(R::kStatusC), R::kCUf);
}

TEST_F(RtcTest, PeriodicInterruptAtTheRateSelected) {
  set(R::kStatusB, R::kBPie | R::kB24Hour);  // A = 0x26: 1024 Hz, every 32 oscillator ticks
  rtc.advance_ticks(31);
  EXPECT_FALSE(irq.level[8]);
  rtc.advance_ticks(1);
  EXPECT_TRUE(irq.level[8]);
  EXPECT_EQ(reg(R::kStatusC), R::kCIrqf | R::kCPf);
  set(R::kStatusA, 0x2f);  // 2 Hz: every 16384 ticks
  rtc.advance_ticks(16384 - 33);
  EXPECT_FALSE(irq.level[8]);
  rtc.advance_ticks(1);
  EXPECT_TRUE(irq.level[8]);
}

TEST_F(RtcTest, AlarmMatchesTimeOrDontCare) {
  set(R::kSecondsAlarm, 0x03);
  set(R::kMinutesAlarm, 0x00);
  set(R::kHoursAlarm, 0x00);
  set(R::kStatusB, R::kBAie | R::kB24Hour);
  rtc.advance_ns(2 * kSecond);
  EXPECT_FALSE(irq.level[8]);
  rtc.advance_ns(kSecond);
  EXPECT_TRUE(irq.level[8]);
  EXPECT_EQ(reg(R::kStatusC), R::kCIrqf | R::kCPf | R::kCAf | R::kCUf);
  set(R::kHoursAlarm, 0xc0);  // every hour...
  set(R::kMinutesAlarm, 0xff);  // ...every minute...
  set(R::kSecondsAlarm, 0x30);  // ...at second 30
  rtc.advance_ns(26 * kSecond);
  EXPECT_FALSE(irq.level[8]);
  rtc.advance_ns(kSecond);
  EXPECT_TRUE(irq.level[8]);
}

TEST_F(RtcTest, StatusRegistersReadOnlyBits) {
  set(R::kStatusD, 0x00);
  EXPECT_EQ(reg(R::kStatusD), 0x80);
  set(R::kStatusA, 0xa6);
  EXPECT_EQ(reg(R::kStatusA), 0x26);  // UIP cannot be written
  set(R::kStatusB, R::kBSet | R::kBUie | R::kB24Hour);
  EXPECT_EQ(reg(R::kStatusB), R::kBSet | R::kB24Hour);  // SET clears UIE
}

TEST_F(RtcTest, ByteAccessOnly) {
  EXPECT_EQ(rtc.read(1, 2).error(), Error::unsupported);
  EXPECT_EQ(rtc.write(0, 2, 0x0a).error(), Error::unsupported);
}

TEST(RtcDate, ConversionAgreesWithKnownDates) {
  struct Case {
    std::uint64_t unix;
    RtcDateTime date;
  } cases[] = {
      {0, {1970, 1, 1, 0, 0, 0, 5}},
      {951825600, {2000, 2, 29, 12, 0, 0, 3}},   // 400-year leap rule
      {946684799, {1999, 12, 31, 23, 59, 59, 6}},
      {4102444799, {2099, 12, 31, 23, 59, 59, 5}},
      {kLeapDay2024, {2024, 2, 29, 23, 59, 58, 5}},
  };
  for (const Case& c : cases) {
    RtcDateTime d = CmosRtc::to_date(c.unix);
    EXPECT_EQ(d.year, c.date.year) << c.unix;
    EXPECT_EQ(d.month, c.date.month) << c.unix;
    EXPECT_EQ(d.day, c.date.day) << c.unix;
    EXPECT_EQ(d.hour, c.date.hour) << c.unix;
    EXPECT_EQ(d.minute, c.date.minute) << c.unix;
    EXPECT_EQ(d.second, c.date.second) << c.unix;
    EXPECT_EQ(d.weekday, c.date.weekday) << c.unix;
    Result<std::uint64_t> back = CmosRtc::from_date(c.date);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back.value(), c.unix);
  }
  EXPECT_EQ(CmosRtc::from_date({2100, 2, 29, 0, 0, 0, 1}).error(), Error::invalid_argument);  // not leap
  EXPECT_EQ(CmosRtc::from_date({1969, 12, 31, 0, 0, 0, 1}).error(), Error::invalid_argument);
  EXPECT_EQ(CmosRtc::from_date({2024, 4, 31, 0, 0, 0, 1}).error(), Error::invalid_argument);
}

}  // namespace
}  // namespace hvlab::dev
