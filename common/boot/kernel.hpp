#pragma once
// What every kernel built with hvlab_kernel() provides and gets.
//
// The boot code (boot.cpp) runs first: it sets up the console, the GDT, IDT and TSS, the
// PICs (remapped to vectors 0x20-0x2f, all masked), static constructors and the heap, parses
// the multiboot information, then calls kernel_main. Its return value becomes the exit
// status (machine_exit).

#include "common/boot/console.hpp"
#include "common/boot/multiboot.hpp"

/// Defined by each kernel.
int kernel_main(const hvlab::BootInfo& boot);

namespace hvlab {
/// The parsed boot information, also reachable after kernel_main starts.
const BootInfo& boot_info();
}  // namespace hvlab
