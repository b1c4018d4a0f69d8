// The test guest: a 32-bit protected-mode kernel that runs the behaviour suite and reports
// it in KTAP on COM1. Command line: first=K (run K..N), only=NAME, nonce=HEX, seed=HEX (the
// order of the tests and the values of their data, order.hpp).

#include "autograder/guests/suite/order.hpp"
#include "autograder/guests/suite/suite.hpp"
#include "common/boot/kernel.hpp"

namespace hvlab::guest {
extern const TestGroup kPrivGroup, kSensGroup, kIntrGroup, kExcGroup, kPagingGroup, kUserGroup, kDevGroup,
    kSmcGroup, kTscGroup;

namespace {
std::uint32_t g_ram_top;
void init() { init_machine(g_ram_top); }
}  // namespace
}  // namespace hvlab::guest

// The tests in the order of the source: the grader reads this table from the ELF file (its
// symbol, the groups, the names and the code of each test) to check the order a seed gives.
extern "C" const hvlab::guest::TestGroup* const hvlab_suite_groups[] = {
    &hvlab::guest::kPrivGroup,   &hvlab::guest::kSensGroup, &hvlab::guest::kIntrGroup,
    &hvlab::guest::kExcGroup,    &hvlab::guest::kPagingGroup, &hvlab::guest::kUserGroup,
    &hvlab::guest::kDevGroup,    &hvlab::guest::kSmcGroup,  &hvlab::guest::kTscGroup};

int kernel_main(const hvlab::BootInfo& boot) {
  using namespace hvlab::guest;
  g_ram_top = usable_ram_top(boot);
  return run_suite(hvlab_suite_groups, sizeof hvlab_suite_groups / sizeof hvlab_suite_groups[0], run_options(boot),
                   init);
}
