// hostile_read_monitor: reads the first word of every page of 0xF0000000-0xFFFFFFFF, the top
// of the address space where monitors keep themselves, from the bottom up, paging off, and
// prints what it finds (so a monitor that lets a read through shows it in the guest's output).

#include "autograder/guests/hostile/hostile.hpp"
#include "common/boot/kernel.hpp"

using namespace hvlab;

int kernel_main(const BootInfo&) {
  hostile::announce("read_monitor",
                    "a read of the first word of every page of 0xF0000000-0xFFFFFFFF, upward from 0xF0000000, "
                    "paging off, printing the first word of every 16th MiB");
  std::uint32_t folded = 0;
  for (std::uint64_t a = 0xF0000000u; a < (1ull << 32); a += 4096) {
    std::uint32_t v = *reinterpret_cast<volatile std::uint32_t*>(static_cast<std::uintptr_t>(a));
    folded ^= v;
    if ((a & 0x00ffffffu) == 0) kprintf("# hostile_read_monitor: read 0x%08x at 0x%08x\n", v, static_cast<unsigned>(a));
  }
  kprintf("# hostile_read_monitor: read 65536 pages, their first words xor to 0x%08x\n", folded);
  return hostile::completed("read_monitor", "every read returned");
}
