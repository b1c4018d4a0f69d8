#include "common/runtime/heap.hpp"

#include "common/runtime/panic.hpp"

namespace hvlab::rt {

namespace {
constexpr std::uintptr_t align_up(std::uintptr_t v, std::size_t a) { return (v + a - 1) & ~(a - 1); }
}  // namespace

void Heap::init(void* base, std::size_t size) {
  begin_ = align_up(reinterpret_cast<std::uintptr_t>(base), kAlign);
  end_ = (reinterpret_cast<std::uintptr_t>(base) + size) & ~(kAlign - 1);
  free_list_ = nullptr;
  used_ = 0;
  if (end_ <= begin_ + kHeader) return;
  free_list_ = reinterpret_cast<Block*>(begin_);
  free_list_->size = end_ - begin_;
  free_list_->magic = kFreeMagic;
  free_list_->next = nullptr;
}

void* Heap::allocate(std::size_t size, std::size_t align) {
  if (size == 0) size = 1;
  if (align < kAlign) align = kAlign;
  if ((align & (align - 1)) != 0 || size > end_ - begin_) return nullptr;
  size = align_up(size, kAlign);

  for (Block** link = &free_list_; *link; link = &(*link)->next) {
    Block* b = *link;
    auto start = reinterpret_cast<std::uintptr_t>(b);
    std::uintptr_t payload = align_up(start + kHeader, align);
    // A gap before an over-aligned payload must itself hold a free block, or be empty.
    if (payload - kHeader != start && payload - kHeader - start < kHeader + kAlign) {
      payload = align_up(start + 2 * kHeader + kAlign, align);
    }
    std::uintptr_t block_start = payload - kHeader;
    std::uintptr_t block_end = payload + size;
    if (block_end > start + b->size) continue;

    std::uintptr_t end = start + b->size;
    Block* after = b->next;
    // Leftover at the tail becomes a free block when large enough, else stays in this one.
    if (end - block_end >= kHeader + kAlign) {
      auto* tail = reinterpret_cast<Block*>(block_end);
      tail->size = end - block_end;
      tail->magic = kFreeMagic;
      tail->next = after;
      after = tail;
    } else {
      block_end = end;
    }
    if (block_start != start) {
      b->size = block_start - start;  // the head gap stays free
      b->next = after;
    } else {
      *link = after;
    }
    auto* used = reinterpret_cast<Block*>(block_start);
    used->size = block_end - block_start;
    used->magic = kUsedMagic;
    used->next = nullptr;
    used_ += used->size;
    return reinterpret_cast<void*>(payload);
  }
  return nullptr;
}

void Heap::free(void* p) {
  if (!p) return;
  auto addr = reinterpret_cast<std::uintptr_t>(p);
  if (addr < begin_ + kHeader || addr >= end_ || (addr & (kAlign - 1)) != 0) {
    HV_PANIC("heap: free of %p, which is not a heap block", p);
  }
  auto* b = reinterpret_cast<Block*>(addr - kHeader);
  if (b->magic != kUsedMagic) {
    HV_PANIC("heap: free of %p: %s", p, b->magic == kFreeMagic ? "double free" : "not a live block");
  }
  used_ -= b->size;
  b->magic = kFreeMagic;

  // Insert in address order, then merge with the neighbours.
  Block** link = &free_list_;
  Block* prev = nullptr;
  while (*link && *link < b) {
    prev = *link;
    link = &(*link)->next;
  }
  b->next = *link;
  *link = b;
  if (b->next && reinterpret_cast<std::uintptr_t>(b) + b->size == reinterpret_cast<std::uintptr_t>(b->next)) {
    b->size += b->next->size;
    b->next = b->next->next;
  }
  if (prev && reinterpret_cast<std::uintptr_t>(prev) + prev->size == reinterpret_cast<std::uintptr_t>(b)) {
    prev->size += b->size;
    prev->next = b->next;
  }
}

std::size_t Heap::bytes_free() const {
  std::size_t n = 0;
  for (Block* b = free_list_; b; b = b->next) n += b->size;
  return n;
}

std::size_t Heap::free_blocks() const {
  std::size_t n = 0;
  for (Block* b = free_list_; b; b = b->next) ++n;
  return n;
}

}  // namespace hvlab::rt
