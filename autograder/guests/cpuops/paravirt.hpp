#pragma once
// What the paravirtual flavour offers beyond cpuops.hpp, for guests that test the ABI itself
// (the pvabi guest): the hypercall through the hypercall page and the two pages the monitor
// shares with the guest. Only in guests linked with cpuops/paravirt.cpp.

#include <cstdint>

#include "lab03-paravirt/abi/hvlab_pv.h"

namespace hvlab::guest::pv {

/// Calls stub `nr` of the hypercall page with the ABI's registers; returns EAX.
int hypercall(unsigned nr, std::uint32_t a1 = 0, std::uint32_t a2 = 0, std::uint32_t a3 = 0, std::uint32_t a4 = 0,
              std::uint32_t a5 = 0);
volatile hvlab_pv_shared_info& shared();
const hvlab_pv_start_info& start_info();

}  // namespace hvlab::guest::pv
