#pragma once
// The nanobenchmark guest: what its files share. It runs on the test guests' kernel
// (suite/suite.hpp: machine set-up, KTAP runner, trap capture, user processes); every
// privileged or sensitive operation goes through the CPU-operations layer (cpuops.hpp), so
// a paravirtual flavour links in place of the native one. See autograder/guests/README.md.

#include <cstdint>

#include "autograder/guests/nanobench/syscalls.h"
#include "autograder/guests/suite/suite.hpp"

namespace hvlab::guest::nanobench {

static_assert(NB_SYS_EXIT == sys::kExit);

/// Operations per nanobenchmark (n= on the command line).
std::uint32_t ops();
/// Rounds of the macro workload: ops() / 10, at least 1.
std::uint32_t macro_rounds();
/// Instructions of user computation per process and round of the macro workload (work=),
/// run as turns of a loop of kWorkTurnInstructions instructions.
std::uint32_t work();
inline constexpr std::uint32_t kWorkTurnInstructions = 3;

/// TSC ticks that f() took.
template <class F>
std::uint64_t timed(F f) {
  const std::uint64_t start = cpu::rdtsc();
  f();
  return cpu::rdtsc() - start;
}
/// Puts the figures on the test's KTAP result line:
/// "ok N name # cycles_per_op=C.CC ops=OPS cycles=TOTAL", then " KEY=VALUE" when a key is
/// given (a parameter of the run that a reader needs to tell runs apart).
void report(std::uint64_t cycles, std::uint32_t ops, const char* key = nullptr, std::uint32_t value = 0);

// Each benchmark installs its trap handlers with set_trap_handler() and keeps the handler it
// replaced, to call for every trap that is not its own: that is the runner's, so an
// unexpected trap fails the benchmark with a diagnostic. The runner's reset between tests
// puts its own handlers back.

}  // namespace hvlab::guest::nanobench

// probes.S
extern "C" {
void nb_divide_probe();
extern char nb_divide_site[], nb_divide_resume[];
std::uint32_t nb_read_probe(std::uint32_t address);
void nb_null();
extern char nb_user_begin[], nb_user_end[];
void nb_user_syscalls();
void nb_user_process();
}
