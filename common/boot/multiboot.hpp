#pragma once
// Multiboot1 information structure (Multiboot Specification 0.6.96, section 3.3) and the
// kernel's parsed view of it.

#include <cstdint>

namespace hvlab::multiboot {

inline constexpr std::uint32_t kBootloaderMagic = 0x2BADB002;

namespace info_flags {
inline constexpr std::uint32_t MEMORY = 1u << 0, BOOT_DEVICE = 1u << 1, CMDLINE = 1u << 2, MODS = 1u << 3,
                               MMAP = 1u << 6;
}

struct Info {
  std::uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
  std::uint32_t syms[4];
  std::uint32_t mmap_length, mmap_addr;
  std::uint32_t drives_length, drives_addr, config_table, boot_loader_name, apm_table;
  std::uint32_t vbe[4];  // vbe_control_info, vbe_mode_info, then four 16-bit fields
};
static_assert(sizeof(Info) == 88);

struct Module {
  std::uint32_t mod_start, mod_end, string, reserved;
};
static_assert(sizeof(Module) == 16);

/// One memory-map entry; `size` does not count itself, so the next entry is at +size+4.
struct [[gnu::packed]] MmapEntry {
  std::uint32_t size;
  std::uint64_t base_addr, length;
  std::uint32_t type;  // 1 = available RAM
};
static_assert(sizeof(MmapEntry) == 24);

}  // namespace hvlab::multiboot

namespace hvlab {

/// A range of physical memory from the boot loader's map.
struct BootMemoryRange {
  std::uint64_t base, length;
  std::uint32_t type;  ///< multiboot type: 1 available, 2 reserved, 3 ACPI, ...
};

struct BootModule {
  std::uint32_t start, end;  ///< physical, [start, end)
  const char* cmdline;       ///< the module's string: its path, then its arguments
};

/// What the kernel learns at boot, parsed once from the multiboot information.
struct BootInfo {
  static constexpr unsigned kMaxRanges = 32, kMaxModules = 16;
  const char* cmdline = "";
  std::uint32_t mem_lower_kib = 0, mem_upper_kib = 0;
  BootMemoryRange ranges[kMaxRanges]{};
  unsigned range_count = 0;
  BootModule modules[kMaxModules]{};
  unsigned module_count = 0;
  std::uint32_t kernel_start = 0, kernel_end = 0;  ///< the kernel image, physical

  /// The value of `key=value` on the kernel command line, copied into buf; false if absent.
  bool cmdline_option(const char* key, char* buf, unsigned size) const;
  /// The value of `key=N` as a decimal number (see find_unsigned_option).
  bool cmdline_unsigned(const char* key, std::uint32_t* value, bool* malformed = nullptr) const;
};

/// Parses the multiboot information at `info` (host-testable: the pointer may be any
/// buffer whose embedded addresses are valid pointers in this address space).
BootInfo parse_multiboot(std::uint32_t magic, const multiboot::Info* info);

/// Finds `key=value` in a space-separated option string (host-testable).
bool find_option(const char* options, const char* key, char* buf, unsigned size);
/// Finds `key=N` with N a decimal number below 2^32. False when the key is absent, and
/// also when its value is not such a number, which then sets `*malformed` (if given) so a
/// caller can say so rather than silently use a default.
bool find_unsigned_option(const char* options, const char* key, std::uint32_t* value, bool* malformed = nullptr);

}  // namespace hvlab
