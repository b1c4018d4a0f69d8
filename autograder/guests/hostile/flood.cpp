// hostile_flood: writes to COM1 forever, as fast as it can.

#include "autograder/guests/hostile/hostile.hpp"
#include "common/boot/kernel.hpp"

using namespace hvlab;

int kernel_main(const BootInfo&) {
  hostile::announce("flood", "an endless flood of output on COM1");
  for (std::uint32_t n = 0;; ++n) kprintf("# hostile_flood: line %u of forever ..................................\n", n);
}
