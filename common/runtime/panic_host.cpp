// panic on the host: print and abort, so GoogleTest death tests can observe it. An exercise
// stub throws instead, so one unfinished exercise fails only the tests that reach it.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "common/runtime/exercise.hpp"
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

void not_implemented(const char* file, int line, const char* exercise) {
  throw std::logic_error(std::string("not implemented: ") + exercise + " (at " + file + ":" + std::to_string(line) + ")");
}

void not_done(const char* file, int line, const char* exercise) { not_implemented(file, line, exercise); }

}  // namespace hvlab
