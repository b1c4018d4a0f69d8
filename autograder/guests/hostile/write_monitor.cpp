// hostile_write_monitor: writes 0xdeadbeef to the first word of every page of
// 0xF0000000-0xFFFFFFFF, the top of the address space where monitors keep themselves, from
// the bottom up, paging off.

#include "autograder/guests/hostile/hostile.hpp"
#include "common/boot/kernel.hpp"

using namespace hvlab;

int kernel_main(const BootInfo&) {
  hostile::announce("write_monitor",
                    "a write of 0xdeadbeef to the first word of every page of 0xF0000000-0xFFFFFFFF, upward from "
                    "0xF0000000, paging off");
  for (std::uint64_t a = 0xF0000000u; a < (1ull << 32); a += 4096) {
    *reinterpret_cast<volatile std::uint32_t*>(static_cast<std::uintptr_t>(a)) = 0xdeadbeef;
    if ((a & 0x00ffffffu) == 0) kprintf("# hostile_write_monitor: wrote 0xdeadbeef at 0x%08x\n", static_cast<unsigned>(a));
  }
  return hostile::completed("write_monitor", "every write returned");
}
