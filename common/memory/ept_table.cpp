#include "common/memory/ept_table.hpp"

namespace hvlab::mem {

namespace {
bool rights_valid(std::uint64_t r) {
  if (r & ~x86::ept::RWX) return false;
  if (!(r & x86::ept::RWX)) return false;  // no rights: that is "not present", not a mapping
  if ((r & x86::ept::W) && !(r & x86::ept::R)) return false;  // SDM 29.3.3.1: a misconfiguration
  return true;
}
}  // namespace

Result<EptTable> EptTable::create(PhysicalMemory& memory, FrameSource<HostPhysAddr>& frames) {
  auto f = frames.alloc_frame();
  if (!f.ok()) return f.error();
  HV_TRY(memory.zero_frame(f.value()));
  EptTable t(memory, f.value(), &frames);
  t.tables_ = 1;
  return t;
}

Result<HostPhysAddr> EptTable::next_table(HostPhysAddr table, unsigned index) {
  const HostPhysAddr slot = table + index * 8ull;
  auto raw = mem_->read64(slot);
  if (!raw.ok()) return Error::invalid_argument;
  if (raw.value() & x86::ept::LARGE) return Error::already_exists;  // a large page covers it
  auto e = x86::EptTableEntry::from(raw.value());
  if (e.present()) return HostPhysAddr(e.address());
  if (!frames_) return Error::unsupported;
  auto frame = frames_->alloc_frame();
  if (!frame.ok()) return frame.error();
  HV_TRY(mem_->zero_frame(frame.value()));
  ++tables_;
  x86::EptTableEntry ne{};
  ne.read = ne.write = ne.execute = 1;
  ne.set_address(frame.value().value());
  HV_TRY(mem_->write64(slot, ne.raw()));
  return frame.value();
}

Status EptTable::set_leaf(HostPhysAddr slot, std::uint64_t raw) {
  auto old = mem_->read64(slot);
  if (!old.ok()) return Error::invalid_argument;
  if (old.value() & x86::ept::RWX) return Error::already_exists;
  return mem_->write64(slot, raw);
}

Result<HostPhysAddr> EptTable::walk_to(std::uint64_t a, unsigned level) {
  // level 1: the page table of `a` (its PTE), level 2: its page directory (a 2 MiB PDE).
  auto pdpt = next_table(pml4_, x86::pml4_index(a));
  if (!pdpt.ok()) return pdpt.error();
  auto pd = next_table(pdpt.value(), x86::pdpt_index(a));
  if (!pd.ok() || level == 2) return pd;
  return next_table(pd.value(), x86::pd_index(a));
}

namespace {
template <class Entry>
Entry leaf(HostPhysAddr hpa, std::uint64_t rights, unsigned memory_type) {
  Entry e{};
  e.read = (rights & x86::ept::R) != 0;
  e.write = (rights & x86::ept::W) != 0;
  e.execute = (rights & x86::ept::X) != 0;
  e.memory_type = memory_type;
  e.set_address(hpa.value());
  return e;
}
}  // namespace

Status EptTable::map(GuestPhysAddr gpa, HostPhysAddr hpa, std::uint64_t rights, unsigned memory_type) {
  if (!mem_) return Error::invalid_argument;
  if (!gpa.is_aligned(x86::kPage4K) || !hpa.is_aligned(x86::kPage4K) || !rights_valid(rights) || memory_type > 7)
    return Error::invalid_argument;
  auto pt = walk_to(gpa.value(), 1);
  if (!pt.ok()) return pt.error();
  const auto e = leaf<x86::EptPte>(hpa, rights, memory_type);
  return set_leaf(pt.value() + x86::pt_index(gpa.value()) * 8ull, e.raw());
}

Status EptTable::map_large(GuestPhysAddr gpa, HostPhysAddr hpa, std::uint64_t rights, unsigned memory_type) {
  if (!mem_) return Error::invalid_argument;
  if (!gpa.is_aligned(x86::kPage2M) || !hpa.is_aligned(x86::kPage2M) || !rights_valid(rights) || memory_type > 7)
    return Error::invalid_argument;
  auto pd = walk_to(gpa.value(), 2);
  if (!pd.ok()) return pd.error();
  auto e = leaf<x86::EptPdeLarge>(hpa, rights, memory_type);
  e.large_page = 1;
  return set_leaf(pd.value() + x86::pd_index(gpa.value()) * 8ull, e.raw());
}

Result<Translation<HostPhysAddr>> EptTable::translate(GuestPhysAddr gpa) const {
  if (!mem_) return Error::invalid_argument;
  const std::uint64_t a = gpa.value();
  const unsigned idx[4] = {x86::pml4_index(a), x86::pdpt_index(a), x86::pd_index(a), x86::pt_index(a)};
  HostPhysAddr table = pml4_;
  for (unsigned level = 0; level < 4; ++level) {
    const HostPhysAddr slot = table + idx[level] * 8ull;
    auto raw = mem_->read64(slot);
    if (!raw.ok()) return Error::invalid_argument;
    const std::uint64_t e = raw.value();
    if (!(e & x86::ept::RWX)) return Error::not_found;
    const bool large = level == 2 && (e & x86::ept::LARGE);
    if (large || level == 3) {
      Translation<HostPhysAddr> t;
      const std::uint64_t base = large ? x86::EptPdeLarge::from(e).address() : x86::EptPte::from(e).address();
      const std::uint64_t size = large ? x86::kPage2M : x86::kPage4K;
      t.page = HostPhysAddr(base);
      t.phys = HostPhysAddr(base + (a & (size - 1)));
      t.size = large ? PageSize::k2M : PageSize::k4K;
      t.writable = (e & x86::ept::W) != 0;
      t.user = true;
      t.leaf = e;
      t.leaf_address = slot;
      return t;
    }
    table = HostPhysAddr(x86::EptTableEntry::from(e).address());
  }
  return Error::not_found;
}

}  // namespace hvlab::mem
