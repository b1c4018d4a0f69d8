#include "common/memory/guest_memory.hpp"

namespace hvlab::mem {

Status GuestMemory::add_region(GuestPhysAddr gpa, std::uint64_t size, void* host, HostPhysAddr hpa) {
  if (!hpa.is_aligned(kPageSize) || ~std::uint64_t{0} - hpa.value() < size) return Error::invalid_argument;
  GuestRegion r;
  r.gpa = gpa;
  r.size = size;
  r.host = static_cast<unsigned char*>(host);
  r.hpa = hpa;
  r.hpa_known = true;
  return add(r);
}

Status GuestMemory::add_region(GuestPhysAddr gpa, std::uint64_t size, void* host) {
  GuestRegion r;
  r.gpa = gpa;
  r.size = size;
  r.host = static_cast<unsigned char*>(host);
  return add(r);
}

Status GuestMemory::add(const GuestRegion& r) {
  // Page granularity keeps every guest frame inside one region (frame_ptr, EPT).
  if (r.host == nullptr || r.size == 0 || !r.gpa.is_aligned(kPageSize) || r.size % kPageSize != 0 ||
      ~std::uint64_t{0} - r.gpa.value() < r.size) {
    return Error::invalid_argument;
  }
  for (std::size_t i = 0; i < count_; ++i) {
    const GuestRegion& o = regions_[i];
    if (r.gpa < o.end() && o.gpa < r.end()) return Error::already_exists;
  }
  if (count_ == kMaxRegions) return Error::out_of_memory;
  // Insert sorted by gpa.
  std::size_t at = count_;
  while (at > 0 && regions_[at - 1].gpa > r.gpa) {
    regions_[at] = regions_[at - 1];
    --at;
  }
  regions_[at] = r;
  ++count_;
  return {};
}

Status GuestMemory::remove_region(GuestPhysAddr gpa) {
  for (std::size_t i = 0; i < count_; ++i) {
    if (regions_[i].gpa != gpa) continue;
    for (std::size_t j = i + 1; j < count_; ++j) regions_[j - 1] = regions_[j];
    --count_;
    return {};
  }
  return Error::not_found;
}

const GuestRegion* GuestMemory::find(GuestPhysAddr gpa) const {
  for (std::size_t i = 0; i < count_; ++i) {
    if (regions_[i].contains(gpa)) return &regions_[i];
  }
  return nullptr;
}

template <typename Fn>
Status GuestMemory::for_each_piece(GuestPhysAddr gpa, std::uint64_t length, Fn&& fn) const {
  if (length == 0) return {};
  if (~std::uint64_t{0} - gpa.value() < length) return Error::fault;  // wraps around
  const GuestPhysAddr end = gpa + length;
  // Check everything first, so a refused copy writes nothing.
  for (GuestPhysAddr p = gpa; p < end;) {
    const GuestRegion* r = find(p);
    if (r == nullptr) return Error::fault;
    p = r->end() < end ? r->end() : end;
  }
  for (GuestPhysAddr p = gpa; p < end;) {
    const GuestRegion* r = find(p);
    GuestPhysAddr stop = r->end() < end ? r->end() : end;
    fn(r->host + (p - r->gpa), static_cast<std::size_t>(stop - p), static_cast<std::size_t>(p - gpa));
    p = stop;
  }
  return {};
}

bool GuestMemory::contains(GuestPhysAddr gpa, std::uint64_t length) const {
  return for_each_piece(gpa, length, [](unsigned char*, std::size_t, std::size_t) {}).ok();
}

Result<void*> GuestMemory::host_ptr(GuestPhysAddr gpa, std::uint64_t length) const {
  const GuestRegion* r = find(gpa);
  if (r == nullptr) return Error::fault;
  if (length > r->end() - gpa) return Error::fault;  // runs off the end of the region
  return static_cast<void*>(r->host + (gpa - r->gpa));
}

Result<HostVirtAddr> GuestMemory::host_virt(GuestPhysAddr gpa) const {
  auto p = host_ptr(gpa);
  if (!p) return p.error();
  return HostVirtAddr(reinterpret_cast<std::uintptr_t>(p.value()));
}

Result<HostPhysAddr> GuestMemory::host_phys(GuestPhysAddr gpa) const {
  const GuestRegion* r = find(gpa);
  if (r == nullptr) return Error::fault;
  if (!r->hpa_known) return Error::unsupported;
  return r->hpa + (gpa - r->gpa);
}

Result<GuestPhysAddr> GuestMemory::guest_phys(HostPhysAddr hpa) const {
  // Sorted by gpa, so the first hit is the lowest alias.
  for (std::size_t i = 0; i < count_; ++i) {
    const GuestRegion& r = regions_[i];
    if (r.hpa_known && hpa >= r.hpa && hpa - r.hpa < r.size) return r.gpa + (hpa - r.hpa);
  }
  return Error::not_found;
}

Status GuestMemory::copy_in(GuestPhysAddr dst, const void* src, std::size_t length) {
  auto* from = static_cast<const unsigned char*>(src);
  return for_each_piece(dst, length, [from](unsigned char* host, std::size_t n, std::size_t done) {
    __builtin_memcpy(host, from + done, n);
  });
}

Status GuestMemory::copy_out(void* dst, GuestPhysAddr src, std::size_t length) const {
  auto* to = static_cast<unsigned char*>(dst);
  return for_each_piece(src, length, [to](unsigned char* host, std::size_t n, std::size_t done) {
    __builtin_memcpy(to + done, host, n);
  });
}

Status GuestMemory::fill(GuestPhysAddr dst, std::uint8_t value, std::size_t length) {
  return for_each_piece(dst, length, [value](unsigned char* host, std::size_t n, std::size_t) {
    __builtin_memset(host, value, n);
  });
}

void* GuestMemory::frame_ptr(GuestPhysAddr frame) {
  if (!frame.is_aligned(kPageSize)) return nullptr;
  const GuestRegion* r = find(frame);
  return r == nullptr ? nullptr : r->host + (frame - r->gpa);
}

}  // namespace hvlab::mem
