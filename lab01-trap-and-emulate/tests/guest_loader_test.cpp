#include "lab01-trap-and-emulate/guest_loader.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "common/boot/multiboot.hpp"

using namespace hvlab;
using namespace hvlab::lab01;

namespace {

std::vector<unsigned char> tiny_elf(std::uint32_t paddr, std::uint32_t entry) {
  std::vector<unsigned char> f(0x100, 0);
  const unsigned char ident[] = {0x7f, 'E', 'L', 'F', 1, 1, 1};
  std::memcpy(f.data(), ident, sizeof ident);
  auto put16 = [&](unsigned at, std::uint16_t v) { std::memcpy(&f[at], &v, 2); };
  auto put32 = [&](unsigned at, std::uint32_t v) { std::memcpy(&f[at], &v, 4); };
  put16(16, 2), put16(18, 3), put32(20, 1), put32(24, entry), put32(28, 52);
  put16(42, 32), put16(44, 1);
  put32(52, 1), put32(56, 0x80), put32(60, paddr), put32(64, paddr), put32(68, 4), put32(72, 0x1000);
  put32(0x80, 0xdeadbeef);
  return f;
}

struct Guest {
  std::vector<unsigned char> ram = std::vector<unsigned char>(8u << 20);
  mem::GuestMemory g;
  Guest() { EXPECT_TRUE(g.add_region(GuestPhysAddr(0), ram.size(), ram.data()).ok()); }
};

}  // namespace

TEST(GuestLoader, LoadsSegmentsAndZeroesBss) {
  Guest m;
  auto elf = tiny_elf(0x100000, 0x100000);
  m.ram[0x100004] = 0x55;
  LoadedGuest out;
  const char* why = nullptr;
  ASSERT_TRUE(load_elf32(elf.data(), elf.size(), m.g, &out, &why)) << why;
  EXPECT_EQ(out.entry, 0x100000u);
  EXPECT_EQ(m.g.read<std::uint32_t>(GuestPhysAddr(0x100000)).value(), 0xdeadbeefu);
  EXPECT_EQ(m.ram[0x100004], 0);
}

TEST(GuestLoader, RejectsGarbageWithAReason) {
  Guest m;
  LoadedGuest out;
  const char* why = nullptr;
  std::vector<unsigned char> junk(64, 0x90);
  EXPECT_FALSE(load_elf32(junk.data(), junk.size(), m.g, &out, &why));
  EXPECT_STREQ(why, "module is not an ELF file (bad magic)");
  auto outside = tiny_elf(0x7fffff0, 0x7fffff0);
  EXPECT_FALSE(load_elf32(outside.data(), outside.size(), m.g, &out, &why));
  auto bad_entry = tiny_elf(0x100000, 0x200000);
  EXPECT_FALSE(load_elf32(bad_entry.data(), bad_entry.size(), m.g, &out, &why));
  auto truncated = tiny_elf(0x100000, 0x100000);
  truncated.resize(60);
  EXPECT_FALSE(load_elf32(truncated.data(), truncated.size(), m.g, &out, &why));
}

TEST(GuestLoader, MultibootInfoDescribesTheGuestsMemory) {
  Guest m;
  std::uint32_t at = write_multiboot_info(m.g, m.ram.size(), "suite.elf first=3");
  ASSERT_EQ(at, kMultibootInfoGpa);
  multiboot::Info info = m.g.read<multiboot::Info>(GuestPhysAddr(at)).value();
  EXPECT_EQ(info.mem_upper, (8u << 10) - 1024);
  char cmd[32] = {};
  ASSERT_TRUE(m.g.copy_out(cmd, GuestPhysAddr(info.cmdline), 18).ok());
  EXPECT_STREQ(cmd, "suite.elf first=3");
  EXPECT_EQ(info.mmap_length, 3 * sizeof(multiboot::MmapEntry));
}
