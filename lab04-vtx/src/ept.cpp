#include "lab04-vtx/src/ept.hpp"

#include "common/runtime/exercise.hpp"
#include "common/arch/paging.hpp"

namespace hvlab::lab04 {

namespace {

using x86::EptTableEntry;

// The next-level table behind entry `index` of `table`, created (zeroed) if absent.
[[maybe_unused]] Result<HostPhysAddr> next_table(mem::PhysicalMemory& memory, mem::FrameSource<HostPhysAddr>& frames,
                                HostPhysAddr table, unsigned index, EptStats* stats) {
  const HostPhysAddr slot = table + index * 8ull;
  auto raw = memory.read64(slot);
  if (!raw.ok()) return raw.error();
  auto e = EptTableEntry::from(raw.value());
  if (e.present()) return HostPhysAddr(e.address());
  auto frame = frames.alloc_frame();
  if (!frame.ok()) return frame.error();
  HV_TRY(memory.zero_frame(frame.value()));
  if (stats) ++stats->tables;
  EptTableEntry ne{};
  // Non-leaf entries grant everything; the leaf decides (SDM 29.3.3: rights are ANDed).
  ne.read = ne.write = ne.execute = 1;
  ne.set_address(frame.value().value());
  HV_TRY(memory.write64(slot, ne.raw()));
  return frame.value();
}

}  // namespace

Result<HostPhysAddr> build_ept(mem::PhysicalMemory& memory, mem::FrameSource<HostPhysAddr>& frames,
                               const mem::GuestMemory& guest, bool large_pages, EptStats* stats) {
  // BEGIN SOLUTION lab04-e4
  auto root = frames.alloc_frame();
  if (!root.ok()) return root.error();
  HV_TRY(memory.zero_frame(root.value()));
  if (stats) ++stats->tables;
  const HostPhysAddr pml4 = root.value();

  for (const mem::GuestRegion& r : guest.regions()) {
    if (!r.hpa_known) continue;
    std::uint64_t off = 0;
    while (off < r.size) {
      const std::uint64_t gpa = r.gpa.value() + off, hpa = r.hpa.value() + off;
      auto pdpt = next_table(memory, frames, pml4, x86::pml4_index(gpa), stats);
      if (!pdpt.ok()) return pdpt.error();
      auto pd = next_table(memory, frames, pdpt.value(), x86::pdpt_index(gpa), stats);
      if (!pd.ok()) return pd.error();
      const bool big = large_pages && (gpa % x86::kPage2M) == 0 && (hpa % x86::kPage2M) == 0 &&
                       r.size - off >= x86::kPage2M;
      if (big) {
        // SDM 29.3.2 table 29-4: a 2 MiB page, R/W/X, memory type WB (bits 5:3), bit 7 set.
        x86::EptPdeLarge e{};
        e.read = e.write = e.execute = 1;
        e.memory_type = x86::ept::kWriteBack;
        e.large_page = 1;
        e.set_address(hpa);
        HV_TRY(memory.write64(pd.value() + x86::pd_index(gpa) * 8ull, e.raw()));
        if (stats) ++stats->pages_2m;
        off += x86::kPage2M;
        continue;
      }
      auto pt = next_table(memory, frames, pd.value(), x86::pd_index(gpa), stats);
      if (!pt.ok()) return pt.error();
      x86::EptPte e{};
      e.read = e.write = e.execute = 1;
      e.memory_type = x86::ept::kWriteBack;
      e.set_address(hpa);
      HV_TRY(memory.write64(pt.value() + x86::pt_index(gpa) * 8ull, e.raw()));
      if (stats) ++stats->pages_4k;
      off += x86::kPage4K;
    }
  }
  return pml4;
  // STUB: (void)memory; (void)frames; (void)guest; (void)large_pages; (void)stats; return Error::unsupported;
  // END SOLUTION
}

Result<HostPhysAddr> ept_translate(mem::PhysicalMemory& memory, HostPhysAddr pml4, GuestPhysAddr gpa) {
  const std::uint64_t a = gpa.value();
  const unsigned idx[4] = {x86::pml4_index(a), x86::pdpt_index(a), x86::pd_index(a), x86::pt_index(a)};
  HostPhysAddr table = pml4;
  for (unsigned level = 0; level < 4; ++level) {
    auto raw = memory.read64(table + idx[level] * 8ull);
    if (!raw.ok()) return raw.error();
    const std::uint64_t e = raw.value();
    if (!(e & x86::ept::RWX)) return Error::not_found;
    if (level == 2 && (e & x86::ept::LARGE))
      return HostPhysAddr(x86::EptPdeLarge::from(e).address() + (a & (x86::kPage2M - 1)));
    if (level == 3) return HostPhysAddr(x86::EptPte::from(e).address() + (a & 0xfff));
    table = HostPhysAddr(EptTableEntry::from(e).address());
  }
  return Error::not_found;
}

}  // namespace hvlab::lab04
