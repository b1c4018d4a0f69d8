#pragma once
// The few host operations a handler performs on the real machine on the guest's behalf, each
// of which may fault: loading the guest's IA32_TSC_AUX (RDTSCP reads the real one), XCR0. In a
// kernel they catch the #GP (kernel/host_ops.cpp); on the host they consult the fake machine
// of common/arch/fake_intrinsics.hpp, so tests decide which MSRs "exist".

#include <cstdint>

#include "common/runtime/result.hpp"

namespace hvlab::lab04 {

/// WRMSR that reports a #GP as Error::fault instead of taking it.
Status safe_wrmsr(std::uint32_t msr, std::uint64_t value);
/// XSETBV that reports a #GP as Error::fault.
Status safe_xsetbv(std::uint32_t xcr, std::uint64_t value);

}  // namespace hvlab::lab04
