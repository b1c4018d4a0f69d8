#pragma once
// The AMD-V back end (AMD64 APM vol. 2, chapter 15), for QEMU's SVM emulation (-cpu max).
// It shares everything but the hardware interface with the VT-x back end: the Board, the
// handlers, the run loop. Each #VMEXIT becomes the kit's Event with its typed payload.
//
// Differences a student should notice:
//   - no capability MSRs to adjust against: intercepts are plain bit vectors in the VMCB;
//   - no next-RIP on this processor model (no NRIPS): instruction lengths are known per
//     intercept (CPUID 2, HLT 1, RDMSR 2, ...), and IOIO gives the next RIP in EXITINFO2;
//   - no preemption timer: the monitor's real PIT interrupts the guest (INTR intercept);
//   - the nested page table follows the *host's* paging mode at VMRUN (APM 15.25.3). This
//     host runs with PAE paging for it, so the nested table is a PAE one
//     (mem::NestedPageTablePae): QEMU's emulation applies a 32-bit non-PAE nested table as
//     if it mapped every guest-physical address to the same host-physical one, which would
//     give the guest the whole machine.

#include <cstdint>

#include "common/memory/address.hpp"
#include "common/runtime/format.hpp"
#include "common/runtime/string.hpp"
#include "common/vmm/backend.hpp"

namespace hvlab::lab04::svm {

/// VMCB offsets (APM vol. 2 appendix B, tables B-1 and B-2).
namespace vmcb {
inline constexpr std::uint32_t INTERCEPT_CR = 0x000, INTERCEPT_EXCEPTIONS = 0x008, INTERCEPT_MISC1 = 0x00c,
                               INTERCEPT_MISC2 = 0x010, IOPM_BASE_PA = 0x040, MSRPM_BASE_PA = 0x048,
                               TSC_OFFSET = 0x050, GUEST_ASID = 0x058, TLB_CONTROL = 0x05c, VINTR = 0x060,
                               INTERRUPT_SHADOW = 0x068, EXITCODE = 0x070, EXITINFO1 = 0x078, EXITINFO2 = 0x080,
                               EXITINTINFO = 0x088, NP_ENABLE = 0x090, EVENTINJ = 0x0a8, N_CR3 = 0x0b0,
                               CLEAN = 0x0c0;
// State-save area: segments are {selector:16, attrib:16, limit:32, base:64}.
inline constexpr std::uint32_t ES = 0x400, CS = 0x410, SS = 0x420, DS = 0x430, FS = 0x440, GS = 0x450,
                               GDTR = 0x460, LDTR = 0x470, IDTR = 0x480, TR = 0x490, CPL = 0x4cb, EFER = 0x4d0,
                               CR4 = 0x548, CR3 = 0x550, CR0 = 0x558, DR7 = 0x560, DR6 = 0x568, RFLAGS = 0x570,
                               RIP = 0x578, RSP = 0x5d8, RAX = 0x5f8, SYSENTER_CS = 0x628, SYSENTER_ESP = 0x630,
                               SYSENTER_EIP = 0x638, CR2 = 0x640, G_PAT = 0x668;
}  // namespace vmcb

/// Intercept bits (APM table B-1): MISC1 and MISC2 hold the instruction intercepts.
namespace intercept {
inline constexpr std::uint32_t kIntr = 1u << 0, kVintr = 1u << 4, kCpuid = 1u << 18, kInvd = 1u << 22,
                               kHlt = 1u << 24, kIoio = 1u << 27, kMsr = 1u << 28, kShutdown = 1u << 31;
inline constexpr std::uint32_t kVmrun = 1u << 0, kVmmcall = 1u << 1, kWbinvd = 1u << 9, kXsetbv = 1u << 13;
}  // namespace intercept

/// Exit codes (APM table C-1).
namespace exit_code {
inline constexpr std::uint32_t kIntr = 0x60, kVintr = 0x64, kCpuid = 0x72,
                               kInvd = 0x76, kHlt = 0x78, kIoio = 0x7b, kMsr = 0x7c, kShutdown = 0x7f,
                               kVmrun = 0x80, kVmmcall = 0x81, kWbinvd = 0x89, kXsetbv = 0x8d, kNpf = 0x400,
                               kInvalid = 0xffffffffu;
}  // namespace exit_code

/// A VMCB in memory the monitor can reach.
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

/// Host-physical addresses of the structures the VMCB points at.
struct Setup {
  std::uint32_t iopm = 0;   ///< 12 KiB, every port intercepted
  std::uint32_t msrpm = 0;  ///< 8 KiB, every MSR intercepted
  std::uint32_t ncr3 = 0;   ///< the nested table's page-directory-pointer table (PAE)
  std::uint32_t eip = 0, eax = 0, ebx = 0;  ///< the multiboot hand-off
};

/// Writes a fresh VMCB for a guest starting at its multiboot entry: intercepts, the nested
/// table, ASID 1, flat 32-bit protected mode with paging off (APM 15.5).
void setup_vmcb(Vmcb& v, const Setup& s);

class SvmBackend final : public vmm::Backend {
 public:
  /// Enters the guest: VMLOAD and VMRUN of the VMCB at `vmcb_pa`, with the host's own state
  /// saved in and restored from the VMSAVE area at `host_save_pa` around it.
  using RunFn = void (*)(vmm::GeneralRegisters* regs, std::uint32_t vmcb_pa, std::uint32_t host_save_pa);

  SvmBackend(vmm::Board& board, Vmcb vmcb, std::uint32_t vmcb_pa, std::uint32_t host_save_pa, RunFn run,
             FormatSink& diag);

  const char* name() const override { return "svm"; }
  std::uint64_t now() override;
  bool inject(vmm::VCpu& vcpu, const vmm::PendingEvent& e) override;
  void request_interrupt_window(vmm::VCpu& vcpu, bool on) override;
  /// The host's periodic timer (1 kHz, an INTR intercept) brings the monitor back often
  /// enough: no per-entry timer to arm.
  void arm_timer(std::uint64_t, std::uint64_t) override {}
  vmm::Event enter(vmm::VCpu& vcpu) override;

  /// The guest's starting state from the VMCB set up by setup_vmcb().
  void load_initial_state(vmm::VCpu& vcpu, std::uint32_t ebx);

 private:
  vmm::Event decode(std::uint32_t code, const vmm::VCpu& vcpu);
  void load_vcpu(vmm::VCpu& c);
  void store_vcpu(const vmm::VCpu& n);

  Vmcb v_;
  std::uint32_t vmcb_pa_, host_save_pa_;
  RunFn run_;
  FormatSink& diag_;
  vmm::VCpu before_;
};

}  // namespace hvlab::lab04::svm
