#include "common/boot/descriptor_tables.hpp"

#include "common/arch/intrinsics.hpp"
#include "common/boot/trap.hpp"

extern "C" const std::uint32_t hvlab_isr_table[256];
extern "C" char hvlab_boot_stack_top[];

namespace hvlab {

using namespace x86;

namespace {
alignas(8) SegmentDescriptor g_gdt[gdt::kSlots];
alignas(8) GateDescriptor g_idt[256];
alignas(16) Tss32 g_tss;
}  // namespace

void gdt_set(unsigned index, SegmentDescriptor d) {
  if (index < gdt::kSlots) g_gdt[index] = d;
}
SegmentDescriptor gdt_get(unsigned index) { return index < gdt::kSlots ? g_gdt[index] : SegmentDescriptor{}; }
Tss32& kernel_tss() { return g_tss; }

void set_gate_access(unsigned vector, unsigned dpl, bool trap_gate) {
  if (vector >= 256) return;
  g_idt[vector].dpl = dpl;
  g_idt[vector].type = trap_gate ? desc_type::kTrapGate32 : desc_type::kInterruptGate32;
}

void init_descriptor_tables() {
  g_gdt[gdt::kNull] = SegmentDescriptor{};
  g_gdt[gdt::kKernelCode] = SegmentDescriptor::make(0, 0xffffffff, desc_type::kCodeRX, 0);
  g_gdt[gdt::kKernelData] = SegmentDescriptor::make(0, 0xffffffff, desc_type::kDataRW, 0);
  g_gdt[gdt::kUserCode] = SegmentDescriptor::make(0, 0xffffffff, desc_type::kCodeRX, 3);
  g_gdt[gdt::kUserData] = SegmentDescriptor::make(0, 0xffffffff, desc_type::kDataRW, 3);

  g_tss = Tss32{};
  g_tss.ss0 = gdt::kKernelDS;
  g_tss.esp0 = reinterpret_cast<std::uint32_t>(hvlab_boot_stack_top);
  g_tss.iomap_base = sizeof(Tss32);  // no I/O bitmap: every port faults at CPL > IOPL
  g_gdt[gdt::kTss] = SegmentDescriptor::make(reinterpret_cast<std::uint32_t>(&g_tss), sizeof(Tss32) - 1,
                                             desc_type::kTss32Available, 0, false, false);

  DescriptorTableRegister gdtr{sizeof(g_gdt) - 1, reinterpret_cast<std::uint32_t>(g_gdt)};
  lgdt(gdtr);
  // Reload every segment register from the new table.
  asm volatile(
      "ljmp %0, $1f\n"
      "1:\n"
      "mov %1, %%ax\n"
      "mov %%ax, %%ds\n"
      "mov %%ax, %%es\n"
      "mov %%ax, %%fs\n"
      "mov %%ax, %%gs\n"
      "mov %%ax, %%ss\n" ::"i"(gdt::kKernelCS),
      "i"(gdt::kKernelDS)
      : "eax", "memory");
  ltr(gdt::kTssSel);

  for (unsigned v = 0; v < 256; ++v) {
    g_idt[v] = GateDescriptor::make(hvlab_isr_table[v], gdt::kKernelCS, desc_type::kInterruptGate32, 0);
  }
  DescriptorTableRegister idtr{sizeof(g_idt) - 1, reinterpret_cast<std::uint32_t>(g_idt)};
  lidt(idtr);
}

}  // namespace hvlab
