// The invariants of the validated page tables, recomputed from scratch (host only: tests and
// the fuzzer call it after every hypercall).

#include <vector>

#include "common/arch/paging.hpp"
#include "common/arch/x86.hpp"
#include "lab03-paravirt/src/pv_mmu.hpp"

namespace hvlab::lab03 {

const char* PvMmu::check_invariants(std::uint32_t* bad) const {
  namespace page = x86::page;
  *bad = 0;
  if (!paging_) {
    for (std::uint32_t gfn = 0; gfn < nr_pages_; ++gfn) {
      if (frames_[gfn].count != 0 || frames_[gfn].type != PageType::none) {
        *bad = gfn;
        return "a frame is typed while the guest runs with paging off";
      }
    }
    return nullptr;
  }
  // The references every typed table, pin and the base pointer hold, by kind.
  struct Expected {
    std::uint32_t writable = 0, l1 = 0, l2 = 0;
  };
  std::vector<Expected> want(nr_pages_);
  for (std::uint32_t gfn = 0; gfn < nr_pages_; ++gfn) {
    if (frames_[gfn].pin == PageType::l1) ++want[gfn].l1;
    if (frames_[gfn].pin == PageType::l2) ++want[gfn].l2;
  }
  if (has_base_) {
    if (!owns(base_ >> 12)) {
      *bad = base_ >> 12;
      return "the base pointer names a frame the guest does not own";
    }
    ++want[base_ >> 12].l2;
  }
  for (std::uint32_t gfn = 0; gfn < nr_pages_; ++gfn) {
    const FrameInfo& f = frames_[gfn];
    if (f.count == 0 || (f.type != PageType::l1 && f.type != PageType::l2)) continue;
    const std::uint32_t* t = table(gfn);
    for (unsigned i = 0; t && i < kEntries; ++i) {
      const std::uint32_t e = t[i];
      if (!(e & page::P)) continue;
      *bad = gfn;
      if (!owns(e >> 12)) return "a live table maps a frame the guest does not own";
      if (f.type == PageType::l2) {
        if (i >= first_monitor_slot_) return "a live page directory reaches the monitor's area";
        if (e & page::PS) return "a live page directory maps a 4 MiB page";
        ++want[e >> 12].l1;
      } else if (e & page::RW) {
        ++want[e >> 12].writable;
      }
    }
  }
  for (std::uint32_t gfn = 0; gfn < nr_pages_; ++gfn) {
    const FrameInfo& f = frames_[gfn];
    const Expected& w = want[gfn];
    *bad = gfn;
    const unsigned kinds = (w.writable != 0) + (w.l1 != 0) + (w.l2 != 0);
    if (kinds > 1) {
      return w.writable ? "a page table is mapped writable" : "a frame is both a page table and a page directory";
    }
    const std::uint32_t total = w.writable + w.l1 + w.l2;
    if (f.count != total) return "a type count differs from the references the tables hold";
    if (total == 0 && f.type != PageType::none) return "a frame nobody refers to keeps a type";
    if (w.writable && f.type != PageType::writable) return "a writable frame has another type";
    if (w.l1 && f.type != PageType::l1) return "a page table has another type";
    if (w.l2 && f.type != PageType::l2) return "a page directory has another type";
  }
  *bad = 0;
  return nullptr;
}

}  // namespace hvlab::lab03
