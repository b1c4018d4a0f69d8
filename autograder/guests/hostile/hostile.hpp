#pragma once
// Shared pieces of the hostile guests: small kernels that each try ONE way out of their
// virtual machine, for monitors to contain. Each announces on COM1, in KTAP, what it is
// about to attempt before doing it, so a monitor's report can be matched to the attempt.
// Run bare, nothing contains them: the write lands (or vanishes), the flood floods, the
// spin spins, the triple fault resets the machine.

#include <cstdint>

namespace hvlab::hostile {

/// Prints the KTAP header and "# hostile_<name>: attempting <what>".
void announce(const char* name, const char* what);
/// The same line without the header, for a guest that printed its header already.
void announce_more(const char* name, const char* what);
/// Prints that the attempt ran to completion and returns the exit status to use.
int completed(const char* name, const char* detail);

/// A page directory of 4 MiB pages identity-mapping the first 64 MiB (needs CR4.PSE).
std::uint32_t* identity_page_directory();
/// CR4.PSE, CR3 = pd, CR0.PG.
void enable_paging(std::uint32_t* pd);
/// A 4 MiB PDE (present, writable, supervisor) for physical `pa`.
constexpr std::uint32_t large_pde(std::uint32_t pa) { return (pa & 0xffc00000u) | 0x83u; }

}  // namespace hvlab::hostile
