// isa-debug-exit and the 0xE9 console.

#include "common/devices/debug_exit.hpp"

namespace hvlab::dev {

Result<std::uint32_t> DebugExit::read(std::uint32_t, unsigned) { return std::uint32_t{0}; }

Status DebugExit::write(std::uint32_t, unsigned size, std::uint32_t value) {
  // The first request wins: QEMU would already have exited, so later writes (a guest that
  // keeps running until the monitor stops it) must not change the verdict.
  if (requested_) return {};
  requested_ = true;
  value_ = value & floating_bus_value(size);
  return {};
}

Result<std::uint32_t> DebugConsole::read(std::uint32_t offset, unsigned size) {
  if (size != 1) return Error::unsupported;
  if (offset != 0) return Error::not_found;
  return std::uint32_t{kReadback};
}

Status DebugConsole::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (size != 1) return Error::unsupported;
  if (offset != 0) return Error::not_found;
  ++count_;
  if (sink_) sink_->put(static_cast<std::uint8_t>(value));
  return {};
}

}  // namespace hvlab::dev
