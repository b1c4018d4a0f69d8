// Disk images and the bounded copy-on-write overlay.

#include "common/devices/block_store.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/devices/test_disk.hpp"

namespace hvlab::dev {
namespace {

// An image whose sector n is filled with byte n (and a partial tail of `tail` bytes).
std::vector<std::uint8_t> image(unsigned sectors, unsigned tail = 0) {
  std::vector<std::uint8_t> bytes(sectors * kSectorSize + tail);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i / kSectorSize);
  return bytes;
}

std::vector<std::uint8_t> sector_of(std::uint8_t fill) { return std::vector<std::uint8_t>(kSectorSize, fill); }

std::vector<std::uint8_t> read(const BlockStore& s, std::uint64_t lba) {
  std::vector<std::uint8_t> out(kSectorSize, 0xee);
  EXPECT_TRUE(s.read_sector(lba, out.data()).ok()) << lba;
  return out;
}

TEST(MemoryImage, ReadsSectorsAndPadsAPartialLastSectorWithZeros) {
  std::vector<std::uint8_t> bytes = image(3, 100);
  MemoryImage img(bytes);
  EXPECT_EQ(img.sector_count(), 4u);
  EXPECT_EQ(read(img, 2), sector_of(2));
  std::vector<std::uint8_t> last = read(img, 3);
  for (unsigned i = 0; i < kSectorSize; ++i) EXPECT_EQ(last[i], i < 100 ? 3 : 0) << i;
  std::uint8_t buf[kSectorSize];
  EXPECT_EQ(img.read_sector(4, buf).error(), Error::invalid_argument);
}

TEST(MemoryImage, IsReadOnly) {
  std::vector<std::uint8_t> bytes = image(2);
  const std::vector<std::uint8_t> before = bytes;
  MemoryImage img(bytes);
  std::vector<std::uint8_t> data = sector_of(0xaa);
  EXPECT_EQ(img.write_sector(0, data.data()).error(), Error::unsupported);
  EXPECT_EQ(bytes, before);
}

struct CowTest : ::testing::Test {
  std::vector<std::uint8_t> bytes = image(16);
  const std::vector<std::uint8_t> pristine = bytes;
  MemoryImage img{bytes};
  std::unique_ptr<CowStorage<4>> storage = std::make_unique<CowStorage<4>>();
  CowDisk disk{img, storage->pool, storage->index};

  Status write(std::uint64_t lba, std::uint8_t fill) {
    std::vector<std::uint8_t> d = sector_of(fill);
    return disk.write_sector(lba, d.data());
  }
};

TEST_F(CowTest, WritesLandInTheOverlayAndNeverInTheImage) {
  EXPECT_EQ(disk.capacity(), 4u);
  EXPECT_EQ(disk.sector_count(), 16u);
  ASSERT_TRUE(write(5, 0xa5).ok());
  EXPECT_EQ(read(disk, 5), sector_of(0xa5));
  EXPECT_EQ(read(disk, 4), sector_of(4));  // untouched sectors come from the image
  EXPECT_EQ(read(disk, 6), sector_of(6));
  EXPECT_EQ(bytes, pristine);
  EXPECT_TRUE(disk.overlaid(5));
  EXPECT_FALSE(disk.overlaid(4));
  EXPECT_EQ(disk.used(), 1u);
}

TEST_F(CowTest, RewritingASectorReusesItsSlot) {
  ASSERT_TRUE(write(5, 1).ok());
  ASSERT_TRUE(write(5, 2).ok());
  EXPECT_EQ(disk.used(), 1u);
  EXPECT_EQ(read(disk, 5), sector_of(2));
}

TEST_F(CowTest, AFullOverlayRefusesNewSectorsAndKeepsEverything) {
  // Out of order, so the sorted index is exercised.
  for (std::uint64_t lba : {9u, 2u, 14u, 0u}) ASSERT_TRUE(write(lba, static_cast<std::uint8_t>(0xf0 + lba)).ok());
  EXPECT_TRUE(disk.full());
  EXPECT_EQ(write(7, 0x77).error(), Error::out_of_memory);
  EXPECT_EQ(read(disk, 7), sector_of(7));  // unchanged
  ASSERT_TRUE(write(14, 0x41).ok());       // already copied: still writable
  EXPECT_EQ(read(disk, 14), sector_of(0x41));
  for (std::uint64_t lba : {9u, 2u, 0u}) EXPECT_EQ(read(disk, lba), sector_of(static_cast<std::uint8_t>(0xf0 + lba)));
  for (std::uint64_t lba : {1u, 3u, 8u, 10u, 15u}) EXPECT_EQ(read(disk, lba), sector_of(static_cast<std::uint8_t>(lba)));
  EXPECT_EQ(bytes, pristine);
}

TEST_F(CowTest, AccessesPastTheEndAreRefused) {
  std::uint8_t buf[kSectorSize];
  EXPECT_EQ(disk.read_sector(16, buf).error(), Error::invalid_argument);
  EXPECT_EQ(write(16, 0).error(), Error::invalid_argument);
  EXPECT_EQ(disk.used(), 0u);
}

TEST_F(CowTest, DiscardForgetsEveryWrite) {
  ASSERT_TRUE(write(3, 0x33).ok());
  disk.discard();
  EXPECT_EQ(read(disk, 3), sector_of(3));
  EXPECT_EQ(disk.used(), 0u);
}

TEST(CowDiskCapacity, IsTheSmallerOfPoolAndIndex) {
  std::vector<std::uint8_t> bytes = image(8);
  MemoryImage img(bytes);
  std::vector<std::uint8_t> pool(3 * kSectorSize + 100);  // 3 whole sectors
  std::vector<CowDisk::IndexEntry> index(5);
  CowDisk disk(img, pool, index);
  EXPECT_EQ(disk.capacity(), 3u);
  std::vector<CowDisk::IndexEntry> small(2);
  CowDisk disk2(img, pool, small);
  EXPECT_EQ(disk2.capacity(), 2u);
  std::vector<std::uint8_t> d = sector_of(1);
  ASSERT_TRUE(disk2.write_sector(0, d.data()).ok());
  ASSERT_TRUE(disk2.write_sector(1, d.data()).ok());
  EXPECT_EQ(disk2.write_sector(2, d.data()).error(), Error::out_of_memory);
}

}  // namespace
}  // namespace hvlab::dev

namespace hvlab::dev {
namespace {

TEST(TestDisk, EveryByteIsAFunctionOfItsPlace) {
  TestDisk disk;
  EXPECT_EQ(disk.sector_count(), kTestDiskSectors);
  std::uint8_t a[kSectorSize], b[kSectorSize];
  ASSERT_TRUE(disk.read_sector(0, a).ok());
  ASSERT_TRUE(disk.read_sector(kTestDiskSectors - 1, b).ok());
  // Word 0 of sector 0 is the constant alone: "blvh" in memory.
  EXPECT_EQ(std::string(reinterpret_cast<char*>(a), 4), "blvh");
  EXPECT_NE(std::memcmp(a, b, kSectorSize), 0);
  for (std::uint32_t i = 0; i < kSectorSize; ++i) EXPECT_EQ(b[i], test_disk_byte(kTestDiskSectors - 1, i)) << i;
  EXPECT_EQ(disk.read_sector(kTestDiskSectors, a).error(), Error::invalid_argument);
  EXPECT_EQ(disk.write_sector(0, a).error(), Error::unsupported);
}

TEST(TestDisk, NoTwoWordsAlike) {
  std::set<std::uint32_t> seen;
  for (std::uint32_t s = 0; s < kTestDiskSectors; ++s)
    for (std::uint32_t w = 0; w < kSectorSize / 4; ++w) seen.insert(test_disk_word(s, w));
  EXPECT_EQ(seen.size(), kTestDiskSectors * (kSectorSize / 4));
}

}  // namespace
}  // namespace hvlab::dev
