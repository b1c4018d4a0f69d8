// The VT-x back end's hardware: VMX operation (exercise lab04-e1), the VMXON region and the
// VMCS, the EPT, and the host state exits return to.

#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/boot/console.hpp"
#include "common/boot/descriptor_tables.hpp"
#include "common/devices/local_apic.hpp"
#include "common/runtime/exercise.hpp"
#include "common/runtime/string.hpp"
#include "lab04-vtx/kernel/setup.hpp"
#include "lab04-vtx/kernel/vmx_hw.hpp"
#include "common/vmm/debug.hpp"
#include "lab04-vtx/src/ept.hpp"
#include "lab04-vtx/src/vmx_backend.hpp"

namespace hvlab::lab04 {

namespace {

using vmx::field::GUEST_CR0;

// SDM 24.6 "Discovering support for VMX" and 24.7 "Enabling and entering VMX operation".
Status enable_vmx(const vmx::Capabilities& caps, FormatSink& diag) {
  // BEGIN SOLUTION lab04-e1
  if (!(x86::read_cpuid(x86::cpuid::kFeatures).ecx & x86::cpuid::ECX_VMX)) {
    format_to(diag, "lab04: this processor has no VMX (CPUID.1:ECX.VMX[bit 5] = 0); under Bochs use cpu: model=corei7_skylake_x\n");
    return Error::unsupported;
  }
  // IA32_FEATURE_CONTROL: VMXON outside SMX needs bit 2, and the MSR must be locked (bit 0).
  // A BIOS usually locks it; if it did not, the monitor may set and lock it itself.
  namespace fc = x86::msr::feature_control;
  std::uint64_t feature = x86::rdmsr(x86::msr::IA32_FEATURE_CONTROL);
  if (!(feature & fc::LOCK)) {
    feature |= fc::LOCK | fc::VMX_OUTSIDE_SMX;
    x86::wrmsr(x86::msr::IA32_FEATURE_CONTROL, feature);
  }
  if (!(feature & fc::VMX_OUTSIDE_SMX)) {
    format_to(diag, "lab04: VMX is disabled by the firmware (IA32_FEATURE_CONTROL = 0x%llx, locked)\n",
              static_cast<unsigned long long>(feature));
    return Error::unsupported;
  }
  // SDM 24.8: CR0 and CR4 must hold the bits IA32_VMX_CR{0,4}_FIXED0 fix to 1 (PE, NE, PG;
  // VMXE) and none that FIXED1 fixes to 0.
  std::uint32_t cr0 = x86::read_cr0() | static_cast<std::uint32_t>(caps.cr0_fixed0);
  x86::write_cr0(cr0 & static_cast<std::uint32_t>(caps.cr0_fixed1));
  std::uint32_t cr4 = x86::read_cr4() | x86::cr4::VMXE | static_cast<std::uint32_t>(caps.cr4_fixed0);
  x86::write_cr4(cr4 & static_cast<std::uint32_t>(caps.cr4_fixed1));
  return {};
  // STUB: (void)caps; (void)diag; return Error::unsupported;
  // END SOLUTION
}

// A 4 KiB region starting with the VMCS revision identifier (SDM 25.2, 25.11.5).
Result<HostPhysAddr> vmx_region(mem::FrameAllocator& frames, const vmx::Capabilities& caps) {
  auto f = frames.alloc();
  if (!f.ok()) return f.error();
  auto* p = reinterpret_cast<std::uint32_t*>(static_cast<std::uintptr_t>(f.value().value()));
  rt::mem_set(p, 0, kPageSize);
  p[0] = caps.revision();  // bit 31 clear: an ordinary VMCS, not a shadow one
  return f.value();
}

Result<HostPhysAddr> zeroed_frame(mem::FrameAllocator& frames) {
  auto f = frames.alloc();
  if (f.ok()) rt::mem_set(reinterpret_cast<void*>(static_cast<std::uintptr_t>(f.value().value())), 0, kPageSize);
  return f;
}

vmx::HostState current_host_state() {
  vmx::HostState h;
  h.cr0 = x86::read_cr0();
  h.cr3 = x86::read_cr3();
  h.cr4 = x86::read_cr4();
  std::uint16_t cs, ss, ds, es, fs, gs, tr;
  asm volatile("mov %%cs, %0; mov %%ss, %1; mov %%ds, %2; mov %%es, %3" : "=r"(cs), "=r"(ss), "=r"(ds), "=r"(es));
  asm volatile("mov %%fs, %0; mov %%gs, %1; str %2" : "=r"(fs), "=r"(gs), "=r"(tr));
  h.cs = cs;
  h.ss = ss;
  h.ds = ds;
  h.es = es;
  h.fs = fs;
  h.gs = gs;
  h.tr = tr;
  h.tr_base = gdt_get(tr >> 3).base();
  h.gdtr_base = x86::sgdt().base;
  h.idtr_base = x86::sidt().base;
  h.sysenter_cs = static_cast<std::uint32_t>(x86::rdmsr(x86::msr::IA32_SYSENTER_CS));
  h.sysenter_esp = static_cast<std::uint32_t>(x86::rdmsr(x86::msr::IA32_SYSENTER_ESP));
  h.sysenter_eip = static_cast<std::uint32_t>(x86::rdmsr(x86::msr::IA32_SYSENTER_EIP));
  h.efer = x86::rdmsr(x86::msr::IA32_EFER);
  h.pat = x86::rdmsr(x86::msr::IA32_PAT);
  h.rip = reinterpret_cast<std::uint32_t>(&hvlab_vmx_exit);
  return h;
}

// break=...: deliberately invalid VMCS contents, for the entry-failure diagnostics.
void apply_breakage(vmx::Vmcs& v, const vmx::Capabilities& caps, const char* what, FormatSink& diag) {
  namespace f = vmx::field;
  if (!*what) return;
  format_to(diag, "lab04: break=%s: deliberately breaking the VMCS\n", what);
  if (rt::str_compare(what, "tr") == 0) {
    v.write(f::GUEST_TR_AR_BYTES, 0x0089);  // an available TSS: not allowed in TR
  } else if (rt::str_compare(what, "ctls") == 0) {
    // Clear the pin-based controls the capability MSR says must be 1.
    v.write(f::PIN_BASED_VM_EXEC_CONTROL, v.read(f::PIN_BASED_VM_EXEC_CONTROL) & ~static_cast<std::uint32_t>(caps.pinbased));
  } else if (rt::str_compare(what, "host") == 0) {
    v.write(f::HOST_TR_SELECTOR, 0);
  } else if (rt::str_compare(what, "link") == 0) {
    v.write(f::VMCS_LINK_POINTER, 0);
  } else if (rt::str_compare(what, "cr0") == 0) {
    v.write(GUEST_CR0, v.read(GUEST_CR0) & ~x86::cr0::NE);
  } else {
    format_to(diag, "lab04: break=%s is not one of tr, ctls, host, link, cr0: ignored\n", what);
  }
}

}  // namespace

vmm::Backend* start_vmx(vmm::Board& board, mem::FrameAllocator& frames, mem::PhysicalMemory& phys,
                        const GuestEntry& entry, const KernelOptions& opt, FormatSink& diag, vmm::TraceWriter& trace,
                        vmm::VCpu& initial) {
  static vmx::Capabilities caps;
  caps = vmx::read_capabilities();
  if (!enable_vmx(caps, diag).ok()) return nullptr;
  // The set-up's steps, one record each as it succeeds: a boot that stops in the set-up (an
  // exercise not done yet) still shows, and scores, how far it got.
  trace.note("setup", "vmx_enabled: CR4.VMXE set, CR0 and CR4 within the FIXED MSRs (lab04-e1)");
  dprintf("lab04: VT-x: IA32_VMX_BASIC=%016llx (revision 0x%x, %s controls), EPT/VPID caps=%016llx\n",
          static_cast<unsigned long long>(caps.basic), caps.revision(), caps.true_controls() ? "true" : "default",
          static_cast<unsigned long long>(caps.ept_vpid));
  char why[96];
  auto ctls = vmx::choose_controls(caps, why, sizeof why);
  if (!ctls.ok()) {
    format_to(diag, "lab04: this processor's VMX lacks what the monitor needs: %s\n", why);
    return nullptr;
  }
  static vmx::Controls controls;
  controls = ctls.value();
  trace.note("setup", "controls_chosen: every required VM-execution, exit and entry control allowed (lab04-e3)");

  // EPT over guest RAM only (2 MiB pages where aligned).
  EptStats es;
  auto ept = build_ept(phys, frames, board.memory(), caps.ept_2m_pages(), &es);
  if (!ept.ok()) {
    format_to(diag, "lab04: cannot build the EPT: %s\n", error_name(ept.error()));
    return nullptr;
  }
  dprintf("lab04: EPT at %08x: %u tables, %u 2 MiB pages, %u 4 KiB pages\n", ept.value().pml4().low32(), es.tables,
          es.pages_2m, es.pages_4k);
  trace.note("setup", "ept_built: guest RAM mapped by the EPT (lab04-e4)");

  auto vmxon_region = vmx_region(frames, caps);
  auto vmcs_region = vmx_region(frames, caps);
  if (!vmxon_region.ok() || !vmcs_region.ok()) return nullptr;
  if (hw::vmxon(vmxon_region.value().value()) != hw::VmxStatus::ok) {
    format_to(diag, "lab04: VMXON failed (CR0 = %08x, CR4 = %08x)\n", x86::read_cr0(), x86::read_cr4());
    return nullptr;
  }
  if (hw::vmclear(vmcs_region.value().value()) != hw::VmxStatus::ok ||
      hw::vmptrld(vmcs_region.value().value()) != hw::VmxStatus::ok) {
    format_to(diag, "lab04: VMCLEAR/VMPTRLD of the VMCS failed\n");
    return nullptr;
  }

  static hw::HardwareVmcs vmcs;
  vmx::GuestStart start;
  start.eip = entry.eip;
  start.eax = entry.eax;
  start.ebx = entry.ebx;
  start.eptp = ept.value().eptp();
  vmx::setup_vmcs(vmcs, caps, controls, current_host_state(), start);
  vmx::Field failed;
  if (unsigned n = vmcs.take_write_errors(&failed))
    format_to(diag, "lab04: %u VMWRITEs failed, the last to %s\n", n, vmx::field_name(failed));
  apply_breakage(vmcs, caps, opt.breakage, diag);
  dprintf("lab04: controls pin=%08x proc=%08x proc2=%08x exit=%08x entry=%08x, preemption timer rate %u\n",
          controls.pin, controls.proc, controls.proc2, controls.exit, controls.entry, caps.preemption_timer_rate());

  vmm::debug_note_second_level(vmm::SecondLevel::ept, ept.value().pml4().value());
  vmm::debug_note_control_block(vmm::ControlBlock::vmcs, vmcs_region.value().value());
  static VmxBackend backend(board, vmcs, caps, controls, hvlab_vmx_run, diag);
  backend.set_trace(&trace);
  if (controls.apic_virtualization()) {
    // SDM 29: the virtual-APIC page the processor reads the guest's APIC registers from,
    // and the APIC-access page the EPT maps at the local APIC's guest-physical address
    // (accesses there become virtualized reads, APIC-write and APIC-access exits).
    auto vapic = zeroed_frame(frames);
    auto access = zeroed_frame(frames);
    if (!vapic.ok() || !access.ok() ||
        !ept.value().map(GuestPhysAddr(dev::LocalApic::kDefaultBase), access.value(), x86::ept::RWX, x86::ept::kWriteBack)
             .ok()) {
      format_to(diag, "lab04: no memory for the virtual-APIC and APIC-access pages\n");
      return nullptr;
    }
    vmx::setup_apic_virtualization(vmcs, vapic.value().value(), access.value().value());
    backend.enable_apic_virtualization(reinterpret_cast<std::uint32_t*>(static_cast<std::uintptr_t>(vapic.value().value())));
    dprintf("lab04: APIC virtualization: virtual-APIC page %08x, APIC-access page %08x\n", vapic.value().low32(),
            access.value().low32());
  }
  backend.load_initial_state(initial);
  initial.regs.eax = entry.eax;
  initial.regs.ebx = entry.ebx;
  return &backend;
}

}  // namespace hvlab::lab04
