#include "common/runtime/string.hpp"

#include <cstdint>

namespace hvlab::rt {

void* mem_copy(void* dst, const void* src, std::size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  // Word copies when both are aligned: boot copies page-sized blocks often.
  if (((reinterpret_cast<std::uintptr_t>(d) | reinterpret_cast<std::uintptr_t>(s)) & 3) == 0) {
    for (; n >= 4; n -= 4, d += 4, s += 4) {
      *reinterpret_cast<std::uint32_t*>(d) = *reinterpret_cast<const std::uint32_t*>(s);
    }
  }
  while (n--) *d++ = *s++;
  return dst;
}

void* mem_move(void* dst, const void* src, std::size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  if (d == s || n == 0) return dst;
  if (d < s || d >= s + n) return mem_copy(dst, src, n);
  // Overlap with dst above src: copy backwards.
  while (n--) d[n] = s[n];
  return dst;
}

void* mem_set(void* dst, int value, std::size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  // Word stores once aligned: monitors clear page tables and directories at every reset.
  while (n && (reinterpret_cast<std::uintptr_t>(d) & 3)) *d++ = static_cast<unsigned char>(value), --n;
  const std::uint32_t word = 0x01010101u * static_cast<unsigned char>(value);
  for (; n >= 4; n -= 4, d += 4) *reinterpret_cast<std::uint32_t*>(d) = word;
  while (n--) *d++ = static_cast<unsigned char>(value);
  return dst;
}

int mem_compare(const void* a, const void* b, std::size_t n) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

std::size_t str_length(const char* s) {
  std::size_t n = 0;
  while (s[n]) ++n;
  return n;
}

std::size_t str_length_bounded(const char* s, std::size_t max) {
  std::size_t n = 0;
  while (n < max && s[n]) ++n;
  return n;
}

int str_compare(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
}

int str_compare_n(const char* a, const char* b, std::size_t n) {
  for (; n; --n, ++a, ++b) {
    if (*a != *b) return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
    if (!*a) return 0;
  }
  return 0;
}

const char* str_find(const char* haystack, const char* needle) {
  std::size_t n = str_length(needle);
  for (; *haystack; ++haystack) {
    if (str_compare_n(haystack, needle, n) == 0) return haystack;
  }
  return n == 0 ? haystack : nullptr;
}

}  // namespace hvlab::rt
