#include "common/devices/debug_exit.hpp"

#include <gtest/gtest.h>

#include "common/devices/tests/test_support.hpp"

namespace hvlab::dev {
namespace {

TEST(DebugExit, WriteRequestsExitWithQemuStatus) {
  DebugExit dev;
  EXPECT_FALSE(dev.exit_requested());
  ASSERT_TRUE(dev.write(0, 1, 0x10).ok());
  EXPECT_TRUE(dev.exit_requested());
  EXPECT_EQ(dev.value(), 0x10u);
  EXPECT_EQ(dev.exit_status(), 0x21u);  // (0x10 << 1) | 1
  EXPECT_EQ(dev.exit_code(), 0x21);
}

TEST(DebugExit, ValueIsTruncatedToTheAccessWidthAndStatusToEightBits) {
  DebugExit dev;
  ASSERT_TRUE(dev.write(0, 1, 0x1ff).ok());
  EXPECT_EQ(dev.value(), 0xffu);
  EXPECT_EQ(dev.exit_status(), 0x1ffu);
  EXPECT_EQ(dev.exit_code(), 0xff);
  dev.clear();
  ASSERT_TRUE(dev.write(0, 2, 0x12345).ok());
  EXPECT_EQ(dev.value(), 0x2345u);
}

TEST(DebugExit, FirstRequestWinsUntilCleared) {
  DebugExit dev;
  ASSERT_TRUE(dev.write(0, 4, 0).ok());  // "success" convention: status 1
  ASSERT_TRUE(dev.write(0, 4, 7).ok());
  EXPECT_EQ(dev.exit_status(), 1u);
  dev.clear();
  EXPECT_FALSE(dev.exit_requested());
  ASSERT_TRUE(dev.write(0, 4, 7).ok());
  EXPECT_EQ(dev.exit_status(), 15u);
}

TEST(DebugExit, WorksThroughThePortBusAtF4AndReadsZero) {
  PortBus bus;
  DebugExit dev;
  ASSERT_TRUE(bus.attach(DebugExit::kPort, DebugExit::kPortCount, dev).ok());
  Result<std::uint32_t> r = bus.read(0xf4, 4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 0u);
  EXPECT_FALSE(dev.exit_requested());  // a read is not a request
  ASSERT_TRUE(bus.write(0xf4, 4, 0x31).ok());
  EXPECT_TRUE(dev.exit_requested());
  EXPECT_EQ(dev.exit_code(), 0x63);
}

TEST(DebugConsole, ForwardsBytesAndReadsBackE9) {
  test::ByteRecorder out;
  DebugConsole con(&out);
  PortBus bus;
  ASSERT_TRUE(bus.attach(DebugConsole::kPort, 1, con).ok());
  for (char c : std::string("ok\n")) ASSERT_TRUE(bus.write(0xe9, 1, static_cast<std::uint8_t>(c)).ok());
  EXPECT_EQ(out.out, "ok\n");
  EXPECT_EQ(con.bytes_written(), 3u);
  EXPECT_EQ(bus.read(0xe9, 1).value(), 0xe9u);
}

TEST(DebugConsole, RejectsWideAccesses) {
  test::ByteRecorder out;
  DebugConsole con(&out);
  EXPECT_EQ(con.write(0, 2, 0x4142).error(), Error::unsupported);
  EXPECT_EQ(con.read(0, 4).error(), Error::unsupported);
  EXPECT_EQ(out.out, "");
}

}  // namespace
}  // namespace hvlab::dev
