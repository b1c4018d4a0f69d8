// The AMD-V back end's hardware (APM vol. 2, 15.4 and 15.5): SVM enabled, the VMCB with
// its I/O and MSR permission maps, the nested page table over the guest's RAM, the area the
// host's own state is saved in around each VMRUN, and the host's timer.

#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/boot/console.hpp"
#include "common/boot/legacy_pic.hpp"
#include "common/boot/trap.hpp"
#include "common/memory/page_table_pae.hpp"
#include "common/runtime/string.hpp"
#include "common/vmm/debug.hpp"
#include "lab04-vtx/kernel/setup.hpp"
#include "lab04-vtx/kernel/vmx_hw.hpp"
#include "lab04-vtx/src/svm.hpp"

namespace hvlab::lab04 {

namespace {

void* ptr(HostPhysAddr a) { return reinterpret_cast<void*>(static_cast<std::uintptr_t>(a.value())); }

Result<HostPhysAddr> zeroed(mem::FrameAllocator& frames, std::uint64_t count) {
  auto f = count == 1 ? frames.alloc() : frames.alloc_contiguous(count);
  if (!f.ok()) return f.error();
  rt::mem_set(ptr(f.value()), 0, count * kPageSize);
  return f.value();
}

// The nested page table in the host's format (PAE, the host runs with CR4.PAE for it):
// guest RAM to its host frames and nothing else. Nested walks are user accesses (APM
// 15.25.5), so every entry is user-accessible. `empty`: nothing at all (break=npt).
Result<HostPhysAddr> build_nested_table(mem::FrameAllocator& frames, mem::PhysicalMemory& phys,
                                        const mem::GuestMemory& guest, bool empty) {
  auto npt = mem::NestedPageTablePae::create(phys, frames);
  if (!npt.ok()) return npt.error();
  if (empty) return npt.value().pdpt();
  for (const mem::GuestRegion& r : guest.regions()) {
    if (!r.hpa_known) continue;
    HV_TRY(npt.value().map_range(r.gpa, r.hpa, r.size, x86::page::RW | x86::page::US, true));
  }
  return npt.value().pdpt();
}

// The real PIT at 1 kHz on IRQ0, so the guest is interrupted (INTR intercept) even when it
// spins without exiting. The host takes the interrupt itself between runs (STGI).
void on_host_timer(TrapFrame&) { pic::eoi(0); }

void start_host_timer() {
  set_trap_handler(kIrqBase + 0, on_host_timer);
  pit::start_periodic(1000);
  pic::unmask(0);
}

}  // namespace

vmm::Backend* start_svm(vmm::Board& board, mem::FrameAllocator& frames, mem::PhysicalMemory& phys,
                        const GuestEntry& entry, const KernelOptions& opt, FormatSink& diag, vmm::VCpu& initial) {
  // APM 15.4: CPUID 8000_0001h:ECX.SVM, VM_CR.SVMDIS clear, then EFER.SVME.
  const bool has_svm = x86::read_cpuid(x86::cpuid::kExtendedMax).eax >= x86::cpuid::kExtendedInfo &&
                       (x86::read_cpuid(x86::cpuid::kExtendedInfo).ecx & x86::cpuid::X_ECX_SVM);
  if (!has_svm) {
    format_to(diag, "lab04: this processor has neither VMX nor SVM (under QEMU use -cpu max, under Bochs "
                    "cpu: model=corei7_skylake_x)\n");
    return nullptr;
  }
  if (x86::rdmsr(x86::msr::VM_CR) & (1u << 4)) {
    format_to(diag, "lab04: SVM is disabled by the firmware (VM_CR.SVMDIS)\n");
    return nullptr;
  }
  x86::wrmsr(x86::msr::IA32_EFER, x86::rdmsr(x86::msr::IA32_EFER) | x86::msr::efer::SVME);
  auto hsave = zeroed(frames, 1);      // the processor's own save area (VM_HSAVE_PA)
  auto host_save = zeroed(frames, 1);  // the host's VMSAVE area
  auto vmcb_pa = zeroed(frames, 1);
  auto iopm = zeroed(frames, 3);   // 12 KiB: one bit per port
  auto msrpm = zeroed(frames, 2);  // 8 KiB: two bits per MSR
  if (!hsave.ok() || !host_save.ok() || !vmcb_pa.ok() || !iopm.ok() || !msrpm.ok()) {
    format_to(diag, "lab04: no memory for the VMCB and its maps\n");
    return nullptr;
  }
  rt::mem_set(ptr(iopm.value()), 0xff, 3 * kPageSize);   // every port intercepted
  rt::mem_set(ptr(msrpm.value()), 0xff, 2 * kPageSize);  // every MSR intercepted
  x86::wrmsr(x86::msr::VM_HSAVE_PA, hsave.value().value());

  const bool empty = rt::str_compare(opt.breakage, "npt") == 0;
  if (empty) format_to(diag, "lab04: break=npt: the guest gets an empty nested page table\n");
  auto ncr3 = build_nested_table(frames, phys, board.memory(), empty);
  if (!ncr3.ok()) {
    format_to(diag, "lab04: cannot build the nested page table: %s\n", error_name(ncr3.error()));
    return nullptr;
  }

  svm::Vmcb v{static_cast<unsigned char*>(ptr(vmcb_pa.value()))};
  svm::Setup s;
  s.iopm = iopm.value().low32();
  s.msrpm = msrpm.value().low32();
  s.ncr3 = ncr3.value().low32();
  s.eip = entry.eip;
  s.eax = entry.eax;
  s.ebx = entry.ebx;
  svm::setup_vmcb(v, s);
  dprintf("lab04: AMD-V: VMCB at %08x, nested table at %08x (PAE format, the host's)\n", vmcb_pa.value().low32(),
          ncr3.value().low32());

  vmm::debug_note_second_level(vmm::SecondLevel::npt_pae, ncr3.value().value());
  vmm::debug_note_control_block(vmm::ControlBlock::vmcb, vmcb_pa.value().value());
  static svm::SvmBackend backend(board, v, vmcb_pa.value().low32(), host_save.value().low32(), hvlab_svm_run, diag);
  backend.load_initial_state(initial, entry.ebx);
  start_host_timer();
  return &backend;
}

}  // namespace hvlab::lab04
