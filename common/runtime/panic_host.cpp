// panic on the host: print and abort, so GoogleTest death tests can observe it.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "common/runtime/panic.hpp"

namespace hvlab {

void panic_at(const char* file, int line, const char* fmt, ...) {
  std::fprintf(stderr, "PANIC at %s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::abort();
}

}  // namespace hvlab
