#pragma once
// Physical frame allocator: one bit per 4 KiB frame, fed by the firmware memory map.
//
// Two bitmaps share the caller's storage: `used` (frame not free) and `reserved` (frame is
// never handed out: not RAM, the kernel image, boot modules, frame 0). Keeping reserved
// apart from used is what lets free() tell a double free from freeing the kernel image.
// The caller provides the storage (kernels have no heap): FrameBitmapStorage<N> is the
// right size for N frames, e.g. a static FrameBitmapStorage<FrameAllocator::kFrames4G>
// (256 KiB of .bss) covers all of 32-bit physical memory.

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/memory/address.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/result.hpp"

namespace hvlab {
struct BootInfo;  // common/boot/multiboot.hpp
}

namespace hvlab::mem {

/// Memory-map range types, as in the multiboot (and E820) memory map.
enum class MemoryType : std::uint32_t {
  available = 1,         ///< usable RAM
  reserved = 2,          ///< firmware, MMIO, holes
  acpi_reclaimable = 3,  ///< ACPI tables (usable once parsed; we never reclaim them)
  acpi_nvs = 4,          ///< ACPI non-volatile storage
  bad = 5,               ///< defective RAM
};

/// One entry of the boot memory map: [base, base + length) of one type. Boot code converts
/// multiboot's mmap entries (which carry a size prefix) into a span of these.
struct MemoryRange {
  HostPhysAddr base;
  std::uint64_t length = 0;
  MemoryType type = MemoryType::reserved;
};

class FrameAllocator final : public FrameSource<HostPhysAddr> {
 public:
  /// Frames in 4 GiB, the reach of 32-bit paging.
  static constexpr std::uint64_t kFrames4G = 1ull << 20;

  /// 32-bit words of storage needed to manage `frames` frames (two bitmaps).
  static constexpr std::size_t storage_words(std::uint64_t frames) {
    return static_cast<std::size_t>(2 * ((frames + 31) / 32));
  }

  FrameAllocator() = default;
  FrameAllocator(const FrameAllocator&) = delete;
  FrameAllocator& operator=(const FrameAllocator&) = delete;

  /// Starts over with `storage` (storage_words(N) words manage N frames, from address 0)
  /// and the memory map `map`. Only whole frames inside `available` ranges become free;
  /// any frame touched by another range type is reserved (maps may overlap; reserved wins),
  /// and so is frame 0. Memory beyond the storage's reach is ignored.
  /// Error::invalid_argument if the storage is empty or of odd length.
  Status init(std::span<std::uint32_t> storage, std::span<const MemoryRange> map);

  /// Reserves every frame touched by [base, base + length): the kernel image, multiboot
  /// modules, a DMA area. Frames already reserved stay so. Error::already_exists (and no
  /// change) if one of them is currently allocated.
  Status reserve(HostPhysAddr base, std::uint64_t length);

  /// One free frame. Error::out_of_memory when none is left.
  Result<HostPhysAddr> alloc();
  /// `count` contiguous free frames whose first address is a multiple of `alignment` (a
  /// power of two, at least kPageSize; e.g. 4 MiB for a PSE page). First fit, lowest
  /// address. Error::invalid_argument for a zero count or bad alignment,
  /// Error::out_of_memory if no such run exists.
  Result<HostPhysAddr> alloc_contiguous(std::uint64_t count, std::uint64_t alignment = kPageSize);

  /// Frees one frame. Error::invalid_argument if misaligned, beyond the bitmap, or
  /// reserved; Error::not_found if it is free already (a double free). Nothing changes on
  /// error.
  Status free(HostPhysAddr frame);
  /// Frees `count` frames starting at `base`, all or none (errors as free()).
  Status free_contiguous(HostPhysAddr base, std::uint64_t count);

  /// True if the frame containing `pa` is free.
  bool is_free(HostPhysAddr pa) const;
  /// True if the frame containing `pa` is reserved (or not RAM, or beyond the bitmap).
  bool is_reserved(HostPhysAddr pa) const;
  /// True if the frame containing `pa` is allocated (used and not reserved).
  bool is_allocated(HostPhysAddr pa) const;

  /// Frames that can ever be handed out (RAM minus reservations).
  std::uint64_t usable_frames() const { return usable_; }
  /// Frames free now.
  std::uint64_t free_frames() const { return free_; }
  /// Frames allocated now.
  std::uint64_t used_frames() const { return usable_ - free_; }
  /// Frames the bitmap covers (from address 0), usable or not.
  std::uint64_t frame_limit() const { return frames_; }

  // FrameSource: lets a page-table builder take its tables from this allocator.
  Result<HostPhysAddr> alloc_frame() override { return alloc(); }
  Status free_frame(HostPhysAddr frame) override { return free(frame); }

 private:
  bool test(const std::uint32_t* bits, std::uint64_t f) const { return (bits[f / 32] >> (f % 32)) & 1; }
  void set(std::uint32_t* bits, std::uint64_t f) { bits[f / 32] |= 1u << (f % 32); }
  void clear(std::uint32_t* bits, std::uint64_t f) { bits[f / 32] &= ~(1u << (f % 32)); }
  Status check_allocated(std::uint64_t f) const;
  void recount();

  std::uint32_t* used_ = nullptr;      // 1 = not free (allocated or reserved)
  std::uint32_t* reserved_ = nullptr;  // 1 = never handed out
  std::uint64_t frames_ = 0;
  std::uint64_t usable_ = 0;
  std::uint64_t free_ = 0;
  std::uint64_t hint_ = 0;  // every frame below it was used at the last alloc (a search start)
};

/// The usual kernel start-up in one call: init() from the boot loader's memory map, then
/// reserve the kernel image, every module, and the command-line strings BootInfo points at
/// (under paging-off / identity mapping a pointer is a physical address).
Status init_from_boot(FrameAllocator& fa, std::span<std::uint32_t> storage, const BootInfo& boot);

/// Storage for a FrameAllocator managing `Frames` frames.
template <std::uint64_t Frames>
struct FrameBitmapStorage {
  std::uint32_t words[FrameAllocator::storage_words(Frames)];
  std::span<std::uint32_t> span() { return words; }
};

}  // namespace hvlab::mem
