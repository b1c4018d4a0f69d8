#pragma once
// The real descriptor tables of the trap back end, and the shadow GDT/LDT kept in them.
//
// The CPU runs the guest with the monitor's GDT, IDT, LDT and TSS (CpuTables). The guest
// believes it has its own; the monitor mirrors the guest's GDT and LDT into the real ones,
// every descriptor deprivileged (lab01-e8): ring 0 becomes ring 1, limits end below the
// monitor's window, system descriptors are not loaded natively. The monitor's own
// descriptors sit in the GDT's last slots, out of the way of any guest GDT.

#include <cstddef>
#include <cstdint>

#include "common/arch/x86.hpp"
#include "common/vmm/vcpu.hpp"
#include "lab01-trap-and-emulate/src/selectors.h"

namespace hvlab::lab01 {

/// The real GDT has the architecture's 8192 slots, so a guest may use any selector: slots
/// 1 .. kGuestSlots-1 mirror the guest's GDT, the last five are the monitor's.
inline constexpr unsigned kGdtSlots = 8192;
inline constexpr unsigned kTrapCodeSlot = LAB01_TRAP_CS >> 3, kMonitorCodeSlot = LAB01_MONITOR_CS >> 3,
                          kMonitorDataSlot = LAB01_MONITOR_DS >> 3, kMonitorTssSlot = LAB01_MONITOR_TSS >> 3,
                          kMonitorLdtSlot = LAB01_MONITOR_LDT >> 3;
inline constexpr unsigned kGuestSlots = kTrapCodeSlot;
inline constexpr std::uint16_t kTrapCS = LAB01_TRAP_CS, kMonitorCS = LAB01_MONITOR_CS, kMonitorDS = LAB01_MONITOR_DS,
                               kMonitorTss = LAB01_MONITOR_TSS, kMonitorLdt = LAB01_MONITOR_LDT;
static_assert(kMonitorLdtSlot == kGdtSlots - 1 && kTrapCodeSlot == kGdtSlots - 5);
/// The shadow LDT's slots: a guest LDT beyond them is not mirrored (loading such a selector
/// faults in the guest).
inline constexpr unsigned kLdtSlots = 128;

/// The hardware tables, laid out so that each kind fills pages of its own: the trap pages
/// (address_space.hpp) map them into the guest's address space without anything else.
struct alignas(4096) CpuTables {
  x86::SegmentDescriptor gdt[kGdtSlots];  ///< 16 pages
  x86::GateDescriptor idt[256];           ///< one page: the IDT, the LDT and the TSS
  x86::SegmentDescriptor ldt[kLdtSlots];
  x86::Tss32 tss;
  alignas(4096) unsigned char trap_stack[4096];  ///< TSS.ESP0: where a trap's frame is built
};
static_assert(offsetof(CpuTables, idt) == 16 * 4096 && offsetof(CpuTables, trap_stack) == 17 * 4096);
static_assert(sizeof(CpuTables) == 18 * 4096);
inline constexpr unsigned kGdtPages = 16;

/// The base address of the segment a selector names, as the guest's code sees it.
class SegmentBases {
 public:
  virtual std::uint32_t segment_base(std::uint16_t selector) const = 0;

 protected:
  ~SegmentBases() = default;
};

/// How the shadow tables read the guest's own (supervisor reads, nothing raised).
class GuestReader {
 public:
  /// Copies `n` bytes of guest-linear memory at `la`; false if the guest's MMU refuses.
  virtual bool read_guest(std::uint32_t la, void* dst, std::size_t n) = 0;
  /// The `n` bytes at `la` in place, when they lie in one page the guest maps (no copy);
  /// nullptr otherwise (read_guest() then copies them).
  virtual const void* view_guest(std::uint32_t la, std::size_t n) = 0;

 protected:
  ~GuestReader() = default;
};

/// The real descriptor for a guest descriptor (exercise lab01-e8): ring 0 becomes ring 1,
/// the limit ends below the monitor, system descriptors are not loaded natively.
x86::SegmentDescriptor deprivilege_descriptor(x86::SegmentDescriptor guest);

/// Selector conversions between what the guest believes (RPL 0 in its kernel) and what the
/// CPU holds (RPL 1).
constexpr std::uint16_t to_real_selector(std::uint16_t sel) { return (sel & 3) == 0 && (sel & ~3) ? sel | 1 : sel; }
constexpr std::uint16_t to_virtual_selector(std::uint16_t sel) { return (sel & 3) == 1 ? sel & ~3 : sel; }

/// The shadow GDT and LDT in a CpuTables, kept in step with the guest's own tables.
class ShadowDescriptors final : public SegmentBases {
 public:
  /// Fills the guest's boot segments (flat code 0x08 and data 0x10, as a multiboot loader
  /// leaves them) until the guest loads a GDT of its own.
  explicit ShadowDescriptors(CpuTables& tables);

  /// The guest ran LGDT (the next sync mirrors the new table).
  void gdt_loaded() { guest_gdt_ = true; }
  /// The guest ran LLDT for an LDT at guest-linear `base` with limit `limit` (0, 0: none).
  void ldt_loaded(std::uint32_t base, std::uint32_t limit) {
    ldt_base_ = base;
    ldt_limit_ = limit;
  }

  /// Mirrors the guest's GDT and LDT into the real ones, deprivileged. Run at every entry, so
  /// a descriptor the guest edits in place is seen at its next trap; only slots that changed
  /// are rebuilt (a full rebuild was most of a trap's cost on a slow emulator). Ring-3 code
  /// descriptors are not present while the guest kernel runs: its IRET (or far RET) to user
  /// mode then traps (#NP), so the monitor sees the IF and IOPL it loads. A part of the
  /// guest's table that is not mapped now keeps its last mirror.
  void sync(const vmm::VCpu& v, GuestReader& guest);

  std::uint32_t segment_base(std::uint16_t sel) const override;
  /// The guest's own view of segment `sel` (base, limit in bytes, expand-up): the flat boot
  /// segments until it loads a GDT. False for a selector without a usable descriptor.
  bool guest_segment(std::uint16_t sel, std::uint32_t* base, std::uint32_t* limit) const;
  /// True if `sel` names a usable descriptor in the real tables for its RPL: code (the RPL's
  /// ring, or conforming), a stack (writable data of the RPL's ring), or any data.
  bool selector_usable(std::uint16_t sel, bool code, bool stack) const;

  unsigned gdt_slots_in_use() const { return gdt_n_; }

 private:
  const x86::SegmentDescriptor* real(std::uint16_t sel) const;
  std::uint64_t raw(std::uint16_t sel) const;
  // Mirrors `count` descriptors of the guest's table at `base` from slot `first` on; false if
  // part of it could not be read.
  bool mirror(x86::SegmentDescriptor* real, std::uint64_t* raw, unsigned* in_use, unsigned first, std::uint32_t base,
              unsigned count, bool all, bool hide_user_code, GuestReader& guest);

  CpuTables& t_;
  bool guest_gdt_ = false;
  std::uint32_t ldt_base_ = 0, ldt_limit_ = 0;
  // What each slot was last built from (the guest's raw descriptor), and whether ring-3 code
  // was hidden then: a slot is rebuilt only when either changed.
  std::uint64_t gdt_raw_[kGuestSlots] = {};
  std::uint64_t ldt_raw_[kLdtSlots] = {};
  unsigned gdt_n_ = 3, ldt_n_ = 0;  // slots that may be non-null
  bool hid_user_ = false, valid_ = false;
};

}  // namespace hvlab::lab01
