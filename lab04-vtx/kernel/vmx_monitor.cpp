// The VT-x back end: VMX operation, the VMCS, and the VMLAUNCH/VMRESUME loop.

#include "common/runtime/exercise.hpp"
#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/arch/paging.hpp"
#include "common/boot/descriptor_tables.hpp"
#include "common/runtime/string.hpp"
#include "lab04-vtx/kernel/monitor.hpp"
#include "lab04-vtx/kernel/vmx_hw.hpp"
#include "lab04-vtx/src/ept.hpp"
#include "lab04-vtx/src/handlers.hpp"

namespace hvlab::lab04 {

namespace {

using vmx::Field;

// SDM 24.6 "Discovering support for VMX" and 24.7 "Enabling and entering VMX operation".
Status enable_vmx(const vmx::Capabilities& caps, FormatSink& diag) {
  // BEGIN SOLUTION lab04-e1
  if (!(x86::read_cpuid(x86::cpuid::kFeatures).ecx & x86::cpuid::ECX_VMX)) {
    format_to(diag, "this processor has no VMX (CPUID.1:ECX.VMX[bit 5] = 0); under Bochs use cpu: model=corei7_skylake_x\n");
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
    format_to(diag, "VMX is disabled by the firmware (IA32_FEATURE_CONTROL = 0x%llx, locked)\n",
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
  if (!*what) return;
  format_to(diag, "break=%s: deliberately breaking the VMCS\n", what);
  if (rt::str_compare(what, "tr") == 0) {
    v.write(Field::GUEST_TR_AR_BYTES, 0x0089);  // an available TSS: not allowed in TR
  } else if (rt::str_compare(what, "ctls") == 0) {
    // Clear the pin-based controls the capability MSR says must be 1.
    v.write(Field::PIN_BASED_VM_EXEC_CONTROL,
            v.read(Field::PIN_BASED_VM_EXEC_CONTROL) & ~static_cast<std::uint32_t>(caps.pinbased));
  } else if (rt::str_compare(what, "host") == 0) {
    v.write(Field::HOST_TR_SELECTOR, 0);
  } else if (rt::str_compare(what, "link") == 0) {
    v.write(Field::VMCS_LINK_POINTER, 0);
  } else if (rt::str_compare(what, "cr0") == 0) {
    v.write(Field::GUEST_CR0, v.read(Field::GUEST_CR0) & ~x86::cr0::NE);
  } else {
    format_to(diag, "break=%s is not one of tr, ctls, host, link, cr0: ignored\n", what);
  }
}

}  // namespace

int run_vmx(MonitorContext& ctx) {
  FormatSink& diag = ctx.diag;
  Platform& plat = ctx.platform;
  const vmx::Capabilities caps = vmx::read_capabilities();
  if (!enable_vmx(caps, diag).ok()) return exit_status::kFailure;
  dprintf("lab04: VT-x: IA32_VMX_BASIC=%016llx (revision 0x%x, %s controls), EPT/VPID caps=%016llx\n",
          static_cast<unsigned long long>(caps.basic), caps.revision(), caps.true_controls() ? "true" : "default",
          static_cast<unsigned long long>(caps.ept_vpid));

  char why[96];
  auto ctls = vmx::choose_controls(caps, why, sizeof why);
  if (!ctls.ok()) {
    format_to(diag, "this processor's VMX lacks what the monitor needs: %s\n", why);
    return exit_status::kFailure;
  }

  // EPT over guest RAM only (2 MiB pages where aligned).
  EptStats es;
  auto pml4 = build_ept(ctx.phys, ctx.frames, plat.memory(), caps.ept_2m_pages(), &es);
  if (!pml4.ok()) {
    format_to(diag, "cannot build the EPT: %s\n", error_name(pml4.error()));
    return exit_status::kFailure;
  }
  ctx.start.eptp = x86::EptPointer::make(pml4.value().value()).raw();
  dprintf("lab04: EPT at %08x: %u tables, %u 2 MiB pages, %u 4 KiB pages\n", pml4.value().low32(), es.tables,
          es.pages_2m, es.pages_4k);

  auto vmxon_region = vmx_region(ctx.frames, caps);
  auto vmcs_region = vmx_region(ctx.frames, caps);
  if (!vmxon_region.ok() || !vmcs_region.ok()) return exit_status::kFailure;
  if (hw::vmxon(vmxon_region.value().value()) != hw::VmxStatus::ok) {
    format_to(diag, "VMXON failed (CR0 = %08x, CR4 = %08x)\n", x86::read_cr0(), x86::read_cr4());
    return exit_status::kFailure;
  }
  if (hw::vmclear(vmcs_region.value().value()) != hw::VmxStatus::ok ||
      hw::vmptrld(vmcs_region.value().value()) != hw::VmxStatus::ok) {
    format_to(diag, "VMCLEAR/VMPTRLD of the VMCS failed\n");
    return exit_status::kFailure;
  }

  hw::HardwareVmcs vmcs;
  vmx::setup_vmcs(vmcs, caps, ctls.value(), current_host_state(), ctx.start);
  Field failed;
  if (unsigned n = vmcs.take_write_errors(&failed))
    format_to(diag, "%u VMWRITEs failed, the last to %s\n", n, vmx::field_name(failed));
  apply_breakage(vmcs, caps, ctx.options.breakage, diag);
  dprintf("lab04: controls pin=%08x proc=%08x proc2=%08x exit=%08x entry=%08x, preemption timer rate %u\n",
          ctls.value().pin, ctls.value().proc, ctls.value().proc2, ctls.value().exit, ctls.value().entry,
          caps.preemption_timer_rate());

  vmm::Dispatcher dispatcher;
  install_handlers(dispatcher);
  vmm::TraceWriter trace(com2());
  plat.set_trace(&trace);

  vmm::VCpu vcpu;
  vmx::load_vcpu(vmcs, vcpu);
  vcpu.regs.eax = ctx.start.eax;
  vcpu.regs.ebx = ctx.start.ebx;
  vmm::VCpu before = vcpu;
  bool launched = false;
  const std::uint64_t t_start = x86::rdtsc();

  for (std::uint32_t exits = 0;; ++exits) {
    if (exits >= ctx.options.max_exits) {
      plat.set_stop_reason("exit limit reached (%u exits): the guest looks livelocked (raise max_exits=)", exits);
      break;
    }
    EntryPlan plan = plat.prepare_entry(vcpu, x86::rdtsc());
    if (plan.stop) {
      plat.set_stop_reason("the guest halted with %s: nothing can wake it (eip %08x)",
                           vcpu.interrupts_enabled() ? "no timer running" : "interrupts disabled", vcpu.eip);
      break;
    }
    vmx::store_vcpu(vmcs, caps, before, vcpu, true);
    if (vcpu.cr2 != before.cr2) x86::write_cr2(vcpu.cr2);  // CR2 is not in the VMCS
    const std::uint64_t now = x86::rdtsc();
    vmx::apply_entry_plan(vmcs, caps, ctls.value(), plan, now, plat.tsc_offset());

    vmm::GeneralRegisters regs = vcpu.regs;
    const int rc = hvlab_vmx_run(&regs, launched);
    if (rc != 0) {
      vmx::explain_entry_failure(vmcs, caps, rc == 1, diag);
      plat.set_stop_reason("VM entry failed (%s)", rc == 1 ? "VMfailInvalid" : "VMfailValid, see the diagnostics");
      break;
    }
    plat.on_exit(x86::rdtsc());
    launched = true;
    vcpu.regs = regs;
    vmx::load_vcpu(vmcs, vcpu);
    vmm::Event e = vmx::decode_exit(vmcs, vcpu.regs);
    if (e.reason == vmm::Reason::entry_failure) vmx::explain_entry_failure(vmcs, caps, false, diag);
    PendingEvent cut_short = vmx::interrupted_event(vmcs);
    if (cut_short.valid) plat.inject(cut_short);  // SDM 28.2.4: deliver it again

    if (e.raw_reason != vmx::exit_reason::PREEMPTION_TIMER) {
      plat.note_progress();
    } else if (plat.spinning_with_interrupts_off(vcpu, 2)) {
      plat.set_stop_reason("the guest spins with interrupts disabled and no exits (eip %08x): it can never "
                           "make progress", vcpu.eip);
      trace_exit(trace, ctx.options, e, vmm::Action::stop);
      break;
    }
    before = vcpu;
    vmm::Action a = dispatcher.dispatch(vcpu, e);
    trace_exit(trace, ctx.options, e, a);
    if (a == vmm::Action::reflect) plat.inject_exception(e.vector, e.has_error_code, e.error_code);
    if (a == vmm::Action::stop) break;
  }
  return finish_run(ctx, trace, dispatcher, vcpu, "vmx", x86::rdtsc() - t_start);
}

}  // namespace hvlab::lab04
