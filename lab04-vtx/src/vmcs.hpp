#pragma once
// The VMCS behind a small interface (Bareflank's style): the kernel implements it with
// VMREAD/VMWRITE (kernel/vmx_hw.cpp), tests with a map (tests/fake_vmcs.hpp). Everything
// that builds, reads or checks a VMCS is written against this interface, so it runs on
// the host too: the controls, the initial guest and host state, exit decoding, the
// VM-entry checks.

#include <cstdint>
#include <type_traits>

#include "common/runtime/format.hpp"
#include "common/runtime/result.hpp"
#include "common/vmm/board.hpp"
#include "common/vmm/event.hpp"
#include "common/vmm/vcpu.hpp"
#include "lab04-vtx/src/vmx_defs.hpp"

namespace hvlab::vmx {

class Vmcs {
 public:
  /// The whole field, untyped: a 64-bit field is read as its two halves in a 32-bit host.
  /// For loops over fields (diagnostics); everything else uses the typed forms below.
  virtual std::uint64_t read(Field f) = 0;
  virtual void write(Field f, std::uint64_t value) = 0;

  /// A field at its own width: read(field::GUEST_RIP) is a std::uint32_t.
  template <typename T>
  T read(TypedField<T> f) {
    return static_cast<T>(read(f.field));
  }
  template <typename T>
  void write(TypedField<T> f, std::type_identity_t<T> value) {
    write(f.field, static_cast<std::uint64_t>(value));
  }

 protected:
  ~Vmcs() = default;
};

/// The VMX capability MSRs (SDM appendix A), read once.
struct Capabilities {
  std::uint64_t basic = 0, pinbased = 0, procbased = 0, procbased2 = 0, exit = 0, entry = 0, misc = 0;
  std::uint64_t cr0_fixed0 = 0, cr0_fixed1 = 0, cr4_fixed0 = 0, cr4_fixed1 = 0, ept_vpid = 0;

  /// A.1: bit 55 says the TRUE_* MSRs report which default-1 controls may be 0.
  bool true_controls() const { return (basic >> 55) & 1; }
  std::uint32_t revision() const { return static_cast<std::uint32_t>(basic & 0x7fffffff); }
  std::uint32_t region_size() const { return static_cast<std::uint32_t>((basic >> 32) & 0x1fff); }
  /// A.6: the preemption timer counts down once per 2^rate TSC ticks.
  unsigned preemption_timer_rate() const { return static_cast<unsigned>(misc & 0x1f); }
  /// A.10: EPT page-walk length 4 and write-back EPT structures.
  bool ept_walk4() const { return (ept_vpid >> 6) & 1; }
  bool ept_wb() const { return (ept_vpid >> 14) & 1; }
  bool ept_2m_pages() const { return (ept_vpid >> 16) & 1; }
  bool secondary_allowed(std::uint32_t bits) const {
    return (static_cast<std::uint32_t>(procbased >> 32) & proc::ACTIVATE_SECONDARY_CONTROLS) &&
           (static_cast<std::uint32_t>(procbased2 >> 32) & bits) == bits;
  }
};

/// Reads the capability MSRs (through x86::rdmsr, faked on the host). Uses the TRUE_*
/// MSRs when IA32_VMX_BASIC bit 55 says they exist.
Capabilities read_capabilities();

/// SDM 31.5.1 / A.3: a control MSR's low half has the bits that must be 1 ("allowed-0
/// settings" clear), its high half the bits that may be 1. Returns `wanted` with the
/// must-be-1 bits added and the may-not-be-1 bits removed; the bits of `required` that did
/// not survive are reported in *missing (0 when all are available).
std::uint32_t adjust_controls(std::uint64_t capability_msr, std::uint32_t wanted, std::uint32_t required,
                              std::uint32_t* missing);

/// The five control words the monitor runs its guest with.
struct Controls {
  std::uint32_t pin = 0, proc = 0, proc2 = 0, exit = 0, entry = 0;
  bool preemption_timer() const { return pin & pin::ACTIVATE_PREEMPTION_TIMER; }
  /// APIC virtualization (SDM 29): the local APIC's page read from a virtual-APIC page
  /// without exits, writes reported by APIC-write exits.
  bool apic_virtualization() const {
    constexpr std::uint32_t kProc2 = proc2::VIRTUALIZE_APIC_ACCESSES | proc2::APIC_REGISTER_VIRTUALIZATION;
    return (proc & proc::USE_TPR_SHADOW) && (proc2 & kProc2) == kProc2;
  }
};

/// Chooses the controls (SDM 25.6-25.8): I/O, HLT, MSR and CPUID exits, EPT, VPID and
/// unrestricted guest, the preemption timer when available. Error::unsupported (with the
/// control word and missing bits in *why) if something this monitor needs is absent.
Result<Controls> choose_controls(const Capabilities& caps, char* why, unsigned why_size);

/// APIC virtualization's fields (SDM 25.6.8): the virtual-APIC page the processor reads the
/// guest's APIC registers from, and the APIC-access page the EPT maps at the APIC's
/// guest-physical address (host-physical addresses, page-aligned).
void setup_apic_virtualization(Vmcs& vmcs, std::uint64_t virtual_apic_page, std::uint64_t apic_access_page);
/// The TPR threshold for a virtual-APIC page (SDM 29.1.2): the priority class of the
/// highest requested vector when the VTPR holds it back, so lowering the TPR below it
/// exits; 0 when nothing waits for the TPR.
std::uint32_t tpr_threshold(const std::uint32_t* virtual_apic_page);

/// The monitor's own state, loaded into the host-state area (SDM 25.5).
struct HostState {
  std::uint32_t cr0 = 0, cr3 = 0, cr4 = 0;
  std::uint16_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0, tr = 0;
  std::uint32_t tr_base = 0, gdtr_base = 0, idtr_base = 0;
  std::uint32_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0;
  std::uint64_t efer = 0, pat = 0x0007040600070406ull;
  std::uint32_t rip = 0;  ///< where exits land (the assembly stub)
};

/// Where the guest starts: the multiboot hand-off (Multiboot 0.6.96 section 3.2).
struct GuestStart {
  std::uint32_t eip = 0, eax = 0, ebx = 0;
  std::uint64_t eptp = 0;
  std::uint16_t vpid = 1;
};

/// CR0 and CR4 bits the monitor owns (guest/host masks, SDM 25.6.6): the guest reads its
/// own values from the read shadows, and a write that would change them exits.
inline constexpr std::uint32_t kCr0Owned = x86::cr0::NE;
inline constexpr std::uint32_t kCr4Owned = x86::cr4::VMXE;

/// Writes every control, host-state and guest-state field for a fresh guest.
void setup_vmcs(Vmcs& vmcs, const Capabilities& caps, const Controls& ctls, const HostState& host,
                const GuestStart& guest);

/// The real CR0/CR4 for a guest value: the fixed-1 bits of VMX operation (SDM A.7, A.8)
/// added, except PE and PG under unrestricted guest.
std::uint32_t real_cr0(const Capabilities& caps, std::uint32_t guest_cr0, bool unrestricted);
std::uint32_t real_cr4(const Capabilities& caps, std::uint32_t guest_cr4);

/// Turns the exit just taken into a kit-level Event: the reason, and the typed payload
/// filled from the exit-information fields (the qualification stays for the trace only).
vmm::Event decode_exit(Vmcs& vmcs, const vmm::GeneralRegisters& regs);
/// The I/O part of decode_exit (exercise lab04-e6): port, size, direction, string and REP
/// from the exit qualification (SDM 28.2.1 table 28-5), and for INS/OUTS the guest-linear
/// address the processor saved.
void decode_io_exit(std::uint64_t qualification, std::uint32_t guest_linear_address, vmm::IoAccess* io);
/// The control-register part of decode_exit (SDM 28.2.1 table 28-3).
void decode_cr_exit(std::uint64_t qualification, vmm::CrAccess* cr);
/// Maps a basic exit reason to the kit's Reason.
vmm::Reason reason_for(std::uint32_t basic_reason, std::uint32_t exit_intr_info);

/// Guest state VMCS -> VCpu after an exit (registers come from the exit stub).
void load_vcpu(Vmcs& vmcs, vmm::VCpu& vcpu);
/// VCpu -> VMCS before an entry: writes only what differs from `before` (the state as
/// load_vcpu() left it). Clears STI/MOV-SS blocking when RIP moved (the blocking
/// instruction is past, SDM 25.4.2). `unrestricted` picks the CR0 fixed bits.
void store_vcpu(Vmcs& vmcs, const Capabilities& caps, const vmm::VCpu& before, const vmm::VCpu& now,
                bool unrestricted);
/// Event injection (exercise lab04-e7, SDM 26.6 and 25.8.3): the VM-entry interruption-
/// information field for `e` (vector, type, error-code bit, valid), the error code, and for
/// software interrupts and exceptions the instruction length the pushed EIP skips.
void inject_event(Vmcs& vmcs, const vmm::PendingEvent& e);
/// Interrupt-window exiting on or off in the primary controls (SDM 25.6.2).
void set_interrupt_window(Vmcs& vmcs, const Controls& ctls, bool on);
/// Arms the VMX-preemption timer (SDM 26.5.1) to expire `host_ticks` TSC ticks from now
/// (0: as late as it can).
void arm_preemption_timer(Vmcs& vmcs, const Capabilities& caps, const Controls& ctls, std::uint64_t host_ticks);
/// An event whose delivery the exit interrupted (IDT-vectoring information, SDM 28.2.4),
/// to be re-injected; .valid = false when there is none.
vmm::PendingEvent interrupted_event(Vmcs& vmcs);

// ---- VM-entry failure diagnostics (diagnose.cpp) ----------------------------------------

/// Runs the checks of SDM 27.2 (controls), 27.2.2 (host state) and 27.3.1 (guest state)
/// that this monitor can get wrong, printing one line per failed check, each naming the
/// check, its SDM section and the fields involved with their values. Returns the number of
/// failed checks (0: the software checks found nothing; the hardware knows more).
unsigned check_controls(Vmcs& vmcs, const Capabilities& caps, FormatSink& out);
unsigned check_host_state(Vmcs& vmcs, const Capabilities& caps, FormatSink& out);
unsigned check_guest_state(Vmcs& vmcs, const Capabilities& caps, FormatSink& out);

/// Explains a failed VMLAUNCH/VMRESUME: VMfailInvalid, VMfailValid with the instruction
/// error's SDM text and the failed control or host-state checks, or an entry-failure exit
/// (exit reason with bit 31 set: 33/34) with the failed guest-state checks.
void explain_entry_failure(Vmcs& vmcs, const Capabilities& caps, bool vmfail_invalid, FormatSink& out);

/// Dumps the guest-state fields an entry failure usually involves.
void dump_guest_state(Vmcs& vmcs, FormatSink& out);

}  // namespace hvlab::vmx
