#include "lab04-vtx/src/ept.hpp"

#include "common/arch/paging.hpp"
#include "common/runtime/exercise.hpp"

namespace hvlab::lab04 {

Result<mem::EptTable> build_ept(mem::PhysicalMemory& memory, mem::FrameSource<HostPhysAddr>& frames,
                                const mem::GuestMemory& guest, bool large_pages, EptStats* stats) {
  // BEGIN SOLUTION lab04-e4
  auto created = mem::EptTable::create(memory, frames);
  if (!created.ok()) return created.error();
  mem::EptTable ept = created.value();
  for (const mem::GuestRegion& r : guest.regions()) {
    if (!r.hpa_known) continue;
    std::uint64_t off = 0;
    while (off < r.size) {
      const GuestPhysAddr gpa = r.gpa + off;
      const HostPhysAddr hpa = r.hpa + off;
      // SDM 29.3.2: a 2 MiB page needs both addresses 2 MiB aligned and 2 MiB of region left.
      if (large_pages && gpa.is_aligned(x86::kPage2M) && hpa.is_aligned(x86::kPage2M) && r.size - off >= x86::kPage2M) {
        HV_TRY(ept.map_large(gpa, hpa, x86::ept::RWX, x86::ept::kWriteBack));
        if (stats) ++stats->pages_2m;
        off += x86::kPage2M;
      } else {
        HV_TRY(ept.map(gpa, hpa, x86::ept::RWX, x86::ept::kWriteBack));
        if (stats) ++stats->pages_4k;
        off += x86::kPage4K;
      }
    }
  }
  if (stats) stats->tables = ept.tables_allocated();
  return ept;
  // STUB: (void)memory; (void)frames; (void)guest; (void)large_pages; (void)stats; return Error::unsupported;
  // END SOLUTION
}

}  // namespace hvlab::lab04
