#include "lab04-vtx/src/handlers.hpp"

#include "common/runtime/exercise.hpp"
#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/vmm/cpuid_policy.hpp"
#include "common/vmm/emulate.hpp"
#include "common/vmm/mmio.hpp"
#include "lab04-vtx/src/host_ops.hpp"
#include "lab04-vtx/src/vmx_defs.hpp"

namespace hvlab::lab04 {

using vmm::Action;
using vmm::Event;
using vmm::Machine;
using vmm::VCpu;

Action handle_cpuid(Machine& m, VCpu& vcpu, const Event&) {
  // BEGIN SOLUTION lab04-e5
  // SDM 26.1.2: CPUID exits unconditionally in VMX non-root operation (AMD-V intercepts it).
  // The guest sees the real processor's answer, edited by the kit's CPUID policy
  // (common/vmm/cpuid_policy.hpp): what no monitor of the kit emulates is hidden (VMX, so
  // the guest never tries VMXON; x2APIC; the TSC-deadline timer; ...), and what belongs to
  // this virtual CPU is its own: the local APIC's ID, CPUID.1:EDX.APIC following
  // IA32_APIC_BASE.EN, CPUID.1:ECX.OSXSAVE following the *guest's* CR4.
  const std::uint32_t leaf = vcpu.regs.eax, subleaf = vcpu.regs.ecx;
  const x86::CpuidResult r =
      vmm::apply_cpuid_policy(leaf, subleaf, x86::read_cpuid(leaf, subleaf), m.board().cpuid_context(vcpu));
  vcpu.regs.eax = r.eax;
  vcpu.regs.ebx = r.ebx;
  vcpu.regs.ecx = r.ecx;
  vcpu.regs.edx = r.edx;
  return Action::advance;
  // STUB: (void)m; (void)vcpu; return Action::stop;
  // END SOLUTION
}

Action handle_cr_access(Machine& m, VCpu& vcpu, const Event& e) {
  // Only bits the monitor owns (CR0.NE, CR4.VMXE: the guest/host masks) make MOV to CR0/CR4
  // exit under VT-x; AMD-V exits for more while the guest's paging is off (svm.cpp). The
  // guest sees its own values through the read shadows (SDM 25.6.6).
  using T = vmm::CrAccess::Type;
  switch (e.cr.type) {
    case T::mov_to: {
      const std::uint32_t v = vmm::gpr(vcpu, e.cr.gpr);
      if (e.cr.cr == 0) {
        if (vmm::cr0_write_faults(v)) return m.raise_gp();  // SDM vol. 2 MOV CR
        vcpu.cr0 = v | x86::cr0::ET;
      } else if (e.cr.cr == 4) {
        if (v & x86::cr4::VMXE) return m.raise_gp();  // VMX is hidden: as without VMX
        vcpu.cr4 = v;
      } else if (e.cr.cr == 3) {
        vcpu.cr3 = v;
      } else {
        m.board().fail("MOV to CR%u exited, which this monitor never asks for (eip %08x)", e.cr.cr, e.guest_eip);
        return Action::stop;
      }
      return Action::advance;
    }
    case T::mov_from:
      vmm::gpr(vcpu, e.cr.gpr) = e.cr.cr == 0 ? vcpu.cr0 : e.cr.cr == 3 ? vcpu.cr3 : e.cr.cr == 4 ? vcpu.cr4 : vcpu.cr2;
      return Action::advance;
    case T::clts:
      vcpu.cr0 &= ~x86::cr0::TS;
      return Action::advance;
    case T::lmsw:
      vcpu.cr0 = vmm::cr0_after_lmsw(vcpu.cr0, e.cr.lmsw_source);
      return Action::advance;
  }
  return Action::advance;
}

namespace {

// The policy's verdict as the instruction's outcome: EDX:EAX for a read, #GP(0) otherwise.
// A refusal is the monitor declining something valid (a microcode update, x2APIC mode): the
// guest gets the #GP a processor without the feature would give, and the trace says why.
Action finish_msr(Machine& m, VCpu& vcpu, const vmm::MsrResult& r, bool read) {
  switch (r.verdict) {
    case vmm::MsrVerdict::done:
      if (read) {
        vcpu.regs.eax = static_cast<std::uint32_t>(r.value);
        vcpu.regs.edx = static_cast<std::uint32_t>(r.value >> 32);
      }
      return Action::advance;
    case vmm::MsrVerdict::refused:
      m.trace().note("msr_refused", r.why ? r.why : "refused");
      return m.raise_gp();
    case vmm::MsrVerdict::gp: break;
  }
  return m.raise_gp();
}

}  // namespace

Action handle_msr_read(Machine& m, VCpu& vcpu, const Event&) {
  // Every RDMSR exits (no MSR bitmap, or every MSR intercepted): the kit's MSR policy
  // answers it (common/vmm/msr_policy.hpp), from the vCPU, the local APIC, the guest's TSC.
  return finish_msr(m, vcpu, m.msr_policy().rdmsr(), true);
}

Action handle_msr_write(Machine& m, VCpu& vcpu, const Event& e) {
  const vmm::MsrResult r = m.msr_policy().wrmsr();
  if (r.verdict == vmm::MsrVerdict::done && e.msr.index == x86::msr::IA32_TSC_AUX) {
    // RDTSCP runs without an exit and reads the processor's own IA32_TSC_AUX (SDM 26.3):
    // the monitor never uses it, so it holds the guest's value.
    if (!safe_wrmsr(x86::msr::IA32_TSC_AUX, m.msr_policy().stored(vmm::MsrPolicy::kSlotTscAux)).ok()) {
      m.board().fail("the processor refused IA32_TSC_AUX although RDTSCP is visible to the guest");
      return Action::stop;
    }
  }
  return finish_msr(m, vcpu, r, false);
}

Action handle_resume(Machine&, VCpu&, const Event&) {
  // The monitor's timer (VMX-preemption timer, a host interrupt) or an interrupt window:
  // time moved on; the Board brings the devices up to date and injects what became due.
  return Action::resume;
}

Action handle_exception(Machine&, VCpu&, const Event&) {
  // Only exceptions in the exception bitmap exit; give them back to the guest's IDT.
  return Action::reflect;
}

Action handle_privileged_instruction(Machine& m, VCpu& vcpu, const Event& e) {
  switch (e.op) {
    case vmm::PrivilegedOp::invd:
    case vmm::PrivilegedOp::wbinvd:
      return Action::advance;  // guest memory is ordinary write-back RAM: nothing to flush
    case vmm::PrivilegedOp::xsetbv: {
      // SDM vol. 2 XSETBV: #UD without CR4.OSXSAVE, #GP for a bad XCR or value.
      if (!(vcpu.cr4 & x86::cr4::OSXSAVE)) return m.raise_ud();
      std::uint64_t v = (std::uint64_t{vcpu.regs.edx} << 32) | vcpu.regs.eax;
      if (vcpu.cpl != 0 || !safe_xsetbv(vcpu.regs.ecx, v).ok()) return m.raise_gp();
      return Action::advance;
    }
    default:
      // VMX and SVM instructions: the guest was told there is no VMX (or SVM), so they are
      // invalid opcodes.
      return m.raise_ud();
  }
}

Action handle_hypercall(Machine& m, VCpu&, const Event&) {
  // VMCALL/VMMCALL from a guest that does not know it is virtualized: #UD, as on bare hardware.
  return m.raise_ud();
}

Action handle_ept_violation(Machine& m, VCpu& vcpu, const Event& e) {
  // VT-x exit reason 48; AMD-V's #VMEXIT(NPF), 0x400, is the same event for the kit. The
  // EPT and the nested table map guest RAM only: an access to a device page the Board's MMIO
  // bus claims (the local APIC, the I/O APIC) lands here, and is emulated from the
  // instruction, since neither exit says what was written or how wide it was.
  if (e.memory.has_physical && m.board().mmio().is_mmio(e.memory.physical)) return vmm::emulate_mmio(m, vcpu, e);
  const char* what = e.raw_reason == 0x400 ? "nested page fault" : "EPT violation";
  const char* access = e.memory.fetch ? "fetch" : e.memory.write ? "write" : "read";
  m.board().contain("%s: the guest touched guest-physical 0x%llx, which is not its RAM (%s at eip %08x)", what,
                    static_cast<unsigned long long>(e.memory.physical.value()), access, e.guest_eip);
  return Action::stop;
}

Action handle_ept_misconfig(Machine& m, VCpu&, const Event& e) {
  m.board().fail("EPT misconfiguration at guest-physical 0x%llx (eip %08x): an EPT entry has reserved bits or W "
                 "without R (SDM 29.3.3.1)",
                 static_cast<unsigned long long>(e.memory.physical.value()), e.guest_eip);
  return Action::stop;
}

Action handle_triple_fault(Machine& m, VCpu&, const Event& e) {
  m.board().contain("the guest triple-faulted (shutdown at eip %08x)", e.guest_eip);
  return Action::stop;
}

Action handle_entry_failure(Machine& m, VCpu&, const Event& e) {
  m.board().fail("VM entry failed (exit reason %u, see the diagnostics above)", e.raw_reason);
  return Action::stop;
}

Action handle_unexpected(Machine& m, VCpu&, const Event& e) {
  m.board().fail("unhandled exit %u (%s) at eip %08x, qualification 0x%llx", e.raw_reason,
                 e.source == vmm::Source::vm_exit ? vmx::exit_reason_name(e.raw_reason) : vmm::reason_name(e.reason),
                 e.guest_eip, static_cast<unsigned long long>(e.raw_qualification));
  return Action::stop;
}

void install_handlers(vmm::Dispatcher& d) {
  using vmm::Reason;
  d.set_fallback(handle_unexpected);
  d.set(Reason::cpuid, handle_cpuid);
  d.set(Reason::io_instruction, vmm::emulate_io);
  d.set(Reason::hlt, vmm::emulate_hlt);
  d.set(Reason::cr_access, handle_cr_access);
  d.set(Reason::msr_read, handle_msr_read);
  d.set(Reason::msr_write, handle_msr_write);
  d.set(Reason::external_interrupt, handle_resume);
  d.set(Reason::interrupt_window, handle_resume);
  d.set(Reason::exception, handle_exception);
  d.set(Reason::page_fault, handle_exception);
  d.set(Reason::privileged_instruction, handle_privileged_instruction);
  d.set(Reason::hypercall, handle_hypercall);
  d.set(Reason::ept_violation, handle_ept_violation);
  d.set(Reason::mmio, vmm::emulate_mmio);  // VT-x APIC-access and APIC-write exits
  d.set(Reason::ept_misconfig, handle_ept_misconfig);
  d.set(Reason::triple_fault, handle_triple_fault);
  d.set(Reason::entry_failure, handle_entry_failure);
}

}  // namespace hvlab::lab04
