// hostile_map_foreign: builds page tables that point at physical frames it does not own
// (far above its RAM and at the top of physical memory) and reads and writes through them.

#include "autograder/guests/hostile/hostile.hpp"
#include "common/boot/kernel.hpp"

using namespace hvlab;

namespace {
alignas(4096) std::uint32_t g_pt[1024];
}

int kernel_main(const BootInfo&) {
  hostile::announce("map_foreign",
                    "a 4 MiB PDE at virtual 0x80000000 for physical 0x20000000, and 4 KiB PTEs at 0x80400000 for "
                    "physical 0x04000000 (just above 64 MiB), 0x3ffff000 and 0xfc000000, then writes through them");
  std::uint32_t* pd = hostile::identity_page_directory();
  pd[0x80000000u >> 22] = hostile::large_pde(0x20000000);
  g_pt[0] = 0x04000000 | 0x3;
  g_pt[1] = 0x3ffff000 | 0x3;
  g_pt[2] = 0xfc000000 | 0x3;
  pd[0x80400000u >> 22] = reinterpret_cast<std::uint32_t>(g_pt) | 0x3;
  hostile::enable_paging(pd);
  static const std::uint32_t vas[] = {0x80000000, 0x80123000, 0x80400000, 0x80401000, 0x80402000};
  for (std::uint32_t va : vas) {
    volatile std::uint32_t* p = reinterpret_cast<volatile std::uint32_t*>(va);
    for (unsigned i = 0; i < 1024; ++i) p[i] = 0xdeadbeef;
    kprintf("# hostile_map_foreign: wrote 4 KiB at virtual 0x%08x, reads back 0x%08x\n", va, p[0]);
  }
  return hostile::completed("map_foreign", "every access through a foreign frame returned");
}
