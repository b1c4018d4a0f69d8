#include "lab01-trap-and-emulate/src/address_space.hpp"

#include "common/arch/paging.hpp"

namespace hvlab::lab01 {

namespace pg = x86::page;

bool place_trap_pages(std::span<const TrapPages> runs, std::span<std::uint32_t> linear) {
  if (linear.size() < runs.size()) return false;
  std::uint64_t top = 1ull << 32;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const TrapPages& r = runs[i];
    std::uint64_t bytes = std::uint64_t{r.count} * kPageSize;
    if (r.count == 0 || !r.phys.is_aligned(kPageSize) || top - kTrapWindow < bytes) return false;
    top -= bytes;
    linear[i] = static_cast<std::uint32_t>(top);
  }
  return true;
}

Status map_trap_pages(mem::HostPageTable32& pd, std::span<const TrapPages> runs, std::span<const std::uint32_t> linear) {
  if (linear.size() < runs.size()) return Error::invalid_argument;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const TrapPages& r = runs[i];
    if (linear[i] < kTrapWindow) return Error::invalid_argument;
    std::uint32_t flags = pg::A | (r.writable ? pg::RW | pg::D : 0u);
    HV_TRY(pd.map_range(HostVirtAddr(linear[i]), r.phys, std::uint64_t{r.count} * kPageSize, flags));
  }
  return {};
}

Status map_host_ram(mem::HostPageTable32& pd, std::uint64_t ram_bytes, bool identity) {
  std::uint64_t bytes = (ram_bytes + x86::kPage4M - 1) & ~(x86::kPage4M - 1);
  if (bytes > kHostReach) bytes = kHostReach;
  if (bytes == 0) return Error::invalid_argument;
  HV_TRY(pd.map_range(HostVirtAddr(kMonitorBase), HostPhysAddr(0), bytes, pg::RW | pg::A | pg::D, true));
  if (identity) HV_TRY(pd.map_range(HostVirtAddr(0), HostPhysAddr(0), bytes, pg::RW | pg::A | pg::D, true));
  return {};
}

}  // namespace hvlab::lab01
