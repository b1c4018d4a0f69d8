#include "lab01-trap-and-emulate/src/descriptors.hpp"

#include "common/memory/address.hpp"
#include "common/runtime/exercise.hpp"
#include "lab01-trap-and-emulate/src/address_space.hpp"

namespace hvlab::lab01 {

x86::SegmentDescriptor deprivilege_descriptor(x86::SegmentDescriptor d) {
  // BEGIN SOLUTION lab01-e8
  if (!d.s) return x86::SegmentDescriptor{};  // TSS, LDT, gates: the monitor emulates them
  bool code = (d.type & 0x8) != 0;
  bool expand_down = !code && (d.type & 0x4) != 0;
  std::uint32_t base = d.base();
  if (expand_down || base > kGuestLinearLimit) return x86::SegmentDescriptor{};
  // The segment must end below the monitor (the Xen/VMware IA-32 trick: the monitor sits
  // above every guest segment limit, so ring 1 cannot address it).
  std::uint32_t max_limit = kGuestLinearLimit - base;
  if (d.limit() > max_limit) {
    std::uint32_t l = d.g ? ((max_limit + 1) >> 12) - 1 : max_limit;
    if (!d.g && l > 0xfffff) {  // byte granularity cannot express it: switch to pages
      d.g = 1;
      l = ((max_limit + 1) >> 12) - 1;
    }
    d.limit_low = l & 0xffff;
    d.limit_high = (l >> 16) & 0xf;
  }
  if (d.dpl == 0) d.dpl = 1;
  d.type |= 1;  // accessed already: the CPU need not write the shadow copy
  return d;
  // STUB: return d;
  // END SOLUTION
}

namespace {

/// The real descriptor for a guest's: deprivileged, accessed (the real tables are read-only
/// while the guest runs, so the CPU must never need to set that bit), and ring-3 code not
/// present while the guest kernel runs.
/// Whether `n` descriptors at `a` are those of `b`, a 32-bit word at a time (this runs for
/// the whole guest GDT at every entry: most of the time nothing changed).
bool same(const unsigned char* a, const std::uint64_t* b, unsigned n) {
  const auto* w = reinterpret_cast<const unsigned char*>(b);
  for (unsigned i = 0; i < n * 8; i += 4) {
    std::uint32_t x, y;
    __builtin_memcpy(&x, a + i, 4);
    __builtin_memcpy(&y, w + i, 4);
    if (x != y) return false;
  }
  return true;
}

x86::SegmentDescriptor shadow_of(std::uint64_t raw, bool hide_user_code) {
  x86::SegmentDescriptor d = deprivilege_descriptor(x86::SegmentDescriptor::from(raw));
  if (d.s) d.type |= 1;
  if (hide_user_code && d.s && (d.type & 0x8) && d.dpl == 3) d.p = 0;
  return d;
}

}  // namespace

ShadowDescriptors::ShadowDescriptors(CpuTables& tables) : t_(tables) {
  namespace dt = x86::desc_type;
  gdt_raw_[1] = x86::SegmentDescriptor::make(0, 0xffffffff, dt::kCodeRX, 0).raw();
  gdt_raw_[2] = x86::SegmentDescriptor::make(0, 0xffffffff, dt::kDataRW, 0).raw();
  t_.gdt[1] = shadow_of(gdt_raw_[1], false);
  t_.gdt[2] = shadow_of(gdt_raw_[2], false);
}

bool ShadowDescriptors::mirror(x86::SegmentDescriptor* real, std::uint64_t* raw, unsigned* in_use, unsigned first,
                               std::uint32_t base, unsigned count, bool all, bool hide_user_code, GuestReader& guest) {
  unsigned upto = count > *in_use ? count : *in_use;
  std::uint64_t batch[64];
  for (unsigned i = first; i < upto;) {
    unsigned k = upto - i < 64 ? upto - i : 64;
    unsigned have = i < count ? (count - i < k ? count - i : k) : 0;
    const unsigned char* src = nullptr;
    if (have) {
      // Usually in place: the guest's table, a page at a time.
      const std::uint32_t la = base + i * 8u;
      const unsigned in_page = (la & 7) ? 0 : static_cast<unsigned>((kPageSize - (la & 0xfff)) / 8);
      if (in_page && have > in_page) have = k = in_page;
      if (in_page) src = static_cast<const unsigned char*>(guest.view_guest(la, have * 8u));
      if (!src) {
        if (!guest.read_guest(la, batch, have * 8u)) {
          *in_use = upto;  // what was not read keeps its last mirror, and is looked at again
          return false;
        }
        src = reinterpret_cast<const unsigned char*>(batch);
      }
    }
    if (!all && have == k && same(src, raw + i, k)) {
      i += k;
      continue;
    }
    for (unsigned j = 0; j < k; ++j) {
      std::uint64_t r = 0;
      if (j < have) __builtin_memcpy(&r, src + j * 8u, 8);
      if (!all && r == raw[i + j]) continue;
      raw[i + j] = r;
      real[i + j] = r ? shadow_of(r, hide_user_code) : x86::SegmentDescriptor{};
    }
    i += k;
  }
  *in_use = count;
  return true;
}

void ShadowDescriptors::sync(const vmm::VCpu& v, GuestReader& guest) {
  if (!guest_gdt_) return;
  unsigned n = (v.gdtr.limit + 1u) / 8;
  if (n > kGuestSlots) n = kGuestSlots;
  bool hide = v.cpl == 0;
  bool all = !valid_ || hide != hid_user_;
  if (!mirror(t_.gdt, gdt_raw_, &gdt_n_, 1, v.gdtr.base, n, all, hide, guest)) return;
  valid_ = true;
  hid_user_ = hide;
  unsigned ln = ldt_limit_ ? (ldt_limit_ + 1u) / 8 : 0;
  if (ln > kLdtSlots) ln = kLdtSlots;
  (void)mirror(t_.ldt, ldt_raw_, &ldt_n_, 0, ldt_base_, ln, all, hide, guest);
}

const x86::SegmentDescriptor* ShadowDescriptors::real(std::uint16_t sel) const {
  unsigned i = sel >> 3;
  if (sel & 4) return i < kLdtSlots ? &t_.ldt[i] : nullptr;
  return i != 0 && i < kGuestSlots ? &t_.gdt[i] : nullptr;
}

std::uint64_t ShadowDescriptors::raw(std::uint16_t sel) const {
  unsigned i = sel >> 3;
  if (sel & 4) return i < kLdtSlots ? ldt_raw_[i] : 0;
  return i != 0 && i < kGuestSlots ? gdt_raw_[i] : 0;
}

std::uint32_t ShadowDescriptors::segment_base(std::uint16_t sel) const {
  const x86::SegmentDescriptor* d = real(sel);
  return d ? d->base() : 0;
}

bool ShadowDescriptors::guest_segment(std::uint16_t sel, std::uint32_t* base, std::uint32_t* limit) const {
  if (!guest_gdt_) {
    *base = 0, *limit = 0xffffffffu;
    return true;
  }
  auto d = x86::SegmentDescriptor::from(raw(sel));
  if (!d.p || !d.s || (!(d.type & 0x8) && (d.type & 0x4))) return false;
  *base = d.base();
  *limit = d.limit();
  return true;
}

bool ShadowDescriptors::selector_usable(std::uint16_t sel, bool code, bool stack) const {
  if ((sel >> 3) == 0 && !(sel & 4)) return !code && !stack;  // null: only for data registers
  const x86::SegmentDescriptor* d = real(sel);
  if (!d) return false;
  // The access byte alone, from the descriptor's high word (this runs six times an entry).
  const std::uint32_t access = static_cast<std::uint32_t>(d->raw() >> 40) & 0xff;
  const unsigned type = access & 0xf, dpl = (access >> 5) & 3;
  if (!(access & 0x80) || !(access & 0x10)) return false;  // present, code or data
  if (code) return (type & 0x8) && (dpl == (sel & 3u) || (type & 0x4));
  if (stack) return !(type & 0x8) && (type & 0x2) && dpl == (sel & 3u);
  return true;
}

}  // namespace hvlab::lab01
