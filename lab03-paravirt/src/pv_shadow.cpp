#include "lab03-paravirt/src/pv_shadow.hpp"

#include "common/arch/paging.hpp"
#include "common/arch/x86.hpp"

namespace hvlab::lab03 {

namespace page = x86::page;

static_assert(lab01::kMonitorBase == HVLAB_PV_HYPERVISOR_VIRT_START,
              "the PV monitor's area is the trap back end's window");

namespace {
// The guest entry's bits a shadow entry keeps (the frame is the host's, A is always set).
constexpr std::uint32_t kPdeBits = page::P | page::RW | page::US | page::PWT | page::PCD;
}  // namespace

PvShadow::PvShadow(lab01::TrapBackend& backend, PvMmu& mmu, const Config& c)
    : backend_(backend), mmu_(mmu), cfg_(c), nr_pages_(mmu.nr_pages()), directory_(*c.host, c.directory) {}

HostPhysAddr PvShadow::shadow_of(std::uint32_t gfn) const {
  return cfg_.pool + std::uint64_t{cfg_.slots[gfn] - 1u} * kPageSize;
}

std::uint32_t PvShadow::shadow_entry(std::uint32_t pte) const {
  if (!(pte & page::P)) return 0;
  auto hpa = cfg_.guest->host_phys(GuestPhysAddr(pte & ~0xfffu));
  if (!hpa.ok()) return 0;  // never for a validated entry: the frame is the guest's
  // Writable only once the guest's D bit is set, so the first write faults and the monitor
  // sets D in the guest's entry (SDM 4.8), as lab01's shadow does.
  const bool writable = (pte & page::RW) && (pte & page::D);
  return hpa.value().low32() | page::P | page::A | (pte & (page::US | page::PWT | page::PCD)) |
         (writable ? page::RW | page::D : 0u);
}

void PvShadow::mark_accessed(GuestPhysAddr entry, std::uint32_t value) {
  // A walk sets A in every entry it uses; filling the shadow now is such a walk, made
  // ahead of the access (as a processor may, speculatively). A is no reference: the type
  // counts do not change.
  if (!(value & page::A)) (void)cfg_.guest->write<std::uint32_t>(entry, value | page::A);
}

Result<HostPhysAddr> PvShadow::make_shadow(std::uint32_t gfn) {
  if (used_ == cfg_.frames) return Error::out_of_memory;
  const std::uint32_t i = used_++;
  const HostPhysAddr frame = cfg_.pool + std::uint64_t{i} * kPageSize;
  HV_TRY(cfg_.host->zero_frame(frame));
  cfg_.slots[gfn] = static_cast<std::uint16_t>(i + 1);
  cfg_.owners[i] = gfn;
  ++stats_.tables;
  return frame;
}

void PvShadow::drop_all() {
  for (std::uint32_t i = 0; i < used_; ++i) cfg_.slots[cfg_.owners[i]] = 0;
  used_ = 0;
  installed_ = false;
  ++stats_.pool_resets;
}

bool PvShadow::install_slot(unsigned index) {
  const std::uint32_t base = installed_base_ >> 12;
  const std::uint32_t pde = mmu_.read_entry(base, index);
  const GuestVirtAddr va(std::uint64_t{index} << 22);
  if (!(pde & page::P)) return directory_.set_pde(va, 0).ok();
  const std::uint32_t gfn = pde >> 12;  // a validated directory names only typed tables it owns
  HostPhysAddr table;
  if (has_shadow(gfn)) {
    table = shadow_of(gfn);
  } else {
    auto made = make_shadow(gfn);
    if (!made.ok()) return false;
    table = made.value();
  }
  mark_accessed(GuestPhysAddr(std::uint64_t{base} * kPageSize + index * 4u), pde);
  return directory_.set_pde(va, table.low32() | page::A | (pde & kPdeBits)).ok();
}

bool PvShadow::install(const vmm::VCpu& v) {
  // lab01's shadow starts over for this paging state (its own tables dropped, its walks on the
  // new CR3), then every directory slot below the monitor points at the shadow of the guest's
  // table there.
  backend_.mmu().reset(v);
  backend_.flush_guest_translations();
  installed_base_ = mmu_.base();
  installed_ = true;
  for (unsigned i = 0; i < mmu_.first_monitor_slot(); ++i) {
    if (!install_slot(i)) {
      // Out of frames for shadow tables: drop them all and install again from nothing (the
      // guest's directory names at most 960 tables; the pool holds more).
      drop_all();
      backend_.mmu().reset(v);
      installed_ = true;
      for (unsigned j = 0; j < mmu_.first_monitor_slot(); ++j) {
        if (!install_slot(j)) {
          installed_ = false;
          return false;
        }
      }
      break;
    }
  }
  seen_resets_ = backend_.mmu().resets();
  ++stats_.installs;
  return true;
}

void PvShadow::sync(const vmm::VCpu& v) {
  if (!(v.cr0 & x86::cr0::PG) || !mmu_.paging() || !mmu_.has_base()) {
    installed_ = false;
    return;
  }
  if (installed_ && installed_base_ == mmu_.base() && backend_.mmu().matches(v) &&
      backend_.mmu().resets() == seen_resets_)
    return;
  (void)install(v);
}

void PvShadow::entry_written(GuestPhysAddr entry, std::uint32_t, std::uint32_t now) {
  const std::uint32_t gfn = entry.low32() >> 12;
  const unsigned index = (entry.low32() & 0xfffu) / 4;
  backend_.flush_guest_translations();
  const PageType type = mmu_.frame(gfn).type;
  if (type == PageType::l1) {
    if (!has_shadow(gfn)) return;  // no directory in use names it yet: filled when one does
    const std::uint32_t e = shadow_entry(now);
    if (e) mark_accessed(entry, now);
    (void)cfg_.host->write32(shadow_of(gfn) + index * 4u, e);
    ++stats_.eager_fills;
    return;
  }
  if (type == PageType::l2 && installed_ && gfn == installed_base_ >> 12 && index < mmu_.first_monitor_slot()) {
    if (!install_slot(index)) installed_ = false;  // out of frames: a full install at the next entry
  }
}

void PvShadow::base_changed(GuestPhysAddr) {
  // The vCPU's CR3 follows when the hypercall returns; the next entry installs the directory.
}

void PvShadow::flush(std::uint32_t, bool) {
  // The shadows are never stale and the real TLB is flushed at every entry: only the
  // monitor's own cache of guest translations goes.
  backend_.flush_guest_translations();
}

void PvShadow::table_validated(std::uint32_t gfn, PageType level) {
  // What the guest wrote into the frame while it was not a table never reached the shadow:
  // start it empty (filled on demand, or as the guest updates it).
  if (level == PageType::l1 && has_shadow(gfn)) (void)cfg_.host->zero_frame(shadow_of(gfn));
  if (level == PageType::l2 && installed_ && gfn == installed_base_ >> 12) installed_ = false;
  backend_.flush_guest_translations();
}

}  // namespace hvlab::lab03
