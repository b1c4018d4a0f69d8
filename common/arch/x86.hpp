#pragma once
// IA-32 architectural registers and system structures, named as in the Intel SDM vol. 3.
// Layouts are bit-field structs checked with static_assert and converted with std::bit_cast.

#include <bit>
#include <cstdint>

namespace hvlab::x86 {

/// CR0 (SDM 2.5).
struct Cr0 {
  std::uint32_t pe : 1, mp : 1, em : 1, ts : 1, et : 1, ne : 1, reserved0 : 10;
  std::uint32_t wp : 1, reserved1 : 1, am : 1, reserved2 : 10, nw : 1, cd : 1, pg : 1;

  static constexpr Cr0 from(std::uint32_t v) { return std::bit_cast<Cr0>(v); }
  constexpr std::uint32_t raw() const { return std::bit_cast<std::uint32_t>(*this); }
};
static_assert(sizeof(Cr0) == 4);

namespace cr0 {
inline constexpr std::uint32_t PE = 1u << 0, MP = 1u << 1, EM = 1u << 2, TS = 1u << 3, ET = 1u << 4,
                               NE = 1u << 5, WP = 1u << 16, AM = 1u << 18, NW = 1u << 29,
                               CD = 1u << 30, PG = 1u << 31;
}

namespace cr4 {
inline constexpr std::uint32_t VME = 1u << 0, PVI = 1u << 1, TSD = 1u << 2, DE = 1u << 3, PSE = 1u << 4,
                               PAE = 1u << 5, MCE = 1u << 6, PGE = 1u << 7, PCE = 1u << 8,
                               OSFXSR = 1u << 9, OSXMMEXCPT = 1u << 10, UMIP = 1u << 11,
                               VMXE = 1u << 13, SMXE = 1u << 14, FSGSBASE = 1u << 16,
                               PCIDE = 1u << 17, OSXSAVE = 1u << 18, SMEP = 1u << 20, SMAP = 1u << 21;
}

/// EFLAGS (SDM 2.3).
namespace eflags {
inline constexpr std::uint32_t CF = 1u << 0, FIXED1 = 1u << 1, PF = 1u << 2, AF = 1u << 4, ZF = 1u << 6,
                               SF = 1u << 7, TF = 1u << 8, IF = 1u << 9, DF = 1u << 10, OF = 1u << 11,
                               IOPL = 3u << 12, NT = 1u << 14, RF = 1u << 16, VM = 1u << 17,
                               AC = 1u << 18, VIF = 1u << 19, VIP = 1u << 20, ID = 1u << 21;
inline constexpr unsigned kIoplShift = 12;
constexpr unsigned iopl(std::uint32_t f) { return (f >> kIoplShift) & 3; }
}  // namespace eflags

/// A segment selector (SDM 3.4.2).
struct Selector {
  std::uint16_t rpl : 2, ti : 1, index : 13;

  static constexpr Selector from(std::uint16_t v) { return std::bit_cast<Selector>(v); }
  static constexpr Selector make(unsigned index, unsigned rpl, bool ldt = false) {
    return Selector{static_cast<std::uint16_t>(rpl), static_cast<std::uint16_t>(ldt),
                    static_cast<std::uint16_t>(index)};
  }
  constexpr std::uint16_t raw() const { return std::bit_cast<std::uint16_t>(*this); }
};
static_assert(sizeof(Selector) == 2);

/// Descriptor types (SDM 3.4.5.1 and 3.5).
namespace desc_type {
inline constexpr unsigned kDataRW = 0x2, kDataRWAccessed = 0x3, kCodeRX = 0xa, kCodeRXAccessed = 0xb;
inline constexpr unsigned kLdt = 0x2, kTss32Available = 0x9, kTss32Busy = 0xb, kCallGate32 = 0xc,
                          kInterruptGate32 = 0xe, kTrapGate32 = 0xf, kTaskGate = 0x5;
}  // namespace desc_type

/// A code, data or system segment descriptor (SDM 3.4.5).
struct SegmentDescriptor {
  std::uint64_t limit_low : 16, base_low : 24, type : 4, s : 1, dpl : 2, p : 1, limit_high : 4,
      avl : 1, l : 1, db : 1, g : 1, base_high : 8;

  static constexpr SegmentDescriptor from(std::uint64_t v) { return std::bit_cast<SegmentDescriptor>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint32_t base() const { return static_cast<std::uint32_t>(base_low | (base_high << 24)); }
  /// The limit in bytes, granularity applied.
  constexpr std::uint32_t limit() const {
    std::uint32_t l = static_cast<std::uint32_t>(limit_low | (limit_high << 16));
    return g ? (l << 12) | 0xfff : l;
  }
  /// A present descriptor; `s` = code/data, limit given in bytes (page granular above 1 MiB).
  static constexpr SegmentDescriptor make(std::uint32_t base, std::uint32_t limit_bytes, unsigned type,
                                          unsigned dpl, bool code_or_data = true, bool db = true) {
    bool gran = limit_bytes > 0xfffff;
    std::uint32_t l = gran ? limit_bytes >> 12 : limit_bytes;
    SegmentDescriptor d{};
    d.limit_low = l & 0xffff;
    d.limit_high = (l >> 16) & 0xf;
    d.base_low = base & 0xffffff;
    d.base_high = base >> 24;
    d.type = type;
    d.s = code_or_data;
    d.dpl = dpl;
    d.p = 1;
    d.db = db;
    d.g = gran;
    return d;
  }
};
static_assert(sizeof(SegmentDescriptor) == 8);

/// A 32-bit interrupt, trap or call gate (SDM 6.11).
struct GateDescriptor {
  std::uint64_t offset_low : 16, selector : 16, param_count : 5, zero : 3, type : 4, s : 1, dpl : 2,
      p : 1, offset_high : 16;

  static constexpr GateDescriptor from(std::uint64_t v) { return std::bit_cast<GateDescriptor>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint32_t offset() const { return static_cast<std::uint32_t>(offset_low | (offset_high << 16)); }
  static constexpr GateDescriptor make(std::uint32_t offset, std::uint16_t selector, unsigned type, unsigned dpl) {
    GateDescriptor g{};
    g.offset_low = offset & 0xffff;
    g.offset_high = offset >> 16;
    g.selector = selector;
    g.type = type;
    g.dpl = dpl;
    g.p = 1;
    return g;
  }
};
static_assert(sizeof(GateDescriptor) == 8);

/// The operand of LGDT/LIDT/SGDT/SIDT (SDM 3.5.1).
struct [[gnu::packed]] DescriptorTableRegister {
  std::uint16_t limit;
  std::uint32_t base;
};
static_assert(sizeof(DescriptorTableRegister) == 6);

/// The 32-bit task-state segment (SDM 8.2.1).
struct [[gnu::packed]] Tss32 {
  std::uint16_t prev_task, reserved0;
  std::uint32_t esp0;
  std::uint16_t ss0, reserved1;
  std::uint32_t esp1;
  std::uint16_t ss1, reserved2;
  std::uint32_t esp2;
  std::uint16_t ss2, reserved3;
  std::uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
  std::uint16_t es, r_es, cs, r_cs, ss, r_ss, ds, r_ds, fs, r_fs, gs, r_gs, ldt, r_ldt;
  std::uint16_t trap, iomap_base;
};
static_assert(sizeof(Tss32) == 104);

/// Exception vectors (SDM 6.3.1).
namespace vector {
inline constexpr unsigned DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8,
                          TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18,
                          XM = 19, VE = 20, CP = 21;
/// True for the exceptions that push an error code.
constexpr bool has_error_code(unsigned v) {
  return v == DF || v == TS || v == NP || v == SS || v == GP || v == PF || v == AC || v == CP;
}
const char* name(unsigned v);
}  // namespace vector

/// #PF error code bits (SDM 4.7).
namespace pf_error {
inline constexpr std::uint32_t P = 1u << 0, W = 1u << 1, U = 1u << 2, RSVD = 1u << 3, I = 1u << 4;
}

}  // namespace hvlab::x86
