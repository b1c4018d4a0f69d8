#pragma once
// The kit's test disk: a small disk whose every byte is a function of where it lies, so a
// guest can check a sector it read without anything to compare it with. Three places agree
// on it: the runner writes it as the emulator's own IDE primary slave (every boot, bare or
// under a monitor), a monitor given no disk image serves the same sectors from this
// generator on its virtual ATA channel, and the test guest's IDE test checks them. Header
// only, with no dependency beyond the block-store interface, so the host-only runner and the
// freestanding kernels compile the same definition.

#include <cstdint>

#include "common/devices/block_store.hpp"

namespace hvlab::dev {

/// Sectors on the test disk (64 KiB; small enough to generate per boot, large enough for an
/// LBA above 255).
inline constexpr std::uint32_t kTestDiskSectors = 128;

/// 32-bit word `word` (0-127) of sector `lba`: the sector number, the word's position and a
/// constant mixed so that no two words of the disk are alike and no sector is all zeros.
constexpr std::uint32_t test_disk_word(std::uint32_t lba, std::uint32_t word) {
  return (lba * 0x9e3779b1u) ^ (word * 0x01000193u) ^ 0x68766c62u;  // "blvh" in memory
}

/// Byte `offset` (0-511) of sector `lba`, little-endian words.
constexpr std::uint8_t test_disk_byte(std::uint32_t lba, std::uint32_t offset) {
  return static_cast<std::uint8_t>(test_disk_word(lba, offset / 4) >> (8 * (offset % 4)));
}

/// The test disk as a read-only block store (a monitor puts it behind a CowDisk if the guest
/// may write).
class TestDisk final : public BlockStore {
 public:
  std::uint64_t sector_count() const override { return kTestDiskSectors; }
  Status read_sector(std::uint64_t lba, std::uint8_t* out) const override {
    if (lba >= kTestDiskSectors) return Error::invalid_argument;
    for (std::uint32_t i = 0; i < kSectorSize; ++i) out[i] = test_disk_byte(static_cast<std::uint32_t>(lba), i);
    return {};
  }
  /// Error::unsupported: the test disk is read-only, like an image.
  Status write_sector(std::uint64_t, const std::uint8_t*) override { return Error::unsupported; }
};

}  // namespace hvlab::dev
