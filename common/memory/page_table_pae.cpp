#include "common/memory/page_table_pae.hpp"

namespace hvlab::mem {

namespace {
namespace pg = x86::page;
constexpr std::uint64_t k4G = 1ull << 32;
constexpr std::uint64_t kAddress = 0x000ffffffffff000ull;  // bits 51:12
constexpr std::uint64_t kXd = 1ull << 63;
constexpr std::uint64_t kFlagMask = pg::RW | pg::US | pg::PWT | pg::PCD | pg::A | pg::D | pg::G | kXd;
constexpr unsigned pdpt_index(std::uint32_t la) { return la >> 30; }
constexpr unsigned pd_index(std::uint32_t la) { return (la >> 21) & 0x1ff; }
constexpr unsigned pt_index(std::uint32_t la) { return (la >> 12) & 0x1ff; }
}  // namespace

template <typename Virt, typename Phys>
Result<PageTablePae<Virt, Phys>> PageTablePae<Virt, Phys>::create(Memory& memory, Frames& frames) {
  auto p = frames.alloc_frame();
  if (!p) return p.error();
  if (p.value().value() >= k4G) return Error::out_of_memory;
  HV_TRY(memory.zero_frame(p.value()));
  for (unsigned i = 0; i < 4; ++i) {
    auto d = frames.alloc_frame();
    if (!d) return d.error();
    HV_TRY(memory.zero_frame(d.value()));
    // SDM 4.4.1: a PDPTE has P and the address; its R/W and U/S positions are reserved.
    HV_TRY(memory.write64(p.value() + i * 8u, d.value().value() | pg::P));
  }
  return PageTablePae(memory, frames, p.value());
}

template <typename Virt, typename Phys>
Result<Phys> PageTablePae<Virt, Phys>::directory(std::uint32_t la) const {
  auto e = mem_->read64(pdpt_ + pdpt_index(la) * 8u);
  if (!e) return Error::invalid_argument;
  if (!(e.value() & pg::P)) return Error::not_found;
  return Phys(e.value() & kAddress);
}

template <typename Virt, typename Phys>
Status PageTablePae<Virt, Phys>::map(Virt va, Phys pa, std::uint64_t flags) {
  if (!mem_ || va.value() >= k4G || !va.is_aligned(kPageSize) || !pa.is_aligned(kPageSize) || (flags & ~kFlagMask) ||
      (pa.value() & ~kAddress))
    return Error::invalid_argument;
  const auto la = static_cast<std::uint32_t>(va.value());
  auto pd = directory(la);
  if (!pd) return pd.error();
  const Phys pde_at = pd.value() + pd_index(la) * 8u;
  auto pde = mem_->read64(pde_at);
  if (!pde) return Error::invalid_argument;
  std::uint64_t d = pde.value();
  if (d & pg::P) {
    if (d & pg::PS) return Error::already_exists;
  } else {
    if (!frames_) return Error::unsupported;
    auto t = frames_->alloc_frame();
    if (!t) return t.error();
    if (!mem_->zero_frame(t.value())) return Error::invalid_argument;
    d = t.value().value() | pg::P | pg::RW | pg::US;  // permissive: the PTE decides
    if (!mem_->write64(pde_at, d)) return Error::invalid_argument;
  }
  const Phys pte_at = Phys(d & kAddress) + pt_index(la) * 8u;
  auto pte = mem_->read64(pte_at);
  if (!pte) return Error::invalid_argument;
  if (pte.value() & pg::P) return Error::already_exists;
  if (!mem_->write64(pte_at, pa.value() | flags | pg::P)) return Error::invalid_argument;
  return {};
}

template <typename Virt, typename Phys>
Status PageTablePae<Virt, Phys>::map_large(Virt va, Phys pa, std::uint64_t flags) {
  if (!mem_ || va.value() >= k4G || !va.is_aligned(x86::kPage2M) || !pa.is_aligned(x86::kPage2M) ||
      (flags & ~kFlagMask) || (pa.value() & ~kAddress))
    return Error::invalid_argument;
  const auto la = static_cast<std::uint32_t>(va.value());
  auto pd = directory(la);
  if (!pd) return pd.error();
  const Phys pde_at = pd.value() + pd_index(la) * 8u;
  auto pde = mem_->read64(pde_at);
  if (!pde) return Error::invalid_argument;
  if (pde.value() & pg::P) return Error::already_exists;
  if (!mem_->write64(pde_at, pa.value() | flags | pg::P | pg::PS)) return Error::invalid_argument;
  return {};
}

template <typename Virt, typename Phys>
Status PageTablePae<Virt, Phys>::map_range(Virt va, Phys pa, std::uint64_t size, std::uint64_t flags,
                                           bool large_pages) {
  if (size % kPageSize || va.value() + size > k4G) return Error::invalid_argument;
  for (std::uint64_t off = 0; off < size;) {
    const bool big = large_pages && size - off >= x86::kPage2M && (va + off).is_aligned(x86::kPage2M) &&
                     (pa + off).is_aligned(x86::kPage2M);
    HV_TRY(big ? map_large(va + off, pa + off, flags) : map(va + off, pa + off, flags));
    off += big ? x86::kPage2M : kPageSize;
  }
  return {};
}

template <typename Virt, typename Phys>
Result<Translation<Phys>> PageTablePae<Virt, Phys>::translate(Virt va) const {
  if (!mem_ || va.value() >= k4G) return Error::invalid_argument;
  const auto la = static_cast<std::uint32_t>(va.value());
  auto pd = directory(la);
  if (!pd) return pd.error();
  const Phys pde_at = pd.value() + pd_index(la) * 8u;
  auto pde = mem_->read64(pde_at);
  if (!pde) return Error::invalid_argument;
  const std::uint64_t d = pde.value();
  if (!(d & pg::P)) return Error::not_found;
  Translation<Phys> t;
  std::uint64_t leaf = d;
  Phys leaf_at = pde_at;
  std::uint64_t size = x86::kPage2M;
  if (!(d & pg::PS)) {
    const Phys pte_at = Phys(d & kAddress) + pt_index(la) * 8u;
    auto pte = mem_->read64(pte_at);
    if (!pte) return Error::invalid_argument;
    if (!(pte.value() & pg::P)) return Error::not_found;
    leaf = pte.value();
    leaf_at = pte_at;
    size = kPageSize;
  }
  const std::uint64_t base = leaf & kAddress & ~(size - 1);
  t.page = Phys(base);
  t.phys = Phys(base + (la & (size - 1)));
  t.size = size == kPageSize ? PageSize::k4K : PageSize::k2M;
  t.writable = (leaf & pg::RW) && (d & pg::RW);
  t.user = (leaf & pg::US) && (d & pg::US);
  t.global = (leaf & pg::G) != 0;
  t.accessed = (leaf & pg::A) != 0;
  t.dirty = (leaf & pg::D) != 0;
  t.leaf = leaf;
  t.leaf_address = leaf_at;
  return t;
}

template class PageTablePae<HostVirtAddr, HostPhysAddr>;
template class PageTablePae<GuestPhysAddr, HostPhysAddr>;

}  // namespace hvlab::mem
