// fw_cfg, traditional I/O interface.

#include "common/devices/fw_cfg.hpp"

namespace hvlab::dev {

namespace {
// Byte `i` of a little-endian integer of `width` bytes; zero past its end.
std::uint8_t le_byte(std::uint64_t v, unsigned width, std::uint32_t i) {
  return i < width ? static_cast<std::uint8_t>(v >> (8 * i)) : 0;
}
}  // namespace

std::uint8_t FwCfg::item_byte(std::uint16_t key, std::uint32_t i) const {
  switch (key) {
    case kSignature: {
      static constexpr char kSig[4] = {'Q', 'E', 'M', 'U'};
      return i < 4 ? static_cast<std::uint8_t>(kSig[i]) : 0;
    }
    case kId: return le_byte(1, 4, i);  // traditional interface; no DMA (bit 1 clear)
    case kRamSize: return le_byte(config_.ram_bytes, 8, i);
    case kNbCpus:
    case kMaxCpus: return le_byte(config_.cpus, 2, i);
    default: return 0;
  }
}

Result<std::uint32_t> FwCfg::read(std::uint32_t offset, unsigned size) {
  if (offset >= kPortCount) return Error::not_found;
  if (size != 1) return Error::unsupported;
  const std::uint8_t b = item_byte(key_, offset_);
  if (offset_ != ~std::uint32_t{0}) ++offset_;  // saturate: zeros for ever after the end
  return std::uint32_t{b};
}

Status FwCfg::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (offset >= kPortCount) return Error::not_found;
  if (size == 2 && offset == 0) {
    // Selecting a key starts it from its first byte. The write bit (0x4000) and the
    // architecture bit (0x8000) are part of the key.
    key_ = static_cast<std::uint16_t>(value);
    offset_ = 0;
    return {};
  }
  if (size == 1) return {};  // a data write: read-only items
  return Error::unsupported;
}

}  // namespace hvlab::dev
