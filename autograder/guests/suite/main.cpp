// The test guest: a 32-bit protected-mode kernel that runs the behaviour suite and reports
// it in KTAP on COM1. Command line: first=K (run K..N), only=NAME, nonce=HEX.

#include "autograder/guests/suite/suite.hpp"
#include "common/boot/kernel.hpp"

namespace hvlab::guest {
extern const TestGroup kPrivGroup, kSensGroup, kIntrGroup, kExcGroup, kPagingGroup, kUserGroup, kDevGroup,
    kSmcGroup, kTscGroup, kPcGroup;

namespace {

std::uint32_t g_ram_top = 16u << 20;

void init() {
  setup_descriptor_tables();
  setup_paging(g_ram_top);
  calibrate_tsc();
  timer_program_default();
}

// Decimal, for first=K; 0 on anything else.
unsigned parse_unsigned(const char* s) {
  unsigned v = 0;
  for (; *s; ++s) {
    if (*s < '0' || *s > '9') return 0;
    v = v * 10 + static_cast<unsigned>(*s - '0');
  }
  return v;
}

}  // namespace
}  // namespace hvlab::guest

int kernel_main(const hvlab::BootInfo& boot) {
  using namespace hvlab::guest;
  // The multiboot information may sit in memory the tests use later: copy what we need.
  static char first_buf[16], only_buf[64], nonce_buf[80];
  RunOptions opt;
  if (boot.cmdline_option("first", first_buf, sizeof first_buf)) {
    unsigned k = parse_unsigned(first_buf);
    if (k) opt.first = k;
  }
  if (boot.cmdline_option("only", only_buf, sizeof only_buf)) opt.only = only_buf;
  const char* nonce = boot.cmdline_option("nonce", nonce_buf, sizeof nonce_buf) ? nonce_buf : nullptr;

  // Identity-map up to the end of the highest usable RAM range below 3 GiB.
  std::uint64_t top = 0;
  for (unsigned i = 0; i < boot.range_count; ++i) {
    const auto& r = boot.ranges[i];
    if (r.type != 1) continue;
    std::uint64_t end = r.base + r.length;
    if (end > 0xc0000000ull) end = 0xc0000000ull;
    if (end > top) top = end;
  }
  if (top == 0 && boot.mem_upper_kib) top = (std::uint64_t{boot.mem_upper_kib} << 10) + 0x100000;
  if (top) g_ram_top = static_cast<std::uint32_t>(top);  // else assume 16 MiB

  static const TestGroup groups[] = {kPrivGroup, kSensGroup,  kIntrGroup, kExcGroup, kPagingGroup,
                                     kUserGroup, kDevGroup,   kSmcGroup,  kTscGroup, kPcGroup};
  return run_suite(groups, sizeof groups / sizeof groups[0], opt, nonce, init);
}
