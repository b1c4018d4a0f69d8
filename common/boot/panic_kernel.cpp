// panic in a kernel: the message on the console and the debug console, then a stop with
// exit_status::kPanic, so the runner reports it instead of waiting for a timeout.
#include <cstdarg>

#include "common/arch/intrinsics.hpp"
#include "common/boot/console.hpp"
#include "common/runtime/exercise.hpp"
#include "common/runtime/panic.hpp"

namespace hvlab {

void panic_at(const char* file, int line, const char* fmt, ...) {
  x86::cli();
  static bool nested = false;
  if (!nested) {
    nested = true;
    va_list ap;
    va_start(ap, fmt);
    char msg[256];
    vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kprintf("\nPANIC at %s:%d: %s\n", file, line, msg);
    dprintf("PANIC at %s:%d: %s\n", file, line, msg);
  }
  machine_exit(exit_status::kPanic);
}

void not_done(const char* file, int line, const char* exercise) {
  // The debug console only: COM1 is the guest's.
  dprintf("%s not done yet (at %s:%d): the monitor goes on without it\n", exercise, file, line);
}

void not_implemented(const char* file, int line, const char* exercise) {
  panic_at(file, line, "not implemented: %s", exercise);
}

}  // namespace hvlab
