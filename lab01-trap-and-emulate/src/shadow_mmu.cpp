#include "lab01-trap-and-emulate/shadow_mmu.hpp"

#include "common/runtime/exercise.hpp"

namespace hvlab::lab01 {

namespace pg = x86::page;

std::uint32_t* ShadowMmu::directory() const {
  return static_cast<std::uint32_t*>(cfg_.host->frame_ptr(cfg_.directory));
}

std::uint32_t* ShadowMmu::new_table() {
  if (pool_used_ >= cfg_.pool_size) return nullptr;
  HostPhysAddr frame = cfg_.pool[pool_used_++];
  auto* t = static_cast<std::uint32_t*>(cfg_.host->frame_ptr(frame));
  if (t) __builtin_memset(t, 0, kPageSize);
  return t;
}

void ShadowMmu::clear_guest_part() {
  std::uint32_t* pd = directory();
  for (unsigned i = 0; i < kGuestPdes; ++i) pd[i] = 0;
  pool_used_ = 0;
  if (cfg_.flush_tlb) cfg_.flush_tlb();
}

void ShadowMmu::reset(const vmm::VCpu& v) {
  paging_ = (v.cr0 & x86::cr0::PG) != 0;
  cr3_ = v.cr3;
  controls_ = mem::PagingControls::from_registers(v.cr0, v.cr4, v.msr_efer);
  ++resets_;
  clear_guest_part();
}

void ShadowMmu::invalidate(std::uint32_t la) {
  if (la >= kMonitorBase) return;
  std::uint32_t* pd = directory();
  std::uint32_t pde = pd[x86::pd_index32(la)];
  if (!(pde & pg::P)) return;
  if (pde & pg::PS) {
    pd[x86::pd_index32(la)] = 0;
  } else {
    auto* pt = static_cast<std::uint32_t*>(cfg_.host->frame_ptr(HostPhysAddr(pde & ~0xfffu)));
    if (pt) pt[x86::pt_index32(la)] = 0;
  }
  if (cfg_.flush_tlb) cfg_.flush_tlb();
}

ShadowMmu::Walk ShadowMmu::walk(std::uint32_t la, mem::Access access) {
  Walk w;
  if (!paging_) {
    // Paging off: guest-linear is guest-physical, and nothing is protected.
    w.gpa = GuestPhysAddr(la);
    w.writable = w.user = w.dirty = true;
    if (!cfg_.guest->contains(w.gpa)) w.kind = WalkKind::bad_frame;
    return w;
  }
  mem::GuestPageTable32 tables(*cfg_.guest, GuestPhysAddr(cr3_ & ~0xfffu), nullptr, controls_);
  auto r = tables.access(GuestVirtAddr(la), access, true);
  if (r.page_fault()) {
    w.kind = WalkKind::page_fault;
    w.error_code = r.error_code;
    return w;
  }
  if (!r.ok()) {
    // A page table outside the guest's memory: nothing a #PF can express.
    w.kind = WalkKind::bad_frame;
    w.gpa = GuestPhysAddr(cr3_ & ~0xfffu);
    return w;
  }
  w.gpa = r.translation.phys;
  w.writable = r.translation.writable;
  w.user = r.translation.user;
  w.dirty = r.translation.dirty;
  if (!cfg_.guest->contains(w.gpa)) w.kind = WalkKind::bad_frame;
  return w;
}

ShadowMmu::Fill ShadowMmu::handle_fault(std::uint32_t la, std::uint32_t hw_error, std::uint32_t* guest_error,
                                        GuestPhysAddr* bad) {
  // BEGIN SOLUTION lab01-e5
  // SDM 4.7: bit 1 of the error code says write, bit 2 user mode. Ring 1 counts as
  // supervisor for paging, exactly what the guest kernel expects to be.
  mem::Access access{(hw_error & x86::pf_error::W) ? mem::Access::Op::write : mem::Access::Op::read,
                     (hw_error & x86::pf_error::U) != 0, false};
  if (la >= kMonitorBase) {
    *bad = GuestPhysAddr(la);
    return Fill::refused;
  }
  Walk w = walk(la, access);
  if (w.kind == WalkKind::page_fault) {
    *guest_error = w.error_code;
    return Fill::reflect;
  }
  if (w.kind == WalkKind::bad_frame) {
    *bad = w.gpa;
    return Fill::refused;
  }
  std::uint32_t* pd = directory();
  unsigned pdi = x86::pd_index32(la);

  if (!paging_) {
    // Identity map: a whole 4 MiB page when the guest memory behind it is one aligned run.
    GuestPhysAddr big = w.gpa.align_down(x86::kPage4M);
    const mem::GuestRegion* r = cfg_.guest->find(big);
    if (r && r->hpa_known && r->contains(big + (x86::kPage4M - 1))) {
      HostPhysAddr hpa = r->hpa + (big - r->gpa);
      if (hpa.is_aligned(x86::kPage4M)) {
        pd[pdi] = hpa.low32() | pg::P | pg::RW | pg::US | pg::PS | pg::A | pg::D;
        ++fills_;
        return Fill::filled;
      }
    }
  }
  auto hpa = cfg_.guest->host_phys(w.gpa.align_down(kPageSize));
  if (!hpa.ok()) {
    *bad = w.gpa;
    return Fill::refused;
  }
  if (!(pd[pdi] & pg::P) || (pd[pdi] & pg::PS)) {
    std::uint32_t* t = new_table();
    if (!t) {
      // The pool is empty: start over (a TLB may drop entries at any time), and let the
      // access fault again into a fresh set of tables.
      clear_guest_part();
      return Fill::filled;
    }
    // The PDE lets the PTE alone decide the rights.
    pd[pdi] = cfg_.pool[pool_used_ - 1].low32() | pg::P | pg::RW | pg::US;
  }
  auto* pt = static_cast<std::uint32_t*>(cfg_.host->frame_ptr(HostPhysAddr(pd[pdi] & ~0xfffu)));
  // Writable only once the guest's D bit is set, so the first write faults here and the D
  // bit reaches the guest's PTE (SDM 4.8). A supervisor write allowed only because the guest
  // cleared CR0.WP gets a supervisor-only writable entry.
  bool write = access.op == mem::Access::Op::write;
  bool writable = w.writable && (w.dirty || write);
  bool user = w.user;
  if (!w.writable && write && !access.user) {
    writable = true;
    user = false;
  }
  pt[x86::pt_index32(la)] = hpa.value().low32() | pg::P | pg::A | (writable ? pg::RW | pg::D : 0u) | (user ? pg::US : 0u);
  ++fills_;
  return Fill::filled;
  // STUB: return Fill::refused;
  // END SOLUTION
}

}  // namespace hvlab::lab01
