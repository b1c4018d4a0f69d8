#pragma once
// Starting a guest the way a multiboot loader would, for every monitor of the kit (Multiboot Specification 0.6.96):
// its ELF image copied into guest-physical memory, a multiboot information structure
// (memory map, command line) placed in low guest memory, and the entry state of section
// 3.2 (EAX = 0x2BADB002, EBX = the information's address).

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/memory/guest_memory.hpp"
#include "common/runtime/result.hpp"

namespace hvlab::vmm {

struct LoadedImage {
  std::uint32_t entry = 0;
  std::uint32_t lowest = 0, highest = 0;  ///< guest-physical span of the loaded segments
};

/// Copies the PT_LOAD segments of a 32-bit x86 ELF executable into `memory` at their
/// physical addresses (p_paddr) and zeroes the rest of each (the .bss). Error::invalid_argument
/// for anything that is not such an image (the reason in *why), Error::fault for a segment
/// outside guest RAM or overlapping [reserved_lo, reserved_hi).
Result<LoadedImage> load_elf32(mem::GuestMemory& memory, const void* image, std::size_t size,
                               std::uint32_t reserved_lo, std::uint32_t reserved_hi, char* why, unsigned why_size);

/// Where the multiboot information goes in guest memory: one page below the 640 KiB line,
/// away from where kernels linked at 1 MiB load.
inline constexpr std::uint32_t kMultibootInfoBase = 0x1000;
inline constexpr std::uint32_t kMultibootInfoEnd = 0x3000;

/// Writes the information for a guest with `ram_bytes` of RAM from guest-physical 0 and the
/// command line `cmdline`; returns its guest-physical address (the guest's EBX).
Result<std::uint32_t> build_multiboot_info(mem::GuestMemory& memory, std::uint64_t ram_bytes, const char* cmdline);

/// A multiboot module for the guest: its bytes (in the monitor's memory) and its string.
struct GuestModule {
  const void* data = nullptr;
  std::uint32_t size = 0;
  const char* cmdline = "";
};

/// Modules a monitor passes on to its guest, at most.
inline constexpr unsigned kMaxGuestModules = 8;

/// The same with modules (Multiboot 0.6.96 3.3, flag MODS): each is copied into guest RAM
/// from `load_at` upward (page-aligned, its string right after its bytes) and listed. The
/// first free guest-physical address after them goes to *end when given. Error::fault when
/// they do not fit in RAM, Error::invalid_argument for more than kMaxGuestModules.
Result<std::uint32_t> build_multiboot_info(mem::GuestMemory& memory, std::uint64_t ram_bytes, const char* cmdline,
                                           std::span<const GuestModule> modules, std::uint32_t load_at,
                                           std::uint32_t* end = nullptr);

}  // namespace hvlab::vmm
