#pragma once
// Bringing up the hardware for one of lab04's back ends (kernel only): VMX on with a VMCS and
// an EPT (vmx_setup.cpp), or SVM on with a VMCB and a nested page table (svm_setup.cpp).

#include <cstdint>

#include "common/memory/frame_allocator.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/format.hpp"
#include "common/vmm/backend.hpp"
#include "common/vmm/board.hpp"
#include "common/vmm/trace.hpp"

namespace hvlab::lab04 {

struct KernelOptions {
  char backend[8] = "";
  char breakage[16] = "";  ///< break=: a deliberately broken VMCS, or an empty nested table
};

/// The multiboot hand-off (Multiboot 0.6.96 section 3.2).
struct GuestEntry {
  std::uint32_t eip = 0, eax = 0, ebx = 0;
};

/// Enables VMX, builds the EPT over the Board's RAM and a VMCS for `entry`; the back end,
/// with `initial` set to the guest's first state, or nullptr after saying why on `diag`.
/// Each step of the set-up that succeeds leaves a {"kind":"setup"} record on `trace`, so a
/// boot that stops in the set-up shows how far it got (and the rubric scores each step); an
/// entry that fails leaves its explanation there too ({"kind":"entry_failure"}).
vmm::Backend* start_vmx(vmm::Board& board, mem::FrameAllocator& frames, mem::PhysicalMemory& phys,
                        const GuestEntry& entry, const KernelOptions& opt, FormatSink& diag, vmm::TraceWriter& trace,
                        vmm::VCpu& initial);
/// The same with SVM, a VMCB and a nested page table.
vmm::Backend* start_svm(vmm::Board& board, mem::FrameAllocator& frames, mem::PhysicalMemory& phys,
                        const GuestEntry& entry, const KernelOptions& opt, FormatSink& diag, vmm::VCpu& initial);

}  // namespace hvlab::lab04
