#include "common/vmm/guest_loader.hpp"

#include "common/boot/multiboot.hpp"
#include "common/runtime/format.hpp"
#include "common/runtime/string.hpp"

namespace hvlab::vmm {

namespace {

// ELF32 (System V ABI, i386 supplement): only what a loader reads.
struct Elf32Header {
  std::uint8_t ident[16];
  std::uint16_t type, machine;
  std::uint32_t version, entry, phoff, shoff, flags;
  std::uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
static_assert(sizeof(Elf32Header) == 52);
struct Elf32Phdr {
  std::uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};
static_assert(sizeof(Elf32Phdr) == 32);
constexpr std::uint32_t kPtLoad = 1;
constexpr std::uint16_t kEtExec = 2, kEm386 = 3;

}  // namespace

Result<LoadedImage> load_elf32(mem::GuestMemory& memory, const void* image, std::size_t size,
                               std::uint32_t reserved_lo, std::uint32_t reserved_hi, char* why, unsigned why_size) {
  auto bad = [&](Error e, const char* what) -> Result<LoadedImage> {
    if (why) format(why, why_size, "%s", what);
    return e;
  };
  const auto* bytes = static_cast<const std::uint8_t*>(image);
  if (size < sizeof(Elf32Header)) return bad(Error::invalid_argument, "image shorter than an ELF header");
  Elf32Header h;
  rt::mem_copy(&h, bytes, sizeof h);
  if (h.ident[0] != 0x7f || h.ident[1] != 'E' || h.ident[2] != 'L' || h.ident[3] != 'F')
    return bad(Error::invalid_argument, "not an ELF file");
  if (h.ident[4] != 1 || h.ident[5] != 1 || h.type != kEtExec || h.machine != kEm386)
    return bad(Error::invalid_argument, "not a 32-bit little-endian x86 executable");
  if (h.phentsize != sizeof(Elf32Phdr) || h.phoff > size || h.phnum > (size - h.phoff) / sizeof(Elf32Phdr))
    return bad(Error::invalid_argument, "program headers out of the file");

  LoadedImage out;
  out.entry = h.entry;
  out.lowest = 0xffffffffu;
  for (unsigned i = 0; i < h.phnum; ++i) {
    Elf32Phdr p;
    rt::mem_copy(&p, bytes + h.phoff + i * sizeof p, sizeof p);
    if (p.type != kPtLoad || p.memsz == 0) continue;
    if (p.filesz > p.memsz || p.offset > size || p.filesz > size - p.offset)
      return bad(Error::invalid_argument, "a segment runs past the end of the file");
    const std::uint64_t lo = p.paddr, hi = std::uint64_t{p.paddr} + p.memsz;
    if (lo < reserved_hi && hi > reserved_lo) return bad(Error::fault, "a segment overlaps the boot information");
    if (!memory.contains(GuestPhysAddr(lo), p.memsz)) return bad(Error::fault, "a segment lies outside guest RAM");
    HV_TRY(memory.copy_in(GuestPhysAddr(lo), bytes + p.offset, p.filesz));
    HV_TRY(memory.fill(GuestPhysAddr(lo + p.filesz), 0, p.memsz - p.filesz));
    if (lo < out.lowest) out.lowest = static_cast<std::uint32_t>(lo);
    if (hi > out.highest) out.highest = static_cast<std::uint32_t>(hi);
  }
  if (out.highest == 0) return bad(Error::invalid_argument, "no loadable segment");
  // Paging is off at a multiboot entry, so the entry point is a physical address and must
  // lie in what was loaded: anything else would run whatever the memory held.
  bool entry_loaded = false;
  for (unsigned i = 0; i < h.phnum; ++i) {
    Elf32Phdr p;
    rt::mem_copy(&p, bytes + h.phoff + i * sizeof p, sizeof p);
    if (p.type == kPtLoad && h.entry >= p.paddr && h.entry - p.paddr < p.memsz) entry_loaded = true;
  }
  if (!entry_loaded) return bad(Error::invalid_argument, "the ELF entry point is outside every loaded segment");
  return out;
}

Result<std::uint32_t> build_multiboot_info(mem::GuestMemory& memory, std::uint64_t ram_bytes, const char* cmdline) {
  return build_multiboot_info(memory, ram_bytes, cmdline, {}, 0);
}

Result<std::uint32_t> build_multiboot_info(mem::GuestMemory& memory, std::uint64_t ram_bytes, const char* cmdline,
                                           std::span<const GuestModule> modules, std::uint32_t load_at,
                                           std::uint32_t* end) {
  namespace mb = multiboot;
  constexpr std::uint32_t kInfo = kMultibootInfoBase, kMmap = kInfo + 0x100, kMods = kInfo + 0x180,
                          kName = kInfo + 0x200, kCmdline = kInfo + 0x300;
  static_assert(kMods + kMaxGuestModules * sizeof(multiboot::Module) <= kName);
  if (modules.size() > kMaxGuestModules) return Error::invalid_argument;
  constexpr char kLoaderName[] = "hvlab monitor";

  // Memory map: low RAM up to the EBDA, the BIOS area reserved, RAM from 1 MiB.
  const mb::MmapEntry map[] = {
      {20, 0, 0x9fc00, 1},
      {20, 0x9fc00, 0x400, 2},
      {20, 0xf0000, 0x10000, 2},
      {20, 0x100000, ram_bytes - 0x100000, 1},
  };
  HV_TRY(memory.copy_in(GuestPhysAddr(kMmap), map, sizeof map));
  HV_TRY(memory.copy_in(GuestPhysAddr(kName), kLoaderName, sizeof kLoaderName));
  std::size_t len = rt::str_length(cmdline);
  const std::size_t room = kMultibootInfoEnd - kCmdline - 1;
  if (len > room) len = room;
  HV_TRY(memory.copy_in(GuestPhysAddr(kCmdline), cmdline, len));
  HV_TRY(memory.fill(GuestPhysAddr(kCmdline + len), 0, 1));

  // Modules: bytes page-aligned from load_at, each string just after its bytes.
  std::uint64_t at = (std::uint64_t{load_at} + kPageSize - 1) & ~std::uint64_t{kPageSize - 1};
  mb::Module mods[kMaxGuestModules]{};
  for (std::size_t i = 0; i < modules.size(); ++i) {
    const GuestModule& m = modules[i];
    const std::size_t slen = rt::str_length(m.cmdline ? m.cmdline : "");
    if (at + m.size + slen + 1 > ram_bytes) return Error::fault;
    HV_TRY(memory.copy_in(GuestPhysAddr(at), m.data, m.size));
    const std::uint64_t str = at + m.size;
    HV_TRY(memory.copy_in(GuestPhysAddr(str), m.cmdline ? m.cmdline : "", slen + 1));
    mods[i] = {static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(at + m.size), static_cast<std::uint32_t>(str), 0};
    at = (str + slen + 1 + kPageSize - 1) & ~std::uint64_t{kPageSize - 1};
  }
  if (!modules.empty()) HV_TRY(memory.copy_in(GuestPhysAddr(kMods), mods, modules.size() * sizeof mods[0]));
  if (end) *end = static_cast<std::uint32_t>(at);

  mb::Info info{};
  constexpr std::uint32_t kBootLoaderName = 1u << 9;
  info.flags = mb::info_flags::MEMORY | mb::info_flags::CMDLINE | mb::info_flags::MMAP | kBootLoaderName;
  if (!modules.empty()) {
    info.flags |= mb::info_flags::MODS;
    info.mods_count = static_cast<std::uint32_t>(modules.size());
    info.mods_addr = kMods;
  }
  info.mem_lower = 0x9fc00 / 1024;
  info.mem_upper = static_cast<std::uint32_t>((ram_bytes - 0x100000) / 1024);
  info.cmdline = kCmdline;
  info.mmap_addr = kMmap;
  info.mmap_length = sizeof map;
  info.boot_loader_name = kName;
  HV_TRY(memory.write(GuestPhysAddr(kInfo), info));
  return kInfo;
}

}  // namespace hvlab::vmm
