// The VMCS, written against the Vmcs interface: capabilities and controls, the initial
// state, exit decoding and the VCpu <-> VMCS synchronisation around each exit.

#include "common/runtime/exercise.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/arch/x86.hpp"
#include "common/devices/local_apic.hpp"
#include "lab04-vtx/src/vmcs.hpp"

namespace hvlab::vmx {

using x86::msr::IA32_VMX_BASIC;

Capabilities read_capabilities() {
  namespace m = x86::msr;
  Capabilities c;
  c.basic = x86::rdmsr(m::IA32_VMX_BASIC);
  const bool t = c.true_controls();
  c.pinbased = x86::rdmsr(t ? m::IA32_VMX_TRUE_PINBASED_CTLS : m::IA32_VMX_PINBASED_CTLS);
  c.procbased = x86::rdmsr(t ? m::IA32_VMX_TRUE_PROCBASED_CTLS : m::IA32_VMX_PROCBASED_CTLS);
  c.exit = x86::rdmsr(t ? m::IA32_VMX_TRUE_EXIT_CTLS : m::IA32_VMX_EXIT_CTLS);
  c.entry = x86::rdmsr(t ? m::IA32_VMX_TRUE_ENTRY_CTLS : m::IA32_VMX_ENTRY_CTLS);
  c.misc = x86::rdmsr(m::IA32_VMX_MISC);
  c.cr0_fixed0 = x86::rdmsr(m::IA32_VMX_CR0_FIXED0);
  c.cr0_fixed1 = x86::rdmsr(m::IA32_VMX_CR0_FIXED1);
  c.cr4_fixed0 = x86::rdmsr(m::IA32_VMX_CR4_FIXED0);
  c.cr4_fixed1 = x86::rdmsr(m::IA32_VMX_CR4_FIXED1);
  // Secondary controls and EPT capabilities exist only if the primary word can enable them.
  if ((c.procbased >> 32) & proc::ACTIVATE_SECONDARY_CONTROLS) {
    c.procbased2 = x86::rdmsr(m::IA32_VMX_PROCBASED_CTLS2);
    c.ept_vpid = x86::rdmsr(m::IA32_VMX_EPT_VPID_CAP);
  }
  return c;
}

std::uint32_t adjust_controls(std::uint64_t capability_msr, std::uint32_t wanted, std::uint32_t required,
                              std::uint32_t* missing) {
  // BEGIN SOLUTION lab04-e3
  // SDM A.3.1: bit X of the low half = 1 means control X must be 1 (its allowed-0 setting
  // is 0); bit X of the high half = 1 means control X may be 1.
  const std::uint32_t must_be_one = static_cast<std::uint32_t>(capability_msr);
  const std::uint32_t may_be_one = static_cast<std::uint32_t>(capability_msr >> 32);
  std::uint32_t value = (wanted | required | must_be_one) & may_be_one;
  if (missing) *missing = required & ~value;
  return value;
  // STUB: (void)capability_msr; (void)wanted; if (missing) *missing = required; return 0;
  // END SOLUTION
}

Result<Controls> choose_controls(const Capabilities& caps, char* why, unsigned why_size) {
  Controls c;
  std::uint32_t missing = 0;
  auto fail = [&](const char* word, std::uint32_t bits) -> Result<Controls> {
    if (why) format(why, why_size, "%s controls lack required bits 0x%08x", word, bits);
    return Error::unsupported;
  };
  // Pin-based: the VMX-preemption timer gives the monitor its own periodic exits (for the
  // virtual PIT) while the guest spins without exiting. Optional.
  c.pin = adjust_controls(caps.pinbased, pin::ACTIVATE_PREEMPTION_TIMER, 0, &missing);
  // Primary: exits for HLT and every I/O port; no CR3 or INVLPG exits (EPT makes the
  // guest's paging its own business); the guest's TSC is the host's plus an offset.
  // MSR bitmaps stay off, so every RDMSR/WRMSR exits.
  const std::uint32_t proc_required =
      proc::HLT_EXITING | proc::UNCONDITIONAL_IO_EXITING | proc::USE_TSC_OFFSETTING | proc::ACTIVATE_SECONDARY_CONTROLS;
  c.proc = adjust_controls(caps.procbased, proc::USE_TPR_SHADOW, proc_required, &missing);
  if (missing) return fail("primary processor-based", missing);
  if (c.proc & (proc::CR3_LOAD_EXITING | proc::CR3_STORE_EXITING | proc::INVLPG_EXITING)) {
    // Without the TRUE_* MSRs these default-1 bits cannot be cleared; CR3 exits would then
    // arrive, and handle_cr_access copes with them.
  }
  if (!((caps.procbased >> 32) & proc::INTERRUPT_WINDOW_EXITING)) return fail("interrupt-window", proc::INTERRUPT_WINDOW_EXITING);
  // Secondary: EPT maps guest-physical memory, VPID tags its TLB entries, unrestricted
  // guest lets it run with paging off (its multiboot entry state), SDM 25.6.2.
  // "Enable RDTSCP" where the processor has RDTSCP (without it RDTSCP is #UD in the guest,
  // which CPUID would then say it has, SDM 25.6.2); the guest's IA32_TSC_AUX is loaded into
  // the real MSR (handlers.cpp).
  const std::uint32_t proc2_required = proc2::ENABLE_EPT | proc2::ENABLE_VPID | proc2::UNRESTRICTED_GUEST;
  // APIC virtualization where the processor has all of it: the guest reads its local APIC
  // (xv6 reads the APIC ID on every lock) from the virtual-APIC page without an exit.
  const std::uint32_t proc2_apic = proc2::VIRTUALIZE_APIC_ACCESSES | proc2::APIC_REGISTER_VIRTUALIZATION;
  c.proc2 = adjust_controls(caps.procbased2, proc2::ENABLE_RDTSCP | proc2_apic, proc2_required, &missing);
  if (missing) return fail("secondary processor-based", missing);
  if (!caps.ept_walk4() || !caps.ept_wb()) return fail("EPT (4-level walk, write-back)", 0);
  if (!c.apic_virtualization()) {  // all of it or none: the APIC is then plain MMIO
    c.proc &= ~proc::USE_TPR_SHADOW;
    c.proc2 &= ~proc2_apic;
  }
  // Exit: save and load EFER and PAT so guest and host keep their own. A 32-bit host
  // leaves "host address-space size" clear.
  c.exit = adjust_controls(caps.exit,
                           exit_ctl::SAVE_IA32_EFER | exit_ctl::LOAD_IA32_EFER | exit_ctl::SAVE_IA32_PAT |
                               exit_ctl::LOAD_IA32_PAT,
                           0, &missing);
  c.exit &= ~exit_ctl::HOST_ADDRESS_SPACE_SIZE;
  c.entry = adjust_controls(caps.entry, entry_ctl::LOAD_IA32_EFER | entry_ctl::LOAD_IA32_PAT, 0, &missing);
  c.entry &= ~entry_ctl::IA32E_MODE_GUEST;
  return c;
}

std::uint32_t real_cr0(const Capabilities& caps, std::uint32_t guest_cr0, bool unrestricted) {
  std::uint32_t fixed1 = static_cast<std::uint32_t>(caps.cr0_fixed0);  // bits that must be 1
  if (unrestricted) fixed1 &= ~(x86::cr0::PE | x86::cr0::PG);           // SDM 27.3.1.1
  return (guest_cr0 | fixed1) & static_cast<std::uint32_t>(caps.cr0_fixed1);
}

std::uint32_t real_cr4(const Capabilities& caps, std::uint32_t guest_cr4) {
  return (guest_cr4 | static_cast<std::uint32_t>(caps.cr4_fixed0)) & static_cast<std::uint32_t>(caps.cr4_fixed1);
}

void setup_vmcs(Vmcs& v, const Capabilities& caps, const Controls& ctls, const HostState& host,
                const GuestStart& guest) {
  // BEGIN SOLUTION lab04-e2
  // Controls (SDM 25.6-25.8).
  v.write(field::PIN_BASED_VM_EXEC_CONTROL, ctls.pin);
  v.write(field::CPU_BASED_VM_EXEC_CONTROL, ctls.proc);
  v.write(field::SECONDARY_VM_EXEC_CONTROL, ctls.proc2);
  v.write(field::VM_EXIT_CONTROLS, ctls.exit);
  v.write(field::VM_ENTRY_CONTROLS, ctls.entry);
  v.write(field::EXCEPTION_BITMAP, 0);  // the guest handles its own exceptions
  v.write(field::PAGE_FAULT_ERROR_CODE_MASK, 0);
  v.write(field::PAGE_FAULT_ERROR_CODE_MATCH, 0);
  v.write(field::CR3_TARGET_COUNT, 0);
  v.write(field::VM_EXIT_MSR_STORE_COUNT, 0);
  v.write(field::VM_EXIT_MSR_LOAD_COUNT, 0);
  v.write(field::VM_ENTRY_MSR_LOAD_COUNT, 0);
  v.write(field::VM_ENTRY_INTR_INFO_FIELD, 0);
  v.write(field::TSC_OFFSET, 0);
  v.write(field::CR0_GUEST_HOST_MASK, kCr0Owned);
  v.write(field::CR4_GUEST_HOST_MASK, kCr4Owned);
  v.write(field::EPT_POINTER, guest.eptp);
  v.write(field::VIRTUAL_PROCESSOR_ID, guest.vpid);
  if (ctls.preemption_timer()) v.write(field::VMX_PREEMPTION_TIMER_VALUE, 0xffffffffu);

  // Host state (SDM 25.5): what the processor loads on every exit.
  v.write(field::HOST_CR0, host.cr0);
  v.write(field::HOST_CR3, host.cr3);
  v.write(field::HOST_CR4, host.cr4);
  v.write(field::HOST_CS_SELECTOR, host.cs);
  v.write(field::HOST_SS_SELECTOR, host.ss);
  v.write(field::HOST_DS_SELECTOR, host.ds);
  v.write(field::HOST_ES_SELECTOR, host.es);
  v.write(field::HOST_FS_SELECTOR, host.fs);
  v.write(field::HOST_GS_SELECTOR, host.gs);
  v.write(field::HOST_TR_SELECTOR, host.tr);
  v.write(field::HOST_FS_BASE, 0);
  v.write(field::HOST_GS_BASE, 0);
  v.write(field::HOST_TR_BASE, host.tr_base);
  v.write(field::HOST_GDTR_BASE, host.gdtr_base);
  v.write(field::HOST_IDTR_BASE, host.idtr_base);
  v.write(field::HOST_IA32_SYSENTER_CS, host.sysenter_cs);
  v.write(field::HOST_IA32_SYSENTER_ESP, host.sysenter_esp);
  v.write(field::HOST_IA32_SYSENTER_EIP, host.sysenter_eip);
  if (ctls.exit & exit_ctl::LOAD_IA32_EFER) v.write(field::HOST_IA32_EFER, host.efer);
  if (ctls.exit & exit_ctl::LOAD_IA32_PAT) v.write(field::HOST_IA32_PAT, host.pat);
  v.write(field::HOST_RIP, host.rip);  // HOST_RSP is written by the entry stub itself

  // Guest state (SDM 25.4): the multiboot hand-off, flat 32-bit protected mode, paging off.
  struct Seg {
    Field sel, base, limit, ar;
    std::uint16_t selector;
    std::uint32_t access;
  };
  // Access rights (SDM table 25-2): type, S, DPL, P, D/B, G; bit 16 = unusable.
  const Seg segs[] = {
      {Field::GUEST_CS_SELECTOR, Field::GUEST_CS_BASE, Field::GUEST_CS_LIMIT, Field::GUEST_CS_AR_BYTES, 0x08, 0xc09b},
      {Field::GUEST_SS_SELECTOR, Field::GUEST_SS_BASE, Field::GUEST_SS_LIMIT, Field::GUEST_SS_AR_BYTES, 0x10, 0xc093},
      {Field::GUEST_DS_SELECTOR, Field::GUEST_DS_BASE, Field::GUEST_DS_LIMIT, Field::GUEST_DS_AR_BYTES, 0x10, 0xc093},
      {Field::GUEST_ES_SELECTOR, Field::GUEST_ES_BASE, Field::GUEST_ES_LIMIT, Field::GUEST_ES_AR_BYTES, 0x10, 0xc093},
      {Field::GUEST_FS_SELECTOR, Field::GUEST_FS_BASE, Field::GUEST_FS_LIMIT, Field::GUEST_FS_AR_BYTES, 0x10, 0xc093},
      {Field::GUEST_GS_SELECTOR, Field::GUEST_GS_BASE, Field::GUEST_GS_LIMIT, Field::GUEST_GS_AR_BYTES, 0x10, 0xc093},
  };
  for (const Seg& s : segs) {
    v.write(s.sel, s.selector);
    v.write(s.base, 0);
    v.write(s.limit, 0xffffffffu);
    v.write(s.ar, s.access);
  }
  v.write(field::GUEST_LDTR_SELECTOR, 0);
  v.write(field::GUEST_LDTR_BASE, 0);
  v.write(field::GUEST_LDTR_LIMIT, 0);
  v.write(field::GUEST_LDTR_AR_BYTES, 0x10000);  // unusable
  // TR must be usable, a busy TSS (type 11), S = 0, present (SDM 27.3.1.2).
  v.write(field::GUEST_TR_SELECTOR, 0);
  v.write(field::GUEST_TR_BASE, 0);
  v.write(field::GUEST_TR_LIMIT, 0x67);
  v.write(field::GUEST_TR_AR_BYTES, 0x008b);
  v.write(field::GUEST_GDTR_BASE, 0);
  v.write(field::GUEST_GDTR_LIMIT, 0);
  v.write(field::GUEST_IDTR_BASE, 0);
  v.write(field::GUEST_IDTR_LIMIT, 0x3ff);

  const std::uint32_t cr0 = x86::cr0::PE | x86::cr0::ET;
  v.write(field::GUEST_CR0, real_cr0(caps, cr0, true));
  v.write(field::CR0_READ_SHADOW, cr0);
  v.write(field::GUEST_CR3, 0);
  v.write(field::GUEST_CR4, real_cr4(caps, 0));
  v.write(field::CR4_READ_SHADOW, 0);
  v.write(field::GUEST_DR7, 0x400);
  v.write(field::GUEST_RSP, 0);
  v.write(field::GUEST_RIP, guest.eip);
  v.write(field::GUEST_RFLAGS, x86::eflags::FIXED1);
  v.write(field::GUEST_PENDING_DBG_EXCEPTIONS, 0);
  v.write(field::GUEST_SYSENTER_CS, 0);
  v.write(field::GUEST_SYSENTER_ESP, 0);
  v.write(field::GUEST_SYSENTER_EIP, 0);
  v.write(field::GUEST_IA32_DEBUGCTL, 0);
  if (ctls.entry & entry_ctl::LOAD_IA32_PAT) v.write(field::GUEST_IA32_PAT, 0x0007040600070406ull);
  if (ctls.entry & entry_ctl::LOAD_IA32_EFER) v.write(field::GUEST_IA32_EFER, 0);
  v.write(field::VMCS_LINK_POINTER, ~0ull);  // no shadow VMCS (SDM 27.3.1.5)
  v.write(field::GUEST_INTERRUPTIBILITY_INFO, 0);
  v.write(field::GUEST_ACTIVITY_STATE, activity::ACTIVE);
  // STUB: (void)v; (void)caps; (void)ctls; (void)host; (void)guest;
  // END SOLUTION
}

void setup_apic_virtualization(Vmcs& v, std::uint64_t virtual_apic_page, std::uint64_t apic_access_page) {
  v.write(field::VIRTUAL_APIC_PAGE_ADDR, virtual_apic_page);
  v.write(field::APIC_ACCESS_ADDR, apic_access_page);
  v.write(field::TPR_THRESHOLD, 0);
}

std::uint32_t tpr_threshold(const std::uint32_t* vapic) {
  const std::uint32_t tpr_class = (vapic[dev::LocalApic::kTpr / 4] >> 4) & 0xf;
  for (int word = 7; word >= 0; --word) {
    const std::uint32_t irr = vapic[(dev::LocalApic::kIrr + 0x10 * static_cast<unsigned>(word)) / 4];
    if (irr == 0) continue;
    const std::uint32_t vector = static_cast<std::uint32_t>(word) * 32 + 31 - static_cast<std::uint32_t>(__builtin_clz(irr));
    const std::uint32_t irr_class = vector >> 4;
    return irr_class <= tpr_class ? irr_class : 0;
  }
  return 0;
}

vmm::Reason reason_for(std::uint32_t basic, std::uint32_t exit_intr_info) {
  using vmm::Reason;
  namespace r = exit_reason;
  switch (basic) {
    case r::EXCEPTION_OR_NMI:
      if (intr_info::type(exit_intr_info) == intr_info::NMI) return Reason::external_interrupt;
      return (exit_intr_info & intr_info::VECTOR_MASK) == x86::vector::PF ? Reason::page_fault : Reason::exception;
    case r::EXTERNAL_INTERRUPT:
    case r::PREEMPTION_TIMER: return Reason::external_interrupt;
    case r::INTERRUPT_WINDOW: return Reason::interrupt_window;
    case r::TRIPLE_FAULT: return Reason::triple_fault;
    case r::CPUID: return Reason::cpuid;
    case r::HLT: return Reason::hlt;
    case r::INVLPG: return Reason::invlpg;
    case r::VMCALL: return Reason::hypercall;
    case r::CR_ACCESS: return Reason::cr_access;
    case r::IO_INSTRUCTION: return Reason::io_instruction;
    case r::RDMSR: return Reason::msr_read;
    case r::WRMSR: return Reason::msr_write;
    case r::ENTRY_FAILURE_GUEST_STATE:
    case r::ENTRY_FAILURE_MSR_LOADING:
    case r::ENTRY_FAILURE_MACHINE_CHECK: return Reason::entry_failure;
    case r::EPT_VIOLATION: return Reason::ept_violation;
    case r::APIC_ACCESS:
    case r::APIC_WRITE: return Reason::mmio;
    case r::TPR_BELOW_THRESHOLD: return Reason::interrupt_window;
    case r::EPT_MISCONFIG: return Reason::ept_misconfig;
    case r::INVD:
    case r::WBINVD:
    case r::XSETBV:
    case r::GETSEC:
    case r::VMCLEAR:
    case r::VMLAUNCH:
    case r::VMPTRLD:
    case r::VMPTRST:
    case r::VMREAD:
    case r::VMRESUME:
    case r::VMWRITE:
    case r::VMXOFF:
    case r::VMXON:
    case r::INVEPT:
    case r::INVVPID:
    case r::VMFUNC: return Reason::privileged_instruction;
    default: return Reason::other;
  }
}

void decode_io_exit(std::uint64_t q, std::uint32_t guest_linear_address, vmm::IoAccess* io) {
  // BEGIN SOLUTION lab04-e6
  // SDM 28.2.1 table 28-5: size - 1 in bits 2:0, IN in bit 3, string in 4, REP in 5, the
  // port in bits 31:16. For INS/OUTS the processor also saved the element's linear address.
  io->port = io_qual::port(q);
  io->size = static_cast<std::uint8_t>(io_qual::size(q));
  io->in = io_qual::in(q);
  io->string = io_qual::string(q);
  io->rep = io_qual::rep(q);
  io->linear = GuestVirtAddr(io->string ? guest_linear_address : 0);
  // STUB: (void)q; (void)guest_linear_address; (void)io;
  // END SOLUTION
}

void decode_cr_exit(std::uint64_t q, vmm::CrAccess* cr) {
  using T = vmm::CrAccess::Type;
  cr->cr = static_cast<std::uint8_t>(cr_qual::cr(q));
  cr->gpr = static_cast<std::uint8_t>(cr_qual::gpr(q));
  cr->lmsw_source = cr_qual::lmsw_source(q);
  switch (cr_qual::access_type(q)) {
    case cr_qual::MOV_TO_CR: cr->type = T::mov_to; break;
    case cr_qual::MOV_FROM_CR: cr->type = T::mov_from; break;
    case cr_qual::CLTS: cr->type = T::clts; break;
    default: cr->type = T::lmsw; break;
  }
}

namespace {
vmm::PrivilegedOp op_for(std::uint32_t basic) {
  namespace r = exit_reason;
  switch (basic) {
    case r::INVD: return vmm::PrivilegedOp::invd;
    case r::WBINVD: return vmm::PrivilegedOp::wbinvd;
    case r::XSETBV: return vmm::PrivilegedOp::xsetbv;
    case r::RDTSC: return vmm::PrivilegedOp::rdtsc;
    case r::RDTSCP: return vmm::PrivilegedOp::rdtscp;
    case r::RDPMC: return vmm::PrivilegedOp::rdpmc;
    case r::MONITOR: return vmm::PrivilegedOp::monitor;
    case r::MWAIT: return vmm::PrivilegedOp::mwait;
    default: return vmm::PrivilegedOp::vmx_instruction;
  }
}
}  // namespace

vmm::Event decode_exit(Vmcs& v, const vmm::GeneralRegisters& regs) {
  vmm::Event e;
  e.source = vmm::Source::vm_exit;
  const std::uint32_t reason = v.read(field::VM_EXIT_REASON);
  const std::uint32_t basic = reason & 0xffff;
  e.raw_reason = basic;
  e.raw_qualification = v.read(field::EXIT_QUALIFICATION);
  e.guest_eip = v.read(field::GUEST_RIP);
  e.guest_cpl = static_cast<std::uint8_t>((v.read(field::GUEST_SS_AR_BYTES) >> 5) & 3);
  if (reason & exit_reason::ENTRY_FAILURE_BIT) {
    e.reason = vmm::Reason::entry_failure;
    return e;
  }
  std::uint32_t intr = 0;
  if (basic == exit_reason::EXCEPTION_OR_NMI) intr = v.read(field::VM_EXIT_INTR_INFO);
  e.reason = reason_for(basic, intr);
  const std::uint64_t q = e.raw_qualification;
  switch (e.reason) {
    case vmm::Reason::exception:
    case vmm::Reason::page_fault:
      e.exception.vector = static_cast<std::uint8_t>(intr & intr_info::VECTOR_MASK);
      if (intr & intr_info::DELIVER_ERROR_CODE) {
        e.exception.has_error_code = true;
        e.exception.error_code = v.read(field::VM_EXIT_INTR_ERROR_CODE);
      }
      if (e.reason == vmm::Reason::page_fault) {  // the qualification is the faulting linear address
        e.memory.linear = GuestVirtAddr(static_cast<std::uint32_t>(q));
        e.memory.has_linear = true;
      }
      break;
    case vmm::Reason::io_instruction: decode_io_exit(q, v.read(field::GUEST_LINEAR_ADDRESS), &e.io); break;
    case vmm::Reason::msr_read:
    case vmm::Reason::msr_write: e.msr.index = regs.ecx; break;
    case vmm::Reason::cr_access: decode_cr_exit(q, &e.cr); break;
    case vmm::Reason::invlpg:
      e.memory.linear = GuestVirtAddr(static_cast<std::uint32_t>(q));
      e.memory.has_linear = true;
      break;
    case vmm::Reason::ept_violation:
    case vmm::Reason::ept_misconfig:
      e.memory.physical = GuestPhysAddr(v.read(field::GUEST_PHYSICAL_ADDRESS));
      e.memory.has_physical = true;
      e.memory.read = (q & ept_qual::READ) != 0;
      e.memory.write = (q & ept_qual::WRITE) != 0;
      e.memory.fetch = (q & ept_qual::FETCH) != 0;
      if (q & ept_qual::LINEAR_VALID) {
        e.memory.linear = GuestVirtAddr(v.read(field::GUEST_LINEAR_ADDRESS));
        e.memory.has_linear = true;
      }
      break;
    case vmm::Reason::privileged_instruction: e.op = op_for(basic); break;
    case vmm::Reason::mmio: {
      // SDM 28.2.1 table 28-6: the offset in the APIC page in bits 11:0; for an APIC-access
      // exit the access type in bits 15:12 (0 linear read, 1 linear write, 2 fetch; others
      // are accesses during event delivery or by guest-physical address). An APIC-write
      // exit follows a write the processor completed into the virtual-APIC page, where the
      // back end finds its value.
      const std::uint32_t offset = static_cast<std::uint32_t>(q & 0xfff);
      e.memory.physical = GuestPhysAddr(dev::LocalApic::kDefaultBase + offset);
      e.memory.has_physical = true;
      if (basic == exit_reason::APIC_WRITE) {
        e.memory.write = true;
        e.memory.size = 4;
        break;
      }
      const unsigned type = static_cast<unsigned>(q >> 12) & 0xf;
      if (type > 2) {
        e.reason = vmm::Reason::other;  // nothing to emulate: the fallback names the exit
        break;
      }
      e.memory.read = type == 0;
      e.memory.write = type == 1;
      e.memory.fetch = type == 2;
      break;
    }
    default: break;
  }
  // Defined for instruction exits (SDM 28.2.5); harmless to read for the others.
  e.insn_length = static_cast<std::uint8_t>(v.read(field::VM_EXIT_INSTRUCTION_LEN));
  return e;
}

void load_vcpu(Vmcs& v, vmm::VCpu& c) {
  c.eip = v.read(field::GUEST_RIP);
  c.eflags = v.read(field::GUEST_RFLAGS);
  c.regs.esp = v.read(field::GUEST_RSP);
  // The guest's view of CR0/CR4: its own bits from the shadow where the monitor owns them.
  const std::uint32_t cr0 = v.read(field::GUEST_CR0);
  const std::uint32_t cr4 = v.read(field::GUEST_CR4);
  c.cr0 = (cr0 & ~kCr0Owned) | (v.read(field::CR0_READ_SHADOW) & kCr0Owned);
  c.cr4 = (cr4 & ~kCr4Owned) | (v.read(field::CR4_READ_SHADOW) & kCr4Owned);
  c.cr3 = v.read(field::GUEST_CR3);
  c.cs_base = v.read(field::GUEST_CS_BASE);
  c.cpl = static_cast<std::uint8_t>((v.read(field::GUEST_SS_AR_BYTES) >> 5) & 3);
  const std::uint32_t blocking = v.read(field::GUEST_INTERRUPTIBILITY_INFO);
  c.interrupt_shadow = (blocking & (interruptibility::BLOCKING_BY_STI | interruptibility::BLOCKING_BY_MOV_SS)) != 0;
}

void store_vcpu(Vmcs& v, const Capabilities& caps, const vmm::VCpu& b, const vmm::VCpu& n, bool unrestricted) {
  if (n.eip != b.eip) v.write(field::GUEST_RIP, n.eip);
  if (n.eflags != b.eflags) v.write(field::GUEST_RFLAGS, n.eflags);
  if (n.regs.esp != b.regs.esp) v.write(field::GUEST_RSP, n.regs.esp);
  if (b.interrupt_shadow && (n.eip != b.eip || !n.interrupt_shadow)) {
    // The instruction that caused the blocking has completed (the monitor emulated or
    // skipped what followed it), so the one-instruction window is over.
    std::uint32_t blocking = v.read(field::GUEST_INTERRUPTIBILITY_INFO);
    blocking &= ~(interruptibility::BLOCKING_BY_STI | interruptibility::BLOCKING_BY_MOV_SS);
    v.write(field::GUEST_INTERRUPTIBILITY_INFO, blocking);
  }
  if (n.cr0 != b.cr0) {
    v.write(field::GUEST_CR0, real_cr0(caps, n.cr0, unrestricted));
    v.write(field::CR0_READ_SHADOW, n.cr0);
  }
  if (n.cr4 != b.cr4) {
    v.write(field::GUEST_CR4, real_cr4(caps, n.cr4));
    v.write(field::CR4_READ_SHADOW, n.cr4);
  }
  if (n.cr3 != b.cr3) v.write(field::GUEST_CR3, n.cr3);
  if (n.msr_efer != b.msr_efer) v.write(field::GUEST_IA32_EFER, n.msr_efer);
  if (n.msr_pat != b.msr_pat) v.write(field::GUEST_IA32_PAT, n.msr_pat);
  if (n.msr_sysenter_cs != b.msr_sysenter_cs) v.write(field::GUEST_SYSENTER_CS, n.msr_sysenter_cs);
  if (n.msr_sysenter_esp != b.msr_sysenter_esp) v.write(field::GUEST_SYSENTER_ESP, n.msr_sysenter_esp);
  if (n.msr_sysenter_eip != b.msr_sysenter_eip) v.write(field::GUEST_SYSENTER_EIP, n.msr_sysenter_eip);
}

namespace {
std::uint32_t vmx_type(vmm::PendingEvent::Type t) {
  using T = vmm::PendingEvent::Type;
  switch (t) {
    case T::external_interrupt: return intr_info::EXTERNAL_INTERRUPT;
    case T::nmi: return intr_info::NMI;
    case T::hardware_exception: return intr_info::HARDWARE_EXCEPTION;
    case T::software_interrupt: return intr_info::SOFTWARE_INTERRUPT;
    case T::privileged_software_exception: return intr_info::PRIVILEGED_SOFTWARE_EXCEPTION;
    case T::software_exception: return intr_info::SOFTWARE_EXCEPTION;
  }
  return intr_info::HARDWARE_EXCEPTION;
}
}  // namespace

void inject_event(Vmcs& v, const vmm::PendingEvent& e) {
  // BEGIN SOLUTION lab04-e7
  // SDM 25.8.3: vector in bits 7:0, type in 10:8, "deliver error code" in bit 11, valid in
  // bit 31. Software events need the instruction length so the pushed EIP is past them.
  const std::uint32_t type = vmx_type(e.type);
  v.write(field::VM_ENTRY_INTR_INFO_FIELD, intr_info::make(e.vector, static_cast<intr_info::Type>(type), e.has_error_code));
  if (e.has_error_code) v.write(field::VM_ENTRY_EXCEPTION_ERROR_CODE, e.error_code);
  if (type >= intr_info::SOFTWARE_INTERRUPT) v.write(field::VM_ENTRY_INSTRUCTION_LEN, e.insn_length);
  // STUB: (void)v; (void)e;
  // END SOLUTION
}

void set_interrupt_window(Vmcs& v, const Controls& ctls, bool on) {
  v.write(field::CPU_BASED_VM_EXEC_CONTROL, on ? ctls.proc | proc::INTERRUPT_WINDOW_EXITING : ctls.proc);
}

void arm_preemption_timer(Vmcs& v, const Capabilities& caps, const Controls& ctls, std::uint64_t host_ticks) {
  if (!ctls.preemption_timer()) return;
  // The timer counts host TSC ticks >> rate (SDM 26.5.1).
  std::uint64_t t = host_ticks ? host_ticks >> caps.preemption_timer_rate() : 0xffffffffull;
  if (t == 0) t = 1;
  if (t > 0xffffffffull) t = 0xffffffffull;
  v.write(field::VMX_PREEMPTION_TIMER_VALUE, static_cast<std::uint32_t>(t));
}

vmm::PendingEvent interrupted_event(Vmcs& v) {
  vmm::PendingEvent e;
  const std::uint32_t info = v.read(field::IDT_VECTORING_INFO_FIELD);
  if (!(info & intr_info::VALID)) return e;
  using T = vmm::PendingEvent::Type;
  e.valid = true;
  e.vector = static_cast<std::uint8_t>(info & intr_info::VECTOR_MASK);
  switch (intr_info::type(info)) {
    case intr_info::EXTERNAL_INTERRUPT: e.type = T::external_interrupt; break;
    case intr_info::NMI: e.type = T::nmi; break;
    case intr_info::SOFTWARE_INTERRUPT: e.type = T::software_interrupt; break;
    case intr_info::PRIVILEGED_SOFTWARE_EXCEPTION: e.type = T::privileged_software_exception; break;
    case intr_info::SOFTWARE_EXCEPTION: e.type = T::software_exception; break;
    default: e.type = T::hardware_exception; break;
  }
  if (info & intr_info::DELIVER_ERROR_CODE) {
    e.has_error_code = true;
    e.error_code = v.read(field::IDT_VECTORING_ERROR_CODE);
  }
  if (intr_info::type(info) >= intr_info::SOFTWARE_INTERRUPT)
    e.insn_length = static_cast<std::uint8_t>(v.read(field::VM_EXIT_INSTRUCTION_LEN));
  return e;
}

}  // namespace hvlab::vmx
