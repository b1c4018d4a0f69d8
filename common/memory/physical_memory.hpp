#pragma once
// How the monitor reaches "physical" memory. Page tables are data that live in physical
// frames; code that builds or walks them must turn a frame's physical address into a
// pointer it may dereference. That translation differs per environment:
//   - a kernel monitor that identity-maps RAM: the pointer *is* the physical address;
//   - a host unit test: an array stands in for RAM;
//   - a guest's address space: GuestMemory's region table (guest_memory.hpp).
// PhysicalMemoryOf<Phys> is that one question ("where is this frame?"), asked per 4 KiB
// frame so that every implementation is a lookup, not a copy.
//
// FrameSource<Phys> is the other half a page-table builder needs: somewhere to get zeroable
// frames for new tables (FrameAllocator for host frames, BumpFrameSource for a range).

#include <cstddef>
#include <cstdint>

#include "common/memory/address.hpp"
#include "common/runtime/result.hpp"

namespace hvlab::mem {

/// Frame-granular access to one physical address space. `Phys` is HostPhysAddr or
/// GuestPhysAddr, so host frames and guest frames cannot be confused.
template <typename Phys>
class PhysicalMemoryOf {
 public:
  /// A host pointer to the 4 KiB frame at `frame` (page-aligned), valid for kPageSize bytes,
  /// or nullptr when nothing backs that frame.
  virtual void* frame_ptr(Phys frame) = 0;

  /// Reads the naturally aligned 32-bit word at `pa`. Error::invalid_argument if misaligned,
  /// Error::fault if the frame is not backed.
  Result<std::uint32_t> read32(Phys pa) { return load<std::uint32_t>(pa); }
  /// Reads the naturally aligned 64-bit word at `pa` (errors as read32).
  Result<std::uint64_t> read64(Phys pa) { return load<std::uint64_t>(pa); }
  /// Writes the naturally aligned 32-bit word at `pa` (errors as read32).
  Status write32(Phys pa, std::uint32_t v) { return store<std::uint32_t>(pa, v); }
  /// Writes the naturally aligned 64-bit word at `pa` (errors as read32).
  Status write64(Phys pa, std::uint64_t v) { return store<std::uint64_t>(pa, v); }

  /// Fills the frame at `frame` with zeros (a fresh page table must start all not-present).
  Status zero_frame(Phys frame) {
    if (!frame.is_aligned(kPageSize)) return Error::invalid_argument;
    void* p = frame_ptr(frame);
    if (p == nullptr) return Error::fault;
    __builtin_memset(p, 0, kPageSize);
    return {};
  }

 protected:
  ~PhysicalMemoryOf() = default;  // never deleted through the interface (kernels have no delete)

 private:
  // Natural alignment keeps every word inside one frame. memcpy, not a pointer cast, because
  // on the host the storage is a byte array (strict aliasing); it compiles to one move.
  template <typename W>
  Result<W> load(Phys pa) {
    if (!pa.is_aligned(sizeof(W))) return Error::invalid_argument;
    auto* p = static_cast<const unsigned char*>(frame_ptr(pa.align_down(kPageSize)));
    if (p == nullptr) return Error::fault;
    W v;
    __builtin_memcpy(&v, p + pa.page_offset(), sizeof v);
    return v;
  }
  template <typename W>
  Status store(Phys pa, W v) {
    if (!pa.is_aligned(sizeof(W))) return Error::invalid_argument;
    auto* p = static_cast<unsigned char*>(frame_ptr(pa.align_down(kPageSize)));
    if (p == nullptr) return Error::fault;
    __builtin_memcpy(p + pa.page_offset(), &v, sizeof v);
    return {};
  }
};

/// Host-physical memory, as the monitor's own page tables and shadow page tables see it.
using PhysicalMemory = PhysicalMemoryOf<HostPhysAddr>;
/// Guest-physical memory, as the guest's own page tables see it (GuestMemory implements it).
using GuestPhysicalMemory = PhysicalMemoryOf<GuestPhysAddr>;

/// A contiguous window: physical [base, base + size) lives at host pointer `host`. Host
/// tests use it over an array; a kernel could use it over a remapped window.
template <typename Phys>
class WindowPhysicalMemory final : public PhysicalMemoryOf<Phys> {
 public:
  /// `base` should be page-aligned; a partial last frame is not reachable.
  WindowPhysicalMemory(void* host, Phys base, std::uint64_t size)
      : host_(static_cast<unsigned char*>(host)), base_(base), size_(size) {}

  void* frame_ptr(Phys frame) override {
    if (!frame.is_aligned(kPageSize) || frame < base_) return nullptr;
    std::uint64_t off = frame - base_;
    if (off >= size_ || size_ - off < kPageSize) return nullptr;
    return host_ + off;
  }

  Phys base() const { return base_; }
  std::uint64_t size() const { return size_; }

 private:
  unsigned char* host_;
  Phys base_;
  std::uint64_t size_;
};

/// The kernel's view when RAM is identity-mapped (or paging is off): the physical address
/// is the pointer. Frames at or above `limit` are unreachable, and so is frame 0, whose
/// address is the null pointer (the frame allocator never hands it out).
class IdentityPhysicalMemory final : public PhysicalMemory {
 public:
  static constexpr std::uint64_t kPointerReach = sizeof(void*) == 4 ? (1ull << 32) : ~0ull;

  /// The default limit is what a pointer can reach: 4 GiB in a 32-bit kernel.
  constexpr explicit IdentityPhysicalMemory(std::uint64_t limit = kPointerReach) : limit_(limit) {}

  void* frame_ptr(HostPhysAddr frame) override {
    if (!frame.is_aligned(kPageSize) || frame.value() == 0) return nullptr;
    if (frame.value() >= limit_ || limit_ - frame.value() < kPageSize) return nullptr;
    return reinterpret_cast<void*>(static_cast<std::uintptr_t>(frame.value()));
  }

 private:
  std::uint64_t limit_;
};

/// Where a page-table builder gets frames for new tables. Frames need not be zeroed; the
/// builder zeroes them through PhysicalMemoryOf.
template <typename Phys>
class FrameSource {
 public:
  /// One 4 KiB frame, or Error::out_of_memory.
  virtual Result<Phys> alloc_frame() = 0;
  /// Gives back a frame from alloc_frame().
  virtual Status free_frame(Phys frame) = 0;

 protected:
  ~FrameSource() = default;
};

/// Hands out the frames of [base, base + size) in order and never reuses them (free_frame
/// is accepted and ignored; reset() starts over). Enough to build a guest's initial page
/// tables in a reserved part of its RAM, or for tests.
template <typename Phys>
class BumpFrameSource final : public FrameSource<Phys> {
 public:
  constexpr BumpFrameSource(Phys base, std::uint64_t size)
      : next_(base.align_up(kPageSize)), base_(next_), end_(base + size) {}

  Result<Phys> alloc_frame() override {
    if (next_ >= end_ || end_ - next_ < kPageSize) return Error::out_of_memory;
    Phys f = next_;
    next_ += kPageSize;
    return f;
  }
  Status free_frame(Phys frame) override {
    if (frame < base_ || frame >= next_) return Error::invalid_argument;
    return {};
  }
  /// Frames handed out so far.
  std::uint64_t used() const { return (next_ - base_) / kPageSize; }
  void reset() { next_ = base_; }

 private:
  Phys next_;
  Phys base_;
  Phys end_;
};

}  // namespace hvlab::mem
