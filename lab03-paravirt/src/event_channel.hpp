#pragma once
// The shared info page and event channels: how a paravirtual guest gets interrupts without
// the monitor trapping its interrupt flag.
//
// The shared info page is guest memory both sides write. The guest's "CLI" is a store of 1
// into vcpu_info.evtchn_upcall_mask; its "STI" a store of 0 (and a hypercall when
// evtchn_upcall_pending says something waits). An event channel is a port number; raising
// one sets its bit in evtchn_pending and, unless the port is masked in evtchn_mask, its word's
// bit in evtchn_pending_sel and evtchn_upcall_pending (Xen's two-level scheme). The monitor
// then delivers the event callback as soon as the mask is clear; the guest's callback scans
// the bitmaps and clears what it handles.
//
// Everything in the page is the guest's to scribble on: the monitor only reads and writes
// words there, and nothing it relies on for its own safety lives in the page. The port table
// (which port is bound to what) is the monitor's own.

#include <cstddef>
#include <cstdint>

#include "common/memory/address.hpp"
#include "common/memory/guest_memory.hpp"
#include "lab03-paravirt/abi/hvlab_pv.h"
#include "lab03-paravirt/src/errors.hpp"

namespace hvlab::lab03 {

/// Word-sized access to the shared info page in guest memory.
class SharedInfo {
 public:
  explicit SharedInfo(mem::GuestMemory& memory) : memory_(memory) {}

  /// Uses the page at `gpa` from now on, and sets it to its initial state: every field 0
  /// but the event mask, which starts at 1 (a guest starts with interrupts off).
  bool attach(GuestPhysAddr gpa);
  bool attached() const { return attached_; }
  GuestPhysAddr address() const { return gpa_; }

  std::uint8_t upcall_pending() const { return read<std::uint8_t>(kPending); }
  void set_upcall_pending(std::uint8_t v) { write<std::uint8_t>(kPending, v); }
  std::uint8_t upcall_mask() const { return read<std::uint8_t>(kMask); }
  void set_upcall_mask(std::uint8_t v) { write<std::uint8_t>(kMask, v); }
  std::uint32_t pending_sel() const { return read<std::uint32_t>(kSel); }
  void set_pending_sel(std::uint32_t v) { write<std::uint32_t>(kSel, v); }
  std::uint32_t pending_word(unsigned w) const { return read<std::uint32_t>(kPendingWords + 4 * w); }
  void set_pending_word(unsigned w, std::uint32_t v) { write<std::uint32_t>(kPendingWords + 4 * w, v); }
  std::uint32_t mask_word(unsigned w) const { return read<std::uint32_t>(kMaskWords + 4 * w); }
  void set_mask_word(unsigned w, std::uint32_t v) { write<std::uint32_t>(kMaskWords + 4 * w, v); }
  void set_cr2(std::uint32_t v) { write<std::uint32_t>(kCr2, v); }

  /// Publishes the guest's time as Xen does: version made odd, the record written, version
  /// made even again, so a guest reading in between retries.
  void update_time(std::uint64_t tsc, std::uint64_t system_ns, std::uint32_t mul, std::int8_t shift);

  static constexpr std::size_t kPending = offsetof(hvlab_pv_shared_info, vcpu_info[0].evtchn_upcall_pending);
  static constexpr std::size_t kMask = offsetof(hvlab_pv_shared_info, vcpu_info[0].evtchn_upcall_mask);
  static constexpr std::size_t kSel = offsetof(hvlab_pv_shared_info, vcpu_info[0].evtchn_pending_sel);
  static constexpr std::size_t kCr2 = offsetof(hvlab_pv_shared_info, vcpu_info[0].cr2);
  static constexpr std::size_t kTime = offsetof(hvlab_pv_shared_info, vcpu_info[0].time);
  static constexpr std::size_t kPendingWords = offsetof(hvlab_pv_shared_info, evtchn_pending);
  static constexpr std::size_t kMaskWords = offsetof(hvlab_pv_shared_info, evtchn_mask);

 private:
  template <typename T>
  T read(std::size_t off) const {
    if (!attached_) return T{};
    auto v = memory_.read<T>(gpa_ + off);
    return v.ok() ? v.value() : T{};
  }
  template <typename T>
  void write(std::size_t off, T v) {
    if (attached_) (void)memory_.write<T>(gpa_ + off, v);
  }

  mem::GuestMemory& memory_;
  GuestPhysAddr gpa_;
  bool attached_ = false;
};

/// The TSC-to-nanoseconds scale of the time record for a TSC of `tsc_hz`: ns =
/// ((ticks << shift) * mul) >> 32, with mul below 2^32 (Xen's vcpu_time_info).
void time_scale(std::uint64_t tsc_hz, std::uint32_t* mul, std::int8_t* shift);
/// Applies a scale to `ticks` the way the guest does.
std::uint64_t scale_ticks(std::uint64_t ticks, std::uint32_t mul, std::int8_t shift);

class EventChannels {
 public:
  static constexpr std::uint32_t kPorts = HVLAB_PV_NR_EVENT_CHANNELS;

  explicit EventChannels(SharedInfo& shared) : shared_(shared) {}

  int bind_virq(std::uint32_t virq, std::uint32_t* port);
  int bind_ipi(std::uint32_t* port);
  /// Sends on an IPI port: the event arrives at this (the only) vCPU.
  int send(std::uint32_t port);
  int unmask(std::uint32_t port);
  int close(std::uint32_t port);

  /// Raises the port bound to `virq`, if any; true when one was.
  bool raise_virq(std::uint32_t virq);
  /// Xen's evtchn_set_pending: marks `port` pending and, unless it is masked or already
  /// pending, its selector bit and the vCPU's upcall_pending flag.
  void set_pending(std::uint32_t port);

  enum class State : std::uint8_t { free, virq, ipi };
  State state(std::uint32_t port) const { return port < kPorts ? ports_[port].state : State::free; }
  std::uint32_t port_of_virq(std::uint32_t virq) const { return virq < HVLAB_PV_NR_VIRQS ? virq_port_[virq] : 0; }
  unsigned bound() const;

  /// nullptr when the port table and the VIRQ map agree, else what is wrong (tests, fuzzer).
  const char* check_invariants() const;

  struct Stats {
    std::uint64_t raised = 0;   ///< set_pending calls
    std::uint64_t notified = 0; ///< of them, the ones that set upcall_pending
  };
  const Stats& stats() const { return stats_; }

 private:
  int alloc(State s, std::uint8_t virq, std::uint32_t* port);
  bool valid(std::uint32_t port) const { return port > 0 && port < kPorts && ports_[port].state != State::free; }

  struct Port {
    State state = State::free;
    std::uint8_t virq = 0;
  };
  SharedInfo& shared_;
  Port ports_[kPorts];
  std::uint32_t virq_port_[HVLAB_PV_NR_VIRQS] = {};
  Stats stats_;
};

}  // namespace hvlab::lab03
