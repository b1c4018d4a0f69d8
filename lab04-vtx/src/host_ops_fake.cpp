// Host build: the fake machine stands in for the real one.
#include "common/arch/fake_intrinsics.hpp"
#include "lab04-vtx/src/host_ops.hpp"

namespace hvlab::lab04 {

Status safe_wrmsr(std::uint32_t msr, std::uint64_t value) {
  x86::fake::machine().msrs[msr] = value;
  return {};
}

Status safe_xsetbv(std::uint32_t xcr, std::uint64_t value) {
  if (xcr != 0 || !(value & 1)) return Error::fault;
  x86::fake::machine().msrs[0xffff0000u] = value;  // where tests look for XCR0
  return {};
}

}  // namespace hvlab::lab04
