// Loading a guest as a multiboot loader would, over guest memory the test owns.

#include "common/vmm/guest_loader.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/boot/multiboot.hpp"

namespace hvlab::vmm {
namespace {

std::vector<unsigned char> tiny_elf() {
  std::vector<unsigned char> f(0x100, 0);
  const unsigned char ident[] = {0x7f, 'E', 'L', 'F', 1, 1, 1};
  std::memcpy(f.data(), ident, sizeof ident);
  auto put16 = [&](std::size_t o, std::uint16_t v) { std::memcpy(&f[o], &v, 2); };
  auto put32 = [&](std::size_t o, std::uint32_t v) { std::memcpy(&f[o], &v, 4); };
  put16(16, 2);          // ET_EXEC
  put16(18, 3);          // EM_386
  put32(20, 1);
  put32(24, 0x100004);   // entry
  put32(28, 52);         // phoff
  put16(42, 32);         // phentsize
  put16(44, 1);          // phnum
  put32(52 + 0, 1);      // PT_LOAD
  put32(52 + 4, 0x80);   // offset
  put32(52 + 8, 0x100000);
  put32(52 + 12, 0x100000);
  put32(52 + 16, 8);     // filesz
  put32(52 + 20, 24);    // memsz
  for (int i = 0; i < 8; ++i) f[0x80 + i] = static_cast<unsigned char>(0xa0 + i);
  return f;
}

TEST(Loader, LoadsSegmentsAndZeroesBss) {
  std::vector<unsigned char> ram(2 << 20, 0xcc);
  mem::GuestMemory m;
  ASSERT_TRUE(m.add_region(GuestPhysAddr(0), ram.size(), ram.data()).ok());
  auto elf = tiny_elf();
  char why[64] = "";
  auto r = load_elf32(m, elf.data(), elf.size(), kMultibootInfoBase, kMultibootInfoEnd, why, sizeof why);
  ASSERT_TRUE(r.ok()) << why;
  EXPECT_EQ(r.value().entry, 0x100004u);
  EXPECT_EQ(ram[0x100000], 0xa0);
  EXPECT_EQ(ram[0x100007], 0xa7);
  EXPECT_EQ(ram[0x100008], 0);
  EXPECT_EQ(ram[0x100017], 0);
  EXPECT_EQ(ram[0x100018], 0xcc);
  elf[1] = 'X';
  EXPECT_EQ(load_elf32(m, elf.data(), elf.size(), 0, 0, why, sizeof why).error(), Error::invalid_argument);
  EXPECT_STREQ(why, "not an ELF file");
}

TEST(Loader, RefusesAnEntryPointOutsideTheImage) {
  std::vector<unsigned char> ram(2 << 20);
  mem::GuestMemory m;
  ASSERT_TRUE(m.add_region(GuestPhysAddr(0), ram.size(), ram.data()).ok());
  auto elf = tiny_elf();
  const std::uint32_t entry = 0x180000;  // past the segment's 24 bytes
  std::memcpy(&elf[24], &entry, 4);
  char why[80] = "";
  EXPECT_EQ(load_elf32(m, elf.data(), elf.size(), 0, 0, why, sizeof why).error(), Error::invalid_argument);
  EXPECT_STREQ(why, "the ELF entry point is outside every loaded segment");
}

TEST(Loader, RefusesTruncatedImagesAndOverlaps) {
  std::vector<unsigned char> ram(2 << 20);
  mem::GuestMemory m;
  ASSERT_TRUE(m.add_region(GuestPhysAddr(0), ram.size(), ram.data()).ok());
  auto elf = tiny_elf();
  char why[80] = "";
  EXPECT_EQ(load_elf32(m, elf.data(), 60, 0, 0, why, sizeof why).error(), Error::invalid_argument);
  EXPECT_EQ(load_elf32(m, elf.data(), 0x84, 0, 0, why, sizeof why).error(), Error::invalid_argument);
  EXPECT_STREQ(why, "a segment runs past the end of the file");
  // The boot information's place may not be overwritten by the image.
  EXPECT_EQ(load_elf32(m, elf.data(), elf.size(), 0x100000, 0x100010, why, sizeof why).error(), Error::fault);
  EXPECT_STREQ(why, "a segment overlaps the boot information");
}

TEST(Loader, RefusesSegmentsOutsideRam) {
  std::vector<unsigned char> ram(1 << 20);  // the segment at 1 MiB is past the end
  mem::GuestMemory m;
  ASSERT_TRUE(m.add_region(GuestPhysAddr(0), ram.size(), ram.data()).ok());
  auto elf = tiny_elf();
  char why[64] = "";
  EXPECT_EQ(load_elf32(m, elf.data(), elf.size(), 0, 0, why, sizeof why).error(), Error::fault);
}

TEST(Loader, MultibootInformationParsesBack) {
  std::vector<unsigned char> ram(1 << 20);
  mem::GuestMemory m;
  ASSERT_TRUE(m.add_region(GuestPhysAddr(0), ram.size(), ram.data()).ok());
  auto info_gpa = build_multiboot_info(m, 32ull << 20, "boot/suite.elf first=3 nonce=ab12");
  ASSERT_TRUE(info_gpa.ok());
  // The guest's own parser, with guest-physical addresses rebased into our buffer.
  multiboot::Info info;
  std::memcpy(&info, ram.data() + info_gpa.value(), sizeof info);
  EXPECT_EQ(info.mem_upper, 31u * 1024);
  EXPECT_STREQ(reinterpret_cast<const char*>(ram.data() + info.cmdline), "boot/suite.elf first=3 nonce=ab12");
  EXPECT_EQ(info.flags & 0x45u, 0x45u);  // MEMORY, CMDLINE, MMAP
  // Walk the memory map the way a guest does: each entry's size does not count itself.
  std::uint64_t available = 0;
  unsigned entries = 0;
  for (std::uint32_t off = 0; off < info.mmap_length; ++entries) {
    multiboot::MmapEntry e;
    std::memcpy(&e, ram.data() + info.mmap_addr + off, sizeof e);
    if (e.type == 1) available += e.length;
    off += e.size + 4;
  }
  EXPECT_EQ(entries, 4u);
  EXPECT_EQ(available, 0x9fc00u + (31ull << 20));
}

TEST(Loader, ModulesAreCopiedAboveTheImageAndListed) {
  std::vector<unsigned char> ram(4 << 20, 0xcc);
  mem::GuestMemory m;
  ASSERT_TRUE(m.add_region(GuestPhysAddr(0), ram.size(), ram.data()).ok());
  const char a[] = "first module", b[] = "2";
  const GuestModule mods[] = {{a, sizeof a - 1, "boot/a.bin x=1"}, {b, 1, ""}};
  std::uint32_t end = 0;
  auto info = build_multiboot_info(m, ram.size(), "boot/kernel", mods, 0x123456, &end);
  ASSERT_TRUE(info.ok());
  multiboot::Info mi;
  std::memcpy(&mi, &ram[info.value()], sizeof mi);
  ASSERT_TRUE(mi.flags & multiboot::info_flags::MODS);
  ASSERT_EQ(mi.mods_count, 2u);
  multiboot::Module list[2];
  std::memcpy(list, &ram[mi.mods_addr], sizeof list);
  EXPECT_EQ(list[0].mod_start, 0x124000u);  // page-aligned above where it was asked
  EXPECT_EQ(list[0].mod_end - list[0].mod_start, sizeof a - 1);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&ram[list[0].mod_start]), sizeof a - 1), "first module");
  EXPECT_STREQ(reinterpret_cast<char*>(&ram[list[0].string]), "boot/a.bin x=1");
  EXPECT_EQ(list[1].mod_start % 4096, 0u);
  EXPECT_GT(list[1].mod_start, list[0].string);
  EXPECT_EQ(ram[list[1].mod_start], '2');
  EXPECT_STREQ(reinterpret_cast<char*>(&ram[list[1].string]), "");
  EXPECT_GE(end, list[1].string + 1);
  // Modules that do not fit in RAM are refused.
  const GuestModule big[] = {{ram.data(), 3 << 20, ""}};
  EXPECT_EQ(build_multiboot_info(m, ram.size(), "", big, 0x200000).error(), Error::fault);
}

}  // namespace
}  // namespace hvlab::vmm
