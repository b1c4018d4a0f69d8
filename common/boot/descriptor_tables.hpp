#pragma once
// The kernel's GDT, IDT and TSS (SDM 3.5, 6.10, 8.2), set up once at boot.

#include <cstdint>

#include "common/arch/x86.hpp"

namespace hvlab {

/// GDT slots. Slots from kFirstFreeSlot on are for monitors (deprivileged rings, guest TSS).
namespace gdt {
inline constexpr unsigned kNull = 0, kKernelCode = 1, kKernelData = 2, kUserCode = 3, kUserData = 4,
                          kTss = 5, kFirstFreeSlot = 6, kSlots = 32;
inline constexpr std::uint16_t kKernelCS = kKernelCode << 3, kKernelDS = kKernelData << 3,
                               kUserCS = (kUserCode << 3) | 3, kUserDS = (kUserData << 3) | 3,
                               kTssSel = kTss << 3;
}  // namespace gdt

void init_descriptor_tables();
/// Writes GDT slot `index` (monitors add ring-1 segments, guest TSS descriptors).
void gdt_set(unsigned index, x86::SegmentDescriptor d);
x86::SegmentDescriptor gdt_get(unsigned index);
/// The kernel TSS; esp0 is the stack the CPU switches to on a trap from ring > 0.
x86::Tss32& kernel_tss();

}  // namespace hvlab
