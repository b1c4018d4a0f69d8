// The test guest: a 32-bit protected-mode kernel that runs the behaviour suite and reports
// it in KTAP on COM1. Command line: first=K (run K..N), only=NAME, nonce=HEX.

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

int kernel_main(const hvlab::BootInfo& boot) {
  using namespace hvlab::guest;
  g_ram_top = usable_ram_top(boot);
  static const TestGroup groups[] = {kPrivGroup, kSensGroup,  kIntrGroup, kExcGroup, kPagingGroup,
                                     kUserGroup, kDevGroup,   kSmcGroup,  kTscGroup};
  return run_suite(groups, sizeof groups / sizeof groups[0], run_options(boot), init);
}
