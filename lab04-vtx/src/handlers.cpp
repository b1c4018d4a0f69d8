#include "lab04-vtx/src/handlers.hpp"

#include "common/runtime/exercise.hpp"
#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/memory/page_table.hpp"
#include "lab04-vtx/src/host_ops.hpp"
#include "lab04-vtx/src/platform.hpp"
#include "lab04-vtx/src/vmx_defs.hpp"

namespace hvlab::lab04 {

using vmm::Action;
using vmm::Event;
using vmm::VCpu;

std::uint32_t& gpr(VCpu& vcpu, unsigned index) {
  auto& r = vcpu.regs;
  switch (index & 7) {
    case 0: return r.eax;
    case 1: return r.ecx;
    case 2: return r.edx;
    case 3: return r.ebx;
    case 4: return r.esp;
    case 5: return r.ebp;
    case 6: return r.esi;
    default: return r.edi;
  }
}

namespace {

constexpr std::uint32_t mask_of(unsigned size) { return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1; }

Action stop_because(const char* what, const Event& e) {
  platform().set_stop_reason("%s at eip %08x (exit reason %u, qualification 0x%llx)", what, e.guest_eip,
                             e.raw_reason, static_cast<unsigned long long>(e.qualification));
  return Action::stop;
}

// Guest-linear to guest-physical for the monitor's own accesses (INS/OUTS): the guest's
// 32-bit page tables are walked in guest memory, with A/D bits set as the CPU would.
Result<GuestPhysAddr> linear_to_physical(const VCpu& vcpu, std::uint32_t linear, bool write) {
  if (!(vcpu.cr0 & x86::cr0::PG)) return GuestPhysAddr(linear);
  if (vcpu.cr4 & x86::cr4::PAE) return Error::unsupported;
  mem::GuestPageTable32 pt(platform().memory(), GuestPhysAddr(vcpu.cr3 & ~0xfffu), nullptr,
                           mem::PagingControls::from_registers(vcpu.cr0, vcpu.cr4, vcpu.msr_efer));
  mem::Access a;
  a.op = write ? mem::Access::Op::write : mem::Access::Op::read;
  a.user = vcpu.cpl == 3;
  auto r = pt.access(GuestVirtAddr(linear), a);
  if (!r.ok()) return r.error;
  return r.translation.phys;
}

[[maybe_unused]] Action string_io(VCpu& vcpu, const Event& e) {
  auto& p = platform();
  const unsigned size = e.io.size;
  std::uint32_t count = e.io.rep ? vcpu.regs.ecx : 1;
  if (count == 0) return Action::advance;
  const bool down = (vcpu.eflags & x86::eflags::DF) != 0;
  std::uint32_t linear = static_cast<std::uint32_t>(e.address);
  std::uint32_t& index = e.io.in ? vcpu.regs.edi : vcpu.regs.esi;
  std::uint32_t done = 0;
  for (; done < count && done < kMaxStringElementsPerExit; ++done) {
    auto gpa = linear_to_physical(vcpu, linear, e.io.in);
    if (!gpa.ok()) {
      if (gpa.error() == Error::fault) {
        // The element's page is not there: the guest's own #PF, raised where the CPU would.
        p.inject_exception(x86::vector::PF, true, e.io.in ? x86::pf_error::W : 0);
        vcpu.cr2 = linear;
        break;
      }
      return stop_because("INS/OUTS through paging the monitor cannot walk", e);
    }
    std::uint32_t v = 0;
    if (e.io.in) {
      v = p.ports().read_or_float(e.io.port, size);
      if (!p.memory().copy_in(gpa.value(), &v, size)) return stop_because("INS into unbacked memory", e);
    } else {
      if (!p.memory().copy_out(&v, gpa.value(), size)) return stop_because("OUTS from unbacked memory", e);
      (void)p.ports().write(e.io.port, size, v);
    }
    linear += down ? -size : size;
    index += down ? -size : size;
    if (e.io.rep) --vcpu.regs.ecx;
    if (p.guest_exited()) break;
  }
  if (p.has_pending_event()) return Action::resume;
  // A REP longer than one batch runs the instruction again for the rest.
  if (e.io.rep && vcpu.regs.ecx != 0 && !p.guest_exited()) return Action::resume;
  return Action::advance;
}

}  // namespace

Action handle_cpuid(VCpu& vcpu, const Event&) {
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

Action handle_io(VCpu& vcpu, const Event& e) {
  // BEGIN SOLUTION lab04-e6
  // SDM 27.2.1 table 27-5 gives port, size and direction; the device models do the rest.
  auto& p = platform();
  if (e.io.string) {
    Action a = string_io(vcpu, e);
    return p.guest_exited() || p.console_flooded() ? Action::stop : a;
  }
  const std::uint32_t mask = mask_of(e.io.size);
  if (e.io.in) {
    std::uint32_t v = p.ports().read_or_float(e.io.port, e.io.size);
    vcpu.regs.eax = (vcpu.regs.eax & ~mask) | (v & mask);
  } else {
    (void)p.ports().write(e.io.port, e.io.size, vcpu.regs.eax & mask);
  }
  if (p.guest_exited() || p.console_flooded()) return Action::stop;
  return Action::advance;
  // STUB: (void)vcpu; (void)e; return Action::stop;
  // END SOLUTION
}

Action handle_hlt(VCpu& vcpu, const Event&) {
  // The HLT completes; the vCPU sleeps until prepare_entry() finds an interrupt for it.
  vcpu.halted = true;
  return Action::advance;
}

Action handle_cr_access(VCpu& vcpu, const Event& e) {
  // Only bits the monitor owns (CR0.NE, CR4.VMXE: the guest/host masks) make MOV to CR0/CR4
  // exit; the guest sees its own values through the read shadows (SDM 25.6.6).
  const std::uint64_t q = e.qualification;
  const unsigned cr = vmx::cr_qual::cr(q);
  switch (vmx::cr_qual::access_type(q)) {
    case vmx::cr_qual::MOV_TO_CR: {
      std::uint32_t v = gpr(vcpu, vmx::cr_qual::gpr(q));
      if (cr == 0) {
        // SDM vol. 2 MOV CR: PG without PE, or NW without CD, is a #GP(0).
        if (((v & x86::cr0::PG) && !(v & x86::cr0::PE)) || ((v & x86::cr0::NW) && !(v & x86::cr0::CD))) {
          platform().inject_exception(x86::vector::GP, true, 0);
          return Action::resume;
        }
        vcpu.cr0 = v;
      } else if (cr == 4) {
        if (v & x86::cr4::VMXE) {  // VMX is hidden: setting CR4.VMXE faults as without VMX
          platform().inject_exception(x86::vector::GP, true, 0);
          return Action::resume;
        }
        vcpu.cr4 = v;
      } else if (cr == 3) {
        vcpu.cr3 = v;
      } else {
        return stop_because("MOV to an unexpected control register", e);
      }
      return Action::advance;
    }
    case vmx::cr_qual::MOV_FROM_CR: {
      std::uint32_t v = cr == 0 ? vcpu.cr0 : cr == 3 ? vcpu.cr3 : vcpu.cr4;
      gpr(vcpu, vmx::cr_qual::gpr(q)) = v;
      return Action::advance;
    }
    case vmx::cr_qual::CLTS:
      vcpu.cr0 &= ~x86::cr0::TS;
      return Action::advance;
    default: {  // LMSW: loads PE, MP, EM, TS; cannot clear PE.
      std::uint32_t src = vmx::cr_qual::lmsw_source(q) & 0xf;
      vcpu.cr0 = (vcpu.cr0 & ~0xeu) | src | (vcpu.cr0 & x86::cr0::PE);
      return Action::advance;
    }
  }
}

namespace {
constexpr std::uint32_t kIa32ApicBase = x86::msr::IA32_APIC_BASE;
bool is_vmx_capability_msr(std::uint32_t msr) { return msr >= 0x480 && msr <= 0x491; }
}  // namespace

Action handle_msr_read(VCpu& vcpu, const Event& e) {
  auto& p = platform();
  const std::uint32_t msr = vcpu.regs.ecx;
  std::uint64_t v = 0;
  switch (msr) {
    case x86::msr::IA32_TIME_STAMP_COUNTER: v = p.guest_tsc(x86::rdtsc()); break;
    case x86::msr::IA32_SYSENTER_CS: v = vcpu.msr_sysenter_cs; break;
    case x86::msr::IA32_SYSENTER_ESP: v = vcpu.msr_sysenter_esp; break;
    case x86::msr::IA32_SYSENTER_EIP: v = vcpu.msr_sysenter_eip; break;
    case x86::msr::IA32_PAT: v = vcpu.msr_pat; break;
    case x86::msr::IA32_EFER: v = vcpu.msr_efer; break;
    // Locked with VMX off: what a BIOS that disabled VMX leaves (SDM 24.7).
    case x86::msr::IA32_FEATURE_CONTROL: v = x86::msr::feature_control::LOCK; break;
    default: {
      if (is_vmx_capability_msr(msr)) {  // these do not exist without VMX
        p.inject_exception(x86::vector::GP, true, 0);
        return Action::resume;
      }
      auto r = safe_rdmsr(msr);
      if (!r.ok()) {
        p.inject_exception(x86::vector::GP, true, 0);
        return Action::resume;
      }
      v = r.value();
      (void)kIa32ApicBase;
    }
  }
  (void)e;
  vcpu.regs.eax = static_cast<std::uint32_t>(v);
  vcpu.regs.edx = static_cast<std::uint32_t>(v >> 32);
  return Action::advance;
}

Action handle_msr_write(VCpu& vcpu, const Event& e) {
  auto& p = platform();
  const std::uint32_t msr = vcpu.regs.ecx;
  const std::uint64_t v = (std::uint64_t{vcpu.regs.edx} << 32) | vcpu.regs.eax;
  switch (msr) {
    case x86::msr::IA32_TIME_STAMP_COUNTER: p.set_tsc_offset(v - x86::rdtsc()); break;
    case x86::msr::IA32_SYSENTER_CS: vcpu.msr_sysenter_cs = v; break;
    case x86::msr::IA32_SYSENTER_ESP: vcpu.msr_sysenter_esp = v; break;
    case x86::msr::IA32_SYSENTER_EIP: vcpu.msr_sysenter_eip = v; break;
    case x86::msr::IA32_PAT: {
      // Each byte must be a valid memory type (0, 1, 4, 5, 6, 7), SDM 13.12.2.
      for (unsigned i = 0; i < 8; ++i) {
        unsigned t = (v >> (8 * i)) & 0xff;
        if (t == 2 || t == 3 || t > 7) {
          p.inject_exception(x86::vector::GP, true, 0);
          return Action::resume;
        }
      }
      vcpu.msr_pat = v;
      break;
    }
    case x86::msr::IA32_EFER: {
      constexpr std::uint64_t kAllowed = x86::msr::efer::SCE | x86::msr::efer::NXE;
      if (v & ~kAllowed) {  // long mode is not offered to this 32-bit guest
        p.inject_exception(x86::vector::GP, true, 0);
        return Action::resume;
      }
      vcpu.msr_efer = v;
      break;
    }
    default:
      // Writes to real MSRs could reconfigure the monitor's own processor: refuse them as a
      // processor without that MSR would.
      (void)e;
      p.inject_exception(x86::vector::GP, true, 0);
      return Action::resume;
  }
  return Action::advance;
}

Action handle_external_interrupt(VCpu&, const Event&) {
  // The monitor's timer (the VMX-preemption timer): time moved on; prepare_entry() brings
  // the devices up to date and injects what became due.
  return Action::resume;
}

Action handle_interrupt_window(VCpu&, const Event&) { return Action::resume; }

Action handle_exception(VCpu&, const Event&) {
  // Only exceptions in the exception bitmap exit; give them back to the guest's IDT.
  return Action::reflect;
}

Action handle_privileged_instruction(VCpu& vcpu, const Event& e) {
  auto& p = platform();
  switch (e.raw_reason) {
    case vmx::exit_reason::INVD:
    case vmx::exit_reason::WBINVD:
      return Action::advance;  // guest memory is ordinary write-back RAM: nothing to flush
    case vmx::exit_reason::XSETBV: {
      // SDM vol. 2 XSETBV: #UD without CR4.OSXSAVE, #GP for a bad XCR or value.
      if (!(vcpu.cr4 & x86::cr4::OSXSAVE)) {
        p.inject_exception(x86::vector::UD);
        return Action::resume;
      }
      std::uint64_t v = (std::uint64_t{vcpu.regs.edx} << 32) | vcpu.regs.eax;
      if (vcpu.cpl != 0 || !safe_xsetbv(vcpu.regs.ecx, v).ok()) {
        p.inject_exception(x86::vector::GP, true, 0);
        return Action::resume;
      }
      return Action::advance;
    }
    default:
      // VMX instructions: the guest was told there is no VMX, so they are invalid opcodes.
      p.inject_exception(x86::vector::UD);
      return Action::resume;
  }
}

Action handle_hypercall(VCpu&, const Event&) {
  // VMCALL from a guest that does not know it is virtualized: #UD, as on bare hardware.
  platform().inject_exception(x86::vector::UD);
  return Action::resume;
}

Action handle_ept_violation(VCpu&, const Event& e) {
  platform().set_stop_reason("EPT violation: the guest touched guest-physical 0x%llx, which is not RAM "
                             "(eip %08x, qualification 0x%llx: %s%s%s)",
                             static_cast<unsigned long long>(e.address), e.guest_eip,
                             static_cast<unsigned long long>(e.qualification),
                             (e.qualification & vmx::ept_qual::READ) ? "read " : "",
                             (e.qualification & vmx::ept_qual::WRITE) ? "write " : "",
                             (e.qualification & vmx::ept_qual::FETCH) ? "fetch" : "");
  return Action::stop;
}

Action handle_ept_misconfig(VCpu&, const Event& e) {
  platform().set_stop_reason("EPT misconfiguration at guest-physical 0x%llx (eip %08x): an EPT entry has "
                             "reserved bits or W without R (SDM 29.3.3.1)",
                             static_cast<unsigned long long>(e.address), e.guest_eip);
  return Action::stop;
}

Action handle_triple_fault(VCpu&, const Event& e) { return stop_because("guest triple fault", e); }

Action handle_entry_failure(VCpu&, const Event& e) { return stop_because("VM entry failed", e); }

Action handle_unexpected(VCpu&, const Event& e) {
  platform().set_stop_reason("unhandled exit %u (%s) at eip %08x, qualification 0x%llx", e.raw_reason,
                             vmx::exit_reason_name(e.raw_reason), e.guest_eip,
                             static_cast<unsigned long long>(e.qualification));
  return Action::stop;
}

void install_handlers(vmm::Dispatcher& d) {
  using vmm::Reason;
  d.set_fallback(handle_unexpected);
  d.set(Reason::cpuid, handle_cpuid);
  d.set(Reason::io_instruction, handle_io);
  d.set(Reason::hlt, handle_hlt);
  d.set(Reason::cr_access, handle_cr_access);
  d.set(Reason::msr_read, handle_msr_read);
  d.set(Reason::msr_write, handle_msr_write);
  d.set(Reason::external_interrupt, handle_external_interrupt);
  d.set(Reason::interrupt_window, handle_interrupt_window);
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
