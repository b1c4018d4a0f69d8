/* Zycore's C library for Zydis inside the kernels (ZYAN_CUSTOM_LIBC, see Zycore/LibC.h).
 * Without it (ZYAN_NO_LIBC alone) Zydis zeroes and copies its structures with Zycore's
 * volatile byte loops: a decode then spends most of its instructions clearing about a
 * kilobyte a byte at a time. These are the kernels' own memcpy, memset, ...
 * (common/runtime/libc_shim.cpp), which store words. Included first in every Zydis source
 * (cmake/zydis.cmake). */
#ifndef HVLAB_ZYDIS_LIBC_H
#define HVLAB_ZYDIS_LIBC_H

#define ZYAN_CUSTOM_LIBC

#include <stdarg.h>
#include <stddef.h>

typedef va_list ZyanVAList;
#define ZYAN_VA_START va_start
#define ZYAN_VA_ARG va_arg
#define ZYAN_VA_END va_end
#define ZYAN_VA_COPY(dest, source) va_copy((dest), (source))

void* memcpy(void* dst, const void* src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
void* memset(void* dst, int value, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
int strcmp(const char* a, const char* b);
int strncmp(const char* a, const char* b, size_t n);

#define ZYAN_MEMCPY memcpy
#define ZYAN_MEMMOVE memmove
#define ZYAN_MEMSET memset
#define ZYAN_MEMCMP memcmp
#define ZYAN_STRLEN strlen
#define ZYAN_STRCMP strcmp
#define ZYAN_STRNCMP strncmp

#endif
