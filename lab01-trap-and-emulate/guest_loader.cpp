#include "lab01-trap-and-emulate/guest_loader.hpp"

#include "common/boot/multiboot.hpp"

namespace hvlab::lab01 {

namespace {

// ELF32 (System V gABI, i386 supplement), only the fields the loader reads.
struct Elf32Header {
  unsigned char ident[16];
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

bool load_elf32(const void* image, std::size_t size, mem::GuestMemory& guest, LoadedGuest* out, const char** why) {
  auto fail = [&](const char* w) {
    *why = w;
    return false;
  };
  const auto* bytes = static_cast<const unsigned char*>(image);
  if (image == nullptr || size < sizeof(Elf32Header)) return fail("module too small to be an ELF file");
  Elf32Header h;
  __builtin_memcpy(&h, bytes, sizeof h);
  if (h.ident[0] != 0x7f || h.ident[1] != 'E' || h.ident[2] != 'L' || h.ident[3] != 'F')
    return fail("module is not an ELF file (bad magic)");
  if (h.ident[4] != 1 || h.ident[5] != 1) return fail("module is not a 32-bit little-endian ELF file");
  if (h.type != kEtExec || h.machine != kEm386) return fail("module is not an i386 executable");
  if (h.phentsize != sizeof(Elf32Phdr) || h.phnum == 0 || h.phnum > 64) return fail("bad ELF program header table");
  if (h.phoff > size || std::uint64_t{h.phnum} * sizeof(Elf32Phdr) > size - h.phoff)
    return fail("ELF program headers lie outside the module");

  LoadedGuest g;
  g.image_start = 0xffffffffu;
  bool entry_loaded = false;
  unsigned loads = 0;
  for (unsigned i = 0; i < h.phnum; ++i) {
    Elf32Phdr p;
    __builtin_memcpy(&p, bytes + h.phoff + i * sizeof(Elf32Phdr), sizeof p);
    if (p.type != kPtLoad || p.memsz == 0) continue;
    if (p.filesz > p.memsz) return fail("ELF segment has filesz > memsz");
    if (p.offset > size || p.filesz > size - p.offset) return fail("ELF segment lies outside the module");
    if (!guest.contains(GuestPhysAddr(p.paddr), p.memsz))
      return fail("ELF segment does not fit in the guest's memory");
    if (!guest.copy_in(GuestPhysAddr(p.paddr), bytes + p.offset, p.filesz) ||
        !guest.fill(GuestPhysAddr(p.paddr + p.filesz), 0, p.memsz - p.filesz))
      return fail("could not copy an ELF segment");
    if (p.paddr < g.image_start) g.image_start = p.paddr;
    if (p.paddr + p.memsz > g.image_end) g.image_end = p.paddr + p.memsz;
    // Paging is off at entry, so the entry point is taken against the physical addresses.
    if (h.entry >= p.paddr && h.entry - p.paddr < p.memsz) entry_loaded = true;
    ++loads;
  }
  if (loads == 0) return fail("ELF file has no loadable segment");
  if (!entry_loaded) return fail("ELF entry point is outside every loaded segment");
  g.entry = h.entry;
  *out = g;
  return true;
}

std::uint32_t write_multiboot_info(mem::GuestMemory& guest, std::uint64_t ram_bytes, const char* cmdline) {
  using namespace multiboot;
  const std::uint32_t info_at = kMultibootInfoGpa, mmap_at = info_at + 0x100, cmd_at = info_at + 0x200,
                      name_at = info_at + 0xf00;
  constexpr std::uint32_t kCmdMax = 0xd00;

  MmapEntry map[3] = {
      {20, 0, 0x9fc00, 1},
      {20, 0xf0000, 0x10000, 2},
      {20, 0x100000, ram_bytes - 0x100000, 1},
  };
  bool ok = guest.copy_in(GuestPhysAddr(mmap_at), map, sizeof map).ok();

  std::uint32_t n = 0;
  while (cmdline && cmdline[n] && n + 1 < kCmdMax) ++n;
  ok = ok && guest.copy_in(GuestPhysAddr(cmd_at), cmdline ? cmdline : "", n).ok();
  ok = ok && guest.fill(GuestPhysAddr(cmd_at + n), 0, 1).ok();
  static const char kName[] = "hvlab lab01 trap-and-emulate monitor";
  ok = ok && guest.copy_in(GuestPhysAddr(name_at), kName, sizeof kName).ok();

  Info info{};
  info.flags = info_flags::MEMORY | info_flags::CMDLINE | info_flags::MMAP | (1u << 9);
  info.mem_lower = 639;
  info.mem_upper = static_cast<std::uint32_t>((ram_bytes - 0x100000) >> 10);
  info.cmdline = cmd_at;
  info.mmap_addr = mmap_at;
  info.mmap_length = sizeof map;
  info.boot_loader_name = name_at;
  ok = ok && guest.copy_in(GuestPhysAddr(info_at), &info, sizeof info).ok();
  return ok ? info_at : 0;
}

}  // namespace hvlab::lab01
