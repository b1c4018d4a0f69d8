#pragma once
// Building and walking x86 page tables in software (Intel SDM vol. 3A chapter 4).
//
// Monitors need this in three shapes, which differ only in their address types:
//   HostPageTable32    host-virtual  -> host-physical: the monitor's own address space;
//   ShadowPageTable32  guest-virtual -> host-physical: shadow tables the real MMU walks
//                      while the guest runs (tables live in host memory);
//   GuestPageTable32   guest-virtual -> guest-physical: the guest's own tables, read (and
//                      A/D-updated) in guest memory when emulating the guest's MMU.
// One template, PageTable32<Virt, Phys>, instantiated for exactly these three in
// page_table.cpp. The tables are reached through PhysicalMemoryOf<Phys>, new tables come
// from a FrameSource<Phys>, so the same code runs on the host (tests) and in kernels.
//
// The mode-independent parts (Translation, Access, PagingControls, check_rights) are what
// a PAE or 4-level walker would share: PageTablePae / PageTable64 belong beside
// PageTable32 with the same member names, using the entry types of common/arch/paging.hpp.
//
// Nothing here flushes TLBs: after changing a live table, the caller runs INVLPG or
// reloads CR3. And nothing is atomic: a table the real MMU is using can have A/D bits set
// by the CPU between our read and write, so update live tables with care.

#include <cstdint>
#include <type_traits>

#include "common/arch/paging.hpp"
#include "common/arch/msr.hpp"
#include "common/arch/x86.hpp"
#include "common/memory/address.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/result.hpp"

namespace hvlab::mem {

/// The size of the page a translation ended in.
enum class PageSize : std::uint8_t { k4K, k2M, k4M, k1G };

/// Bytes in a page of size `s`.
constexpr std::uint64_t page_bytes(PageSize s) {
  switch (s) {
    case PageSize::k4K: return x86::kPage4K;
    case PageSize::k2M: return x86::kPage2M;
    case PageSize::k4M: return x86::kPage4M;
    case PageSize::k1G: return x86::kPage1G;
  }
  return x86::kPage4K;
}

/// The outcome of a successful walk for one linear address.
template <typename Phys>
struct Translation {
  Phys phys;                     ///< physical address of the byte (page base + offset)
  Phys page;                     ///< physical base of the page
  PageSize size = PageSize::k4K;
  bool writable = false;         ///< R/W set at every level (effective, SDM 4.6)
  bool user = false;             ///< U/S set at every level: a "user-mode address"
  bool global = false;           ///< the leaf's G bit
  bool accessed = false;         ///< the leaf's A bit
  bool dirty = false;            ///< the leaf's D bit
  std::uint64_t leaf = 0;        ///< the leaf entry's raw value (PTE, or PDE of a large page)
  Phys leaf_address;             ///< where the leaf entry lives
};

/// The access being checked: what the instruction does, and at which privilege.
struct Access {
  enum class Op : std::uint8_t { read, write, execute };
  Op op = Op::read;
  bool user = false;  ///< a user-mode access (CPL 3); else supervisor
  bool ac = false;    ///< EFLAGS.AC, which lets supervisor code reach user pages under SMAP

  static constexpr Access supervisor_read() { return {Op::read, false, false}; }
  static constexpr Access supervisor_write() { return {Op::write, false, false}; }
  static constexpr Access supervisor_fetch() { return {Op::execute, false, false}; }
  static constexpr Access user_read() { return {Op::read, true, false}; }
  static constexpr Access user_write() { return {Op::write, true, false}; }
  static constexpr Access user_fetch() { return {Op::execute, true, false}; }
};

/// The control-register bits that change how a walk goes. Defaults are what a protected-
/// mode kernel with PSE usually runs with.
struct PagingControls {
  bool pse = true;    ///< CR4.PSE: PDEs with PS = 1 map 4 MiB pages (else PS is ignored)
  bool wp = true;     ///< CR0.WP: supervisor writes honour R/W
  bool smep = false;  ///< CR4.SMEP: supervisor fetches from user pages fault
  bool smap = false;  ///< CR4.SMAP: supervisor data accesses to user pages fault unless AC
  bool nxe = false;   ///< IA32_EFER.NXE (PAE / 4-level only; 32-bit paging has no XD bit)
  /// MAXPHYADDR, 32..40 for 32-bit paging: PDE bits above it (4 MiB pages) are reserved.
  std::uint8_t max_phys_bits = 40;

  /// Controls from raw CR0 and CR4 (and EFER) values, as a monitor holds the guest's.
  static constexpr PagingControls from_registers(std::uint32_t cr0, std::uint32_t cr4,
                                                 std::uint64_t efer = 0) {
    PagingControls c;
    c.wp = (cr0 & x86::cr0::WP) != 0;
    c.pse = (cr4 & x86::cr4::PSE) != 0;
    c.smep = (cr4 & x86::cr4::SMEP) != 0;
    c.smap = (cr4 & x86::cr4::SMAP) != 0;
    c.nxe = (efer & x86::msr::efer::NXE) != 0;
    return c;
  }
};

/// #PF error code bits (SDM 4.7), named as in common/arch/x86.hpp.
namespace pf = x86::pf_error;

/// Effective rights of a present translation, combined over every level.
struct Rights {
  bool writable = false;
  bool user = false;
  bool executable = true;  ///< no XD at any level (PAE / 4-level with NXE)
};

/// The #PF error-code bits that describe `access` itself (W/R, U/S, I/D); a fault's code is
/// these plus P (protection) and RSVD (reserved bit) as the case may be.
constexpr std::uint32_t access_error_bits(Access access, const PagingControls& c) {
  std::uint32_t code = 0;
  if (access.op == Access::Op::write) code |= pf::W;
  if (access.user) code |= pf::U;
  if (access.op == Access::Op::execute && (c.nxe || c.smep)) code |= pf::I;
  return code;
}

/// The access-rights rules of SDM 4.6 for a present page: 0 if `access` is allowed, else
/// the #PF error code (always with P set, as it is a protection fault).
/// Implicit supervisor accesses (to the GDT, the TSS...) are treated as explicit ones.
constexpr std::uint32_t check_rights(Rights r, Access access, const PagingControls& c) {
  bool ok = true;
  if (access.user) {
    ok = r.user && (access.op != Access::Op::write || r.writable) &&
         (access.op != Access::Op::execute || r.executable);
  } else if (access.op == Access::Op::execute) {
    ok = !(c.smep && r.user) && r.executable;
  } else {
    // Supervisor data access: SMAP blocks user pages unless AC; CR0.WP makes R/W count.
    if (c.smap && r.user && !access.ac) ok = false;
    if (access.op == Access::Op::write && c.wp && !r.writable) ok = false;
  }
  return ok ? 0 : (pf::P | access_error_bits(access, c));
}

/// The result of an MMU access check (PageTable32::access).
template <typename Phys>
struct AccessResult {
  /// none: translated; fault: the access raises #PF with `error_code`;
  /// invalid_argument: the walk reached a paging structure outside backed memory (or the
  /// address is beyond the mode's reach); no #PF models that, the monitor must decide.
  Error error = Error::none;
  std::uint32_t error_code = 0;  ///< the #PF error code, when error == Error::fault
  Translation<Phys> translation; ///< valid when ok()

  constexpr bool ok() const { return error == Error::none; }
  constexpr bool page_fault() const { return error == Error::fault; }
};

/// A 32-bit (non-PAE) page-table tree rooted at one page directory. The object is a handle
/// (pointers to the memory, the frame source, and the directory address): copies share the
/// same tables.
template <typename Virt, typename Phys>
class PageTable32 {
 public:
  using Memory = PhysicalMemoryOf<Phys>;
  using Frames = FrameSource<Phys>;

  /// A detached handle: every operation fails with Error::invalid_argument.
  constexpr PageTable32() = default;
  /// Wraps the existing page directory at `directory` (e.g. a guest's CR3 & ~0xfff).
  /// Without `frames`, operations that need a new page table fail with Error::unsupported.
  constexpr PageTable32(Memory& memory, Phys directory, Frames* frames = nullptr, PagingControls controls = {})
      : mem_(&memory), frames_(frames), dir_(directory), controls_(controls) {}

  /// A new, empty tree: one zeroed page directory from `frames` (below 4 GiB).
  static Result<PageTable32> create(Memory& memory, Frames& frames, PagingControls controls = {});

  /// Physical address of the page directory.
  Phys directory() const { return dir_; }
  /// The value to load into CR3 (PWT = PCD = 0).
  std::uint32_t cr3() const { return static_cast<std::uint32_t>(dir_.value()); }
  const PagingControls& controls() const { return controls_; }
  /// Changes the controls used by later walks (the guest wrote CR0 or CR4).
  void set_controls(PagingControls c) { controls_ = c; }

  /// Maps the 4 KiB page at `va` to the frame at `pa` (both 4 KiB aligned, pa below 4 GiB).
  /// `flags` are raw PTE bits (x86::page::RW, US, PWT, PCD, PAT, G, A, D, bits 9-11); P is
  /// implied. A new page table gets a PDE with P|RW|US so the PTE alone decides the rights.
  /// Errors: invalid_argument (misaligned, out of reach, bad flags), already_exists (va is
  /// mapped, also by a 4 MiB page), out_of_memory, unsupported (no frame source).
  Status map(Virt va, Phys pa, std::uint32_t flags);
  /// As map(), but a 4 KiB mapping already at `va` is replaced rather than refused (a
  /// software TLB such as shadow paging refilling an entry with other rights or another
  /// frame). A 4 MiB page covering `va` is still Error::already_exists.
  Status remap(Virt va, Phys pa, std::uint32_t flags);
  /// Maps the 4 MiB page at `va` to `pa` (both 4 MiB aligned, pa below 2^max_phys_bits)
  /// with a PS = 1 PDE. `flags` as for map() (x86::page::PAT lands in the PDE's bit 12).
  /// Errors: invalid_argument, already_exists (a PDE is present), unsupported (!pse).
  Status map_large(Virt va, Phys pa, std::uint32_t flags);
  /// Maps [va, va + size) to [pa, pa + size), page by page (4 KiB aligned), using 4 MiB
  /// pages where both sides are 4 MiB aligned if `large_pages`. All or nothing: on error,
  /// what this call mapped is unmapped again.
  Status map_range(Virt va, Phys pa, std::uint64_t size, std::uint32_t flags, bool large_pages = false);
  /// Removes the page containing `va` and returns its physical base. `va` must be 4 KiB
  /// aligned, and 4 MiB aligned if a 4 MiB page maps it (Error::invalid_argument). Page
  /// tables are kept (see destroy()). Error::not_found if nothing is mapped.
  Result<Phys> unmap(Virt va);
  /// Makes the PDEs covering [va, va + size) not present at once (both 4 MiB aligned): a
  /// shadow TLB dropping everything it cached there. The page tables those PDEs pointed to
  /// are not given back (their frames stay the caller's, e.g. a pool it resets).
  Status unmap_directory(Virt va, std::uint64_t size);

  /// Walks for `va` without checking rights or touching A/D bits. Error::not_found if not
  /// mapped, Error::fault if an entry has a reserved bit set, Error::invalid_argument if a
  /// table is outside backed memory.
  Result<Translation<Phys>> translate(Virt va) const;

  /// The MMU's access check (SDM 4.6, 4.7, 4.8): walks for `va`, checks `access` against
  /// the combined rights under the controls, and, if allowed and `update_ad`, sets A in
  /// every entry used and D in the leaf for a write, like the CPU does. On a fault nothing
  /// is written and error_code is the #PF error code.
  AccessResult<Phys> access(Virt va, Access access, bool update_ad = true);

  /// Sets then clears raw flag bits (PTE positions, as for map()) in the leaf entry that
  /// maps `va`, like mprotect. P and PS cannot be changed (Error::invalid_argument).
  Status update_flags(Virt va, std::uint32_t set, std::uint32_t clear);
  Status set_accessed(Virt va, bool on) { return on ? update_flags(va, x86::page::A, 0) : update_flags(va, 0, x86::page::A); }
  Status set_dirty(Virt va, bool on) { return on ? update_flags(va, x86::page::D, 0) : update_flags(va, 0, x86::page::D); }
  /// The leaf's A bit, or not_found if unmapped.
  Result<bool> accessed(Virt va) const;
  /// The leaf's D bit, or not_found if unmapped.
  Result<bool> dirty(Virt va) const;

  /// The raw PDE covering `va`, present or not.
  Result<std::uint32_t> pde(Virt va) const;
  /// Overwrites the PDE covering `va` (for tests, and monitors writing entries by hand).
  Status set_pde(Virt va, std::uint32_t raw);
  /// The raw PTE for `va`. Error::not_found if its PDE is not present or maps a 4 MiB page.
  Result<std::uint32_t> pte(Virt va) const;
  /// Overwrites the PTE for `va` (errors as pte()).
  Status set_pte(Virt va, std::uint32_t raw);

  /// Calls `fn(Virt va, const Translation<Phys>& t)` for every present leaf, in address
  /// order; if fn returns bool, false stops the walk. Entries with reserved bits are
  /// skipped. Error::invalid_argument if a table is outside backed memory.
  template <typename Fn>
  Status for_each_mapping(Fn&& fn) const {
    return visit(
        [](void* ctx, Virt va, const Translation<Phys>& t) -> bool {
          Fn& f = *static_cast<std::remove_reference_t<Fn>*>(ctx);
          if constexpr (std::is_same_v<decltype(f(va, t)), bool>) {
            return f(va, t);
          } else {
            f(va, t);
            return true;
          }
        },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

  /// Gives every page table and the directory back to the frame source (not the mapped
  /// frames) and detaches. Error::unsupported without a frame source.
  Status destroy();

 private:
  using Visitor = bool (*)(void*, Virt, const Translation<Phys>&);
  Status visit(Visitor v, void* ctx) const;
  Status map_page(Virt va, Phys pa, std::uint32_t flags, bool replace);
  Result<std::uint32_t> linear(Virt va) const;
  Result<std::uint32_t> read_entry(Phys at) const;
  Status write_entry(Phys at, std::uint32_t raw) const;
  Phys pde_address(std::uint32_t la) const { return dir_ + x86::pd_index32(la) * 4u; }
  bool is_large(std::uint32_t pde) const { return controls_.pse && (pde & x86::page::PS); }
  std::uint32_t reserved_bits_large() const;
  Result<Phys> pte_address(Virt va) const;

  // One walk's findings. `present` is false if the PDE or the PTE is not present;
  // `reserved` is true if a present entry has a reserved bit set (the walk stops there).
  struct Walk {
    std::uint32_t pde = 0, pte = 0;
    Phys pde_at, pte_at;
    bool large = false, present = false, reserved = false;
  };
  Result<Walk> walk(std::uint32_t la) const;
  Translation<Phys> make_translation(std::uint32_t la, const Walk& w) const;

  Memory* mem_ = nullptr;
  Frames* frames_ = nullptr;
  Phys dir_;
  PagingControls controls_;
};

/// The monitor's own tables: host-virtual to host-physical.
using HostPageTable32 = PageTable32<HostVirtAddr, HostPhysAddr>;
/// Shadow tables: guest-virtual to host-physical, living in host memory.
using ShadowPageTable32 = PageTable32<GuestVirtAddr, HostPhysAddr>;
/// The guest's own tables: guest-virtual to guest-physical, living in guest memory.
using GuestPageTable32 = PageTable32<GuestVirtAddr, GuestPhysAddr>;

extern template class PageTable32<HostVirtAddr, HostPhysAddr>;
extern template class PageTable32<GuestVirtAddr, HostPhysAddr>;
/// Nested tables in the host's 32-bit format (AMD-V nested paging with a 32-bit host):
/// guest-physical to host-physical, living in host memory.
using NestedPageTable32 = PageTable32<GuestPhysAddr, HostPhysAddr>;

extern template class PageTable32<GuestVirtAddr, GuestPhysAddr>;
extern template class PageTable32<GuestPhysAddr, HostPhysAddr>;

}  // namespace hvlab::mem
