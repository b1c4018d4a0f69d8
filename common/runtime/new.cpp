// operator new and delete for kernels, over the kernel heap. Allocation failure is a panic:
// kernels are built without exceptions and callers do not check for nullptr.

#include <cstddef>
#include <new>

#include "common/runtime/heap.hpp"
#include "common/runtime/panic.hpp"

namespace hvlab::rt {

namespace {
alignas(16) unsigned char g_arena[1 << 20];
Heap g_heap;
bool g_ready = false;
}  // namespace

Heap& kernel_heap() {
  if (!g_ready) {
    g_heap.init(g_arena, sizeof g_arena);
    g_ready = true;
  }
  return g_heap;
}

}  // namespace hvlab::rt

namespace {
void* checked_alloc(std::size_t n, std::size_t align = hvlab::rt::Heap::kAlign) {
  void* p = hvlab::rt::kernel_heap().allocate(n, align);
  if (!p) HV_PANIC("out of memory: operator new(%zu)", n);
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return checked_alloc(n); }
void* operator new[](std::size_t n) { return checked_alloc(n); }
void* operator new(std::size_t n, std::align_val_t a) { return checked_alloc(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { hvlab::rt::kernel_heap().free(p); }
void operator delete[](void* p) noexcept { hvlab::rt::kernel_heap().free(p); }
void operator delete(void* p, std::size_t) noexcept { hvlab::rt::kernel_heap().free(p); }
void operator delete[](void* p, std::size_t) noexcept { hvlab::rt::kernel_heap().free(p); }
void operator delete(void* p, std::align_val_t) noexcept { hvlab::rt::kernel_heap().free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { hvlab::rt::kernel_heap().free(p); }
