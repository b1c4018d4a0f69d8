#include "common/arch/intrinsics.hpp"
#include "common/boot/descriptor_tables.hpp"
#include "common/boot/kernel.hpp"
#include "common/boot/legacy_pic.hpp"
#include "common/boot/trap.hpp"
#include "common/runtime/heap.hpp"

extern "C" {
extern void (*__init_array_start[])();
extern void (*__init_array_end[])();
extern char __kernel_start[], __kernel_end[];
}

namespace hvlab {

namespace {
BootInfo g_boot;
}

const BootInfo& boot_info() { return g_boot; }

}  // namespace hvlab

extern "C" [[noreturn]] void hvlab_boot_main(std::uint32_t magic, const hvlab::multiboot::Info* info) {
  using namespace hvlab;
  com1().init();
  com2().init();
  init_descriptor_tables();
  pic::remap(kIrqBase, kIrqBase + 8);
  if (magic != multiboot::kBootloaderMagic) {
    kprintf("hvlab: not started by a multiboot loader (eax=%08x)\n", magic);
    machine_exit(exit_status::kPanic);
  }
  g_boot = parse_multiboot(magic, info);
  g_boot.kernel_start = reinterpret_cast<std::uint32_t>(__kernel_start);
  g_boot.kernel_end = reinterpret_cast<std::uint32_t>(__kernel_end);
  rt::kernel_heap();  // ready before constructors that allocate
  for (auto* ctor = __init_array_start; ctor != __init_array_end; ++ctor) (*ctor)();
  machine_exit(kernel_main(g_boot));
}
