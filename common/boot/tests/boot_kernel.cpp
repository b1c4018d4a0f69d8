// The boot test kernel: proves that the common runtime, boot code and the freestanding
// Zydis work on a real (emulated) machine. Each check prints one line; the test runner
// matches them. Command-line options select deliberate failures:
//   fault=gp    an unexpected #GP (the dump and exit status 4 are checked)
//   panic=1     a panic (exit status 3)
//   smash=1     a stack-protector failure (exit status 3)

#include "common/arch/intrinsics.hpp"
#include "common/boot/kernel.hpp"
#include "common/boot/trap.hpp"
#include "common/decoder/decoder.hpp"
#include "common/runtime/panic.hpp"
#include "common/runtime/string.hpp"

using namespace hvlab;

namespace {

int g_failures = 0;

void check(bool ok, const char* what) {
  kprintf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++g_failures;
}

struct ConstructedAtBoot {
  ConstructedAtBoot() : value(0x600d) {}
  int value;
};
ConstructedAtBoot g_constructed;

volatile std::uint32_t g_ud_eip = 0, g_ud_count = 0;
void on_ud(TrapFrame& f) {
  g_ud_eip = f.eip;
  ++g_ud_count;
  f.eip += 2;  // skip the UD2
}

volatile std::uint32_t g_bp_count = 0;
void on_bp(TrapFrame&) { ++g_bp_count; }

[[gnu::noinline]] void smash_stack(const char* src) {
  char buf[8];
  // Deliberately past the end of buf: the canary must catch it.
  rt::mem_copy(buf, src, 32);
  asm volatile("" ::"r"(buf) : "memory");
}

void check_decoder() {
  decoder::Decoder d(decoder::Mode::k32);
  struct Case {
    std::uint8_t bytes[4];
    std::uint8_t len;
    const char* text;
  } cases[] = {
      {{0xfa}, 1, "cli"},
      {{0x0f, 0x22, 0xd8}, 3, "mov cr3, eax"},
      {{0x0f, 0x01, 0xc2}, 3, "vmlaunch"},
      {{0xec}, 1, "in al, dx"},
  };
  for (auto& c : cases) {
    char text[64];
    auto r = d.decode(c.bytes, c.len);
    bool ok = r.ok() && r.value().length() == c.len && d.format(r.value(), 0x100000, text, sizeof text) &&
              rt::str_compare(text, c.text) == 0;
    kprintf("zydis: %s\n", r.ok() ? text : "(undecodable)");
    check(ok, c.text);
  }
  std::uint8_t bad[] = {0x0f, 0xff};
  check(!d.decode(bad, sizeof bad).ok(), "zydis rejects an invalid opcode");
}

}  // namespace

int kernel_main(const BootInfo& boot) {
  kprintf("hvlab boot test\n");
  kprintf("cmdline: %s\n", boot.cmdline);

  check(g_constructed.value == 0x600d, "static constructors ran");

  std::uint64_t available = 0;
  for (unsigned i = 0; i < boot.range_count; ++i) {
    if (boot.ranges[i].type == 1) available += boot.ranges[i].length;
  }
  kprintf("memory: %u ranges, %u KiB available, kernel %08x-%08x\n", boot.range_count,
          static_cast<unsigned>(available >> 10), boot.kernel_start, boot.kernel_end);
  check(available >= 16u << 20, "memory map reports at least 16 MiB");

  int* numbers = new int[100];
  for (int i = 0; i < 100; ++i) numbers[i] = i * i;
  bool heap_ok = numbers[99] == 9801;
  delete[] numbers;
  check(heap_ok, "operator new and delete");

  char buf[64];
  format(buf, sizeof buf, "%08x|%-4s|%d|%5.2s|%llu", 0xbeefu, "ab", -42, "xyz", 1ull << 40);
  check(rt::str_compare(buf, "0000beef|ab  |-42|   xy|1099511627776") == 0, "formatter");

  check_decoder();

  set_trap_handler(x86::vector::UD, on_ud);
  asm volatile("ud2");
  check(g_ud_count == 1, "exception #UD caught and resumed");
  set_trap_handler(x86::vector::BP, on_bp);
  asm volatile("int3");
  check(g_bp_count == 1 && trap_count(x86::vector::BP) == 1, "exception #BP caught and resumed");

  char opt[16];
  if (boot.cmdline_option("fault", opt, sizeof opt) && rt::str_compare(opt, "gp") == 0) {
    kprintf("taking an unexpected #GP\n");
    asm volatile("mov %0, %%ds" ::"r"(0x1234) : "memory");  // a selector past the GDT limit
  }
  if (boot.cmdline_option("panic", opt, sizeof opt)) HV_PANIC("deliberate panic (%s)", opt);
  if (boot.cmdline_option("smash", opt, sizeof opt)) smash_stack("0123456789abcdef0123456789abcdef");

  if (g_failures) {
    kprintf("boot test: %d checks FAILED\n", g_failures);
    return exit_status::kFailure;
  }
  kprintf("boot test: all checks passed\n");
  return exit_status::kSuccess;
}
