#pragma once
// Distinct address types: mixing a guest-physical with a host-physical address (the classic
// EPT and shadow-paging bug) is a compile error. Arithmetic stays within one type.

#include <compare>
#include <cstdint>

namespace hvlab {

template <typename Tag>
class Address {
 public:
  using value_type = std::uint64_t;
  constexpr Address() = default;
  constexpr explicit Address(value_type v) : v_(v) {}
  constexpr value_type value() const { return v_; }
  constexpr std::uint32_t low32() const { return static_cast<std::uint32_t>(v_); }

  constexpr Address operator+(value_type off) const { return Address(v_ + off); }
  constexpr Address operator-(value_type off) const { return Address(v_ - off); }
  constexpr value_type operator-(Address other) const { return v_ - other.v_; }
  constexpr Address& operator+=(value_type off) { v_ += off; return *this; }
  constexpr auto operator<=>(const Address&) const = default;

  constexpr Address align_down(value_type a) const { return Address(v_ & ~(a - 1)); }
  constexpr Address align_up(value_type a) const { return Address((v_ + a - 1) & ~(a - 1)); }
  constexpr bool is_aligned(value_type a) const { return (v_ & (a - 1)) == 0; }
  constexpr value_type page_offset() const { return v_ & 0xfff; }
  constexpr value_type page_number() const { return v_ >> 12; }

 private:
  value_type v_ = 0;
};

struct GuestPhysTag {};
struct GuestVirtTag {};
struct HostPhysTag {};
struct HostVirtTag {};

using GuestPhysAddr = Address<GuestPhysTag>;  ///< guest-physical (what the guest's page tables hold)
using GuestVirtAddr = Address<GuestVirtTag>;  ///< guest-virtual (what guest instructions use)
using HostPhysAddr = Address<HostPhysTag>;    ///< host-physical (what the real MMU and EPT hold)
using HostVirtAddr = Address<HostVirtTag>;    ///< host-virtual (a pointer in the monitor)

inline constexpr std::uint64_t kPageSize = 4096;

}  // namespace hvlab
