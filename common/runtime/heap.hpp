#pragma once
// A simple first-fit allocator over one region, with coalescing on free. Kernels put
// operator new over a global instance; monitors use it for small long-lived objects.

#include <cstddef>
#include <cstdint>

namespace hvlab::rt {

class Heap {
 public:
  static constexpr std::size_t kAlign = 16;

  Heap() = default;
  /// Takes `size` bytes at `base` (need not be aligned). Call once.
  void init(void* base, std::size_t size);
  /// nullptr when no free block is large enough.
  void* allocate(std::size_t size, std::size_t align = kAlign);
  /// Frees a block from allocate(); nullptr is ignored; a pointer that is not a live block
  /// panics (double free, or a stray pointer).
  void free(void* p);

  std::size_t bytes_free() const;
  std::size_t bytes_used() const { return used_; }
  std::size_t free_blocks() const;

 private:
  struct Block {
    std::size_t size;  // bytes, header included
    std::uint32_t magic;
    Block* next;       // free list only, address order
  };
  static constexpr std::uint32_t kFreeMagic = 0xf4eeb10c;
  static constexpr std::uint32_t kUsedMagic = 0xa110ca7e;
  static constexpr std::size_t kHeader = (sizeof(Block) + kAlign - 1) & ~(kAlign - 1);

  Block* free_list_ = nullptr;
  std::uintptr_t begin_ = 0, end_ = 0;
  std::size_t used_ = 0;
};

/// The kernel's heap (operator new); initialised by the boot code.
Heap& kernel_heap();

}  // namespace hvlab::rt
