#pragma once
// The host's stand-in for the privileged instructions of intrinsics.hpp: a fake machine
// whose state tests set and inspect. Host only.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/arch/intrinsics.hpp"

namespace hvlab::x86::fake {

struct PortAccess {
  std::uint16_t port;
  unsigned size;
  std::uint32_t value;
  bool write;
};

struct Machine {
  std::uint32_t cr0 = cr0::PE | cr0::ET, cr2 = 0, cr3 = 0, cr4 = 0;
  std::uint32_t eflags = eflags::FIXED1;
  DescriptorTableRegister gdtr{}, idtr{};
  std::uint16_t tr = 0, ldtr = 0;
  std::uint64_t tsc = 0;
  std::uint64_t tsc_step = 1;  ///< added on each rdtsc, so time moves
  std::map<std::uint32_t, std::uint64_t> msrs;
  std::map<std::uint32_t, CpuidResult> cpuid_leaves;
  std::map<std::uint16_t, std::uint32_t> port_values;  ///< what in* returns per port (0xff.. default)
  std::vector<PortAccess> port_log;
  std::vector<std::uint32_t> invlpg_log;
  unsigned halts = 0;
};

/// The fake machine behind the host intrinsics (one per process; reset between tests).
Machine& machine();
void reset();

}  // namespace hvlab::x86::fake
