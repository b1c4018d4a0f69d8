#pragma once
// What a PC BIOS leaves in low memory for the operating system, written by the monitor before
// the guest starts (a multiboot guest gets no BIOS of its own): the BIOS data area at 0x400
// (COM port table, EBDA segment, base memory size, equipment word, text-mode video fields),
// the extended BIOS data area below 640 KiB, and in it the MP floating pointer structure and
// MP configuration table of the Intel MultiProcessor Specification 1.4 (order no. 242016),
// which is how xv6 and other SMP-aware kernels find the local APIC and the I/O APIC.
//
// The MP table describes one processor (the BSP, with the local APIC's ID), an ISA bus, one
// I/O APIC, the ISA interrupts on its pins (IRQ0 on pin 2, the 8259 pair's INTR as ExtINT on
// pin 0: the MP spec's default configuration) and the local APIC's LINT0 (ExtINT) and LINT1
// (NMI). Its IMCR flag is clear: the platform starts in virtual wire mode.

#include <cstdint>

#include "common/devices/io_apic.hpp"
#include "common/devices/local_apic.hpp"
#include "common/memory/guest_memory.hpp"
#include "common/runtime/result.hpp"

namespace hvlab::vmm {

/// The EBDA: 1 KiB just below 640 KiB, which the base memory size (639 KiB) leaves out.
inline constexpr std::uint32_t kEbdaBase = 0x9fc00;
inline constexpr std::uint32_t kEbdaSize = 0x400;
/// The base memory size the BIOS data area reports, in KiB.
inline constexpr std::uint16_t kBaseMemoryKiB = kEbdaBase / 1024;
/// The MP floating pointer (16 bytes) and the configuration table after it, in the EBDA's
/// first KiB where an MP-aware kernel looks first (MP spec 4).
inline constexpr std::uint32_t kMpFloatingPointer = kEbdaBase + 0x10;
inline constexpr std::uint32_t kMpConfigTable = kEbdaBase + 0x20;

/// What the tables describe. Defaults: the platform of common/devices (LAPIC ID 0 version
/// 0x14 at 0xFEE00000, I/O APIC ID 1 version 0x11 at 0xFEC00000, COM1 at 0x3F8, CGA text).
struct PcBiosConfig {
  std::uint8_t lapic_id = 0;  ///< the BSP's APIC ID (not 0xFF, the broadcast ID)
  std::uint8_t lapic_version = dev::LocalApic::kVersion & 0xff;
  std::uint32_t lapic_base = static_cast<std::uint32_t>(dev::LocalApic::kDefaultBase);
  std::uint8_t ioapic_id = dev::IoApic::kDefaultId;  ///< 4 bits, different from lapic_id
  std::uint8_t ioapic_version = dev::IoApic::kVersion & 0xff;
  std::uint32_t ioapic_base = static_cast<std::uint32_t>(dev::IoApic::kDefaultBase);
  std::uint32_t cpu_signature = 0;    ///< the processor entry's CPUID.1:EAX (family, model, stepping)
  std::uint32_t cpu_features = 0;     ///< the processor entry's CPUID.1:EDX
  std::uint16_t com_ports[4] = {0x3f8, 0, 0, 0};  ///< COM1-COM4 base ports; 0: absent
  bool cga_text = true;               ///< a colour text display (equipment word, video fields)
};

/// Where the pieces went (guest-physical), for traces and tests.
struct PcBiosLayout {
  std::uint32_t ebda = 0;
  std::uint32_t mp_floating_pointer = 0;
  std::uint32_t mp_config_table = 0;
  std::uint16_t mp_config_length = 0;  ///< the base table's length in bytes
  std::uint16_t mp_entry_count = 0;
};

/// Writes the BIOS data area (0x400-0x4FF, cleared first), the EBDA (cleared first) and the
/// MP structures into `memory`. Error::invalid_argument for a config the spec does not allow
/// (LAPIC ID 0xFF, I/O APIC ID above 15 or equal to the LAPIC ID); Error::fault if guest RAM
/// does not cover 0x400-0x4FF and the EBDA. Nothing is written unless everything can be.
Result<PcBiosLayout> write_pc_bios_tables(mem::GuestMemory& memory, const PcBiosConfig& config);

}  // namespace hvlab::vmm
