#pragma once
// Student exercises. In the reference tree each exercise's code sits in a solution region:
//
//   // BEGIN SOLUTION lab01-e3
//   ... the reference code ...
//   // STUB: return hvlab::vmm::Action::stop;      (optional lines, uncommented in the handout)
//   // END SOLUTION
//
// The handout generator replaces the region with HV_NOT_IMPLEMENTED("lab01-e3"); followed by
// the STUB lines, so an unfinished exercise stops at once with its name, never hangs: in a
// kernel it panics ("not implemented: lab01-e3", the grader names the exercise from that);
// on the host it throws, so a unit-test program fails the tests that reach the stub and runs
// the rest, ending with its summary.
//
// A region marked `// BEGIN SOLUTION lab01-e2 degraded` is one the monitor's own set-up
// passes through: stopping there would stop every test, so the handout's stub says once on
// the debug console that the exercise is not done and goes on with the STUB lines (which
// must then do something harmless: skip the instruction, deliver nothing). Its own tests
// fail, the others run. On the host it throws like HV_NOT_IMPLEMENTED.

#include "common/runtime/panic.hpp"

namespace hvlab {

/// Stops at an exercise the student has not done yet (see above).
[[noreturn]] void not_implemented(const char* file, int line, const char* exercise);

/// Notes, once per place, that an exercise the set-up passes through is not done (see above).
void not_done(const char* file, int line, const char* exercise);

}  // namespace hvlab

// The flag is set after the call: on the host not_done() throws, every time.
#define HV_NOT_DONE(exercise)                          \
  do {                                                 \
    static bool hv_said_;                              \
    if (!hv_said_) {                                   \
      ::hvlab::not_done(__FILE__, __LINE__, exercise); \
      hv_said_ = true;                                 \
    }                                                  \
  } while (0)
#define HV_NOT_IMPLEMENTED(exercise) ::hvlab::not_implemented(__FILE__, __LINE__, exercise)
