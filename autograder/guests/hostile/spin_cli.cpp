// hostile_spin_cli: disables interrupts and spins forever; only a monitor's own timer (or
// a runner's timeout) can take the CPU back.

#include "autograder/guests/hostile/hostile.hpp"
#include "common/boot/kernel.hpp"

using namespace hvlab;

int kernel_main(const BootInfo&) {
  hostile::announce("spin_cli", "an endless loop with interrupts disabled (CLI; JMP .)");
  asm volatile("cli\n 1: jmp 1b" ::: "memory");
  __builtin_unreachable();
}
