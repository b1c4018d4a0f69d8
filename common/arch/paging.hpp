#pragma once
// Paging-structure entries, named as in the Intel SDM vol. 3A chapter 4 (32-bit, PAE and
// 4-level paging) and vol. 3C chapter 29 (EPT). Each entry is a bit-field struct checked
// with static_assert and converted to and from its raw word with std::bit_cast, so no code
// reads an inactive union member. x86 fills bit-fields from bit 0 upwards (the SysV i386 and
// x86-64 ABIs), which is what makes these layouts match the hardware; the static_asserts
// below check it.
//
// Addresses are plain integers here: the same entry type holds a guest-physical address in
// a guest's page table and a host-physical one in a shadow page table, so typing them is
// the job of the walker (common/memory/page_table.hpp), not of the entry.

#include <bit>
#include <cstdint>

namespace hvlab::x86 {

/// Page and large-page sizes.
inline constexpr std::uint64_t kPage4K = 1ull << 12;
inline constexpr std::uint64_t kPage2M = 1ull << 21;
inline constexpr std::uint64_t kPage4M = 1ull << 22;
inline constexpr std::uint64_t kPage1G = 1ull << 30;

/// Raw flag bits shared by the 32-bit, PAE and 4-level formats, for code that works on raw
/// words (e.g. "set A and D with one OR").
namespace page {
inline constexpr std::uint32_t P = 1u << 0;    ///< present
inline constexpr std::uint32_t RW = 1u << 1;   ///< writable (R/W)
inline constexpr std::uint32_t US = 1u << 2;   ///< user-mode accessible (U/S)
inline constexpr std::uint32_t PWT = 1u << 3;  ///< page-level write-through
inline constexpr std::uint32_t PCD = 1u << 4;  ///< page-level cache disable
inline constexpr std::uint32_t A = 1u << 5;    ///< accessed
inline constexpr std::uint32_t D = 1u << 6;    ///< dirty (leaf entries only)
inline constexpr std::uint32_t PS = 1u << 7;   ///< page size: this PDE/PDPTE maps a large page
inline constexpr std::uint32_t PAT = 1u << 7;  ///< PAT index bit in a 4 KiB PTE (same bit as PS)
inline constexpr std::uint32_t G = 1u << 8;    ///< global (leaf entries, with CR4.PGE)
inline constexpr std::uint32_t PAT_LARGE = 1u << 12;  ///< PAT index bit in a large-page entry
inline constexpr std::uint64_t XD = 1ull << 63;       ///< execute-disable (PAE/4-level, EFER.NXE)
/// The bits of a 32-bit PTE or 4 MiB PDE a mapping call may choose (the rest are the
/// walker's: P, A, D, PS, and the address).
inline constexpr std::uint32_t kMapFlags = RW | US | PWT | PCD | PAT | G;
}  // namespace page

// ---------------------------------------------------------------------------------------------
// Linear-address decomposition.

/// 32-bit paging: bits 31:22 select the PDE, 21:12 the PTE (SDM 4.3).
constexpr std::uint32_t pd_index32(std::uint32_t linear) { return linear >> 22; }
constexpr std::uint32_t pt_index32(std::uint32_t linear) { return (linear >> 12) & 0x3ff; }

/// PAE paging: bits 31:30 select the PDPTE, then 9 bits per level (SDM 4.4).
constexpr std::uint32_t pdpt_index_pae(std::uint32_t linear) { return linear >> 30; }
/// 4-level paging and PAE below the PDPT: 9 bits per level (SDM 4.5).
constexpr std::uint32_t pml4_index(std::uint64_t linear) { return (linear >> 39) & 0x1ff; }
constexpr std::uint32_t pdpt_index(std::uint64_t linear) { return (linear >> 30) & 0x1ff; }
constexpr std::uint32_t pd_index(std::uint64_t linear) { return (linear >> 21) & 0x1ff; }
constexpr std::uint32_t pt_index(std::uint64_t linear) { return (linear >> 12) & 0x1ff; }

// ---------------------------------------------------------------------------------------------
// 32-bit paging (SDM 4.3, tables 4-4 to 4-6).

/// CR3 with 32-bit paging: the page directory's physical address (below 4 GiB).
struct Cr3Paging32 {
  std::uint32_t ignored0 : 3, pwt : 1, pcd : 1, ignored5 : 7, directory : 20;

  static constexpr Cr3Paging32 from(std::uint32_t v) { return std::bit_cast<Cr3Paging32>(v); }
  constexpr std::uint32_t raw() const { return std::bit_cast<std::uint32_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{directory} << 12; }
  constexpr void set_address(std::uint64_t pa) { directory = (pa >> 12) & 0xfffff; }
};
static_assert(sizeof(Cr3Paging32) == 4);

/// A 32-bit PDE that references a page table (PS = 0).
struct Pde32 {
  std::uint32_t present : 1, writable : 1, user : 1, write_through : 1, cache_disable : 1,
      accessed : 1, ignored6 : 1, page_size : 1, ignored8 : 4, table : 20;

  static constexpr Pde32 from(std::uint32_t v) { return std::bit_cast<Pde32>(v); }
  constexpr std::uint32_t raw() const { return std::bit_cast<std::uint32_t>(*this); }
  /// Physical address of the page table.
  constexpr std::uint64_t address() const { return std::uint64_t{table} << 12; }
  constexpr void set_address(std::uint64_t pa) { table = (pa >> 12) & 0xfffff; }
};
static_assert(sizeof(Pde32) == 4);

/// A 32-bit PDE that maps a 4 MiB page (PS = 1, needs CR4.PSE). Bits 20:13 hold physical
/// address bits 39:32 (PSE-36/PSE-40), so a 4 MiB page can sit above 4 GiB.
struct Pde32Large {
  std::uint32_t present : 1, writable : 1, user : 1, write_through : 1, cache_disable : 1,
      accessed : 1, dirty : 1, page_size : 1, global : 1, ignored9 : 3, pat : 1, address_high : 8,
      reserved21 : 1, address_low : 10;

  static constexpr Pde32Large from(std::uint32_t v) { return std::bit_cast<Pde32Large>(v); }
  constexpr std::uint32_t raw() const { return std::bit_cast<std::uint32_t>(*this); }
  /// Physical address of the 4 MiB page (up to 40 bits).
  constexpr std::uint64_t address() const {
    return (std::uint64_t{address_high} << 32) | (std::uint64_t{address_low} << 22);
  }
  /// Stores bits 39:22 of `pa`; lower bits are dropped, so align first.
  constexpr void set_address(std::uint64_t pa) {
    address_low = static_cast<std::uint32_t>((pa >> 22) & 0x3ff);
    address_high = static_cast<std::uint32_t>((pa >> 32) & 0xff);
  }
};
static_assert(sizeof(Pde32Large) == 4);

/// A 32-bit PTE mapping a 4 KiB page.
struct Pte32 {
  std::uint32_t present : 1, writable : 1, user : 1, write_through : 1, cache_disable : 1,
      accessed : 1, dirty : 1, pat : 1, global : 1, ignored9 : 3, frame : 20;

  static constexpr Pte32 from(std::uint32_t v) { return std::bit_cast<Pte32>(v); }
  constexpr std::uint32_t raw() const { return std::bit_cast<std::uint32_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{frame} << 12; }
  constexpr void set_address(std::uint64_t pa) { frame = (pa >> 12) & 0xfffff; }
};
static_assert(sizeof(Pte32) == 4);

// ---------------------------------------------------------------------------------------------
// PAE paging (SDM 4.4) and 4-level paging (SDM 4.5). Below the PDPT the two share one
// format; bits 62:52, reserved under PAE, are ignored (or a protection key) in 4-level
// paging. Address fields are 40 bits wide (MAXPHYADDR up to 52); bits above the CPU's
// MAXPHYADDR are reserved and a walker must check them.

/// CR3 with PAE paging: the 32-byte-aligned PDPT address.
struct Cr3Pae {
  std::uint32_t ignored0 : 3, pwt : 1, pcd : 1, pdpt : 27;

  static constexpr Cr3Pae from(std::uint32_t v) { return std::bit_cast<Cr3Pae>(v); }
  constexpr std::uint32_t raw() const { return std::bit_cast<std::uint32_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{pdpt} << 5; }
  constexpr void set_address(std::uint64_t pa) { pdpt = (pa >> 5) & 0x7ffffff; }
};
static_assert(sizeof(Cr3Pae) == 4);

/// CR3 with 4-level paging (CR4.PCIDE = 0; with PCIDE, bits 11:0 are the PCID).
struct Cr3Ia32e {
  std::uint64_t ignored0 : 3, pwt : 1, pcd : 1, ignored5 : 7, pml4 : 40, reserved52 : 12;

  static constexpr Cr3Ia32e from(std::uint64_t v) { return std::bit_cast<Cr3Ia32e>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{pml4} << 12; }
  constexpr void set_address(std::uint64_t pa) { pml4 = (pa >> 12) & ((1ull << 40) - 1); }
  constexpr std::uint32_t pcid() const { return static_cast<std::uint32_t>(raw() & 0xfff); }
};
static_assert(sizeof(Cr3Ia32e) == 8);

/// One of the four PAE PDPTEs (loaded into the PDPTE registers on MOV CR3). No R/W, U/S
/// or A bits: bits 2:1 and 8:5 are reserved.
struct PdptePae {
  std::uint64_t present : 1, reserved1 : 2, write_through : 1, cache_disable : 1, reserved5 : 4,
      ignored9 : 3, directory : 40, reserved52 : 12;

  static constexpr PdptePae from(std::uint64_t v) { return std::bit_cast<PdptePae>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{directory} << 12; }
  constexpr void set_address(std::uint64_t pa) { directory = (pa >> 12) & ((1ull << 40) - 1); }
};
static_assert(sizeof(PdptePae) == 8);

/// A 64-bit entry that references the next paging structure: a PML4E, a PDPTE with PS = 0
/// (4-level) or a PDE with PS = 0 (PAE and 4-level).
struct TableEntry64 {
  std::uint64_t present : 1, writable : 1, user : 1, write_through : 1, cache_disable : 1,
      accessed : 1, ignored6 : 1, page_size : 1, ignored8 : 4, table : 40, ignored52 : 11,
      execute_disable : 1;

  static constexpr TableEntry64 from(std::uint64_t v) { return std::bit_cast<TableEntry64>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{table} << 12; }
  constexpr void set_address(std::uint64_t pa) { table = (pa >> 12) & ((1ull << 40) - 1); }
};
static_assert(sizeof(TableEntry64) == 8);

using Pml4e = TableEntry64;   ///< 4-level PML4 entry (PS is reserved, must be 0)
using Pdpte64 = TableEntry64; ///< 4-level PDPTE referencing a page directory
using Pde64 = TableEntry64;   ///< PAE / 4-level PDE referencing a page table

/// A PAE / 4-level PDE mapping a 2 MiB page (PS = 1). Bits 20:13 are reserved.
struct Pde64Large {
  std::uint64_t present : 1, writable : 1, user : 1, write_through : 1, cache_disable : 1,
      accessed : 1, dirty : 1, page_size : 1, global : 1, ignored9 : 3, pat : 1, reserved13 : 8,
      frame : 31, ignored52 : 7, protection_key : 4, execute_disable : 1;

  static constexpr Pde64Large from(std::uint64_t v) { return std::bit_cast<Pde64Large>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{frame} << 21; }
  constexpr void set_address(std::uint64_t pa) { frame = (pa >> 21) & ((1ull << 31) - 1); }
};
static_assert(sizeof(Pde64Large) == 8);

/// A 4-level PDPTE mapping a 1 GiB page (PS = 1). Bits 29:13 are reserved.
struct Pdpte64Huge {
  std::uint64_t present : 1, writable : 1, user : 1, write_through : 1, cache_disable : 1,
      accessed : 1, dirty : 1, page_size : 1, global : 1, ignored9 : 3, pat : 1, reserved13 : 17,
      frame : 22, ignored52 : 7, protection_key : 4, execute_disable : 1;

  static constexpr Pdpte64Huge from(std::uint64_t v) { return std::bit_cast<Pdpte64Huge>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{frame} << 30; }
  constexpr void set_address(std::uint64_t pa) { frame = (pa >> 30) & ((1ull << 22) - 1); }
};
static_assert(sizeof(Pdpte64Huge) == 8);

/// A PAE / 4-level PTE mapping a 4 KiB page.
struct Pte64 {
  std::uint64_t present : 1, writable : 1, user : 1, write_through : 1, cache_disable : 1,
      accessed : 1, dirty : 1, pat : 1, global : 1, ignored9 : 3, frame : 40, ignored52 : 7,
      protection_key : 4, execute_disable : 1;

  static constexpr Pte64 from(std::uint64_t v) { return std::bit_cast<Pte64>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{frame} << 12; }
  constexpr void set_address(std::uint64_t pa) { frame = (pa >> 12) & ((1ull << 40) - 1); }
};
static_assert(sizeof(Pte64) == 8);

// ---------------------------------------------------------------------------------------------
// EPT (SDM vol. 3C 29.3). Permissions are positive (R, W, X bits) instead of P/RW/US, and
// leaf entries carry their own memory type instead of PAT/MTRR indices.

/// EPT memory types, for EPT leaf entries and the EPTP (SDM 29.3.7, 25.6.11).
namespace ept {
inline constexpr std::uint32_t kUncacheable = 0, kWriteCombining = 1, kWriteThrough = 4,
                               kWriteProtected = 5, kWriteBack = 6;
/// Raw permission bits, for code working on raw words.
inline constexpr std::uint64_t R = 1u << 0, W = 1u << 1, X = 1u << 2, IGNORE_PAT = 1u << 6,
                               LARGE = 1u << 7, A = 1u << 8, D = 1u << 9, XU = 1u << 10;
inline constexpr std::uint64_t RWX = R | W | X;
}  // namespace ept

/// The EPT pointer VMCS field (SDM 25.6.11).
struct EptPointer {
  std::uint64_t memory_type : 3, walk_length_minus_1 : 3, enable_accessed_dirty : 1,
      enable_supervisor_shadow_stack : 1, reserved8 : 4, pml4 : 40, reserved52 : 12;

  static constexpr EptPointer from(std::uint64_t v) { return std::bit_cast<EptPointer>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{pml4} << 12; }
  constexpr void set_address(std::uint64_t pa) { pml4 = (pa >> 12) & ((1ull << 40) - 1); }
  /// A write-back, 4-level EPTP for the PML4 table at `pml4_pa`.
  static constexpr EptPointer make(std::uint64_t pml4_pa, bool accessed_dirty = false) {
    EptPointer p{};
    p.memory_type = ept::kWriteBack;
    p.walk_length_minus_1 = 3;
    p.enable_accessed_dirty = accessed_dirty;
    p.set_address(pml4_pa);
    return p;
  }
};
static_assert(sizeof(EptPointer) == 8);

/// An EPT entry that references the next structure: a PML4E, or a PDPTE / PDE with bit 7
/// clear. Bits 7:3 are reserved.
struct EptTableEntry {
  std::uint64_t read : 1, write : 1, execute : 1, reserved3 : 5, accessed : 1, ignored9 : 1,
      user_execute : 1, ignored11 : 1, table : 40, ignored52 : 12;

  static constexpr EptTableEntry from(std::uint64_t v) { return std::bit_cast<EptTableEntry>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{table} << 12; }
  constexpr void set_address(std::uint64_t pa) { table = (pa >> 12) & ((1ull << 40) - 1); }
  /// Not present means none of R/W/X is set (an EPT violation, not a #PF).
  constexpr bool present() const { return read || write || execute; }
};
static_assert(sizeof(EptTableEntry) == 8);

/// An EPT PTE mapping a 4 KiB page.
struct EptPte {
  std::uint64_t read : 1, write : 1, execute : 1, memory_type : 3, ignore_pat : 1, ignored7 : 1,
      accessed : 1, dirty : 1, user_execute : 1, ignored11 : 1, frame : 40, ignored52 : 5,
      verify_guest_paging : 1, paging_write_access : 1, ignored59 : 1, supervisor_shadow_stack : 1,
      sub_page_write : 1, ignored62 : 1, suppress_ve : 1;

  static constexpr EptPte from(std::uint64_t v) { return std::bit_cast<EptPte>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{frame} << 12; }
  constexpr void set_address(std::uint64_t pa) { frame = (pa >> 12) & ((1ull << 40) - 1); }
  constexpr bool present() const { return read || write || execute; }
};
static_assert(sizeof(EptPte) == 8);

/// An EPT PDE mapping a 2 MiB page (bit 7 set). Bits 20:12 are reserved.
struct EptPdeLarge {
  std::uint64_t read : 1, write : 1, execute : 1, memory_type : 3, ignore_pat : 1, large_page : 1,
      accessed : 1, dirty : 1, user_execute : 1, ignored11 : 1, reserved12 : 9, frame : 31,
      ignored52 : 5, verify_guest_paging : 1, paging_write_access : 1, ignored59 : 1,
      supervisor_shadow_stack : 1, ignored61 : 2, suppress_ve : 1;

  static constexpr EptPdeLarge from(std::uint64_t v) { return std::bit_cast<EptPdeLarge>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{frame} << 21; }
  constexpr void set_address(std::uint64_t pa) { frame = (pa >> 21) & ((1ull << 31) - 1); }
  constexpr bool present() const { return read || write || execute; }
};
static_assert(sizeof(EptPdeLarge) == 8);

/// An EPT PDPTE mapping a 1 GiB page (bit 7 set). Bits 29:12 are reserved.
struct EptPdpteHuge {
  std::uint64_t read : 1, write : 1, execute : 1, memory_type : 3, ignore_pat : 1, large_page : 1,
      accessed : 1, dirty : 1, user_execute : 1, ignored11 : 1, reserved12 : 18, frame : 22,
      ignored52 : 5, verify_guest_paging : 1, paging_write_access : 1, ignored59 : 1,
      supervisor_shadow_stack : 1, ignored61 : 2, suppress_ve : 1;

  static constexpr EptPdpteHuge from(std::uint64_t v) { return std::bit_cast<EptPdpteHuge>(v); }
  constexpr std::uint64_t raw() const { return std::bit_cast<std::uint64_t>(*this); }
  constexpr std::uint64_t address() const { return std::uint64_t{frame} << 30; }
  constexpr void set_address(std::uint64_t pa) { frame = (pa >> 30) & ((1ull << 22) - 1); }
  constexpr bool present() const { return read || write || execute; }
};
static_assert(sizeof(EptPdpteHuge) == 8);

// ---------------------------------------------------------------------------------------------
// Layout checks: one field per struct at a known bit, so a reordered or mis-sized field
// fails the build rather than a guest.

namespace paging_layout_check {
constexpr bool check() {
  Pte32 pte{};
  pte.present = 1;
  pte.dirty = 1;
  pte.set_address(0xfedcb000);
  if (pte.raw() != 0xfedcb041u) return false;

  Pde32Large big{};
  big.page_size = 1;
  big.set_address(0x12'ffc0'0000ull);  // bits 39:32 = 0x12, bits 31:22 = 0x3ff
  if (big.raw() != ((0x3ffu << 22) | (0x12u << 13) | page::PS)) return false;

  if (Pde32::from(0x00abc067u).address() != 0x00abc000u) return false;

  Pte64 p64{};
  p64.execute_disable = 1;
  p64.set_address(0xf'ffff'f000ull);
  if (p64.raw() != (page::XD | 0xf'ffff'f000ull)) return false;

  Pde64Large l2{};
  l2.set_address(0x4020'0000ull);
  l2.pat = 1;
  if (l2.raw() != (0x4020'0000ull | page::PAT_LARGE)) return false;

  EptPte e{};
  e.read = e.write = e.execute = 1;
  e.memory_type = ept::kWriteBack;
  e.suppress_ve = 1;
  if (e.raw() != (0x37ull | (1ull << 63))) return false;

  if (EptPointer::make(0x5000).raw() != 0x501eull) return false;

  // Fields that straddle bit 32 are where the i386 and x86-64 ABIs could differ.
  if (Pdpte64Huge::from(0xff'c000'0000ull).address() != 0xff'c000'0000ull) return false;
  if (TableEntry64::from(0xff'ffff'f000ull).address() != 0xff'ffff'f000ull) return false;
  if (PdptePae::from(0x1'0000'1000ull).address() != 0x1'0000'1000ull) return false;
  if (Cr3Ia32e::from(0x1'0000'1000ull).address() != 0x1'0000'1000ull) return false;
  EptPdeLarge e2{};
  e2.set_address(0x3'ffe0'0000ull);
  if (e2.raw() != 0x3'ffe0'0000ull) return false;
  EptPdpteHuge e1{};
  e1.set_address(0x7'c000'0000ull);
  if (e1.raw() != 0x7'c000'0000ull) return false;
  if (EptTableEntry::from(0x1'2345'6000ull).address() != 0x1'2345'6000ull) return false;
  if (Pde64Large::from(1ull << 63).execute_disable != 1) return false;
  return true;
}
// clang 14 cannot bit_cast bit-fields in a constant expression (the lab03 fuzzer builds with
// clang); GCC, which builds everything else, checks the layout.
#if !defined(__clang__)
static_assert(check(), "paging-structure bit-field layout does not match the SDM");
#endif
}  // namespace paging_layout_check

}  // namespace hvlab::x86
