#include "lab01-trap-and-emulate/src/shadow_mmu.hpp"

#include "common/runtime/exercise.hpp"

namespace hvlab::lab01 {

namespace pg = x86::page;

namespace {
// What of CR0 and CR4 changes a walk (or the shadow's meaning).
constexpr std::uint32_t kCr0Paging = x86::cr0::PG | x86::cr0::WP | x86::cr0::PE;
constexpr std::uint32_t kCr4Paging = x86::cr4::PSE | x86::cr4::PGE | x86::cr4::PAE;
}  // namespace

void ShadowMmu::init(const Config& c) {
  cfg_ = c;
  pool_ = mem::BumpFrameSource<HostPhysAddr>(c.pool, std::uint64_t{c.pool_frames} * kPageSize);
  table_ = mem::ShadowPageTable32(*c.host, c.directory, &pool_);
}

void ShadowMmu::clear_guest_part() {
  (void)table_.unmap_directory(GuestVirtAddr(0), kMonitorBase);
  pool_.reset();
}

void ShadowMmu::reset(const vmm::VCpu& v) {
  paging_ = (v.cr0 & x86::cr0::PG) != 0;
  cr0_ = v.cr0 & kCr0Paging;
  cr3_ = v.cr3;
  cr4_ = v.cr4 & kCr4Paging;
  efer_ = v.msr_efer;
  controls_ = mem::PagingControls::from_registers(v.cr0, v.cr4, v.msr_efer);
  ++resets_;
  clear_guest_part();
}

bool ShadowMmu::matches(const vmm::VCpu& v) const {
  return resets_ != 0 && (v.cr0 & kCr0Paging) == cr0_ && (v.cr4 & kCr4Paging) == cr4_ && v.msr_efer == efer_ &&
         (!paging_ || v.cr3 == cr3_);
}

void ShadowMmu::invalidate(std::uint32_t la) {
  if (la >= kMonitorBase) return;
  // A 4 MiB shadow page (an unpaged guest) goes as a whole.
  if (table_.unmap(GuestVirtAddr(la & ~0xfffu)).error() == Error::invalid_argument)
    (void)table_.unmap(GuestVirtAddr(la & ~(x86::kPage4M - 1)));
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
  if (!paging_) {
    // Identity map: a whole 4 MiB page when the guest memory behind it is one aligned run.
    GuestPhysAddr big = w.gpa.align_down(x86::kPage4M);
    const mem::GuestRegion* r = cfg_.guest->find(big);
    if (r && r->hpa_known && r->contains(big + (x86::kPage4M - 1))) {
      HostPhysAddr hpa = r->hpa + (big - r->gpa);
      if (hpa.is_aligned(x86::kPage4M) &&
          table_.map_large(GuestVirtAddr(big.value()), hpa, pg::RW | pg::US | pg::A | pg::D).ok()) {
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
  Status s = table_.remap(GuestVirtAddr(la & ~0xfffu), hpa.value(),
                          pg::A | (writable ? pg::RW | pg::D : 0u) | (user ? pg::US : 0u));
  if (!s) {
    // The pool is empty (or the directory holds something unexpected): start over, as a TLB
    // may drop entries at any time, and let the access fault again into fresh tables.
    clear_guest_part();
    return Fill::filled;
  }
  ++fills_;
  return Fill::filled;
  // STUB: return Fill::refused;
  // END SOLUTION
}

}  // namespace hvlab::lab01
