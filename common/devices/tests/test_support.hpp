#pragma once
// Recording sinks shared by the device tests.

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "common/devices/bus.hpp"

namespace hvlab::dev::test {

/// Records every IRQ line's level and counts its rising edges (what an edge-triggered PIC
/// would latch).
struct IrqRecorder final : IrqSink {
  bool level[16] = {};
  unsigned rises[16] = {};
  unsigned calls = 0;
  void set_irq(unsigned line, bool l) override {
    if (l && !level[line]) ++rises[line];
    level[line] = l;
    ++calls;
  }
};

/// Collects output bytes as a string.
struct ByteRecorder final : ByteSink {
  std::string out;
  void put(std::uint8_t b) override { out.push_back(static_cast<char>(b)); }
};

/// Byte read that must succeed (a failure is reported and reads as 0xee).
inline std::uint8_t rd(Device& d, std::uint32_t offset) {
  Result<std::uint32_t> r = d.read(offset, 1);
  if (!r.ok()) {
    ADD_FAILURE() << "read of offset " << offset << " failed: " << error_name(r.error());
    return 0xee;
  }
  return static_cast<std::uint8_t>(r.value());
}

/// Byte write that must succeed.
inline void wr(Device& d, std::uint32_t offset, std::uint8_t v) {
  Status s = d.write(offset, 1, v);
  if (!s.ok()) ADD_FAILURE() << "write of offset " << offset << " failed: " << error_name(s.error());
}

}  // namespace hvlab::dev::test
