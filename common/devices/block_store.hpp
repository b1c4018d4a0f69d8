#pragma once
// Where a disk's sectors live. A monitor gets its disk image as bytes (a multiboot module, a
// file in a hosted VMM) that must never change, so writes go to a copy-on-write overlay of
// bounded size: sectors the guest wrote are read from the overlay, all others from the image.
// When the overlay is full, a write fails (Error::out_of_memory) and the disk reports it to
// the guest as a write fault; nothing already written is lost.
//
// Everything is allocation-free: the overlay's storage is handed in by the monitor (static
// arrays in a kernel, vectors on the host; CowStorage<N> packages both).

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/runtime/result.hpp"

namespace hvlab::dev {

/// The sector size of every store here (an ATA logical sector).
inline constexpr std::size_t kSectorSize = 512;

/// A disk's contents as numbered 512-byte sectors.
class BlockStore {
 public:
  /// Sectors in the store.
  virtual std::uint64_t sector_count() const = 0;
  /// Copy sector `lba` into `out` (512 bytes). Error::invalid_argument past the end.
  virtual Status read_sector(std::uint64_t lba, std::uint8_t* out) const = 0;
  /// Replace sector `lba` with `data` (512 bytes). Error::invalid_argument past the end,
  /// Error::unsupported for a read-only store, Error::out_of_memory when a bounded store is
  /// full.
  virtual Status write_sector(std::uint64_t lba, const std::uint8_t* data) = 0;

 protected:
  ~BlockStore() = default;
};

/// A read-only disk image in memory. An image whose size is not a multiple of 512 ends with a
/// partial sector, read as if padded with zeros.
class MemoryImage final : public BlockStore {
 public:
  /// `bytes` must outlive the store; it is never written.
  explicit MemoryImage(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  std::uint64_t sector_count() const override { return (bytes_.size() + kSectorSize - 1) / kSectorSize; }
  Status read_sector(std::uint64_t lba, std::uint8_t* out) const override;
  /// Always Error::unsupported: the image is read-only.
  Status write_sector(std::uint64_t lba, const std::uint8_t* data) override;

 private:
  std::span<const std::uint8_t> bytes_;
};

/// A copy-on-write overlay on a base store, which it only reads. Written sectors are kept in
/// caller-provided slots, found through an index sorted by sector number.
class CowDisk final : public BlockStore {
 public:
  /// One overlay slot: which sector it holds.
  struct IndexEntry {
    std::uint64_t lba = 0;
    std::uint32_t slot = 0;
  };

  /// `pool` holds the written sectors (its size rounded down to whole sectors); `index` one
  /// entry per slot. The capacity is the smaller of the two. Both must outlive the disk.
  CowDisk(const BlockStore& base, std::span<std::uint8_t> pool, std::span<IndexEntry> index);
  CowDisk(const CowDisk&) = delete;
  CowDisk& operator=(const CowDisk&) = delete;

  std::uint64_t sector_count() const override { return base_.sector_count(); }
  Status read_sector(std::uint64_t lba, std::uint8_t* out) const override;
  /// Error::out_of_memory when writing a sector not yet in the overlay and every slot is
  /// taken: the sector keeps its old contents. Rewriting a sector already copied always works.
  Status write_sector(std::uint64_t lba, const std::uint8_t* data) override;

  /// Sectors held in the overlay, and how many it can hold.
  std::size_t used() const { return used_; }
  std::size_t capacity() const { return capacity_; }
  bool full() const { return used_ == capacity_; }
  /// Whether sector `lba` has been written (is read from the overlay).
  bool overlaid(std::uint64_t lba) const { return find(lba) >= 0; }
  /// Forget every write: the disk reads as the image again.
  void discard() { used_ = 0; }

 private:
  long find(std::uint64_t lba) const;  // index position, or -1
  std::size_t lower_bound(std::uint64_t lba) const;

  const BlockStore& base_;
  std::uint8_t* pool_;
  IndexEntry* index_;
  std::size_t capacity_;
  std::size_t used_ = 0;
};

/// Storage for a CowDisk of `Sectors` sectors, for a static object in a kernel or a member.
template <std::size_t Sectors>
struct CowStorage {
  std::uint8_t pool[Sectors * kSectorSize];  ///< the overlay's sector slots
  CowDisk::IndexEntry index[Sectors];        ///< one index entry per slot
};

}  // namespace hvlab::dev
