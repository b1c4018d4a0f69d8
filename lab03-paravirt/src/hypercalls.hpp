#pragma once
// The hypercalls: one table generated from the ABI's list (HVLAB_PV_HYPERCALLS), one
// function per call, one entry point for the kit's Dispatcher.
//
//   Event (reason hypercall, EAX = number)  -- the back end made it from INT 0x82
//     -> handle_hypercall                   the arguments from EBX, ECX, EDX, ESI, EDI
//     -> run_hypercall(nr, args)            an unknown number: -ENOSYS
//     -> hc_<name>(call)                    validates every argument, then acts
//     <- EAX = the result, EIP past the trap
//
// Every argument is the guest's and is checked: pointers (guest_access.hpp), counts and
// lengths against the ABI's limits, selectors, addresses below the monitor's area. A bad
// argument is an error code, never a fault in the monitor.

#include <cstdint>

#include "common/vmm/dispatcher.hpp"
#include "common/vmm/event.hpp"
#include "lab03-paravirt/abi/hvlab_pv.h"

namespace hvlab::lab03 {

class PvMachine;

/// The longest console_write, in bytes.
inline constexpr std::uint32_t kMaxConsoleWrite = 4096;
/// Refusals recorded as trace notes (each "refused" note names the call and the error);
/// the rest are counted only.
inline constexpr std::uint32_t kRefusalNotes = 64;

/// The ABI's name of hypercall `nr` ("mmu_update"), or "unknown".
const char* hypercall_name(std::uint32_t nr);

/// Runs hypercall `nr` with `args` (arguments 1 to 6) as if the guest had called it:
/// validation, the effect, the counters. `in_multicall` refuses a nested multicall.
/// Returns the value for EAX.
int run_hypercall(PvMachine& m, std::uint32_t nr, const std::uint32_t (&args)[6], bool in_multicall = false);

/// Reason::hypercall: EAX names the call, EBX..EDI carry its arguments, the result goes to
/// EAX and the guest continues after the trap (exercise e1).
vmm::Action handle_hypercall(vmm::Machine& m, vmm::VCpu& vcpu, const vmm::Event& e);

/// Puts handle_hypercall in the dispatcher (only ever a PvMachine's), noted for a debugger on the way
/// (vmm::g_debug's hypercall ring).
void install_hypercall_handler(vmm::Dispatcher& d);

}  // namespace hvlab::lab03
