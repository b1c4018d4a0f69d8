// The C names the compiler may emit calls to, even in freestanding code (struct copies,
// zero-initialisation), and the C++ ABI hooks a kernel without libstdc++ must provide.

#include <cstddef>
#include <cstdint>

#include "common/runtime/panic.hpp"
#include "common/runtime/string.hpp"

extern "C" {

void* memcpy(void* d, const void* s, std::size_t n) { return hvlab::rt::mem_copy(d, s, n); }
void* memmove(void* d, const void* s, std::size_t n) { return hvlab::rt::mem_move(d, s, n); }
void* memset(void* d, int v, std::size_t n) { return hvlab::rt::mem_set(d, v, n); }
int memcmp(const void* a, const void* b, std::size_t n) { return hvlab::rt::mem_compare(a, b, n); }
std::size_t strlen(const char* s) { return hvlab::rt::str_length(s); }
int strcmp(const char* a, const char* b) { return hvlab::rt::str_compare(a, b); }
int strncmp(const char* a, const char* b, std::size_t n) { return hvlab::rt::str_compare_n(a, b, n); }

// Stack protector (-fstack-protector-strong with a global guard). The boot code mixes the
// TSC into the guard before any protected function that returns runs.
std::uintptr_t __stack_chk_guard = 0x595e9fbd;
[[noreturn]] void __stack_chk_fail() { HV_PANIC("stack smashing detected"); }

// A call through a pure virtual function: a bug, never a hang.
[[noreturn]] void __cxa_pure_virtual() { HV_PANIC("pure virtual function called"); }

// Static destructors are never run (kernels do not return to anyone who would run them).
int atexit(void (*)()) { return 0; }
void* __dso_handle = nullptr;

}  // extern "C"
