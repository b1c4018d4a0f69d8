#include "autograder/guests/hostile/hostile.hpp"

#include "common/arch/intrinsics.hpp"
#include "common/boot/console.hpp"

namespace hvlab::hostile {

namespace {
alignas(4096) std::uint32_t g_pd[1024];
}

void announce(const char* name, const char* what) {
  kprintf("KTAP version 1\n1..1\n");
  announce_more(name, what);
}

void announce_more(const char* name, const char* what) { kprintf("# hostile_%s: attempting %s\n", name, what); }

int completed(const char* name, const char* detail) {
  kprintf("# hostile_%s: the attempt completed, nothing stopped it: %s\n", name, detail);
  kprintf("ok 1 hostile_%s # attempt completed\n", name);
  return 0;
}

std::uint32_t* identity_page_directory() {
  for (unsigned i = 0; i < 1024; ++i) g_pd[i] = i < 16 ? large_pde(i << 22) : 0;
  return g_pd;
}

void enable_paging(std::uint32_t* pd) {
  x86::write_cr4(x86::read_cr4() | x86::cr4::PSE);
  x86::write_cr3(reinterpret_cast<std::uint32_t>(pd));
  x86::write_cr0(x86::read_cr0() | x86::cr0::PG);
}

}  // namespace hvlab::hostile
