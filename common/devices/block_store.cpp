// Disk images and the copy-on-write overlay.

#include "common/devices/block_store.hpp"

#include "common/runtime/string.hpp"

namespace hvlab::dev {

Status MemoryImage::read_sector(std::uint64_t lba, std::uint8_t* out) const {
  if (lba >= sector_count()) return Error::invalid_argument;
  const std::size_t start = static_cast<std::size_t>(lba) * kSectorSize;
  const std::size_t have = bytes_.size() - start < kSectorSize ? bytes_.size() - start : kSectorSize;
  rt::mem_copy(out, bytes_.data() + start, have);
  if (have < kSectorSize) rt::mem_set(out + have, 0, kSectorSize - have);
  return {};
}

Status MemoryImage::write_sector(std::uint64_t, const std::uint8_t*) { return Error::unsupported; }

CowDisk::CowDisk(const BlockStore& base, std::span<std::uint8_t> pool, std::span<IndexEntry> index)
    : base_(base), pool_(pool.data()), index_(index.data()) {
  const std::size_t slots = pool.size() / kSectorSize;
  capacity_ = slots < index.size() ? slots : index.size();
}

std::size_t CowDisk::lower_bound(std::uint64_t lba) const {
  std::size_t lo = 0, hi = used_;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (index_[mid].lba < lba) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

long CowDisk::find(std::uint64_t lba) const {
  const std::size_t i = lower_bound(lba);
  return i < used_ && index_[i].lba == lba ? static_cast<long>(i) : -1;
}

Status CowDisk::read_sector(std::uint64_t lba, std::uint8_t* out) const {
  if (lba >= sector_count()) return Error::invalid_argument;
  const long i = find(lba);
  if (i < 0) return base_.read_sector(lba, out);
  rt::mem_copy(out, pool_ + std::size_t{index_[i].slot} * kSectorSize, kSectorSize);
  return {};
}

Status CowDisk::write_sector(std::uint64_t lba, const std::uint8_t* data) {
  if (lba >= sector_count()) return Error::invalid_argument;
  std::size_t i = lower_bound(lba);
  if (i >= used_ || index_[i].lba != lba) {
    if (used_ == capacity_) return Error::out_of_memory;
    // Slots are handed out in order and never freed (discard() drops them all), so the next
    // free slot is the number in use. Keep the index sorted for the binary search.
    rt::mem_move(index_ + i + 1, index_ + i, (used_ - i) * sizeof(IndexEntry));
    index_[i] = IndexEntry{lba, static_cast<std::uint32_t>(used_)};
    ++used_;
  }
  rt::mem_copy(pool_ + std::size_t{index_[i].slot} * kSectorSize, data, kSectorSize);
  return {};
}

}  // namespace hvlab::dev
