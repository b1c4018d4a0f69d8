#include "lab03-paravirt/src/pv_mmu.hpp"

#include "common/arch/paging.hpp"
#include "common/arch/x86.hpp"
#include "common/runtime/exercise.hpp"

namespace hvlab::lab03 {

namespace page = x86::page;

const char* page_type_name(PageType t) {
  switch (t) {
    case PageType::none: return "none";
    case PageType::writable: return "writable";
    case PageType::l1: return "page table";
    case PageType::l2: return "page directory";
  }
  return "?";
}

PvMmu::PvMmu(mem::GuestMemory& memory, FrameInfo* frames, std::uint32_t nr_pages, std::uint32_t hypervisor_virt_start)
    : memory_(memory),
      frames_(frames),
      nr_pages_(nr_pages),
      first_monitor_slot_(hypervisor_virt_start >> 22),
      hypervisor_virt_start_(hypervisor_virt_start) {
  // Only frames the monitor can reach in guest memory count as the guest's.
  while (nr_pages_ > 0 && !memory_.contains(GuestPhysAddr(std::uint64_t{nr_pages_ - 1} * kPageSize), kPageSize))
    --nr_pages_;
}

std::uint32_t PvMmu::read_entry(std::uint32_t gfn, unsigned index) const {
  auto v = memory_.read<std::uint32_t>(GuestPhysAddr(std::uint64_t{gfn} * kPageSize + index * 4u));
  return v.ok() ? v.value() : 0;
}

const std::uint32_t* PvMmu::table(std::uint32_t gfn) const {
  auto p = memory_.host_ptr(GuestPhysAddr(std::uint64_t{gfn} * kPageSize), kPageSize);
  return p.ok() ? static_cast<const std::uint32_t*>(p.value()) : nullptr;
}

void PvMmu::write_entry(std::uint32_t gfn, unsigned index, std::uint32_t v) {
  (void)memory_.write<std::uint32_t>(GuestPhysAddr(std::uint64_t{gfn} * kPageSize + index * 4u), v);
}

void PvMmu::flush(std::uint32_t linear, bool all) {
  ++stats_.flushes;
  if (observer_) observer_->flush(linear, all);
}

int PvMmu::frame_arg(std::uint32_t arg, std::uint32_t* gfn) const {
  if (arg & 0xfffu) return err(HVLAB_PV_EINVAL);
  if (!owns(arg >> 12)) return err(HVLAB_PV_EPERM);
  *gfn = arg >> 12;
  return 0;
}

// ---- The rules for one entry (exercise e4) -----------------------------------------------------

int PvMmu::check_l1e(std::uint32_t pte) const {
  // BEGIN SOLUTION lab03-e4
  // Rule 1: a present PTE maps a frame of the guest's own RAM. (Rule 2, no writable mapping
  // of a page table, is the type check get_entry_refs() makes.)
  if (!(pte & page::P)) return 0;
  if (!owns(pte >> 12)) return err(HVLAB_PV_EPERM);
  return 0;
  // STUB: (void)pte;
  // STUB: return err(HVLAB_PV_ENOSYS);
  // END SOLUTION
}

int PvMmu::check_l2e(unsigned index, std::uint32_t pde) const {
  // BEGIN SOLUTION lab03-e4
  // Rule 3: the monitor's slots stay empty. A 4 MiB page would map 1024 frames at once
  // without a table the monitor can type, so a paravirtual guest has none (as under Xen).
  if (!(pde & page::P)) return 0;
  if (index >= first_monitor_slot_) return err(HVLAB_PV_EPERM);
  if (pde & page::PS) return err(HVLAB_PV_EINVAL);
  if (!owns(pde >> 12)) return err(HVLAB_PV_EPERM);
  return 0;
  // STUB: (void)index, (void)pde;
  // STUB: return err(HVLAB_PV_ENOSYS);
  // END SOLUTION
}

// ---- Type counts ---------------------------------------------------------------------------------

int PvMmu::get_entry_refs(PageType level, unsigned, std::uint32_t e) {
  if (!(e & page::P)) return 0;
  if (level == PageType::l1) return (e & page::RW) ? get_type(e >> 12, PageType::writable) : 0;
  return get_type(e >> 12, PageType::l1);
}

void PvMmu::put_entry_refs(PageType level, unsigned index, std::uint32_t e) {
  if (!(e & page::P)) return;
  if (level == PageType::l1) {
    if (e & page::RW) put_type(e >> 12);
    return;
  }
  if (index < first_monitor_slot_) put_type(e >> 12);
}

int PvMmu::get_type(std::uint32_t gfn, PageType want) {
  if (!owns(gfn)) return err(HVLAB_PV_EPERM);
  if (gfn == reserved_ && (want == PageType::l1 || want == PageType::l2)) return err(HVLAB_PV_EBUSY);
  FrameInfo& f = frames_[gfn];
  if (f.count > 0) {
    if (f.type != want) return err(HVLAB_PV_EBUSY);
    if (f.count == 0xffffffffu) return err(HVLAB_PV_EBUSY);
    ++f.count;
    return 0;
  }
  // First reference: the frame takes the type. It holds it while its own entries are checked,
  // so an entry that would map this very table writable (or use a directory as a table) is
  // refused like any other conflict.
  f.type = want;
  f.count = 1;
  if (want == PageType::l1 || want == PageType::l2) {
    int rc = validate_table(gfn, want);
    if (rc < 0) {
      f.type = PageType::none;
      f.count = 0;
      return rc;
    }
    if (observer_) observer_->table_validated(gfn, want);
  }
  return 0;
}

void PvMmu::put_type(std::uint32_t gfn) {
  if (!owns(gfn)) return;
  FrameInfo& f = frames_[gfn];
  if (f.count == 0) return;  // never below zero, whatever the guest did
  if (--f.count > 0) return;
  const PageType t = f.type;
  if (t == PageType::l1 || t == PageType::l2) release_entries(gfn, t, kEntries);
  f.type = PageType::none;
}

int PvMmu::validate_table(std::uint32_t gfn, PageType level) {
  ++stats_.validations;
  const std::uint32_t* t = table(gfn);
  if (t == nullptr) return err(HVLAB_PV_EPERM);
  for (unsigned i = 0; i < kEntries; ++i) {
    const std::uint32_t e = t[i];
    int rc = level == PageType::l1 ? check_l1e(e) : check_l2e(i, e);
    if (rc == 0) rc = get_entry_refs(level, i, e);
    if (rc < 0) {
      release_entries(gfn, level, i);
      return rc;
    }
  }
  return 0;
}

void PvMmu::release_entries(std::uint32_t gfn, PageType level, unsigned upto) {
  const std::uint32_t* t = table(gfn);
  if (t == nullptr) return;
  for (unsigned i = 0; i < upto; ++i) put_entry_refs(level, i, t[i]);
}

// ---- Requests ------------------------------------------------------------------------------------

int PvMmu::update(std::uint32_t ptr, std::uint32_t val) {
  // BEGIN SOLUTION lab03-e4
  const std::uint32_t cmd = ptr & 3u, addr = ptr & ~3u, gfn = addr >> 12;
  const unsigned index = (addr & 0xfffu) / 4;
  int rc = 0;
  if (cmd != HVLAB_PV_MMU_NORMAL_PT_UPDATE) {
    rc = err(HVLAB_PV_EINVAL);
  } else if (!owns(gfn)) {
    rc = err(HVLAB_PV_EPERM);
  } else {
    const FrameInfo& f = frames_[gfn];
    if (paging_ && f.count > 0 && (f.type == PageType::l1 || f.type == PageType::l2)) {
      // A live table: check the new entry, take its references before dropping the old
      // entry's (a remap to the same frame must not untype it in between), then write.
      const PageType level = f.type;
      const std::uint32_t old = read_entry(gfn, index);
      rc = level == PageType::l1 ? check_l1e(val) : check_l2e(index, val);
      if (rc == 0) rc = get_entry_refs(level, index, val);
      if (rc == 0) {
        write_entry(gfn, index, val);
        put_entry_refs(level, index, old);
        if (observer_) observer_->entry_written(GuestPhysAddr(addr), old, val);
      }
    } else {
      // Not a page table: ordinary memory, which the guest could write itself.
      write_entry(gfn, index, val);
    }
  }
  if (rc < 0) {
    ++stats_.refused;
    return rc;
  }
  ++stats_.updates;
  return 0;
  // STUB: (void)ptr, (void)val;
  // STUB: return err(HVLAB_PV_ENOSYS);
  // END SOLUTION
}

int PvMmu::extended(std::uint32_t cmd, std::uint32_t arg) {
  std::uint32_t gfn = 0;
  int rc = 0;
  switch (cmd) {
    case HVLAB_PV_MMUEXT_pin_l1_table:
    case HVLAB_PV_MMUEXT_pin_l2_table: {
      if ((rc = frame_arg(arg, &gfn)) < 0) break;
      const PageType want = cmd == HVLAB_PV_MMUEXT_pin_l1_table ? PageType::l1 : PageType::l2;
      if (frames_[gfn].pin != PageType::none) {
        rc = err(HVLAB_PV_EEXIST);
        break;
      }
      if (paging_ && (rc = get_type(gfn, want)) < 0) break;
      frames_[gfn].pin = want;
      break;
    }
    case HVLAB_PV_MMUEXT_unpin_table:
      if ((rc = frame_arg(arg, &gfn)) < 0) break;
      if (frames_[gfn].pin == PageType::none) {
        rc = err(HVLAB_PV_EINVAL);
        break;
      }
      frames_[gfn].pin = PageType::none;
      if (paging_) put_type(gfn);
      break;
    case HVLAB_PV_MMUEXT_new_baseptr:
      if ((rc = frame_arg(arg, &gfn)) < 0) break;
      if (paging_) {
        if ((rc = get_type(gfn, PageType::l2)) < 0) break;
        if (has_base_) put_type(base_ >> 12);
      }
      has_base_ = true;
      base_ = arg;
      if (observer_) observer_->base_changed(GuestPhysAddr(arg));
      flush(0, true);
      break;
    case HVLAB_PV_MMUEXT_tlb_flush_local:
      flush(0, true);
      break;
    case HVLAB_PV_MMUEXT_invlpg_local:
      if (arg >= hypervisor_virt_start_) {
        rc = err(HVLAB_PV_EPERM);
        break;
      }
      flush(arg & ~0xfffu, false);
      break;
    default:
      rc = err(HVLAB_PV_EINVAL);
      break;
  }
  if (rc < 0) ++stats_.refused;
  return rc;
}

int PvMmu::update_va(std::uint32_t va, std::uint32_t val, std::uint32_t flags) {
  int rc = 0;
  if (flags > HVLAB_PV_UVMF_INVLPG) {
    rc = err(HVLAB_PV_EINVAL);
  } else if (va >= hypervisor_virt_start_) {
    rc = err(HVLAB_PV_EPERM);
  } else if (!paging_ || !has_base_) {
    rc = err(HVLAB_PV_EINVAL);
  } else {
    const std::uint32_t pde = read_entry(base_ >> 12, va >> 22);
    if (!(pde & page::P)) rc = err(HVLAB_PV_EINVAL);
  }
  if (rc < 0) {
    ++stats_.refused;
    return rc;
  }
  const std::uint32_t pde = read_entry(base_ >> 12, va >> 22);
  if ((rc = update((pde & ~0xfffu) + ((va >> 12) & 0x3ffu) * 4u, val)) < 0) return rc;
  if (flags == HVLAB_PV_UVMF_INVLPG) flush(va & ~0xfffu, false);
  if (flags == HVLAB_PV_UVMF_TLB_FLUSH) flush(0, true);
  return 0;
}

int PvMmu::enable_paging() {
  if (paging_) return 0;
  paging_ = true;
  int rc = 0;
  for (std::uint32_t gfn = 0; gfn < nr_pages_ && rc == 0; ++gfn)
    if (frames_[gfn].pin != PageType::none) rc = get_type(gfn, frames_[gfn].pin);
  if (rc == 0 && has_base_) rc = get_type(base_ >> 12, PageType::l2);
  if (rc < 0) {
    disable_paging();
    ++stats_.refused;
  }
  return rc;
}

void PvMmu::disable_paging() {
  for (std::uint32_t gfn = 0; gfn < nr_pages_; ++gfn) {
    frames_[gfn].type = PageType::none;
    frames_[gfn].count = 0;
  }
  paging_ = false;
}

}  // namespace hvlab::lab03
