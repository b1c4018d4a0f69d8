#pragma once
// What every monitor does with RDMSR and WRMSR: one table, one entry per MSR (or range), each
// saying whether the MSR is
//   emulated - the value lives in the monitor (a VCpu field, a store the policy owns, the local
//              APIC's IA32_APIC_BASE, or the guest's TSC through the monitor's TSC offset) and
//              writes are checked as the processor checks them (#GP for reserved bits);
//   hidden   - the guest's processor has no such MSR: #GP(0) on any access, as real hardware
//              answers for an absent MSR (the default for every MSR not in the table);
//   ignored  - reads return a fixed value and writes are dropped (performance counters: a
//              guest may program them, they just never count);
//   refused  - the MSR exists on the processor the guest believes it has, but the monitor will
//              not do what it asks (load microcode, enter x2APIC or long mode): #GP(0), and a
//              reason the monitor should report, since the guest did nothing wrong.
// The CPUID policy (cpuid_policy.hpp) hides the features whose MSRs are hidden here.
//
// Privilege (RDMSR/WRMSR at CPL > 0 is #GP) is the monitor's check, made before it asks here.

#include <cstdint>
#include <span>

#include "common/vmm/vcpu.hpp"

namespace hvlab::dev {
class LocalApic;
}

namespace hvlab::vmm {

/// What the policy does with an MSR.
enum class MsrAction : std::uint8_t { emulated, hidden, ignored, refused };

/// Where an emulated MSR's value lives.
enum class MsrStore : std::uint8_t {
  none,          ///< not emulated
  constant,      ///< read-only: reads MsrPolicyEntry::value, writes #GP
  sysenter_cs,   ///< VCpu::msr_sysenter_cs
  sysenter_esp,  ///< VCpu::msr_sysenter_esp
  sysenter_eip,  ///< VCpu::msr_sysenter_eip
  pat,           ///< VCpu::msr_pat
  efer,          ///< VCpu::msr_efer
  tsc,           ///< the guest's TSC, through MsrHost (the monitor's TSC offset)
  apic_base,     ///< the local APIC's IA32_APIC_BASE (dev::LocalApic::write_apic_base)
  policy,        ///< a slot the MsrPolicy owns (MsrPolicyEntry::slot)
};

/// Extra checks on a write to an emulated MSR, beyond its writable bits.
enum class MsrCheck : std::uint8_t {
  none,
  canonical,         ///< an address: bits 63:47 all equal (SYSENTER_ESP/EIP on 64-bit processors)
  pat_memory_types,  ///< each byte a valid memory type: 0, 1, 4, 5, 6, 7 (SDM 13.12.2)
  mtrr_def_type,     ///< the default type a valid MTRR type: 0, 1, 4, 5, 6 (SDM 12.11.2.1)
};

/// One row of the policy: MSRs [first, last].
struct MsrPolicyEntry {
  std::uint32_t first;
  std::uint32_t last;
  const char* name;  ///< the SDM's (or APM's) name
  MsrAction action;
  MsrStore store;
  std::uint8_t slot;          ///< MsrStore::policy: which store
  std::uint64_t value;        ///< the reset value of a policy store; the read of constant and ignored MSRs
  std::uint64_t writable;     ///< bits a write may set (emulated); setting others is #GP
  std::uint64_t refused_bits; ///< bits a write may not set although the processor has them: refused
  MsrCheck check;
  const char* why;  ///< the reason given for a refusal; a note otherwise
};

/// The table, sorted by MSR number, ranges disjoint.
std::span<const MsrPolicyEntry> msr_policy_table();
/// The entry for `msr`: its row, or the default row (hidden) for MSRs not in the table.
const MsrPolicyEntry& msr_policy_entry(std::uint32_t msr);

/// The policy's answer to one access.
enum class MsrVerdict : std::uint8_t {
  done,     ///< the access happened (a read's value is in MsrResult::value)
  gp,       ///< inject #GP(0): what the processor does
  refused,  ///< inject #GP(0), and report MsrResult::why: the monitor declined
};

/// What read() and write() return.
struct MsrResult {
  MsrVerdict verdict = MsrVerdict::gp;
  std::uint64_t value = 0;                ///< a read's result
  const MsrPolicyEntry* entry = nullptr;  ///< the row that decided
  const char* why = nullptr;              ///< for refused (and some #GPs): why, in plain words
};

/// What the policy needs from the monitor for the TSC: the guest's TSC is the host's plus an
/// offset the monitor owns (VMCS TSC offset, SVM TSC_OFFSET, KVM_SET_MSRS).
class MsrHost {
 public:
  /// The guest's TSC now.
  virtual std::uint64_t guest_tsc() = 0;
  /// Make the guest's TSC read `value` now (the monitor recomputes its offset). A TSC set
  /// backwards must not stop the monitor's own timekeeping, which uses the host TSC.
  virtual void set_guest_tsc(std::uint64_t value) = 0;

 protected:
  ~MsrHost() = default;
};

/// The policy for one virtual CPU, with the stores it owns.
class MsrPolicy {
 public:
  /// Policy-owned stores (MsrPolicyEntry::slot).
  static constexpr unsigned kSlotTscAux = 0;
  static constexpr unsigned kSlotMtrrDefType = 1;
  static constexpr unsigned kSlotDebugCtl = 2;
  static constexpr unsigned kSlots = 3;

  /// `host` (the TSC) and `lapic` (IA32_APIC_BASE) may be null: those MSRs are then refused
  /// and hidden respectively. All must outlive the policy.
  explicit MsrPolicy(VCpu& vcpu, MsrHost* host = nullptr, dev::LocalApic* lapic = nullptr);

  /// RDMSR of `msr`.
  MsrResult read(std::uint32_t msr);
  /// WRMSR of `value` to `msr`. Only `done` changes anything.
  MsrResult write(std::uint32_t msr, std::uint64_t value);
  /// RDMSR as the instruction does it: ECX selects, EDX:EAX receive the value on `done`.
  MsrResult rdmsr();
  /// WRMSR as the instruction does it: ECX selects, EDX:EAX is the value.
  MsrResult wrmsr();

  /// The policy-owned stores back to their reset values (processor reset).
  void reset();
  /// A policy-owned store's value (0 for a slot number >= kSlots).
  std::uint64_t stored(unsigned slot) const { return slot < kSlots ? slots_[slot] : 0; }

 private:
  std::uint64_t* vcpu_field(MsrStore store);

  VCpu& vcpu_;
  MsrHost* host_;
  dev::LocalApic* lapic_;
  std::uint64_t slots_[kSlots] = {};
};

}  // namespace hvlab::vmm
