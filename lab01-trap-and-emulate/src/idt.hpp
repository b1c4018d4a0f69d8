#pragma once
// The virtual IDT: delivering an interrupt or exception to the guest the way the CPU would at
// the guest's virtual CPL, through the guest's own IDT, GDT and TSS (exercise lab01-e6). The
// trap back end's inject() (lab01-e6, with deliver_interrupt) uses it for every event the run loop plans.

#include <cstdint>

#include "common/arch/x86.hpp"
#include "common/vmm/backend.hpp"
#include "common/vmm/vcpu.hpp"
#include "lab01-trap-and-emulate/src/descriptors.hpp"

namespace hvlab::lab01 {

enum class Delivery : std::uint8_t {
  exception,  ///< a fault or trap: EIP as given, the error code if any
  software,   ///< INT n / INT3 / INTO: gate DPL checked against the virtual CPL
  external,   ///< a device interrupt from the virtual PIC
};

/// Delivers `vector` through the guest's own IDT as the CPU would at the guest's virtual
/// CPL: reads the gate, switches to the guest TSS's ring-0 stack when coming from user mode,
/// pushes the frame the guest expects (its virtual CS, EFLAGS with the virtual IF), and points
/// the vCPU at the handler. `return_eip` is what gets pushed as the saved EIP. Guest memory
/// is read and written through `mem` (nothing raised), segments through `seg`. A fault while
/// delivering becomes the fault's own delivery or a #DF (SDM 6.15); false if even the #DF
/// cannot be delivered (the guest triple-faults).
bool deliver_interrupt(vmm::VCpu& v, vmm::Backend& mem, const SegmentBases& seg, std::uint8_t vector,
                       Delivery kind, bool has_error, std::uint32_t error, std::uint32_t return_eip);

/// Reads the guest's GDT entry for `sel` (LDT selectors are not supported): false with the
/// fault the CPU would raise (#GP(sel) for a selector beyond the limit, the #PF of the read).
bool guest_descriptor(vmm::VCpu& v, vmm::Backend& mem, std::uint16_t sel, x86::SegmentDescriptor* d,
                      vmm::ExceptionInfo* fault);

}  // namespace hvlab::lab01
