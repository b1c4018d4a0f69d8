#include "lab04-vtx/src/svm.hpp"

#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/arch/paging.hpp"
#include "common/arch/x86.hpp"

namespace hvlab::lab04::svm {

namespace {

// The VMCB's segment attributes are the VMX access rights, compressed (APM 15.5.1).
std::uint16_t attrib(std::uint32_t vmx_ar) { return static_cast<std::uint16_t>((vmx_ar & 0xff) | ((vmx_ar >> 4) & 0xf00)); }

}  // namespace

void setup_vmcb(Vmcb& v, const Setup& s) {
  using namespace intercept;
  v.set<std::uint32_t>(vmcb::INTERCEPT_MISC1, kIntr | kCpuid | kInvd | kHlt | kIoio | kMsr | kShutdown);
  v.set<std::uint32_t>(vmcb::INTERCEPT_MISC2, kVmrun | kVmmcall | kWbinvd | kXsetbv);
  v.set<std::uint64_t>(vmcb::IOPM_BASE_PA, s.iopm);
  v.set<std::uint64_t>(vmcb::MSRPM_BASE_PA, s.msrpm);
  v.set<std::uint32_t>(vmcb::GUEST_ASID, 1);
  v.set<std::uint8_t>(vmcb::TLB_CONTROL, 1);       // flush this ASID on the first run
  v.set<std::uint64_t>(vmcb::VINTR, 1ull << 24);  // V_INTR_MASKING: the host's IF masks real IRQs
  v.set<std::uint64_t>(vmcb::NP_ENABLE, 1);
  v.set<std::uint64_t>(vmcb::N_CR3, s.ncr3);
  // The multiboot hand-off, as for VT-x (attributes are the VMX access rights, compressed).
  v.segment(vmcb::CS, 0x08, attrib(0xc09b), 0xffffffff, 0);
  for (std::uint32_t seg : {vmcb::SS, vmcb::DS, vmcb::ES, vmcb::FS, vmcb::GS})
    v.segment(seg, 0x10, attrib(0xc093), 0xffffffff, 0);
  v.segment(vmcb::LDTR, 0, 0, 0, 0);
  v.segment(vmcb::TR, 0, attrib(0x8b), 0x67, 0);
  v.segment(vmcb::GDTR, 0, 0, 0, 0);
  v.segment(vmcb::IDTR, 0, 0, 0x3ff, 0);
  v.set<std::uint64_t>(vmcb::EFER, x86::msr::efer::SVME);
  v.set<std::uint64_t>(vmcb::CR0, x86::cr0::PE | x86::cr0::ET);
  v.set<std::uint64_t>(vmcb::DR7, 0x400);
  v.set<std::uint64_t>(vmcb::DR6, 0xffff0ff0);
  v.set<std::uint64_t>(vmcb::RFLAGS, x86::eflags::FIXED1);
  v.set<std::uint64_t>(vmcb::RIP, s.eip);
  v.set<std::uint64_t>(vmcb::RAX, s.eax);
  v.set<std::uint64_t>(vmcb::G_PAT, 0x0007040600070406ull);
}

SvmBackend::SvmBackend(vmm::Board& board, Vmcb vmcb, std::uint32_t vmcb_pa, std::uint32_t host_save_pa, RunFn run,
                       FormatSink& diag)
    : Backend(board), v_(vmcb), vmcb_pa_(vmcb_pa), host_save_pa_(host_save_pa), run_(run), diag_(diag) {}

std::uint64_t SvmBackend::now() { return x86::rdtsc(); }

void SvmBackend::load_initial_state(vmm::VCpu& vcpu, std::uint32_t ebx) {
  load_vcpu(vcpu);
  vcpu.regs.ebx = ebx;
  vcpu.cs = 0x08;
  vcpu.ss = vcpu.ds = vcpu.es = vcpu.fs = vcpu.gs = 0x10;
  before_ = vcpu;
}

void SvmBackend::load_vcpu(vmm::VCpu& c) {
  c.eip = static_cast<std::uint32_t>(v_.get<std::uint64_t>(vmcb::RIP));
  c.eflags = static_cast<std::uint32_t>(v_.get<std::uint64_t>(vmcb::RFLAGS));
  c.regs.esp = static_cast<std::uint32_t>(v_.get<std::uint64_t>(vmcb::RSP));
  c.regs.eax = static_cast<std::uint32_t>(v_.get<std::uint64_t>(vmcb::RAX));
  c.cr2 = static_cast<std::uint32_t>(v_.get<std::uint64_t>(vmcb::CR2));
  // No control-register intercepts: the guest's paging is its own, behind the nested table.
  c.cr0 = static_cast<std::uint32_t>(v_.get<std::uint64_t>(vmcb::CR0));
  c.cr3 = static_cast<std::uint32_t>(v_.get<std::uint64_t>(vmcb::CR3));
  c.cr4 = static_cast<std::uint32_t>(v_.get<std::uint64_t>(vmcb::CR4));
  c.cpl = v_.get<std::uint8_t>(vmcb::CPL);
  c.cs = v_.get<std::uint16_t>(vmcb::CS);
  c.cs_base = static_cast<std::uint32_t>(v_.get<std::uint64_t>(vmcb::CS + 8));
  c.ss = v_.get<std::uint16_t>(vmcb::SS);
  c.ds = v_.get<std::uint16_t>(vmcb::DS);
  c.es = v_.get<std::uint16_t>(vmcb::ES);
  c.fs = v_.get<std::uint16_t>(vmcb::FS);
  c.gs = v_.get<std::uint16_t>(vmcb::GS);
  c.interrupt_shadow = v_.get<std::uint64_t>(vmcb::INTERRUPT_SHADOW) & 1;
  c.msr_efer = v_.get<std::uint64_t>(vmcb::EFER) & ~x86::msr::efer::SVME;
}

void SvmBackend::store_vcpu(const vmm::VCpu& n) {
  const vmm::VCpu& b = before_;
  if (n.eip != b.eip) {
    v_.set<std::uint64_t>(vmcb::RIP, n.eip);
    v_.set<std::uint64_t>(vmcb::INTERRUPT_SHADOW, 0);  // the shadowed instruction is past
  }
  v_.set<std::uint64_t>(vmcb::RFLAGS, n.eflags);
  v_.set<std::uint64_t>(vmcb::RSP, n.regs.esp);
  v_.set<std::uint64_t>(vmcb::RAX, n.regs.eax);
  if (n.cr2 != b.cr2) v_.set<std::uint64_t>(vmcb::CR2, n.cr2);
  // EFER.SVME must stay set in the guest's EFER (APM 15.5.1); the guest does not see it.
  if (n.msr_efer != b.msr_efer) v_.set<std::uint64_t>(vmcb::EFER, n.msr_efer | x86::msr::efer::SVME);
  if (n.msr_pat != b.msr_pat) v_.set<std::uint64_t>(vmcb::G_PAT, n.msr_pat);
  if (n.msr_sysenter_cs != b.msr_sysenter_cs) v_.set<std::uint64_t>(vmcb::SYSENTER_CS, n.msr_sysenter_cs);
  if (n.msr_sysenter_esp != b.msr_sysenter_esp) v_.set<std::uint64_t>(vmcb::SYSENTER_ESP, n.msr_sysenter_esp);
  if (n.msr_sysenter_eip != b.msr_sysenter_eip) v_.set<std::uint64_t>(vmcb::SYSENTER_EIP, n.msr_sysenter_eip);

  if (n.cr0 != b.cr0) v_.set<std::uint64_t>(vmcb::CR0, n.cr0);
  if (n.cr3 != b.cr3) v_.set<std::uint64_t>(vmcb::CR3, n.cr3);
  if (n.cr4 != b.cr4) v_.set<std::uint64_t>(vmcb::CR4, n.cr4);
}

bool SvmBackend::inject(vmm::VCpu&, const vmm::PendingEvent& e) {
  // EVENTINJ (APM 15.20): vector, type (0 INTR, 2 NMI, 3 exception, 4 software int), EV, V.
  using T = vmm::PendingEvent::Type;
  const std::uint64_t type = e.type == T::external_interrupt ? 0 : e.type == T::nmi ? 2 : e.type == T::software_interrupt ? 4 : 3;
  std::uint64_t inj = e.vector | (type << 8) | (1ull << 31);
  if (e.has_error_code) inj |= (1ull << 11) | (std::uint64_t{e.error_code} << 32);
  v_.set<std::uint64_t>(vmcb::EVENTINJ, inj);
  return true;
}

void SvmBackend::request_interrupt_window(vmm::VCpu&, bool on) {
  // A virtual interrupt (V_IRQ, ignoring the TPR) whose acceptance is intercepted (VINTR) as
  // soon as the guest can take it.
  std::uint64_t vintr = v_.get<std::uint64_t>(vmcb::VINTR) & ~((1ull << 8) | (1ull << 20));
  std::uint32_t misc1 = v_.get<std::uint32_t>(vmcb::INTERCEPT_MISC1) & ~intercept::kVintr;
  if (on) {
    vintr |= (1ull << 8) | (1ull << 20);
    misc1 |= intercept::kVintr;
  }
  v_.set<std::uint64_t>(vmcb::VINTR, vintr);
  v_.set<std::uint32_t>(vmcb::INTERCEPT_MISC1, misc1);
}

vmm::Event SvmBackend::enter(vmm::VCpu& vcpu) {
  store_vcpu(vcpu);
  entry_time_ = now();
  board_.on_entry(entry_time_);  // before TSC_OFFSET is written: this entry's offset hides it already
  v_.set<std::uint64_t>(vmcb::TSC_OFFSET, board_.tsc_offset());
  v_.set<std::uint32_t>(vmcb::CLEAN, 0);  // everything may have changed
  vmm::GeneralRegisters regs = vcpu.regs;
  run_(&regs, vmcb_pa_, host_save_pa_);
  exit_time_ = now();
  v_.set<std::uint8_t>(vmcb::TLB_CONTROL, 0);  // the first run flushed this ASID
  v_.set<std::uint64_t>(vmcb::EVENTINJ, 0);  // taken, or reported in EXITINTINFO below
  const std::uint32_t code = static_cast<std::uint32_t>(v_.get<std::uint64_t>(vmcb::EXITCODE));
  vcpu.regs = regs;
  load_vcpu(vcpu);
  vmm::Event e = decode(code, vcpu);
  // EXITINTINFO: an event whose delivery the exit interrupted goes in again (APM 15.7.2).
  const std::uint64_t cut = v_.get<std::uint64_t>(vmcb::EXITINTINFO);
  if (cut & (1ull << 31)) {
    vmm::PendingEvent p;
    p.valid = true;
    p.vector = static_cast<std::uint8_t>(cut & 0xff);
    const unsigned type = (cut >> 8) & 7;
    p.type = type == 0 ? vmm::PendingEvent::Type::external_interrupt
             : type == 4 ? vmm::PendingEvent::Type::software_interrupt
                         : vmm::PendingEvent::Type::hardware_exception;
    p.has_error_code = (cut >> 11) & 1;
    p.error_code = static_cast<std::uint32_t>(cut >> 32);
    board_.inject(p);
  }
  if (e.reason == vmm::Reason::entry_failure)
    format_to(diag_, "VMRUN failed: #VMEXIT(INVALID), the VMCB's guest state is illegal (APM 15.5.1)\n");
  before_ = vcpu;
  return e;
}

vmm::Event SvmBackend::decode(std::uint32_t code, const vmm::VCpu& vcpu) {
  using namespace exit_code;
  vmm::Event e;
  e.source = vmm::Source::vm_exit;
  e.raw_reason = code;
  e.raw_qualification = v_.get<std::uint64_t>(vmcb::EXITINFO1);
  e.guest_eip = vcpu.eip;
  e.guest_cpl = vcpu.cpl;
  const std::uint64_t q = e.raw_qualification;
  switch (code) {
    case kCpuid: e.reason = vmm::Reason::cpuid; e.insn_length = 2; break;
    case kHlt: e.reason = vmm::Reason::hlt; e.insn_length = 1; break;
    case kMsr:
      e.reason = q ? vmm::Reason::msr_write : vmm::Reason::msr_read;
      e.msr.index = vcpu.regs.ecx;
      e.insn_length = 2;
      break;
    case kIoio: {
      // EXITINFO1 (APM 15.10.2): bit 0 IN, 2 string, 3 REP, 4-6 size, 31:16 port;
      // EXITINFO2 is the next instruction's address.
      e.reason = vmm::Reason::io_instruction;
      e.io.port = static_cast<std::uint16_t>(q >> 16);
      e.io.size = (q & 0x10) ? 1 : (q & 0x20) ? 2 : 4;
      e.io.in = q & 1;
      e.io.string = (q >> 2) & 1;
      e.io.rep = (q >> 3) & 1;
      if (e.io.string) {
        const std::uint32_t seg = e.io.in ? vmcb::ES : vmcb::DS;
        e.io.linear = GuestVirtAddr(static_cast<std::uint32_t>(v_.get<std::uint64_t>(seg + 8)) +
                                    (e.io.in ? vcpu.regs.edi : vcpu.regs.esi));
      }
      e.insn_length = static_cast<std::uint8_t>(v_.get<std::uint64_t>(vmcb::EXITINFO2) - vcpu.eip);
      break;
    }
    case kIntr: e.reason = vmm::Reason::external_interrupt; break;
    case kVintr: e.reason = vmm::Reason::interrupt_window; break;
    case kShutdown: e.reason = vmm::Reason::triple_fault; break;
    case kNpf:
      // EXITINFO1 is a #PF-style error code (APM 15.25.6): P, W, U, RSVD, fetch; EXITINFO2 the address.
      e.reason = vmm::Reason::ept_violation;
      e.memory.physical = GuestPhysAddr(v_.get<std::uint64_t>(vmcb::EXITINFO2));
      e.memory.has_physical = true;
      e.memory.write = (q & 2) != 0;
      e.memory.fetch = (q & 0x10) != 0;
      e.memory.read = !e.memory.write && !e.memory.fetch;
      break;
    case kInvd: e.reason = vmm::Reason::privileged_instruction; e.op = vmm::PrivilegedOp::invd; e.insn_length = 2; break;
    case kWbinvd: e.reason = vmm::Reason::privileged_instruction; e.op = vmm::PrivilegedOp::wbinvd; e.insn_length = 2; break;
    case kXsetbv: e.reason = vmm::Reason::privileged_instruction; e.op = vmm::PrivilegedOp::xsetbv; e.insn_length = 3; break;
    case kVmrun: e.reason = vmm::Reason::privileged_instruction; e.op = vmm::PrivilegedOp::svm_instruction; e.insn_length = 3; break;
    case kVmmcall: e.reason = vmm::Reason::hypercall; e.insn_length = 3; break;
    case kInvalid: e.reason = vmm::Reason::entry_failure; break;
    default: e.reason = vmm::Reason::other; break;
  }
  return e;
}

}  // namespace hvlab::lab04::svm
