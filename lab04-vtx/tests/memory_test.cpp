// EPT construction and the multiboot loader, over memory the test owns.

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "common/arch/paging.hpp"
#include "common/boot/multiboot.hpp"
#include "lab04-vtx/src/ept.hpp"
#include "lab04-vtx/src/loader.hpp"

namespace hvlab::lab04 {
namespace {

// Host "physical" memory: 8 MiB at host-physical 16 MiB; the first MiB of it holds tables.
struct EptFixture : ::testing::Test {
  static constexpr std::uint64_t kBase = 16ull << 20, kSize = 8ull << 20;
  std::vector<unsigned char> backing = std::vector<unsigned char>(kSize);
  mem::WindowPhysicalMemory<HostPhysAddr> phys{backing.data(), HostPhysAddr(kBase), kSize};
  mem::BumpFrameSource<HostPhysAddr> tables{HostPhysAddr(kBase), 1ull << 20};
  mem::GuestMemory guest;
};

TEST_F(EptFixture, MapsGuestRamAndNothingElse) {
  // 4 MiB of guest RAM at host-physical 18 MiB (2 MiB aligned): two 2 MiB pages.
  ASSERT_TRUE(guest.add_region(GuestPhysAddr(0), 4ull << 20, backing.data() + (2 << 20), HostPhysAddr(kBase + (2 << 20))).ok());
  EptStats stats;
  auto pml4 = build_ept(phys, tables, guest, true, &stats);
  ASSERT_TRUE(pml4.ok());
  EXPECT_EQ(stats.pages_2m, 2u);
  EXPECT_EQ(stats.pages_4k, 0u);
  EXPECT_EQ(stats.tables, 3u);  // PML4, PDPT, PD
  EXPECT_EQ(ept_translate(phys, pml4.value(), GuestPhysAddr(0x123456)).value().value(), kBase + (2 << 20) + 0x123456);
  EXPECT_EQ(ept_translate(phys, pml4.value(), GuestPhysAddr(4ull << 20)).error(), Error::not_found);
  EXPECT_EQ(ept_translate(phys, pml4.value(), GuestPhysAddr(0xfee00000)).error(), Error::not_found);
  // The leaf is write-back, R/W/X, a large page.
  auto pd_entry = phys.read64(HostPhysAddr(kBase + 2 * 4096));
  ASSERT_TRUE(pd_entry.ok());
  EXPECT_EQ(pd_entry.value() & 0xff, 0x80u | (x86::ept::kWriteBack << 3) | 7u);
}

TEST_F(EptFixture, SmallPagesWhenUnaligned) {
  ASSERT_TRUE(guest.add_region(GuestPhysAddr(0), 64 * 1024, backing.data() + (2 << 20) + 4096,
                               HostPhysAddr(kBase + (2 << 20) + 4096)).ok());
  EptStats stats;
  auto pml4 = build_ept(phys, tables, guest, true, &stats);
  ASSERT_TRUE(pml4.ok());
  EXPECT_EQ(stats.pages_4k, 16u);
  EXPECT_EQ(stats.tables, 4u);
  EXPECT_EQ(ept_translate(phys, pml4.value(), GuestPhysAddr(0x1010)).value().value(), kBase + (2 << 20) + 0x2010);
}

// A tiny ELF: one PT_LOAD of 8 bytes at 1 MiB with a 16-byte .bss after it.
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

}  // namespace
}  // namespace hvlab::lab04
