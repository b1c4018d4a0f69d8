#include "common/memory/page_table.hpp"

#include "common/runtime/string.hpp"

namespace hvlab::mem {

namespace {

namespace pg = x86::page;

constexpr std::uint32_t kFrameMask = 0xfffff000u;
constexpr std::uint32_t kLargeOffsetMask = 0x003fffffu;
constexpr std::uint64_t k4G = 1ull << 32;
// What map() and update_flags() accept: the low 12 bits of a PTE (P is implied).
constexpr std::uint32_t kFlagMask = 0xfffu;

// Flags are given in PTE positions; in a 4 MiB PDE the PAT bit moves from 7 (which is PS
// there) to 12.
constexpr std::uint32_t to_large(std::uint32_t flags) {
  return (flags & ~pg::PAT) | ((flags & pg::PAT) ? pg::PAT_LARGE : 0);
}

constexpr unsigned clamp_phys_bits(unsigned m) { return m < 32 ? 32 : (m > 40 ? 40 : m); }

}  // namespace

template <typename Virt, typename Phys>
Result<PageTable32<Virt, Phys>> PageTable32<Virt, Phys>::create(Memory& memory, Frames& frames,
                                                                PagingControls controls) {
  auto f = frames.alloc_frame();
  if (!f) return f.error();
  Phys dir = f.value();
  // CR3 holds only 20 bits of directory address with 32-bit paging.
  if (!dir.is_aligned(kPageSize) || dir.value() >= k4G) {
    (void)frames.free_frame(dir);
    return Error::out_of_memory;
  }
  if (!memory.zero_frame(dir)) {
    (void)frames.free_frame(dir);
    return Error::invalid_argument;
  }
  return PageTable32(memory, dir, &frames, controls);
}

template <typename Virt, typename Phys>
Result<std::uint32_t> PageTable32<Virt, Phys>::linear(Virt va) const {
  if (mem_ == nullptr || va.value() > 0xffffffffull) return Error::invalid_argument;
  return static_cast<std::uint32_t>(va.value());
}

template <typename Virt, typename Phys>
Result<std::uint32_t> PageTable32<Virt, Phys>::read_entry(Phys at) const {
  auto r = mem_->read32(at);
  if (!r) return Error::invalid_argument;  // a table outside backed memory
  return r.value();
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::write_entry(Phys at, std::uint32_t raw) const {
  if (!mem_->write32(at, raw)) return Error::invalid_argument;
  return {};
}

template <typename Virt, typename Phys>
std::uint32_t PageTable32<Virt, Phys>::reserved_bits_large() const {
  // Bits 20:13 carry physical address bits 39:32, but only up to MAXPHYADDR; bit 21 is
  // always reserved (SDM table 4-4).
  unsigned valid = clamp_phys_bits(controls_.max_phys_bits) - 32;
  std::uint32_t high = 0xffu << 13;
  std::uint32_t usable = ((1u << valid) - 1) << 13;
  return (1u << 21) | (high & ~usable);
}

template <typename Virt, typename Phys>
auto PageTable32<Virt, Phys>::walk(std::uint32_t la) const -> Result<Walk> {
  Walk w;
  w.pde_at = pde_address(la);
  auto pde = read_entry(w.pde_at);
  if (!pde) return pde.error();
  w.pde = pde.value();
  if (!(w.pde & pg::P)) return w;
  if (is_large(w.pde)) {
    w.large = true;
    w.reserved = (w.pde & reserved_bits_large()) != 0;
    w.present = true;
    return w;
  }
  w.pte_at = Phys(w.pde & kFrameMask) + x86::pt_index32(la) * 4u;
  auto pte = read_entry(w.pte_at);
  if (!pte) return pte.error();
  w.pte = pte.value();
  w.present = (w.pte & pg::P) != 0;  // 32-bit PTEs have no reserved bits
  return w;
}

template <typename Virt, typename Phys>
Translation<Phys> PageTable32<Virt, Phys>::make_translation(std::uint32_t la, const Walk& w) const {
  Translation<Phys> t;
  if (w.large) {
    auto e = x86::Pde32Large::from(w.pde);
    t.page = Phys(e.address());
    t.phys = t.page + (la & kLargeOffsetMask);
    t.size = PageSize::k4M;
    t.writable = e.writable;
    t.user = e.user;
    t.global = e.global;
    t.accessed = e.accessed;
    t.dirty = e.dirty;
    t.leaf = w.pde;
    t.leaf_address = w.pde_at;
  } else {
    auto d = x86::Pde32::from(w.pde);
    auto e = x86::Pte32::from(w.pte);
    t.page = Phys(e.address());
    t.phys = t.page + (la & 0xfffu);
    t.size = PageSize::k4K;
    // Rights are the AND over both levels (SDM 4.6): a read-only PDE makes its whole 4 MiB
    // read-only whatever the PTEs say.
    t.writable = d.writable && e.writable;
    t.user = d.user && e.user;
    t.global = e.global;
    t.accessed = e.accessed;
    t.dirty = e.dirty;
    t.leaf = w.pte;
    t.leaf_address = w.pte_at;
  }
  return t;
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::map(Virt va, Phys pa, std::uint32_t flags) {
  return map_page(va, pa, flags, false);
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::remap(Virt va, Phys pa, std::uint32_t flags) {
  return map_page(va, pa, flags, true);
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::map_page(Virt va, Phys pa, std::uint32_t flags, bool replace) {
  auto la = linear(va);
  if (!la) return la.error();
  if (!va.is_aligned(kPageSize) || !pa.is_aligned(kPageSize) || pa.value() >= k4G ||
      (flags & ~kFlagMask) != 0) {
    return Error::invalid_argument;
  }
  Phys pde_at = pde_address(la.value());
  auto pde = read_entry(pde_at);
  if (!pde) return pde.error();
  std::uint32_t d = pde.value();
  if (d & pg::P) {
    if (is_large(d)) return Error::already_exists;
  } else {
    if (frames_ == nullptr) return Error::unsupported;
    auto table = frames_->alloc_frame();
    if (!table) return table.error();
    Phys t = table.value();
    if (!t.is_aligned(kPageSize) || t.value() >= k4G) {
      (void)frames_->free_frame(t);
      return Error::out_of_memory;  // a PDE cannot reach it
    }
    if (!mem_->zero_frame(t)) {
      (void)frames_->free_frame(t);
      return Error::invalid_argument;
    }
    // Permissive PDE: the PTEs below decide the rights of each page.
    d = t.low32() | pg::P | pg::RW | pg::US;
    HV_TRY(write_entry(pde_at, d));
  }
  Phys pte_at = Phys(d & kFrameMask) + x86::pt_index32(la.value()) * 4u;
  auto pte = read_entry(pte_at);
  if (!pte) return pte.error();
  if ((pte.value() & pg::P) && !replace) return Error::already_exists;
  return write_entry(pte_at, pa.low32() | flags | pg::P);
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::map_large(Virt va, Phys pa, std::uint32_t flags) {
  auto la = linear(va);
  if (!la) return la.error();
  if (!controls_.pse) return Error::unsupported;  // PS would be ignored: not a large page
  if (!va.is_aligned(x86::kPage4M) || !pa.is_aligned(x86::kPage4M) || (flags & ~kFlagMask) != 0 ||
      (pa.value() >> clamp_phys_bits(controls_.max_phys_bits)) != 0) {
    return Error::invalid_argument;
  }
  Phys pde_at = pde_address(la.value());
  auto pde = read_entry(pde_at);
  if (!pde) return pde.error();
  if (pde.value() & pg::P) return Error::already_exists;
  auto e = x86::Pde32Large::from(to_large(flags) | pg::PS | pg::P);
  e.set_address(pa.value());
  return write_entry(pde_at, e.raw());
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::map_range(Virt va, Phys pa, std::uint64_t size, std::uint32_t flags,
                                          bool large_pages) {
  auto la = linear(va);
  if (!la) return la.error();
  if (!va.is_aligned(kPageSize) || !pa.is_aligned(kPageSize) || size % kPageSize != 0 ||
      k4G - la.value() < size) {
    return Error::invalid_argument;
  }
  std::uint64_t off = 0;
  while (off < size) {
    bool big = large_pages && controls_.pse && size - off >= x86::kPage4M &&
               (va + off).is_aligned(x86::kPage4M) && (pa + off).is_aligned(x86::kPage4M);
    Status s = big ? map_large(va + off, pa + off, flags) : map(va + off, pa + off, flags);
    if (!s) {
      // Undo this call's pages; each was mapped by us, so the walk finds them intact.
      std::uint64_t undo = 0;
      while (undo < off) {
        auto t = translate(va + undo);
        if (!t) break;
        (void)unmap(va + undo);
        undo += page_bytes(t.value().size);
      }
      return s.error();
    }
    off += big ? x86::kPage4M : kPageSize;
  }
  return {};
}

template <typename Virt, typename Phys>
Result<Phys> PageTable32<Virt, Phys>::unmap(Virt va) {
  auto la = linear(va);
  if (!la) return la.error();
  if (!va.is_aligned(kPageSize)) return Error::invalid_argument;
  auto w = walk(la.value());
  if (!w) return w.error();
  const Walk& k = w.value();
  if (!(k.pde & pg::P)) return Error::not_found;
  if (k.large) {
    if (!va.is_aligned(x86::kPage4M)) return Error::invalid_argument;  // would split the page
    HV_TRY(write_entry(k.pde_at, 0));
    return Phys(x86::Pde32Large::from(k.pde).address());
  }
  if (!k.present) return Error::not_found;
  HV_TRY(write_entry(k.pte_at, 0));
  return Phys(k.pte & kFrameMask);
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::unmap_directory(Virt va, std::uint64_t size) {
  auto la = linear(va);
  if (!la) return la.error();
  if (!va.is_aligned(x86::kPage4M) || size % x86::kPage4M != 0 || k4G - la.value() < size) {
    return Error::invalid_argument;
  }
  // The directory is one frame: clear the range in place, not an entry at a time through
  // the memory interface (a shadow monitor does this at every guest CR3 load).
  auto* dir = static_cast<std::uint32_t*>(mem_->frame_ptr(dir_));
  if (dir == nullptr) return Error::invalid_argument;
  rt::mem_set(dir + x86::pd_index32(la.value()), 0, static_cast<std::size_t>(size / x86::kPage4M) * 4u);
  return {};
}

template <typename Virt, typename Phys>
Result<Translation<Phys>> PageTable32<Virt, Phys>::translate(Virt va) const {
  auto la = linear(va);
  if (!la) return la.error();
  auto w = walk(la.value());
  if (!w) return w.error();
  if (!w.value().present) return Error::not_found;
  if (w.value().reserved) return Error::fault;
  return make_translation(la.value(), w.value());
}

template <typename Virt, typename Phys>
AccessResult<Phys> PageTable32<Virt, Phys>::access(Virt va, Access acc, bool update_ad) {
  AccessResult<Phys> r;
  auto la = linear(va);
  if (!la) {
    r.error = la.error();
    return r;
  }
  auto walked = walk(la.value());
  if (!walked) {
    r.error = walked.error();
    return r;
  }
  const Walk& w = walked.value();
  const std::uint32_t access_bits = access_error_bits(acc, controls_);
  if (!w.present) {
    r.error = Error::fault;
    r.error_code = access_bits;  // P = 0: not present
    return r;
  }
  if (w.reserved) {
    r.error = Error::fault;
    r.error_code = pf::P | pf::RSVD | access_bits;
    return r;
  }
  Translation<Phys> t = make_translation(la.value(), w);
  std::uint32_t code = check_rights(Rights{t.writable, t.user, true}, acc, controls_);
  if (code != 0) {
    r.error = Error::fault;
    r.error_code = code;
    return r;
  }
  if (update_ad) {
    // SDM 4.8: A in every entry used, D in the leaf on a write. Written only on change,
    // so reads of an already-accessed page leave memory untouched.
    const bool write = acc.op == Access::Op::write;
    std::uint32_t pde = w.pde | pg::A;
    if (w.large && write) pde |= pg::D;
    if (pde != w.pde && !write_entry(w.pde_at, pde)) {
      r.error = Error::invalid_argument;
      return r;
    }
    if (w.large) {
      t.leaf = pde;
    } else {
      std::uint32_t pte = w.pte | pg::A | (write ? pg::D : 0);
      if (pte != w.pte && !write_entry(w.pte_at, pte)) {
        r.error = Error::invalid_argument;
        return r;
      }
      t.leaf = pte;
    }
    t.accessed = true;
    t.dirty = t.dirty || write;
  }
  r.translation = t;
  return r;
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::update_flags(Virt va, std::uint32_t set, std::uint32_t clear) {
  if (((set | clear) & ~kFlagMask) != 0 || ((set | clear) & pg::P) != 0) return Error::invalid_argument;
  auto la = linear(va);
  if (!la) return la.error();
  auto w = walk(la.value());
  if (!w) return w.error();
  const Walk& k = w.value();
  if (!k.present) return Error::not_found;
  if (k.large) return write_entry(k.pde_at, (k.pde | to_large(set)) & ~to_large(clear));
  return write_entry(k.pte_at, (k.pte | set) & ~clear);
}

template <typename Virt, typename Phys>
Result<bool> PageTable32<Virt, Phys>::accessed(Virt va) const {
  auto t = translate(va);
  if (!t) return t.error();
  return t.value().accessed;
}

template <typename Virt, typename Phys>
Result<bool> PageTable32<Virt, Phys>::dirty(Virt va) const {
  auto t = translate(va);
  if (!t) return t.error();
  return t.value().dirty;
}

template <typename Virt, typename Phys>
Result<std::uint32_t> PageTable32<Virt, Phys>::pde(Virt va) const {
  auto la = linear(va);
  if (!la) return la.error();
  return read_entry(pde_address(la.value()));
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::set_pde(Virt va, std::uint32_t raw) {
  auto la = linear(va);
  if (!la) return la.error();
  return write_entry(pde_address(la.value()), raw);
}

template <typename Virt, typename Phys>
Result<Phys> PageTable32<Virt, Phys>::pte_address(Virt va) const {
  auto la = linear(va);
  if (!la) return la.error();
  auto d = read_entry(pde_address(la.value()));
  if (!d) return d.error();
  if (!(d.value() & pg::P) || is_large(d.value())) return Error::not_found;
  return Phys(d.value() & kFrameMask) + x86::pt_index32(la.value()) * 4u;
}

template <typename Virt, typename Phys>
Result<std::uint32_t> PageTable32<Virt, Phys>::pte(Virt va) const {
  auto at = pte_address(va);
  if (!at) return at.error();
  return read_entry(at.value());
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::set_pte(Virt va, std::uint32_t raw) {
  auto at = pte_address(va);
  if (!at) return at.error();
  return write_entry(at.value(), raw);
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::visit(Visitor v, void* ctx) const {
  if (mem_ == nullptr) return Error::invalid_argument;
  for (std::uint32_t i = 0; i < 1024; ++i) {
    const std::uint32_t base = i << 22;
    auto w = walk(base);
    if (!w) return w.error();
    Walk k = w.value();
    if (!(k.pde & pg::P)) continue;
    if (k.large) {
      if (k.reserved) continue;
      if (!v(ctx, Virt(base), make_translation(base, k))) return {};
      continue;
    }
    Phys table(k.pde & kFrameMask);
    for (std::uint32_t j = 0; j < 1024; ++j) {
      auto pte = read_entry(table + j * 4u);
      if (!pte) return pte.error();
      if (!(pte.value() & pg::P)) continue;
      k.pte = pte.value();
      k.pte_at = table + j * 4u;
      const std::uint32_t la = base | (j << 12);
      if (!v(ctx, Virt(la), make_translation(la, k))) return {};
    }
  }
  return {};
}

template <typename Virt, typename Phys>
Status PageTable32<Virt, Phys>::destroy() {
  if (mem_ == nullptr) return Error::invalid_argument;
  if (frames_ == nullptr) return Error::unsupported;
  Status first;  // keep going after an error, report the first
  for (std::uint32_t i = 0; i < 1024; ++i) {
    auto d = read_entry(dir_ + i * 4u);
    if (!d) return d.error();
    if (!(d.value() & pg::P) || is_large(d.value())) continue;
    Status s = frames_->free_frame(Phys(d.value() & kFrameMask));
    if (!s && first.ok()) first = s;
  }
  Status s = frames_->free_frame(dir_);
  if (!s && first.ok()) first = s;
  mem_ = nullptr;
  frames_ = nullptr;
  dir_ = Phys();
  return first;
}

template class PageTable32<HostVirtAddr, HostPhysAddr>;
template class PageTable32<GuestVirtAddr, HostPhysAddr>;
template class PageTable32<GuestVirtAddr, GuestPhysAddr>;
template class PageTable32<GuestPhysAddr, HostPhysAddr>;

}  // namespace hvlab::mem
