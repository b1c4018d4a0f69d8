// The nanobenchmark guest: times privileged and sensitive operations, and one kernel-heavy
// workload, with the TSC, and reports the figures in KTAP on COM1. Command line: n=N
// (operations per nanobenchmark), only=NAME, first=K, nonce=HEX. autograder/guests/README.md
// describes the benchmarks and the output.

#include "autograder/guests/nanobench/nanobench.hpp"
#include "common/boot/kernel.hpp"

namespace hvlab::guest::nanobench {

extern const TestGroup kMicroGroup, kMacroGroup;

namespace {
// A bare run takes about 0.3 s on QEMU and 2 s on Bochs.
constexpr std::uint32_t kDefaultOps = 10000, kMaxOps = 1000000;
std::uint32_t g_ops = kDefaultOps;
std::uint32_t g_ram_top;

void init() {
  init_machine(g_ram_top);
  open_to_user(reinterpret_cast<std::uint32_t>(nb_user_begin), reinterpret_cast<std::uint32_t>(nb_user_end));
  kprintf("# nanobench: n=%u operations per nanobenchmark, %u rounds of the macro workload, TSC %u kHz\n", g_ops,
          macro_rounds(), static_cast<unsigned>(tsc_per_ms()));
}
}  // namespace

std::uint32_t ops() { return g_ops; }
std::uint32_t macro_rounds() { return g_ops >= 10 ? g_ops / 10 : 1; }

void report(std::uint64_t cycles, std::uint32_t ops) {
  // Hundredths, rounded to nearest, in integers (the kernel has no floating point).
  const std::uint64_t hundredths = (cycles * 100 + ops / 2) / ops;
  result_comment("cycles_per_op=%llu.%02u ops=%u cycles=%llu", static_cast<unsigned long long>(hundredths / 100),
                 static_cast<unsigned>(hundredths % 100), ops, static_cast<unsigned long long>(cycles));
}

}  // namespace hvlab::guest::nanobench

int kernel_main(const hvlab::BootInfo& boot) {
  using namespace hvlab::guest;
  using namespace hvlab::guest::nanobench;
  bool malformed = false;
  if ((boot.cmdline_unsigned("n", &g_ops, &malformed) && (g_ops == 0 || g_ops > kMaxOps)) || malformed) {
    hvlab::kprintf("KTAP version 1\n1..0\nBail out! nanobench: n= takes a number of operations from 1 to %u\n",
                   kMaxOps);
    return hvlab::exit_status::kFailure;
  }
  g_ram_top = usable_ram_top(boot);

  static const TestGroup* const groups[] = {&kMicroGroup, &kMacroGroup};
  return run_suite(groups, sizeof groups / sizeof groups[0], run_options(boot), init);
}
