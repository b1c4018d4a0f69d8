#pragma once
// The deprivileged trap back end: a vmm::Backend that runs the guest kernel at ring 1 and its
// user code at ring 3, and comes back with an Event whenever the guest traps (labs/lab01.md).
//
//   enter():  mirror the guest's GDT/LDT (deprivileged), user mode with IOPL > 0 stepped by
//             the monitor (lab01-e10), the vCPU stored into the trap frame (virtual IF/IOPL
//             kept, real RPL 1 for the guest kernel), IRET into the guest; at its trap, the
//             vCPU loaded back, the faulting instruction decoded (a cache of decoded
//             instructions by their bytes), and the Event built (make_trap_event)
//   inject(): deliver the planned event through the guest's own IDT (lab01-e6, with deliver_interrupt)
//   request_interrupt_window(): single-step the one instruction of an STI shadow with TF
//   arm_timer(): the real PIT, one-shot, for the guest's next timer deadline
//   read_linear()/write_linear(): the guest's MMU through a soft TLB
//
// It owns the hardware tables (CpuTables: GDT, IDT, LDT, TSS, the trap stack), the shadow
// descriptors and the shadow MMU; the real machine is behind TrapHardware, so all of this
// runs under GoogleTest too.
//
// Built on by the labs that follow (never by copying it):
//   lab02 (binary translation) runs translated guest kernel code through the same entry and
//   traps: it overrides guest_state_stored() / guest_state_loaded() to move between the
//   guest's state and where its translation runs (a code segment of its own, the spare GDT
//   slot kExtensionCodeSlot), keeps the frames it translated read-only in the shadow tables
//   (ShadowMmu::set_write_watch) and hears of the monitor's own writes to guest memory;
//   lab03 (paravirtualization) adds a hypercall vector with add_hypercall_vector(): an INT
//   the guest kernel may execute, which arrives as Reason::hypercall (e.hypercall = EAX).

#include <cstddef>
#include <cstdint>

#include "common/decoder/decoder.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/vmm/backend.hpp"
#include "common/vmm/board.hpp"
#include "common/vmm/machine.hpp"
#include "lab01-trap-and-emulate/src/descriptors.hpp"
#include "lab01-trap-and-emulate/src/shadow_mmu.hpp"
#include "lab01-trap-and-emulate/src/trap_hardware.hpp"

namespace hvlab::lab01 {

/// EFLAGS bits the guest's own POPF/IRET may change (the rest are fixed or reserved).
inline constexpr std::uint32_t kEflagsGuestMask = 0x003f7fd5u;

class TrapBackend : public vmm::Backend, public SegmentBases, public GuestReader {
 public:
  struct Config {
    TrapHardware* hw = nullptr;
    mem::PhysicalMemory* host = nullptr;  ///< reaches the shadow tables' frames
    HostPhysAddr directory;               ///< the guest's page directory (its CR3 while it runs)
    HostPhysAddr pool;                    ///< frames for shadow page tables
    std::uint32_t pool_frames = 0;
  };

  TrapBackend(vmm::Board& board, const Config& c);
  TrapBackend(const TrapBackend&) = delete;
  TrapBackend& operator=(const TrapBackend&) = delete;

  // ---- vmm::Backend --------------------------------------------------------------------
  const char* name() const override { return "trap"; }
  std::uint64_t now() override { return hw_.rdtsc(); }
  bool inject(vmm::VCpu& v, const vmm::PendingEvent& e) override;
  void request_interrupt_window(vmm::VCpu& v, bool on) override;
  void arm_timer(std::uint64_t deadline, std::uint64_t watchdog) override;
  vmm::Event enter(vmm::VCpu& v) override;
  bool read_linear(vmm::VCpu& v, GuestVirtAddr la, void* dst, std::size_t n, bool user,
                   vmm::ExceptionInfo* fault) override;
  bool write_linear(vmm::VCpu& v, GuestVirtAddr la, const void* src, std::size_t n, bool user,
                    vmm::ExceptionInfo* fault) override;
  void finish(vmm::TraceWriter& trace) override;

  // ---- for the handlers (and the labs built on this back end) ------------------------
  std::uint32_t segment_base(std::uint16_t sel) const override { return descriptors_.segment_base(sel); }
  bool read_guest(std::uint32_t la, void* dst, std::size_t n) override;
  const void* view_guest(std::uint32_t la, std::size_t n) override;
  ShadowDescriptors& descriptors() { return descriptors_; }
  ShadowMmu& mmu() { return mmu_; }
  const decoder::Decoder& decoder() const { return decoder_; }
  /// The guest wrote CR0, CR3 or CR4 (`cr`, which held `old`): the shadow tables follow.
  void control_register_written(vmm::VCpu& v, unsigned cr, std::uint32_t old);
  /// The guest ran INVLPG for `la`.
  void invalidate_page(std::uint32_t la);
  /// Routes INT `vector` of the guest kernel to Reason::hypercall (its gate gets DPL 1, so
  /// the INT reaches the monitor as itself instead of as a #GP). Vectors 0x30 and up: the
  /// exceptions and the real IRQs have theirs. False for a vector below that.
  bool add_hypercall_vector(std::uint8_t vector);
  /// A gate that takes INT `vector` from user mode straight to the guest kernel's handler at
  /// `eip` in its code segment `cs`, on the ring-1 stack of set_ring1_stack(), without
  /// entering the monitor (Xen's direct trap for a paravirtual guest's system calls). A trap
  /// gate: the real IF stays 1. Vectors 0x30 and up that are not hypercall vectors, and `cs`
  /// a guest GDT selector; false otherwise (the gate stays the monitor's).
  bool set_direct_gate(std::uint8_t vector, std::uint16_t cs, std::uint32_t eip);
  /// Gives the vector back to the monitor (as after install).
  void clear_direct_gate(std::uint8_t vector);
  /// The stack the CPU switches to for a direct gate: TSS.SS1:ESP1 (`ss` a guest GDT data
  /// selector, made RPL 1). False for a selector outside the guest's slots.
  bool set_ring1_stack(std::uint16_t ss, std::uint32_t esp);
  /// Drops the monitor's cached translations of guest-linear addresses (its soft TLB): the
  /// guest's page tables changed where the monitor cannot tell which addresses they map.
  void flush_guest_translations() { soft_tlb_flush(); }

  /// The hardware tables, for the kernel side to load (kernel/hardware.cpp).
  CpuTables& tables() { return tables_; }

  /// Counters, for the trace and tests.
  struct Counters {
    std::uint64_t decode_hits = 0, decode_misses = 0, monitor_steps = 0, user_iopl_emulated = 0, irqs = 0,
                  spurious_irqs = 0, timer_arms = 0;
  };
  const Counters& counters() const { return counters_; }

 protected:
  /// Where the guest's code runs, and back (lab02 runs its kernel from a translation cache).
  /// guest_state_stored() is called last when the vCPU has been stored into the frame of the
  /// next entry; guest_state_loaded() last when a trap's frame has been loaded into the vCPU
  /// (f.vector says which trap). The defaults: the guest runs where it is.
  virtual void guest_state_stored(const vmm::VCpu&, TrapFrame&) {}
  virtual void guest_state_loaded(vmm::VCpu&, const TrapFrame&) {}
  /// The monitor wrote `n` bytes of guest memory at host address `host` (an emulated
  /// instruction, an interrupt frame): lab02 drops the translations of code written so.
  virtual void guest_memory_written(const void* host, std::size_t n) {
    (void)host;
    (void)n;
  }
  /// Whether this entry single-steps the guest for the monitor's own purposes.
  bool monitor_stepping() const { return step_; }
  /// Drops the shadow page tables and the soft TLB: the permissions the shadow gave a
  /// guest frame changed (lab02 write-protects a frame once it translated code from it).
  void flush_shadow(const vmm::VCpu& v) {
    mmu_.reset(v);
    soft_tlb_flush();
  }

  vmm::Board& board() { return board_; }
  TrapHardware& hardware() { return hw_; }

 private:
  // vCPU <-> trap frame: the virtual IF and IOPL stay the vCPU's, the real ones IF = 1 (the
  // monitor keeps its timer) and IOPL 0 (every port traps).
  void load_vcpu(vmm::VCpu& v, const TrapFrame& f);
  bool store_vcpu(const vmm::VCpu& v, TrapFrame& f);
  vmm::Event build_event(vmm::VCpu& v, const TrapFrame& f, bool monitor_step);
  void sync_paging(vmm::VCpu& v);
  std::uint16_t timer_ticks();
  void soft_tlb_flush();
  unsigned char* guest_page(vmm::VCpu& v, std::uint32_t la, bool user, bool write, vmm::ExceptionInfo* fault);
  bool guest_copy(vmm::VCpu& v, std::uint32_t la, void* buf, std::size_t n, bool user, bool write,
                  vmm::ExceptionInfo* fault);
  const decoder::Instruction* fetch_decoded(vmm::VCpu& v);
  void step_user_with_iopl(vmm::VCpu& v);  // lab01-e10

  TrapHardware& hw_;
  alignas(4096) CpuTables tables_;
  ShadowDescriptors descriptors_;
  ShadowMmu mmu_;
  decoder::Decoder decoder_{decoder::Mode::k32};
  vmm::VCpu* vcpu_ = nullptr;  // the vCPU of the last enter(), for read_guest()

  // The monitor's own single step (TF) for the end of an STI shadow or for user mode with
  // IOPL > 0, and whether the guest had TF set itself then.
  bool window_wanted_ = false, step_ = false, step_guest_tf_ = false;
  std::uint32_t shadow_eip_ = 0;  // where the guest resumed with an STI shadow pending
  bool rdtsc_traps_ = false, rdtsc_traps_known_ = false;
  // The run loop's arm_timer(), kept for the switch: the real PIT is armed last, so the
  // monitor's own work before the IRET never eats the guest's slice.
  std::uint64_t timer_deadline_ = 0, timer_watchdog_ = 0;
  std::uint8_t hypercall_vectors_[256 / 8] = {};
  x86::GateDescriptor monitor_gates_[256] = {};  // what set_direct_gate replaced
  std::uint8_t direct_gates_[256 / 8] = {};

  // The monitor's TLB for its own accesses to guest memory (instruction fetch, the GDT, the
  // guest's stack for IRET and interrupt frames): guest-linear page -> host pointer, with the
  // kinds of access a walk of the guest's tables allowed. Dropped with the shadow tables and
  // at INVLPG, as the guest's TLB would be; a walk sets the A and D bits the first time.
  struct SoftTlbEntry {
    std::uint32_t page = 0xffffffffu;  // la >> 12; never a valid page number when empty
    std::uint8_t rights = 0;           // bit (user * 2 + write): that access was allowed
    unsigned char* host = nullptr;
  };
  static constexpr unsigned kSoftTlbSize = 64;
  SoftTlbEntry soft_tlb_[kSoftTlbSize];

  // Decoded instructions by their bytes: the guest traps on the same few instructions over
  // and over (IN/OUT in a polling loop, IRET, the EOI), and a full decode costs more than the
  // rest of an entry. Keyed by the bytes themselves, so code the guest rewrites is decoded
  // afresh; the linear address only picks the slot.
  struct DecodedSlot {
    std::uint8_t bytes[15];
    std::uint8_t length = 0;  // 0: empty
    decoder::Instruction insn;
  };
  static constexpr unsigned kDecodeSlots = 64;
  DecodedSlot decoded_[kDecodeSlots];

  Counters counters_;
};

/// The trap back end of a machine whose handlers are lab01's (install_handlers() is only
/// ever used on a Machine built with a TrapBackend).
inline TrapBackend& trap_backend(vmm::Machine& m) { return static_cast<TrapBackend&>(m.backend()); }

}  // namespace hvlab::lab01
