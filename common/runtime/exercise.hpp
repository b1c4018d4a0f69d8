#pragma once
// Student exercises. In the reference tree each exercise's code sits in a solution region:
//
//   // BEGIN SOLUTION lab01-e3
//   ... the reference code ...
//   // STUB: return hvlab::vmm::Action::stop;      (optional lines, uncommented in the handout)
//   // END SOLUTION
//
// The handout generator replaces the region with HV_NOT_IMPLEMENTED("lab01-e3"); followed by
// the STUB lines, so an unfinished exercise stops at once with its name, never hangs.

#include "common/runtime/panic.hpp"

#define HV_NOT_IMPLEMENTED(exercise) ::hvlab::panic_at(__FILE__, __LINE__, "not implemented: %s", exercise)
