#include "common/runtime/heap.hpp"

#include "common/runtime/exercise.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

using hvlab::rt::Heap;

namespace {
struct HeapTest : ::testing::Test {
  alignas(16) unsigned char arena[64 * 1024];
  Heap heap;
  void SetUp() override { heap.init(arena, sizeof arena); }
};
}  // namespace

TEST_F(HeapTest, AllocationsAreAlignedAndDistinct) {
  void* a = heap.allocate(10);
  void* b = heap.allocate(10);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % Heap::kAlign, 0u);
  EXPECT_GE(static_cast<unsigned char*>(b) - static_cast<unsigned char*>(a), 16);
}
TEST_F(HeapTest, OverAlignedRequest) {
  heap.allocate(24);
  void* p = heap.allocate(100, 4096);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 4096, 0u);
}
TEST_F(HeapTest, ExhaustionReturnsNull) {
  EXPECT_EQ(heap.allocate(sizeof arena), nullptr);
  std::vector<void*> blocks;
  while (void* p = heap.allocate(1000)) blocks.push_back(p);
  EXPECT_GT(blocks.size(), 50u);
  EXPECT_EQ(heap.allocate(1000), nullptr);
}
TEST_F(HeapTest, FreeCoalescesBackToOneBlock) {
  std::size_t initial = heap.bytes_free();
  void* a = heap.allocate(100);
  void* b = heap.allocate(200);
  void* c = heap.allocate(300);
  heap.free(b);
  heap.free(a);
  heap.free(c);
  EXPECT_EQ(heap.bytes_free(), initial);
  EXPECT_EQ(heap.free_blocks(), 1u);
  EXPECT_EQ(heap.bytes_used(), 0u);
  EXPECT_NE(heap.allocate(sizeof arena - 64), nullptr);
}
TEST_F(HeapTest, ReusesFreedBlock) {
  void* a = heap.allocate(256);
  heap.allocate(16);
  heap.free(a);
  EXPECT_EQ(heap.allocate(200), a);
}
TEST_F(HeapTest, WritesDoNotCorruptNeighbours) {
  auto* a = static_cast<unsigned char*>(heap.allocate(64));
  auto* b = static_cast<unsigned char*>(heap.allocate(64));
  for (int i = 0; i < 64; ++i) a[i] = 0xaa, b[i] = 0xbb;
  heap.free(a);
  for (int i = 0; i < 64; ++i) ASSERT_EQ(b[i], 0xbb);
}
TEST_F(HeapTest, FreeNullIsIgnored) {
  heap.free(nullptr);
  EXPECT_EQ(heap.bytes_used(), 0u);
}
TEST_F(HeapTest, DoubleFreePanics) {
  void* a = heap.allocate(32);
  heap.free(a);
  EXPECT_DEATH(heap.free(a), "double free");
}
TEST_F(HeapTest, StrayPointerPanics) { EXPECT_DEATH(heap.free(arena + 5), "not a heap block"); }

// An exercise stub on the host: the test that reaches it fails with the exercise's name,
// and the program goes on with the next test.
TEST(ExerciseStub, ThrowsWithTheExercisesNameOnTheHost) {
  try {
    HV_NOT_IMPLEMENTED("lab09-e7");
    FAIL() << "the stub returned";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("not implemented: lab09-e7 (at "), std::string::npos) << e.what();
  }
}
