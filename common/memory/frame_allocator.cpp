#include "common/memory/frame_allocator.hpp"

#include <bit>

#include "common/boot/multiboot.hpp"

namespace hvlab::mem {

namespace {

constexpr std::uint64_t kFrameShift = 12;

// End of [base, base + length), saturating instead of wrapping (maps from firmware may
// describe a range up to 2^64 - 1).
constexpr std::uint64_t range_end(std::uint64_t base, std::uint64_t length) {
  return length > ~std::uint64_t{0} - base ? ~std::uint64_t{0} : base + length;
}

// `step` is a power of two (masks, not 64-bit division: i686 kernels have no divide for it).
constexpr std::uint64_t align_up_frames(std::uint64_t f, std::uint64_t step) {
  return (f + step - 1) & ~(step - 1);
}

// Bits set in a word, without a POPCNT instruction (i686) or a libgcc call.
constexpr unsigned ones(std::uint32_t v) {
  v = v - ((v >> 1) & 0x55555555u);
  v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
  v = (v + (v >> 4)) & 0x0f0f0f0fu;
  return (v * 0x01010101u) >> 24;
}
static_assert(ones(0) == 0 && ones(0xffffffffu) == 32 && ones(0x80000001u) == 2);

}  // namespace

Status FrameAllocator::init(std::span<std::uint32_t> storage, std::span<const MemoryRange> map) {
  if (storage.empty() || storage.size() % 2 != 0) return Error::invalid_argument;
  std::size_t half = storage.size() / 2;
  used_ = storage.data();
  reserved_ = storage.data() + half;
  frames_ = std::uint64_t{half} * 32;
  for (std::uint32_t& w : storage) w = ~0u;  // everything is unusable until the map says otherwise

  // Available RAM: only frames wholly inside the range (a partial frame is not ours to use).
  for (const MemoryRange& r : map) {
    if (r.type != MemoryType::available) continue;
    std::uint64_t end = range_end(r.base.value(), r.length) >> kFrameShift;
    std::uint64_t first = (r.base.value() >> kFrameShift) + (r.base.page_offset() != 0);
    if (end > frames_) end = frames_;
    for (std::uint64_t f = first; f < end; ++f) {
      clear(used_, f);
      clear(reserved_, f);
    }
  }
  // Anything else wins over RAM, rounded outwards: a frame shared with firmware data is
  // not safe to hand out.
  for (const MemoryRange& r : map) {
    if (r.type == MemoryType::available || r.length == 0) continue;
    std::uint64_t first = r.base.value() >> kFrameShift;
    std::uint64_t end = ((range_end(r.base.value(), r.length) - 1) >> kFrameShift) + 1;
    if (end > frames_) end = frames_;
    for (std::uint64_t f = first; f < end; ++f) {
      set(used_, f);
      set(reserved_, f);
    }
  }
  // Frame 0: the real-mode IVT and BDA, and address 0 is the null pointer under an
  // identity map.
  set(used_, 0);
  set(reserved_, 0);

  recount();
  hint_ = 0;
  return {};
}

void FrameAllocator::recount() {
  std::uint64_t not_reserved = 0, not_used = 0;
  std::size_t words = static_cast<std::size_t>(frames_ / 32);
  for (std::size_t i = 0; i < words; ++i) {
    not_reserved += ones(~reserved_[i]);
    not_used += ones(~used_[i]);
  }
  usable_ = not_reserved;
  free_ = not_used;
}

Status FrameAllocator::reserve(HostPhysAddr base, std::uint64_t length) {
  if (used_ == nullptr) return Error::invalid_argument;
  if (length == 0) return {};
  std::uint64_t last = range_end(base.value(), length) - 1;  // inclusive, cannot overflow
  std::uint64_t first = base.value() >> kFrameShift;
  std::uint64_t end = (last >> kFrameShift) + 1;
  if (end > frames_) end = frames_;
  // Check first so a refused reservation changes nothing.
  for (std::uint64_t f = first; f < end; ++f) {
    if (test(used_, f) && !test(reserved_, f)) return Error::already_exists;
  }
  for (std::uint64_t f = first; f < end; ++f) {
    if (test(reserved_, f)) continue;
    --usable_;
    --free_;  // not reserved and (checked above) not allocated: it was free
    set(used_, f);
    set(reserved_, f);
  }
  return {};
}

Result<HostPhysAddr> FrameAllocator::alloc() {
  if (free_ == 0) return Error::out_of_memory;
  // No frame below hint_ is free, so the scan may start at its word.
  for (std::uint64_t w = hint_ / 32; w < frames_ / 32; ++w) {
    std::uint32_t word = used_[w];
    if (word == ~0u) continue;
    std::uint64_t f = w * 32 + static_cast<std::uint64_t>(std::countr_one(word));
    set(used_, f);
    --free_;
    hint_ = f + 1;
    return HostPhysAddr(f << kFrameShift);
  }
  return Error::out_of_memory;  // unreachable while free_ is right
}

Result<HostPhysAddr> FrameAllocator::alloc_contiguous(std::uint64_t count, std::uint64_t alignment) {
  if (count == 0 || alignment < kPageSize || (alignment & (alignment - 1)) != 0) {
    return Error::invalid_argument;
  }
  if (count > free_) return Error::out_of_memory;
  const std::uint64_t step = alignment >> kFrameShift;
  std::uint64_t cand = align_up_frames(hint_, step);
  // A used frame at j rules out every candidate up to j, so jump past it: each frame is
  // looked at a bounded number of times.
  while (cand < frames_ && frames_ - cand >= count) {
    std::uint64_t j = cand;
    while (j < cand + count && !test(used_, j)) ++j;
    if (j == cand + count) {
      for (std::uint64_t f = cand; f < cand + count; ++f) set(used_, f);
      free_ -= count;
      if (cand == hint_) hint_ = cand + count;
      return HostPhysAddr(cand << kFrameShift);
    }
    cand = align_up_frames(j + 1, step);
  }
  return Error::out_of_memory;
}

Status FrameAllocator::check_allocated(std::uint64_t f) const {
  if (f >= frames_ || test(reserved_, f)) return Error::invalid_argument;
  if (!test(used_, f)) return Error::not_found;  // double free
  return {};
}

Status FrameAllocator::free(HostPhysAddr frame) { return free_contiguous(frame, 1); }

Status FrameAllocator::free_contiguous(HostPhysAddr base, std::uint64_t count) {
  if (used_ == nullptr || count == 0 || !base.is_aligned(kPageSize)) return Error::invalid_argument;
  std::uint64_t first = base.value() >> kFrameShift;
  if (first >= frames_ || frames_ - first < count) return Error::invalid_argument;
  for (std::uint64_t f = first; f < first + count; ++f) HV_TRY(check_allocated(f));
  for (std::uint64_t f = first; f < first + count; ++f) clear(used_, f);
  free_ += count;
  if (first < hint_) hint_ = first;
  return {};
}

bool FrameAllocator::is_free(HostPhysAddr pa) const {
  std::uint64_t f = pa.value() >> kFrameShift;
  return f < frames_ && !test(used_, f);
}

bool FrameAllocator::is_reserved(HostPhysAddr pa) const {
  std::uint64_t f = pa.value() >> kFrameShift;
  return f >= frames_ || test(reserved_, f);
}

bool FrameAllocator::is_allocated(HostPhysAddr pa) const {
  std::uint64_t f = pa.value() >> kFrameShift;
  return f < frames_ && test(used_, f) && !test(reserved_, f);
}

namespace {

Status reserve_string(FrameAllocator& fa, const char* s) {
  if (s == nullptr) return {};
  std::uint64_t n = 1;  // with the terminating NUL
  while (s[n - 1] != '\0') ++n;
  return fa.reserve(HostPhysAddr(reinterpret_cast<std::uintptr_t>(s)), n);
}

}  // namespace

Status init_from_boot(FrameAllocator& fa, std::span<std::uint32_t> storage, const BootInfo& boot) {
  MemoryRange map[BootInfo::kMaxRanges];
  unsigned n = boot.range_count < BootInfo::kMaxRanges ? boot.range_count : BootInfo::kMaxRanges;
  for (unsigned i = 0; i < n; ++i) {
    map[i].base = HostPhysAddr(boot.ranges[i].base);
    map[i].length = boot.ranges[i].length;
    map[i].type = static_cast<MemoryType>(boot.ranges[i].type);
  }
  HV_TRY(fa.init(storage, std::span<const MemoryRange>(map, n)));
  if (boot.kernel_end > boot.kernel_start) {
    HV_TRY(fa.reserve(HostPhysAddr(boot.kernel_start), boot.kernel_end - boot.kernel_start));
  }
  unsigned mods = boot.module_count < BootInfo::kMaxModules ? boot.module_count : BootInfo::kMaxModules;
  for (unsigned i = 0; i < mods; ++i) {
    const BootModule& m = boot.modules[i];
    if (m.end > m.start) HV_TRY(fa.reserve(HostPhysAddr(m.start), m.end - m.start));
    HV_TRY(reserve_string(fa, m.cmdline));
  }
  return reserve_string(fa, boot.cmdline);
}

}  // namespace hvlab::mem
