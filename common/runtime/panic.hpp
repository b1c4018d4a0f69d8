#pragma once
// panic and assert with file and line. In a kernel they print to the console and stop the
// machine with a failure status; on the host they print to stderr and abort (so GoogleTest
// death tests can check them).

namespace hvlab {

[[noreturn]] void panic_at(const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

}  // namespace hvlab

#define HV_PANIC(...) ::hvlab::panic_at(__FILE__, __LINE__, __VA_ARGS__)

#define HV_ASSERT(cond)                                                    \
  do {                                                                     \
    if (!(cond)) ::hvlab::panic_at(__FILE__, __LINE__, "assertion failed: %s", #cond); \
  } while (0)
