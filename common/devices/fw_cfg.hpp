#pragma once
// QEMU's firmware configuration interface (fw_cfg), in its traditional I/O port form: a 16-bit
// selector written to port 0x510 picks an item, and each byte read from port 0x511 returns the
// next byte of it. Guests written for QEMU ask it for the number of CPUs (key 0x05) and the
// RAM size (0x03); a guest that finds the signature but no CPU count may wait for CPUs that
// never come. Layout and keys follow QEMU's docs/specs/fw_cfg.txt.
//
// Items offered: signature "QEMU", the ID (traditional interface only, no DMA), RAM size, CPU
// count and maximum CPU count. Every other key reads as zeros (so the file directory, key
// 0x19, lists no files); reads past the end of an item read zeros; writes are ignored, as in
// QEMU since 2.4.

#include <cstdint>

#include "common/devices/bus.hpp"

namespace hvlab::dev {

/// fw_cfg at ports 0x510 (selector, 16-bit writes) and 0x511 (data, byte reads). As in QEMU,
/// a byte read of either port reads data and a byte write to either is a (dropped) data
/// write; other widths are Error::unsupported.
class FwCfg final : public Device {
 public:
  static constexpr std::uint16_t kPort = 0x510;
  static constexpr std::uint32_t kPortCount = 2;

  /// Item keys (QEMU's FW_CFG_*).
  enum Key : std::uint16_t {
    kSignature = 0x00,  ///< "QEMU"
    kId = 0x01,         ///< feature bitmap, 32-bit little-endian; bit 0: traditional interface
    kRamSize = 0x03,    ///< bytes of RAM, 64-bit little-endian
    kNbCpus = 0x05,     ///< CPUs present, 16-bit little-endian
    kMaxCpus = 0x0f,    ///< CPUs possible, 16-bit little-endian
    kFileDir = 0x19,    ///< file directory (not offered: reads as zero files)
  };

  /// What the machine reports.
  struct Config {
    std::uint64_t ram_bytes = 0;
    std::uint16_t cpus = 1;
  };

  explicit FwCfg(Config config) : config_(config) {}

  /// The RAM size reported from now on (a monitor learns it after building the device).
  void set_ram_bytes(std::uint64_t bytes) { config_.ram_bytes = bytes; }
  const Config& config() const { return config_; }

  /// Attach at 0x510-0x511.
  Status attach(PortBus& bus) { return bus.attach(kPort, kPortCount, *this); }

  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  /// The selected key, and how many bytes of it have been read.
  std::uint16_t selected() const { return key_; }
  std::uint32_t offset() const { return offset_; }

 private:
  std::uint8_t item_byte(std::uint16_t key, std::uint32_t offset) const;

  Config config_;
  std::uint16_t key_ = kSignature;
  std::uint32_t offset_ = 0;
};

}  // namespace hvlab::dev
