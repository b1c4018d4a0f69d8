#pragma once
// Memory and string primitives. Kernels get the C names (memcpy, memset, ...) from
// libc_shim.cpp, which forwards here; on the host the same code is tested directly.

#include <cstddef>

namespace hvlab::rt {

void* mem_copy(void* dst, const void* src, std::size_t n);
void* mem_move(void* dst, const void* src, std::size_t n);
void* mem_set(void* dst, int value, std::size_t n);
int mem_compare(const void* a, const void* b, std::size_t n);
std::size_t str_length(const char* s);
std::size_t str_length_bounded(const char* s, std::size_t max);
int str_compare(const char* a, const char* b);
int str_compare_n(const char* a, const char* b, std::size_t n);
/// Finds `needle` in `haystack`; nullptr when absent.
const char* str_find(const char* haystack, const char* needle);

}  // namespace hvlab::rt
