// The AMD-V back end (AMD64 APM vol. 2, chapter 15), for QEMU's SVM emulation (-cpu max).
// It shares everything but the hardware interface with the VT-x back end: the Platform, the
// handlers and the Dispatcher. Each #VMEXIT becomes the same kit-level Event, with the
// details in the VT-x layout the handlers expect (handlers.hpp).
//
// Differences a student should notice:
//   - no capability MSRs to adjust against: intercepts are plain bit vectors in the VMCB;
//   - no fixed CR0 bits: the guest starts with paging off without "unrestricted guest";
//   - no next-RIP on this processor model (no NRIPS): instruction lengths are known per
//     intercept (CPUID 2, HLT 1, RDMSR 2, ...), and IOIO gives the next RIP in EXITINFO2;
//   - no preemption timer: the monitor's real PIT interrupts the guest (INTR intercept);
//   - nested paging: the table format follows the *host's* paging mode at VMRUN (APM
//     15.25.3), so a 32-bit host without PAE uses a two-level, 32-bit nested table. Whether
//     the processor honours nested paging at all is probed before the guest runs.

#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/arch/paging.hpp"
#include "common/boot/legacy_pic.hpp"
#include "common/boot/trap.hpp"
#include "common/runtime/string.hpp"
#include "lab04-vtx/kernel/monitor.hpp"
#include "lab04-vtx/src/handlers.hpp"

extern "C" void hvlab_svm_run(hvlab::vmm::GeneralRegisters* regs, std::uint32_t vmcb_pa);

namespace hvlab::lab04 {

namespace {

// VMCB offsets (APM vol. 2 appendix B, tables B-1 and B-2).
namespace vmcb {
constexpr std::uint32_t INTERCEPT_CR = 0x000, INTERCEPT_EXCEPTIONS = 0x008, INTERCEPT_MISC1 = 0x00c,
                        INTERCEPT_MISC2 = 0x010, IOPM_BASE_PA = 0x040, MSRPM_BASE_PA = 0x048, TSC_OFFSET = 0x050,
                        GUEST_ASID = 0x058, TLB_CONTROL = 0x05c, VINTR = 0x060, INTERRUPT_SHADOW = 0x068,
                        EXITCODE = 0x070, EXITINFO1 = 0x078, EXITINFO2 = 0x080, EXITINTINFO = 0x088,
                        NP_ENABLE = 0x090, EVENTINJ = 0x0a8, N_CR3 = 0x0b0, CLEAN = 0x0c0;
// State-save area: segments are {selector:16, attrib:16, limit:32, base:64}.
constexpr std::uint32_t ES = 0x400, CS = 0x410, SS = 0x420, DS = 0x430, FS = 0x440, GS = 0x450, GDTR = 0x460,
                        LDTR = 0x470, IDTR = 0x480, TR = 0x490, CPL = 0x4cb, EFER = 0x4d0, CR4 = 0x548,
                        CR3 = 0x550, CR0 = 0x558, DR7 = 0x560, DR6 = 0x568, RFLAGS = 0x570, RIP = 0x578,
                        RSP = 0x5d8, RAX = 0x5f8, SYSENTER_CS = 0x628, SYSENTER_ESP = 0x630,
                        SYSENTER_EIP = 0x638, CR2 = 0x640, G_PAT = 0x668;
}  // namespace vmcb

// Intercept bits (APM table B-1).
constexpr std::uint32_t kInterceptIntr = 1u << 0, kInterceptVintr = 1u << 4, kInterceptCpuid = 1u << 18,
                        kInterceptInvd = 1u << 22, kInterceptHlt = 1u << 24, kInterceptIoio = 1u << 27,
                        kInterceptMsr = 1u << 28, kInterceptShutdown = 1u << 31;
constexpr std::uint32_t kInterceptVmrun = 1u << 0, kInterceptVmmcall = 1u << 1, kInterceptWbinvd = 1u << 9,
                        kInterceptXsetbv = 1u << 13;
// Exit codes (APM table C-1).
constexpr std::uint32_t kExitIntr = 0x60, kExitVintr = 0x64, kExitCpuid = 0x72, kExitInvd = 0x76, kExitHlt = 0x78,
                        kExitIoio = 0x7b, kExitMsr = 0x7c, kExitShutdown = 0x7f, kExitVmrun = 0x80,
                        kExitVmmcall = 0x81, kExitWbinvd = 0x89, kExitXsetbv = 0x8d, kExitNpf = 0x400,
                        kExitInvalid = 0xffffffffu;

struct Vmcb {
  unsigned char* p;
  template <typename T>
  T get(std::uint32_t off) const {
    T v;
    rt::mem_copy(&v, p + off, sizeof v);
    return v;
  }
  template <typename T>
  void set(std::uint32_t off, T v) {
    rt::mem_copy(p + off, &v, sizeof v);
  }
  void segment(std::uint32_t off, std::uint16_t sel, std::uint16_t attrib, std::uint32_t limit, std::uint64_t base) {
    set<std::uint16_t>(off, sel);
    set<std::uint16_t>(off + 2, attrib);
    set<std::uint32_t>(off + 4, limit);
    set<std::uint64_t>(off + 8, base);
  }
};

void* ptr(HostPhysAddr a) { return reinterpret_cast<void*>(static_cast<std::uintptr_t>(a.value())); }

Result<HostPhysAddr> zeroed(mem::FrameAllocator& frames, std::uint64_t count) {
  auto f = count == 1 ? frames.alloc() : frames.alloc_contiguous(count);
  if (!f.ok()) return f.error();
  rt::mem_set(ptr(f.value()), 0, count * kPageSize);
  return f.value();
}

// The nested page table in the host's format (32-bit, two levels): guest-physical RAM to
// host frames, 4 KiB pages, user-accessible (nested walks are user accesses, APM 15.25.5).
Result<HostPhysAddr> build_nested_table(mem::FrameAllocator& frames, const mem::GuestMemory& guest) {
  auto pd = zeroed(frames, 1);
  if (!pd.ok()) return pd.error();
  auto* dir = static_cast<std::uint32_t*>(ptr(pd.value()));
  constexpr std::uint32_t kFlags = x86::page::P | x86::page::RW | x86::page::US;
  for (const mem::GuestRegion& r : guest.regions()) {
    for (std::uint64_t off = 0; off < r.size; off += kPageSize) {
      const std::uint32_t gpa = static_cast<std::uint32_t>(r.gpa.value() + off);
      std::uint32_t& pde = dir[x86::pd_index32(gpa)];
      if (!(pde & x86::page::P)) {
        auto pt = zeroed(frames, 1);
        if (!pt.ok()) return pt.error();
        pde = pt.value().low32() | kFlags;
      }
      auto* table = reinterpret_cast<std::uint32_t*>(static_cast<std::uintptr_t>(pde & ~0xfffu));
      table[x86::pt_index32(gpa)] = static_cast<std::uint32_t>(r.hpa.value() + off) | kFlags;
    }
  }
  return pd.value();
}

std::uint16_t attrib(std::uint32_t vmx_ar) { return static_cast<std::uint16_t>((vmx_ar & 0xff) | ((vmx_ar >> 4) & 0xf00)); }

// The real PIT at 1 kHz on IRQ0, so the guest is interrupted (INTR intercept) even when it
// spins without exiting. The host takes the interrupt itself between runs (STGI).
void start_host_timer() {
  const std::uint16_t divisor = 1193;
  x86::outb(0x43, 0x34);
  x86::outb(0x40, divisor & 0xff);
  x86::outb(0x40, divisor >> 8);
  pic::unmask(0);
}

vmm::Event decode(const Vmcb& v, std::uint32_t code, const vmm::VCpu& vcpu) {
  vmm::Event e;
  e.source = vmm::Source::vm_exit;
  e.raw_reason = code;
  e.qualification = v.get<std::uint64_t>(vmcb::EXITINFO1);
  e.guest_eip = vcpu.eip;
  e.guest_cpl = vcpu.cpl;
  switch (code) {
    case kExitCpuid: e.reason = vmm::Reason::cpuid; e.insn_length = 2; break;
    case kExitHlt: e.reason = vmm::Reason::hlt; e.insn_length = 1; break;
    case kExitMsr:
      e.reason = e.qualification ? vmm::Reason::msr_write : vmm::Reason::msr_read;
      e.number = vcpu.regs.ecx;
      e.insn_length = 2;
      break;
    case kExitIoio: {
      // EXITINFO1 (APM 15.10.2): bit 0 IN, 2 string, 3 REP, 4-6 size, 31:16 port;
      // EXITINFO2 is the next instruction's address.
      const std::uint64_t q = e.qualification;
      e.reason = vmm::Reason::io_instruction;
      e.io.port = static_cast<std::uint16_t>(q >> 16);
      e.io.size = (q & 0x10) ? 1 : (q & 0x20) ? 2 : 4;
      e.io.in = q & 1;
      e.io.string = (q >> 2) & 1;
      e.io.rep = (q >> 3) & 1;
      e.number = e.io.port;
      e.insn_length = static_cast<std::uint8_t>(v.get<std::uint64_t>(vmcb::EXITINFO2) - vcpu.eip);
      if (e.io.string) e.address = e.io.in ? vcpu.regs.edi : vcpu.regs.esi;  // flat segments assumed
      e.qualification = vmx::io_qual::make(e.io.port, e.io.size, e.io.in, e.io.string, e.io.rep);
      break;
    }
    case kExitIntr: e.reason = vmm::Reason::external_interrupt; break;
    case kExitVintr: e.reason = vmm::Reason::interrupt_window; break;
    case kExitShutdown: e.reason = vmm::Reason::triple_fault; break;
    case kExitNpf:
      e.reason = vmm::Reason::ept_violation;
      e.address = v.get<std::uint64_t>(vmcb::EXITINFO2);
      break;
    // Privileged instructions, named by their VT-x exit reasons for the shared handler.
    case kExitInvd: e.reason = vmm::Reason::privileged_instruction; e.raw_reason = vmx::exit_reason::INVD; e.insn_length = 2; break;
    case kExitWbinvd: e.reason = vmm::Reason::privileged_instruction; e.raw_reason = vmx::exit_reason::WBINVD; e.insn_length = 2; break;
    case kExitXsetbv: e.reason = vmm::Reason::privileged_instruction; e.raw_reason = vmx::exit_reason::XSETBV; e.insn_length = 3; break;
    case kExitVmrun: e.reason = vmm::Reason::privileged_instruction; e.raw_reason = vmx::exit_reason::VMLAUNCH; e.insn_length = 3; break;
    case kExitVmmcall: e.reason = vmm::Reason::hypercall; e.insn_length = 3; break;
    case kExitInvalid: e.reason = vmm::Reason::entry_failure; break;
    default: e.reason = vmm::Reason::other; break;
  }
  return e;
}

void load_vcpu(const Vmcb& v, vmm::VCpu& c) {
  c.eip = static_cast<std::uint32_t>(v.get<std::uint64_t>(vmcb::RIP));
  c.eflags = static_cast<std::uint32_t>(v.get<std::uint64_t>(vmcb::RFLAGS));
  c.regs.esp = static_cast<std::uint32_t>(v.get<std::uint64_t>(vmcb::RSP));
  c.regs.eax = static_cast<std::uint32_t>(v.get<std::uint64_t>(vmcb::RAX));
  c.cr0 = static_cast<std::uint32_t>(v.get<std::uint64_t>(vmcb::CR0));
  c.cr3 = static_cast<std::uint32_t>(v.get<std::uint64_t>(vmcb::CR3));
  c.cr4 = static_cast<std::uint32_t>(v.get<std::uint64_t>(vmcb::CR4));
  c.cpl = v.get<std::uint8_t>(vmcb::CPL);
  c.interrupt_shadow = v.get<std::uint64_t>(vmcb::INTERRUPT_SHADOW) & 1;
  c.msr_efer = v.get<std::uint64_t>(vmcb::EFER) & ~x86::msr::efer::SVME;
}

void store_vcpu(Vmcb& v, const vmm::VCpu& b, const vmm::VCpu& n) {
  if (n.eip != b.eip) {
    v.set<std::uint64_t>(vmcb::RIP, n.eip);
    v.set<std::uint64_t>(vmcb::INTERRUPT_SHADOW, 0);  // the shadowed instruction is past
  }
  v.set<std::uint64_t>(vmcb::RFLAGS, n.eflags);
  v.set<std::uint64_t>(vmcb::RSP, n.regs.esp);
  v.set<std::uint64_t>(vmcb::RAX, n.regs.eax);
  if (n.cr0 != b.cr0) v.set<std::uint64_t>(vmcb::CR0, n.cr0);
  if (n.cr4 != b.cr4) v.set<std::uint64_t>(vmcb::CR4, n.cr4);
  if (n.cr2 != b.cr2) v.set<std::uint64_t>(vmcb::CR2, n.cr2);
  // EFER.SVME must stay set in the guest's EFER (APM 15.5.1); the guest does not see it.
  if (n.msr_efer != b.msr_efer) v.set<std::uint64_t>(vmcb::EFER, n.msr_efer | x86::msr::efer::SVME);
  if (n.msr_pat != b.msr_pat) v.set<std::uint64_t>(vmcb::G_PAT, n.msr_pat);
  if (n.msr_sysenter_cs != b.msr_sysenter_cs) v.set<std::uint64_t>(vmcb::SYSENTER_CS, n.msr_sysenter_cs);
  if (n.msr_sysenter_esp != b.msr_sysenter_esp) v.set<std::uint64_t>(vmcb::SYSENTER_ESP, n.msr_sysenter_esp);
  if (n.msr_sysenter_eip != b.msr_sysenter_eip) v.set<std::uint64_t>(vmcb::SYSENTER_EIP, n.msr_sysenter_eip);
}

void apply_plan(Vmcb& v, const EntryPlan& plan, std::uint64_t tsc_offset) {
  if (plan.inject.valid) {
    // EVENTINJ (APM 15.20): vector, type (0 INTR, 2 NMI, 3 exception, 4 software int), EV, V.
    using T = PendingEvent::Type;
    std::uint64_t type = plan.inject.type == T::external_interrupt ? 0
                         : plan.inject.type == T::nmi               ? 2
                         : plan.inject.type == T::software_interrupt ? 4
                                                                     : 3;
    std::uint64_t inj = plan.inject.vector | (type << 8) | (1ull << 31);
    if (plan.inject.has_error_code) inj |= (1ull << 11) | (std::uint64_t{plan.inject.error_code} << 32);
    v.set<std::uint64_t>(vmcb::EVENTINJ, inj);
  }
  // An interrupt window: a virtual interrupt (V_IRQ, ignoring the TPR) whose acceptance is
  // intercepted (VINTR) as soon as the guest can take it.
  std::uint64_t vintr = v.get<std::uint64_t>(vmcb::VINTR) & ~((1ull << 8) | (1ull << 20));
  std::uint32_t misc1 = v.get<std::uint32_t>(vmcb::INTERCEPT_MISC1) & ~kInterceptVintr;
  if (plan.interrupt_window) {
    vintr |= (1ull << 8) | (1ull << 20);
    misc1 |= kInterceptVintr;
  }
  v.set<std::uint64_t>(vmcb::VINTR, vintr);
  v.set<std::uint32_t>(vmcb::INTERCEPT_MISC1, misc1);
  v.set<std::uint64_t>(vmcb::TSC_OFFSET, tsc_offset);
  v.set<std::uint32_t>(vmcb::CLEAN, 0);  // everything may have changed
}

void on_host_timer(TrapFrame&) { pic::eoi(0); }

}  // namespace

int run_svm(MonitorContext& ctx) {
  FormatSink& diag = ctx.diag;
  Platform& plat = ctx.platform;
  // APM 15.4: CPUID 8000_0001h:ECX.SVM, VM_CR.SVMDIS clear, then EFER.SVME.
  const bool has_svm = x86::read_cpuid(x86::cpuid::kExtendedMax).eax >= x86::cpuid::kExtendedInfo &&
                       (x86::read_cpuid(x86::cpuid::kExtendedInfo).ecx & x86::cpuid::X_ECX_SVM);
  if (!has_svm) {
    format_to(diag, "this processor has neither VMX nor SVM (under QEMU use -cpu max, under Bochs "
                    "cpu: model=corei7_skylake_x)\n");
    return exit_status::kFailure;
  }
  if (x86::rdmsr(x86::msr::VM_CR) & (1u << 4)) {
    format_to(diag, "SVM is disabled by the firmware (VM_CR.SVMDIS)\n");
    return exit_status::kFailure;
  }
  x86::wrmsr(x86::msr::IA32_EFER, x86::rdmsr(x86::msr::IA32_EFER) | x86::msr::efer::SVME);
  auto hsave = zeroed(ctx.frames, 1);
  auto vmcb_pa = zeroed(ctx.frames, 1);
  auto iopm = zeroed(ctx.frames, 3);   // 12 KiB: one bit per port
  auto msrpm = zeroed(ctx.frames, 2);  // 8 KiB: two bits per MSR
  if (!hsave.ok() || !vmcb_pa.ok() || !iopm.ok() || !msrpm.ok()) return exit_status::kFailure;
  rt::mem_set(ptr(iopm.value()), 0xff, 3 * kPageSize);   // every port intercepted
  rt::mem_set(ptr(msrpm.value()), 0xff, 2 * kPageSize);  // every MSR intercepted
  x86::wrmsr(x86::msr::VM_HSAVE_PA, hsave.value().value());

  auto ncr3 = build_nested_table(ctx.frames, plat.memory());
  if (!ncr3.ok()) return exit_status::kFailure;

  Vmcb v{static_cast<unsigned char*>(ptr(vmcb_pa.value()))};
  v.set<std::uint32_t>(vmcb::INTERCEPT_MISC1, kInterceptIntr | kInterceptCpuid | kInterceptInvd | kInterceptHlt |
                                                  kInterceptIoio | kInterceptMsr | kInterceptShutdown);
  v.set<std::uint32_t>(vmcb::INTERCEPT_MISC2, kInterceptVmrun | kInterceptVmmcall | kInterceptWbinvd | kInterceptXsetbv);
  v.set<std::uint64_t>(vmcb::IOPM_BASE_PA, iopm.value().value());
  v.set<std::uint64_t>(vmcb::MSRPM_BASE_PA, msrpm.value().value());
  v.set<std::uint32_t>(vmcb::GUEST_ASID, 1);
  v.set<std::uint8_t>(vmcb::TLB_CONTROL, 1);                // flush this ASID on the first run
  v.set<std::uint64_t>(vmcb::VINTR, 1ull << 24);           // V_INTR_MASKING: the host's IF masks real IRQs
  v.set<std::uint64_t>(vmcb::NP_ENABLE, 1);
  v.set<std::uint64_t>(vmcb::N_CR3, ncr3.value().value());
  // The multiboot hand-off, as for VT-x (attributes are the VMX access rights, compressed).
  v.segment(vmcb::CS, 0x08, attrib(0xc09b), 0xffffffff, 0);
  for (std::uint32_t s : {vmcb::SS, vmcb::DS, vmcb::ES, vmcb::FS, vmcb::GS})
    v.segment(s, 0x10, attrib(0xc093), 0xffffffff, 0);
  v.segment(vmcb::LDTR, 0, 0, 0, 0);
  v.segment(vmcb::TR, 0, attrib(0x8b), 0x67, 0);
  v.segment(vmcb::GDTR, 0, 0, 0, 0);
  v.segment(vmcb::IDTR, 0, 0, 0x3ff, 0);
  v.set<std::uint64_t>(vmcb::EFER, x86::msr::efer::SVME);
  v.set<std::uint64_t>(vmcb::CR0, x86::cr0::PE | x86::cr0::ET);
  v.set<std::uint64_t>(vmcb::DR7, 0x400);
  v.set<std::uint64_t>(vmcb::DR6, 0xffff0ff0);
  v.set<std::uint64_t>(vmcb::RFLAGS, x86::eflags::FIXED1);
  v.set<std::uint64_t>(vmcb::RIP, ctx.start.eip);
  v.set<std::uint64_t>(vmcb::RAX, ctx.start.eax);
  v.set<std::uint64_t>(vmcb::G_PAT, 0x0007040600070406ull);
  dprintf("lab04: AMD-V: VMCB at %08x, nested table at %08x (32-bit format, the host's)\n", vmcb_pa.value().low32(),
          ncr3.value().low32());

  vmm::Dispatcher dispatcher;
  install_handlers(dispatcher);
  vmm::TraceWriter trace(com2());
  plat.set_trace(&trace);
  set_trap_handler(kIrqBase + 0, on_host_timer);
  start_host_timer();

  vmm::VCpu vcpu;
  load_vcpu(v, vcpu);
  vcpu.regs.ebx = ctx.start.ebx;
  vmm::VCpu before = vcpu;
  const std::uint64_t t_start = x86::rdtsc();
  for (std::uint32_t exits = 0;; ++exits) {
    if (exits >= ctx.options.max_exits) {
      plat.set_stop_reason("exit limit reached (%u exits)", exits);
      break;
    }
    EntryPlan plan = plat.prepare_entry(vcpu, x86::rdtsc());
    if (plan.stop) {
      plat.set_stop_reason("the guest halted with nothing to wake it (eip %08x)", vcpu.eip);
      break;
    }
    store_vcpu(v, before, vcpu);
    apply_plan(v, plan, plat.tsc_offset());
    vmm::GeneralRegisters regs = vcpu.regs;
    hvlab_svm_run(&regs, vmcb_pa.value().low32());
    plat.on_exit(x86::rdtsc());
    const std::uint32_t code = static_cast<std::uint32_t>(v.get<std::uint64_t>(vmcb::EXITCODE));
    vcpu.regs = regs;
    load_vcpu(v, vcpu);
    vmm::Event e = decode(v, code, vcpu);
    // EXITINTINFO: an event whose delivery the exit interrupted goes in again (APM 15.7.2).
    const std::uint64_t cut = v.get<std::uint64_t>(vmcb::EXITINTINFO);
    if (cut & (1ull << 31)) {
      PendingEvent p;
      p.valid = true;
      p.vector = static_cast<std::uint8_t>(cut & 0xff);
      const unsigned type = (cut >> 8) & 7;
      p.type = type == 0 ? PendingEvent::Type::external_interrupt
               : type == 4 ? PendingEvent::Type::software_interrupt
                           : PendingEvent::Type::hardware_exception;
      p.has_error_code = (cut >> 11) & 1;
      p.error_code = static_cast<std::uint32_t>(cut >> 32);
      plat.inject(p);
    }
    if (e.reason == vmm::Reason::entry_failure)
      format_to(diag, "VMRUN failed: #VMEXIT(INVALID), the VMCB's guest state is illegal (APM 15.5.1)\n");
    before = vcpu;
    vmm::Action a = dispatcher.dispatch(vcpu, e);
    trace_exit(trace, ctx.options, e, a);
    if (a == vmm::Action::reflect) plat.inject_exception(e.vector, e.has_error_code, e.error_code);
    if (a == vmm::Action::stop) break;
  }
  pic::mask(0);
  return finish_run(ctx, trace, dispatcher, vcpu, "svm", x86::rdtsc() - t_start);
}

}  // namespace hvlab::lab04
