#pragma once
// Putting the guest into its memory: the ELF32 image from the multiboot module, and the
// multiboot information a boot loader would have left for it (Multiboot 0.6.96, 3.3).
// Every field of the image is checked before it is used: a corrupt module must give a
// clear message, never a fault in the monitor.

#include <cstddef>
#include <cstdint>

#include "common/memory/guest_memory.hpp"

namespace hvlab::lab01 {

struct LoadedGuest {
  std::uint32_t entry = 0;
  std::uint32_t image_start = 0, image_end = 0;  ///< guest-physical span of the segments
};

/// Loads the ELF32 executable `image` (`size` bytes) into `guest` at its segments'
/// physical addresses. On failure returns false and a reason in *why.
bool load_elf32(const void* image, std::size_t size, mem::GuestMemory& guest, LoadedGuest* out, const char** why);

/// Where the guest's multiboot information goes (low memory, as boot loaders do).
inline constexpr std::uint32_t kMultibootInfoGpa = 0x8000;

/// Writes the multiboot information (memory fields, memory map of the guest's own RAM,
/// command line, loader name) at kMultibootInfoGpa. Returns its guest-physical address.
std::uint32_t write_multiboot_info(mem::GuestMemory& guest, std::uint64_t ram_bytes, const char* cmdline);

}  // namespace hvlab::lab01
