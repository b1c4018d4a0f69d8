// hostile_outside_ram: reads, then writes, memory past the end of its own RAM (as the
// multiboot memory information gives it): the first page after it, then a page every
// 16 MiB up to 0xEF000000, below the top of the address space (read_monitor's part), paging
// off.

#include "autograder/guests/hostile/hostile.hpp"
#include "common/boot/kernel.hpp"

using namespace hvlab;

int kernel_main(const BootInfo& boot) {
  const std::uint32_t end = 0x100000u + boot.mem_upper_kib * 1024u;
  kprintf("KTAP version 1\n1..1\n# hostile_outside_ram: its RAM ends at 0x%08x\n", end);
  hostile::announce_more("outside_ram",
                         "a read and a write of the first page past the end of its RAM, then of a page every 16 MiB "
                         "above it up to 0xEF000000, paging off");
  for (std::uint32_t a = end; a >= end && a <= 0xEF000000u; a = (a & ~0x00ffffffu) + 0x01000000u) {
    auto* p = reinterpret_cast<volatile std::uint32_t*>(a);
    std::uint32_t v = *p;
    kprintf("# hostile_outside_ram: read 0x%08x at 0x%08x\n", v, a);
    *p = 0xdeadbeef;
    kprintf("# hostile_outside_ram: wrote 0xdeadbeef at 0x%08x, reads back 0x%08x\n", a, *p);
  }
  return hostile::completed("outside_ram", "every access past its RAM returned");
}
