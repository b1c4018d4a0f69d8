#include "lab04-vtx/src/handlers.hpp"

#include "common/runtime/exercise.hpp"
#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/vmm/emulate.hpp"
#include "lab04-vtx/src/host_ops.hpp"
#include "lab04-vtx/src/vmx_defs.hpp"

namespace hvlab::lab04 {

using vmm::Action;
using vmm::Event;
using vmm::Machine;
using vmm::VCpu;

Action handle_cpuid(Machine&, VCpu& vcpu, const Event&) {
  // BEGIN SOLUTION lab04-e5
  // SDM vol. 2A CPUID. The guest sees the real processor, minus what this monitor does not
  // virtualize: VMX (CPUID.1:ECX.VMX, SDM 24.6) is hidden, so the guest never tries VMXON.
  std::uint32_t leaf = vcpu.regs.eax, subleaf = vcpu.regs.ecx;
  x86::CpuidResult r = x86::read_cpuid(leaf, subleaf);
  if (leaf == x86::cpuid::kFeatures) {
    r.ecx &= ~x86::cpuid::ECX_VMX;
    // OSXSAVE mirrors CR4.OSXSAVE, and that must be the guest's CR4, not the monitor's.
    constexpr std::uint32_t kOsxsave = 1u << 27;
    r.ecx = (r.ecx & ~kOsxsave) | ((vcpu.cr4 & x86::cr4::OSXSAVE) ? kOsxsave : 0);
  }
  vcpu.regs.eax = r.eax;
  vcpu.regs.ebx = r.ebx;
  vcpu.regs.ecx = r.ecx;
  vcpu.regs.edx = r.edx;
  return Action::advance;
  // STUB: (void)vcpu; return Action::stop;
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
bool is_vmx_capability_msr(std::uint32_t msr) { return msr >= 0x480 && msr <= 0x491; }
}  // namespace

Action handle_msr_read(Machine& m, VCpu& vcpu, const Event& e) {
  auto& b = m.board();
  const std::uint32_t msr = e.msr.index;
  std::uint64_t v = 0;
  switch (msr) {
    case x86::msr::IA32_TIME_STAMP_COUNTER: v = b.guest_tsc(m.backend().now()); break;
    case x86::msr::IA32_SYSENTER_CS: v = vcpu.msr_sysenter_cs; break;
    case x86::msr::IA32_SYSENTER_ESP: v = vcpu.msr_sysenter_esp; break;
    case x86::msr::IA32_SYSENTER_EIP: v = vcpu.msr_sysenter_eip; break;
    case x86::msr::IA32_PAT: v = vcpu.msr_pat; break;
    case x86::msr::IA32_EFER: v = vcpu.msr_efer; break;
    // Locked with VMX off: what a BIOS that disabled VMX leaves (SDM 24.7).
    case x86::msr::IA32_FEATURE_CONTROL: v = x86::msr::feature_control::LOCK; break;
    default: {
      if (is_vmx_capability_msr(msr)) return m.raise_gp();  // these do not exist without VMX
      auto r = safe_rdmsr(msr);
      if (!r.ok()) return m.raise_gp();
      v = r.value();
    }
  }
  vcpu.regs.eax = static_cast<std::uint32_t>(v);
  vcpu.regs.edx = static_cast<std::uint32_t>(v >> 32);
  return Action::advance;
}

Action handle_msr_write(Machine& m, VCpu& vcpu, const Event& e) {
  auto& b = m.board();
  const std::uint32_t msr = e.msr.index;
  const std::uint64_t v = (std::uint64_t{vcpu.regs.edx} << 32) | vcpu.regs.eax;
  switch (msr) {
    case x86::msr::IA32_TIME_STAMP_COUNTER: b.set_guest_tsc(v, m.backend().now()); break;
    case x86::msr::IA32_SYSENTER_CS: vcpu.msr_sysenter_cs = v; break;
    case x86::msr::IA32_SYSENTER_ESP: vcpu.msr_sysenter_esp = v; break;
    case x86::msr::IA32_SYSENTER_EIP: vcpu.msr_sysenter_eip = v; break;
    case x86::msr::IA32_PAT: {
      // Each byte must be a valid memory type (0, 1, 4, 5, 6, 7), SDM 13.12.2.
      for (unsigned i = 0; i < 8; ++i) {
        unsigned t = (v >> (8 * i)) & 0xff;
        if (t == 2 || t == 3 || t > 7) return m.raise_gp();
      }
      vcpu.msr_pat = v;
      break;
    }
    case x86::msr::IA32_EFER: {
      constexpr std::uint64_t kAllowed = x86::msr::efer::SCE | x86::msr::efer::NXE;
      if (v & ~kAllowed) return m.raise_gp();  // long mode is not offered to this 32-bit guest
      vcpu.msr_efer = v;
      break;
    }
    default:
      // Writes to real MSRs could reconfigure the monitor's own processor: refuse them as a
      // processor without that MSR would.
      return m.raise_gp();
  }
  return Action::advance;
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

Action handle_ept_violation(Machine& m, VCpu&, const Event& e) {
  // VT-x exit reason 48; AMD-V's #VMEXIT(NPF), 0x400, is the same event for the kit.
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
  d.set(Reason::ept_misconfig, handle_ept_misconfig);
  d.set(Reason::triple_fault, handle_triple_fault);
  d.set(Reason::entry_failure, handle_entry_failure);
}

}  // namespace hvlab::lab04
