#pragma once
// Emulation every technique needs the same way, once: port I/O and INS/OUTS through the
// Board's bus, HLT, and the architectural checks of control-register writes. A back end
// only fills the Event's typed payload (e.io, e.cr) from its own mechanism (a decoded
// instruction, an exit qualification, a KVM exit), and these handlers do the rest.

#include <cstdint>

#include "common/vmm/dispatcher.hpp"
#include "common/vmm/event.hpp"
#include "common/vmm/vcpu.hpp"

namespace hvlab::vmm {

class Machine;

/// Elements one INS/OUTS event moves at most; a longer REP resumes the instruction, which
/// comes back for the rest (a huge ECX cannot hold the monitor).
inline constexpr std::uint32_t kMaxStringElementsPerEvent = 4096;

/// Reason::io_instruction: IN/OUT merge into or write the low e.io.size bytes of EAX; INS/OUTS
/// move elements between the port and guest-linear memory (e.io.linear, then EDI/ESI step by
/// the size, backwards with EFLAGS.DF), counting ECX down for REP. A guest page fault on an
/// element is raised where the CPU would raise it. With e.io.data set (a back end that moves
/// the data itself, such as KVM) it moves e.io.count elements between that buffer and the
/// port instead. Stops when the guest asked to exit.
Action emulate_io(Machine& m, VCpu& vcpu, const Event& e);

/// Reason::mmio, for a back end that carries the data (e.memory.data, e.memory.size bytes at
/// e.memory.physical): a read fills the buffer from the device on the MMIO bus, a write sends
/// it there; the back end completes the instruction. An address no device claims is neither
/// RAM nor a device: the guest is contained, the address named. emulate_mmio() (mmio.hpp)
/// comes here for an Event that carries its data.
Action emulate_mmio_buffered(Machine& m, VCpu& vcpu, const Event& e);

/// Reason::mmio and device pages: see mmio.hpp.
Action emulate_mmio(Machine& m, VCpu& vcpu, const Event& e);

/// Reason::hlt: the HLT completes and the vCPU sleeps until the Board finds it an interrupt.
Action emulate_hlt(Machine& m, VCpu& vcpu, const Event& e);

/// The #GP(0) conditions of MOV to CR0 (SDM vol. 2 MOV CR): PG without PE, NW without CD,
/// and bits 63:32 (none in 32-bit mode).
bool cr0_write_faults(std::uint32_t value);
/// The value LMSW makes of CR0: it loads PE, MP, EM and TS, and can set PE but never clear it.
std::uint32_t cr0_after_lmsw(std::uint32_t cr0, std::uint16_t source);

/// The register of a CrAccess (0 EAX ... 7 EDI, SDM table 28-3's encoding).
std::uint32_t& gpr(VCpu& vcpu, unsigned index);

}  // namespace hvlab::vmm
