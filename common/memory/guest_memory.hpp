#pragma once
// A guest's physical address space: a small table of regions, each a page-aligned range
// of guest-physical addresses backed by monitor memory (a host pointer, and, where known,
// the host-physical address of its first byte, which EPT and shadow page tables need).
//
// Every access the monitor makes on the guest's behalf goes through here and is bounds-
// checked: a guest-supplied address (a DMA target, a descriptor, a page-table entry) must
// never let the monitor read or write its own memory. Accesses outside every region fail
// with Error::fault; copies may run across adjacent regions, single pointers may not.
//
// GuestMemory is also a GuestPhysicalMemory, so GuestPageTable32 walks the guest's own
// page tables directly in it.

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "common/memory/address.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/result.hpp"

namespace hvlab::mem {

/// One backed range of guest-physical memory.
struct GuestRegion {
  GuestPhysAddr gpa;            ///< first guest-physical address (page-aligned)
  std::uint64_t size = 0;       ///< bytes (a multiple of kPageSize)
  unsigned char* host = nullptr;  ///< where the monitor sees the first byte
  HostPhysAddr hpa;             ///< host-physical address of the first byte, if known
  bool hpa_known = false;       ///< false for a hosted monitor, which cannot know it

  /// One past the last guest-physical address.
  constexpr GuestPhysAddr end() const { return gpa + size; }
  constexpr bool contains(GuestPhysAddr a) const { return a >= gpa && a - gpa < size; }
};

class GuestMemory final : public GuestPhysicalMemory {
 public:
  /// Regions a guest may have (RAM below and above a hole, ROM, a framebuffer...).
  static constexpr std::size_t kMaxRegions = 16;

  GuestMemory() = default;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  /// Adds [gpa, gpa + size) backed by `host`, whose first byte is at host-physical `hpa`.
  /// gpa, size and hpa must be page-aligned, size non-zero, host non-null
  /// (Error::invalid_argument). Error::already_exists if the guest range overlaps another
  /// region; Error::out_of_memory when the table is full. Two regions may share host
  /// memory (a ROM mirrored at two addresses).
  Status add_region(GuestPhysAddr gpa, std::uint64_t size, void* host, HostPhysAddr hpa);
  /// As above, for a monitor that does not know host-physical addresses (host_phys() of
  /// these regions is Error::unsupported).
  Status add_region(GuestPhysAddr gpa, std::uint64_t size, void* host);
  /// Removes the region starting exactly at `gpa`. Error::not_found otherwise.
  Status remove_region(GuestPhysAddr gpa);
  /// Removes every region.
  void clear() { count_ = 0; }

  /// The regions, sorted by guest-physical address.
  std::span<const GuestRegion> regions() const { return {regions_, count_}; }
  /// The region containing `gpa`, or nullptr.
  const GuestRegion* find(GuestPhysAddr gpa) const;
  /// True if every byte of [gpa, gpa + length) is backed (possibly by several regions).
  bool contains(GuestPhysAddr gpa, std::uint64_t length = 1) const;

  /// A host pointer to [gpa, gpa + length), which must lie inside one region (a pointer
  /// cannot span two). Error::fault otherwise.
  Result<void*> host_ptr(GuestPhysAddr gpa, std::uint64_t length = 1) const;
  /// host_ptr() as a HostVirtAddr.
  Result<HostVirtAddr> host_virt(GuestPhysAddr gpa) const;
  /// The host-physical address backing `gpa` (what an EPT or shadow PTE must hold).
  /// Error::fault if unbacked, Error::unsupported if its region has no host-physical base.
  Result<HostPhysAddr> host_phys(GuestPhysAddr gpa) const;

  /// True if the host frame containing `hpa` backs guest memory: the test a monitor makes
  /// before letting a guest-supplied host address into an EPT or shadow entry.
  bool owns_host_frame(HostPhysAddr hpa) const { return guest_phys(hpa).ok(); }
  /// The guest-physical address backed by `hpa` (the lowest, if aliased). Error::not_found
  /// if no region with a known host-physical base covers it.
  Result<GuestPhysAddr> guest_phys(HostPhysAddr hpa) const;

  /// Copies `length` bytes from the monitor's `src` into guest memory at `dst`. All or
  /// nothing: Error::fault, and no byte written, unless every byte is backed.
  Status copy_in(GuestPhysAddr dst, const void* src, std::size_t length);
  /// Copies `length` bytes of guest memory at `src` out to `dst` (errors as copy_in).
  Status copy_out(void* dst, GuestPhysAddr src, std::size_t length) const;
  /// Fills guest memory with `value` (errors as copy_in).
  Status fill(GuestPhysAddr dst, std::uint8_t value, std::size_t length);

  /// Reads a T (trivially copyable: an integer, an entry, a descriptor) from guest memory.
  template <typename T>
  Result<T> read(GuestPhysAddr gpa) const {
    static_assert(std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>);
    T v{};
    Status s = copy_out(&v, gpa, sizeof(T));
    if (!s) return s.error();
    return v;
  }
  /// Writes a T into guest memory.
  template <typename T>
  Status write(GuestPhysAddr gpa, const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    return copy_in(gpa, &v, sizeof(T));
  }

  /// GuestPhysicalMemory: the host pointer of a guest frame, or nullptr if unbacked.
  void* frame_ptr(GuestPhysAddr frame) override;

 private:
  Status add(const GuestRegion& r);
  // Calls fn(host pointer, bytes) for each piece of [gpa, gpa + length) after checking
  // that all of it is backed.
  template <typename Fn>
  Status for_each_piece(GuestPhysAddr gpa, std::uint64_t length, Fn&& fn) const;

  GuestRegion regions_[kMaxRegions];
  std::size_t count_ = 0;
};

}  // namespace hvlab::mem
