// Host build: the fake machine stands in for the real one.
#include "common/arch/fake_intrinsics.hpp"
#include "lab04-vtx/src/host_ops.hpp"

namespace hvlab::lab04 {

Result<std::uint64_t> safe_rdmsr(std::uint32_t msr) {
  auto& m = x86::fake::machine();
  auto it = m.msrs.find(msr);
  if (it == m.msrs.end()) return Error::fault;
  return it->second;
}

Status safe_xsetbv(std::uint32_t xcr, std::uint64_t value) {
  if (xcr != 0 || !(value & 1)) return Error::fault;
  x86::fake::machine().msrs[0xffff0000u] = value;  // where tests look for XCR0
  return {};
}

}  // namespace hvlab::lab04
