// hostile_triple_fault: loads an empty IDT and raises an exception: #UD cannot be
// delivered (#GP), nor can the #GP (#DF), nor the #DF: a triple fault, shutdown.

#include "autograder/guests/hostile/hostile.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/boot/kernel.hpp"

using namespace hvlab;

int kernel_main(const BootInfo&) {
  hostile::announce("triple_fault", "a triple fault (an empty IDT, then UD2)");
  x86::DescriptorTableRegister empty{0, 0};
  x86::lidt(empty);
  asm volatile("ud2" ::: "memory");
  return hostile::completed("triple_fault", "UD2 with an empty IDT returned");
}
