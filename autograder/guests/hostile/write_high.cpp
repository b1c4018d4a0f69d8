// hostile_write_high: with paging off, writes outside its RAM: physical memory far above
// it, and the top of the address space, where monitors keep themselves.

#include "autograder/guests/hostile/hostile.hpp"
#include "common/boot/kernel.hpp"

using namespace hvlab;

int kernel_main(const BootInfo&) {
  // Skips the local APIC, I/O APIC and BIOS ROM windows (0xfec00000-0xfeefffff and the top
  // 256 KiB) so that, bare, the writes land in unassigned space.
  static const std::uint32_t targets[] = {0x30000000, 0x80000000, 0xbffff000, 0xfc000000, 0xffc00000, 0xffd00000};
  hostile::announce("write_high",
                    "writes of 0xdeadbeef to physical 0x30000000, 0x80000000, 0xbffff000 (far above RAM) and "
                    "0xfc000000, 0xffc00000, 0xffd00000 (top of the address space), paging off");
  for (std::uint32_t a : targets) {
    volatile std::uint32_t* p = reinterpret_cast<volatile std::uint32_t*>(a);
    for (unsigned i = 0; i < 1024; ++i) p[i] = 0xdeadbeef;  // one 4 KiB page at each
    kprintf("# hostile_write_high: wrote 4 KiB at 0x%08x, reads back 0x%08x\n", a, p[0]);
  }
  return hostile::completed("write_high", "every write returned");
}
