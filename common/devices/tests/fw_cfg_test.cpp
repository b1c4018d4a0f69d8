// fw_cfg against QEMU's docs/specs/fw_cfg.txt (traditional I/O interface).

#include "common/devices/fw_cfg.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hvlab::dev {
namespace {

struct FwCfgTest : ::testing::Test {
  PortBus bus;
  FwCfg fw{FwCfg::Config{.ram_bytes = 224ull << 20, .cpus = 1}};

  void SetUp() override { ASSERT_TRUE(fw.attach(bus).ok()); }
  void select(std::uint16_t key) { ASSERT_TRUE(bus.write(0x510, 2, key).ok()); }
  std::uint8_t data() { return static_cast<std::uint8_t>(bus.read(0x511, 1).value()); }
  std::uint64_t le(unsigned n) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= std::uint64_t{data()} << (8 * i);
    return v;
  }
};

TEST_F(FwCfgTest, SignatureReadsQemuThenZeros) {
  select(FwCfg::kSignature);
  std::string sig;
  for (int i = 0; i < 4; ++i) sig.push_back(static_cast<char>(data()));
  EXPECT_EQ(sig, "QEMU");
  EXPECT_EQ(data(), 0);  // past the end of the item
  EXPECT_EQ(data(), 0);
}

TEST_F(FwCfgTest, IdOffersTheTraditionalInterfaceWithoutDma) {
  select(FwCfg::kId);
  EXPECT_EQ(le(4), 1u);
}

TEST_F(FwCfgTest, CpuCountAndMaximumAreOne) {
  select(FwCfg::kNbCpus);
  EXPECT_EQ(le(2), 1u);
  select(FwCfg::kMaxCpus);
  EXPECT_EQ(le(2), 1u);
}

TEST_F(FwCfgTest, RamSizeIsA64BitLittleEndianByteCount) {
  select(FwCfg::kRamSize);
  EXPECT_EQ(le(8), 224ull << 20);
  FwCfg big(FwCfg::Config{.ram_bytes = 0x123456789aull, .cpus = 1});
  ASSERT_TRUE(big.write(0, 2, FwCfg::kRamSize).ok());
  std::uint64_t v = 0;
  for (unsigned i = 0; i < 8; ++i) v |= std::uint64_t{big.read(1, 1).value()} << (8 * i);
  EXPECT_EQ(v, 0x123456789aull);
}

TEST_F(FwCfgTest, UnknownKeysAndTheFileDirectoryReadZeros) {
  for (std::uint16_t key : {0x02, 0x04, 0x19, 0x8000, 0x8003, 0x4005, 0xffff}) {
    select(key);
    EXPECT_EQ(le(8), 0u) << std::hex << key;
  }
}

TEST_F(FwCfgTest, SelectingAgainStartsTheItemOver) {
  select(FwCfg::kSignature);
  EXPECT_EQ(data(), 'Q');
  EXPECT_EQ(data(), 'E');
  select(FwCfg::kSignature);
  EXPECT_EQ(data(), 'Q');
  EXPECT_EQ(fw.offset(), 1u);
}

TEST_F(FwCfgTest, AccessWidthsFollowQemu) {
  select(FwCfg::kSignature);
  EXPECT_EQ(bus.read(0x510, 1).value(), static_cast<std::uint32_t>('Q'));  // a byte read of 0x510 is data too
  ASSERT_TRUE(bus.write(0x511, 1, 0x05).ok());  // data writes are dropped...
  ASSERT_TRUE(bus.write(0x510, 1, 0x05).ok());
  EXPECT_EQ(fw.selected(), FwCfg::kSignature);  // ...and do not select
  EXPECT_EQ(data(), 'E');
  EXPECT_EQ(bus.read(0x510, 2).error(), Error::unsupported);
  EXPECT_EQ(bus.write(0x510, 4, 0).error(), Error::unsupported);  // straddles the range anyway
  EXPECT_EQ(fw.write(0, 4, 0).error(), Error::unsupported);
  EXPECT_EQ(fw.write(1, 2, 0).error(), Error::unsupported);
  EXPECT_EQ(bus.device_at(0x512), nullptr);
}

}  // namespace
}  // namespace hvlab::dev
