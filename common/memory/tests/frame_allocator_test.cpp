#include "common/memory/frame_allocator.hpp"

#include "common/boot/multiboot.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace hvlab::mem {
namespace {

constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

MemoryRange range(std::uint64_t base, std::uint64_t length, MemoryType type) {
  return MemoryRange{HostPhysAddr(base), length, type};
}

// What QEMU's multiboot loader reports for -m 128 (as seen by a multiboot kernel).
const std::vector<MemoryRange> kQemu128M = {
    range(0x0, 0x9fc00, MemoryType::available),
    range(0x9fc00, 0x400, MemoryType::reserved),
    range(0xf0000, 0x10000, MemoryType::reserved),
    range(0x100000, 0x7ee0000, MemoryType::available),
    range(0x7fe0000, 0x20000, MemoryType::reserved),
    range(0xfffc0000, 0x40000, MemoryType::reserved),
};
// Frames 1..0x9e below 640 KiB (the frame holding 0x9fc00 is shared with the EBDA), and
// all of 1 MiB..0x7fe0000.
constexpr std::uint64_t kQemuUsable = (0x9f - 1) + (0x7fe0000 - 0x100000) / 4096;

class FrameAllocatorTest : public ::testing::Test {
 protected:
  void init(const std::vector<MemoryRange>& map, std::uint64_t frames = FrameAllocator::kFrames4G) {
    storage.assign(FrameAllocator::storage_words(frames), 0);
    ASSERT_TRUE(fa.init(storage, map).ok());
  }
  std::vector<std::uint32_t> storage;
  FrameAllocator fa;
};

TEST_F(FrameAllocatorTest, QemuMapCountsOnlyWholeAvailableFrames) {
  init(kQemu128M);
  EXPECT_EQ(fa.frame_limit(), FrameAllocator::kFrames4G);
  EXPECT_EQ(fa.usable_frames(), kQemuUsable);
  EXPECT_EQ(fa.free_frames(), kQemuUsable);
  EXPECT_EQ(fa.used_frames(), 0u);
}

TEST_F(FrameAllocatorTest, PartialAndNonRamFramesAreReserved) {
  init(kQemu128M);
  EXPECT_TRUE(fa.is_free(HostPhysAddr(0x9e000)));
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0x9f000)));  // shares a frame with the EBDA
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0xb8000)));  // VGA hole, in no range at all
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0x7fe0000)));
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0xfffff000)));
  EXPECT_TRUE(fa.is_free(HostPhysAddr(0x7fdf000)));
}

TEST_F(FrameAllocatorTest, UnalignedAvailableRangeShrinksInwards) {
  init({range(0x100800, 0x3000, MemoryType::available)});  // covers 0x101000..0x103000 whole
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0x100000)));
  EXPECT_TRUE(fa.is_free(HostPhysAddr(0x101000)));
  EXPECT_TRUE(fa.is_free(HostPhysAddr(0x102000)));
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0x103000)));
  EXPECT_EQ(fa.usable_frames(), 2u);
}

TEST_F(FrameAllocatorTest, FrameZeroIsNeverHandedOut) {
  init({range(0, 4 * 4096, MemoryType::available)});
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0)));
  EXPECT_EQ(fa.usable_frames(), 3u);
  std::set<std::uint64_t> got;
  for (int i = 0; i < 3; ++i) {
    auto f = fa.alloc();
    ASSERT_TRUE(f.ok());
    got.insert(f.value().value());
  }
  EXPECT_EQ(got, (std::set<std::uint64_t>{0x1000, 0x2000, 0x3000}));
}

TEST_F(FrameAllocatorTest, ReservedRangeWinsOverOverlappingAvailableRange) {
  init({range(0x100000, 1 * MiB, MemoryType::available), range(0x180800, 0x100, MemoryType::acpi_nvs)});
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0x180000)));
  EXPECT_TRUE(fa.is_free(HostPhysAddr(0x17f000)));
  EXPECT_TRUE(fa.is_free(HostPhysAddr(0x181000)));
  EXPECT_EQ(fa.usable_frames(), 255u);
}

TEST_F(FrameAllocatorTest, ReserveKernelImageAndModules) {
  init(kQemu128M);
  // A kernel at 1 MiB of 0x23456 bytes touches frames 0x100..0x123; a module at 0x200800.
  ASSERT_TRUE(fa.reserve(HostPhysAddr(0x100000), 0x23456).ok());
  ASSERT_TRUE(fa.reserve(HostPhysAddr(0x200800), 0x1000).ok());  // straddles 2 frames
  EXPECT_EQ(fa.usable_frames(), kQemuUsable - 0x24 - 2);
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0x123000)));
  EXPECT_FALSE(fa.is_reserved(HostPhysAddr(0x124000)));
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0x201000)));
  // Reserving again is harmless.
  ASSERT_TRUE(fa.reserve(HostPhysAddr(0x100000), 0x1000).ok());
  EXPECT_EQ(fa.usable_frames(), kQemuUsable - 0x24 - 2);
  // The allocator never returns a reserved frame.
  for (int i = 0; i < 2000; ++i) {
    auto f = fa.alloc();
    ASSERT_TRUE(f.ok());
    ASSERT_FALSE(f.value() >= HostPhysAddr(0x100000) && f.value() < HostPhysAddr(0x124000));
    ASSERT_FALSE(f.value() == HostPhysAddr(0x200000) || f.value() == HostPhysAddr(0x201000));
  }
}

TEST_F(FrameAllocatorTest, ReserveOverAllocatedFrameIsRefusedAndChangesNothing) {
  init({range(0x100000, 16 * 4096, MemoryType::available)});
  auto a = fa.alloc(), b = fa.alloc();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(fa.free(a.value()).ok());
  // [a, a + 3 frames): a is free, b allocated, the third free.
  EXPECT_EQ(fa.reserve(a.value(), 3 * 4096).error(), Error::already_exists);
  EXPECT_FALSE(fa.is_reserved(a.value()));
  EXPECT_TRUE(fa.is_free(a.value()));
  EXPECT_TRUE(fa.is_allocated(b.value()));
  EXPECT_EQ(fa.usable_frames(), 16u);
  EXPECT_EQ(fa.free_frames(), 15u);
}

TEST_F(FrameAllocatorTest, AllocGivesDistinctAlignedFramesAndCounts) {
  init(kQemu128M);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 500; ++i) {
    auto f = fa.alloc();
    ASSERT_TRUE(f.ok());
    EXPECT_TRUE(f.value().is_aligned(4096));
    EXPECT_TRUE(fa.is_allocated(f.value()));
    EXPECT_TRUE(seen.insert(f.value().value()).second) << "frame handed out twice";
  }
  EXPECT_EQ(fa.used_frames(), 500u);
  EXPECT_EQ(fa.free_frames(), kQemuUsable - 500);
}

TEST_F(FrameAllocatorTest, ExhaustionThenReuseOfFreedFrame) {
  init({range(0x10000, 8 * 4096, MemoryType::available)});
  std::vector<HostPhysAddr> frames;
  for (int i = 0; i < 8; ++i) {
    auto f = fa.alloc();
    ASSERT_TRUE(f.ok());
    frames.push_back(f.value());
  }
  EXPECT_EQ(fa.alloc().error(), Error::out_of_memory);
  EXPECT_EQ(fa.free_frames(), 0u);
  ASSERT_TRUE(fa.free(frames[3]).ok());
  auto again = fa.alloc();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), frames[3]);
}

TEST_F(FrameAllocatorTest, DoubleFreeIsDetected) {
  init(kQemu128M);
  auto f = fa.alloc();
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(fa.free(f.value()).ok());
  std::uint64_t free_before = fa.free_frames();
  EXPECT_EQ(fa.free(f.value()).error(), Error::not_found);
  EXPECT_EQ(fa.free_frames(), free_before);
  // A never-allocated frame is a double free too.
  EXPECT_EQ(fa.free(HostPhysAddr(0x500000)).error(), Error::not_found);
}

TEST_F(FrameAllocatorTest, FreeingReservedMisalignedOrFarFramesIsRefused) {
  init(kQemu128M);
  ASSERT_TRUE(fa.reserve(HostPhysAddr(0x100000), 0x10000).ok());
  EXPECT_EQ(fa.free(HostPhysAddr(0)).error(), Error::invalid_argument);          // frame 0
  EXPECT_EQ(fa.free(HostPhysAddr(0x104000)).error(), Error::invalid_argument);   // kernel image
  EXPECT_EQ(fa.free(HostPhysAddr(0xa0000)).error(), Error::invalid_argument);    // not RAM
  EXPECT_EQ(fa.free(HostPhysAddr(0x300800)).error(), Error::invalid_argument);   // misaligned
  EXPECT_EQ(fa.free(HostPhysAddr(8 * GiB)).error(), Error::invalid_argument);    // beyond bitmap
  EXPECT_EQ(fa.free_frames(), fa.usable_frames());
}

TEST_F(FrameAllocatorTest, ContiguousRunHonoursAlignment) {
  init(kQemu128M);
  ASSERT_TRUE(fa.alloc().ok());  // make the low end ragged
  auto run = fa.alloc_contiguous(1024, 4 * MiB);
  ASSERT_TRUE(run.ok());
  EXPECT_TRUE(run.value().is_aligned(4 * MiB));
  EXPECT_EQ(run.value(), HostPhysAddr(4 * MiB));  // first fit: 0..4 MiB has a hole
  for (std::uint64_t i = 0; i < 1024; ++i) EXPECT_TRUE(fa.is_allocated(run.value() + i * 4096));
  EXPECT_EQ(fa.used_frames(), 1025u);
}

TEST_F(FrameAllocatorTest, ContiguousRunSkipsFragmentation) {
  init({range(0x100000, 32 * 4096, MemoryType::available)});
  std::vector<HostPhysAddr> frames;
  for (int i = 0; i < 32; ++i) frames.push_back(fa.alloc().value());
  // Free every other frame of the first 16, and 4 in a row at 20..23.
  for (int i = 0; i < 16; i += 2) ASSERT_TRUE(fa.free(frames[i]).ok());
  for (int i = 20; i < 24; ++i) ASSERT_TRUE(fa.free(frames[i]).ok());
  auto run = fa.alloc_contiguous(3);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run.value(), frames[20]);
  // 9 frames free in total, but no run of 5 left.
  EXPECT_EQ(fa.free_frames(), 9u);
  EXPECT_EQ(fa.alloc_contiguous(5).error(), Error::out_of_memory);
}

TEST_F(FrameAllocatorTest, ContiguousRejectsBadArguments) {
  init(kQemu128M);
  EXPECT_EQ(fa.alloc_contiguous(0).error(), Error::invalid_argument);
  EXPECT_EQ(fa.alloc_contiguous(1, 3000).error(), Error::invalid_argument);
  EXPECT_EQ(fa.alloc_contiguous(1, 3 * 4096).error(), Error::invalid_argument);
  EXPECT_EQ(fa.alloc_contiguous(kQemuUsable + 1).error(), Error::out_of_memory);
  EXPECT_EQ(fa.used_frames(), 0u);
}

TEST_F(FrameAllocatorTest, FreeContiguousIsAllOrNothing) {
  init({range(0x100000, 16 * 4096, MemoryType::available)});
  auto run = fa.alloc_contiguous(4);
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(fa.free(run.value() + 2 * 4096).ok());
  EXPECT_EQ(fa.free_contiguous(run.value(), 4).error(), Error::not_found);
  EXPECT_TRUE(fa.is_allocated(run.value()));  // untouched by the refused call
  EXPECT_TRUE(fa.is_allocated(run.value() + 3 * 4096));
  EXPECT_EQ(fa.used_frames(), 3u);
}

TEST_F(FrameAllocatorTest, MemoryBeyondTheBitmapIsIgnored) {
  // 8 GiB of RAM, a bitmap for 16 MiB.
  init({range(0x100000, 8 * GiB, MemoryType::available)}, 4096);
  EXPECT_EQ(fa.frame_limit(), 4096u);
  EXPECT_EQ(fa.usable_frames(), 4096u - 256);
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(16 * MiB)));
  auto run = fa.alloc_contiguous(4096 - 256);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(fa.alloc().error(), Error::out_of_memory);
}

TEST_F(FrameAllocatorTest, InitRejectsBadStorage) {
  std::vector<std::uint32_t> odd(3);
  EXPECT_EQ(fa.init(odd, kQemu128M).error(), Error::invalid_argument);
  EXPECT_EQ(fa.init({}, kQemu128M).error(), Error::invalid_argument);
}

TEST_F(FrameAllocatorTest, WorksThroughFrameSourceInterface) {
  init({range(0x100000, 4 * 4096, MemoryType::available)});
  FrameSource<HostPhysAddr>& src = fa;
  auto f = src.alloc_frame();
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(fa.is_allocated(f.value()));
  EXPECT_TRUE(src.free_frame(f.value()).ok());
  EXPECT_EQ(src.free_frame(f.value()).error(), Error::not_found);
}

TEST_F(FrameAllocatorTest, InitFromBootReservesKernelAndModules) {
  BootInfo boot;
  for (const MemoryRange& r : kQemu128M) {
    boot.ranges[boot.range_count++] = {r.base.value(), r.length, static_cast<std::uint32_t>(r.type)};
  }
  boot.kernel_start = 0x100000;
  boot.kernel_end = 0x118000;
  boot.modules[boot.module_count++] = {0x119000, 0x119800, ""};
  storage.assign(FrameAllocator::storage_words(FrameAllocator::kFrames4G), 0);
  ASSERT_TRUE(init_from_boot(fa, storage, boot).ok());
  EXPECT_EQ(fa.usable_frames(), kQemuUsable - 0x18 - 1);
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0x117000)));
  EXPECT_TRUE(fa.is_reserved(HostPhysAddr(0x119000)));
  EXPECT_TRUE(fa.is_free(HostPhysAddr(0x11a000)));
  EXPECT_EQ(fa.free(HostPhysAddr(0x110000)).error(), Error::invalid_argument);
}

TEST(FrameBitmapStorage, SizedForTwoBitmaps) {
  static FrameBitmapStorage<FrameAllocator::kFrames4G> storage;
  EXPECT_EQ(sizeof storage, 256 * KiB);
  FrameAllocator fa;
  ASSERT_TRUE(fa.init(storage.span(), kQemu128M).ok());
  EXPECT_EQ(fa.usable_frames(), kQemuUsable);
}

}  // namespace
}  // namespace hvlab::mem
