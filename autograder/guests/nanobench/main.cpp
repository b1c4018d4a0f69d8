// The nanobenchmark guest: times privileged and sensitive operations, and one kernel-heavy
// workload, with the TSC, and reports the figures in KTAP on COM1. Command line: n=N
// (operations per nanobenchmark), work=N (user instructions per process and round of the
// macro workload, default 0), only=NAME, first=K, nonce=HEX. autograder/guests/README.md
// describes the benchmarks and the output.

#include "autograder/guests/nanobench/nanobench.hpp"
#include "common/boot/kernel.hpp"

namespace hvlab::guest::nanobench {

extern const TestGroup kMicroGroup, kMacroGroup;

namespace {
// A bare run takes about 0.3 s on QEMU and 2 s on Bochs.
constexpr std::uint32_t kDefaultOps = 10000, kMaxOps = 1000000, kMaxWork = 100000000;
std::uint32_t g_ops = kDefaultOps;
std::uint32_t g_work = 0;
std::uint32_t g_ram_top;

void init() {
  init_machine(g_ram_top);
  open_to_user(reinterpret_cast<std::uint32_t>(nb_user_begin), reinterpret_cast<std::uint32_t>(nb_user_end));
  kprintf("# nanobench: n=%u operations per nanobenchmark, %u rounds of the macro workload with work=%u user "
          "instructions per process and round, TSC %u kHz\n",
          g_ops, macro_rounds(), g_work, static_cast<unsigned>(tsc_per_ms()));
}
}  // namespace

std::uint32_t ops() { return g_ops; }
std::uint32_t macro_rounds() { return g_ops >= 10 ? g_ops / 10 : 1; }
std::uint32_t work() { return g_work; }

void report(std::uint64_t cycles, std::uint32_t ops, const char* key, std::uint32_t value) {
  // Hundredths, rounded to nearest, in integers (the kernel has no floating point).
  const std::uint64_t hundredths = (cycles * 100 + ops / 2) / ops;
  const auto whole = static_cast<unsigned long long>(hundredths / 100);
  const auto frac = static_cast<unsigned>(hundredths % 100);
  const auto total = static_cast<unsigned long long>(cycles);
  if (key) result_comment("cycles_per_op=%llu.%02u ops=%u cycles=%llu %s=%u", whole, frac, ops, total, key, value);
  else result_comment("cycles_per_op=%llu.%02u ops=%u cycles=%llu", whole, frac, ops, total);
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
  malformed = false;
  if ((boot.cmdline_unsigned("work", &g_work, &malformed) && g_work > kMaxWork) || malformed) {
    hvlab::kprintf("KTAP version 1\n1..0\nBail out! nanobench: work= takes user instructions per round from 0 to %u\n",
                   kMaxWork);
    return hvlab::exit_status::kFailure;
  }
  g_ram_top = usable_ram_top(boot);

  static const TestGroup* const groups[] = {&kMicroGroup, &kMacroGroup};
  return run_suite(groups, sizeof groups / sizeof groups[0], run_options(boot), init);
}
