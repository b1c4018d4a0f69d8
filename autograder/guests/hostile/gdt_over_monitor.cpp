// hostile_gdt_over_monitor: maps its own memory at the top of the address space (where a
// monitor lives) and loads its GDT there, then reloads every segment register from it.

#include "autograder/guests/hostile/hostile.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/boot/descriptor_tables.hpp"
#include "common/boot/kernel.hpp"

using namespace hvlab;

int kernel_main(const BootInfo&) {
  constexpr std::uint32_t kTop = 0xffc00000;
  hostile::announce("gdt_over_monitor",
                    "LGDT with base 0xffc00000 (its own RAM at physical 0x01000000 mapped there), then reloading "
                    "CS, DS, ES, FS, GS and SS from that table");
  std::uint32_t* pd = hostile::identity_page_directory();
  pd[kTop >> 22] = hostile::large_pde(0x01000000);
  hostile::enable_paging(pd);
  auto* gdt = reinterpret_cast<volatile std::uint64_t*>(kTop);
  for (unsigned i = 0; i < 8; ++i) gdt[i] = gdt_get(i).raw();
  x86::DescriptorTableRegister gdtr{8 * 8 - 1, kTop};
  x86::lgdt(gdtr);
  asm volatile(
      "ljmp $0x08, $1f\n"
      "1: mov $0x10, %%ax\n"
      "mov %%ax, %%ds\n mov %%ax, %%es\n mov %%ax, %%fs\n mov %%ax, %%gs\n mov %%ax, %%ss\n" ::
          : "eax", "memory");
  kprintf("# hostile_gdt_over_monitor: GDTR now 0x%08x limit 0x%x, segments reloaded\n", x86::sgdt().base,
          x86::sgdt().limit);
  return hostile::completed("gdt_over_monitor", "the GDT at 0xffc00000 is in use");
}
