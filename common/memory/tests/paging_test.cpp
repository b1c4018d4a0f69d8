// Layouts of common/arch/paging.hpp against the SDM tables, one known bit at a time.
#include "common/arch/paging.hpp"

#include <gtest/gtest.h>

namespace hvlab::x86 {
namespace {

TEST(Paging32, PteFlagBitsAndFrame) {
  Pte32 e{};
  e.present = 1;
  EXPECT_EQ(e.raw(), page::P);
  e = Pte32{};
  e.writable = 1;
  EXPECT_EQ(e.raw(), page::RW);
  e = Pte32{};
  e.user = 1;
  EXPECT_EQ(e.raw(), page::US);
  e = Pte32{};
  e.accessed = 1;
  EXPECT_EQ(e.raw(), page::A);
  e = Pte32{};
  e.dirty = 1;
  EXPECT_EQ(e.raw(), page::D);
  e = Pte32{};
  e.pat = 1;
  EXPECT_EQ(e.raw(), page::PAT);
  e = Pte32{};
  e.global = 1;
  EXPECT_EQ(e.raw(), page::G);
  e = Pte32::from(0xabcde000u | page::P | page::RW | 0xe00u);  // bits 11:9 are the OS's
  EXPECT_EQ(e.address(), 0xabcde000u);
  EXPECT_EQ(e.ignored9, 7u);
  EXPECT_TRUE(e.present && e.writable && !e.user);
}

TEST(Paging32, PdeTableAndLargeForms) {
  auto table = Pde32::from(0x00123000u | page::P | page::US | page::A);
  EXPECT_EQ(table.address(), 0x123000u);
  EXPECT_EQ(table.page_size, 0u);
  EXPECT_TRUE(table.user && table.accessed && !table.writable);

  Pde32Large big{};
  big.present = big.writable = big.page_size = big.dirty = 1;
  big.set_address(0xffc00000u);
  EXPECT_EQ(big.raw(), 0xffc00000u | page::P | page::RW | page::D | page::PS);
  big.pat = 1;
  EXPECT_EQ(big.raw() & page::PAT_LARGE, page::PAT_LARGE);
  // PSE-36/40: bits 20:13 are physical address bits 39:32.
  auto high = Pde32Large::from((0x3u << 22) | (0xa5u << 13) | page::P | page::PS);
  EXPECT_EQ(high.address(), 0xa5'00c0'0000ull);
  EXPECT_EQ(high.reserved21, 0u);
}

TEST(Paging32, Cr3AndIndices) {
  auto cr3 = Cr3Paging32::from(0x0012f018u);
  EXPECT_EQ(cr3.address(), 0x12f000u);
  EXPECT_EQ(cr3.pwt, 1u);
  EXPECT_EQ(cr3.pcd, 1u);
  EXPECT_EQ(pd_index32(0xc0123456u), 0x300u);
  EXPECT_EQ(pt_index32(0xc0123456u), 0x123u);
}

TEST(PagingPae, PdpteAndCr3) {
  auto e = PdptePae::from(0x1'2345'6000ull | page::P | page::PCD);
  EXPECT_EQ(e.address(), 0x1'2345'6000ull);
  EXPECT_EQ(e.cache_disable, 1u);
  EXPECT_EQ(e.reserved1, 0u);
  Cr3Pae cr3{};
  cr3.set_address(0x7fe0);
  EXPECT_EQ(cr3.raw(), 0x7fe0u);  // 32-byte aligned, no page alignment needed
  EXPECT_EQ(pdpt_index_pae(0xc0000000u), 3u);
}

TEST(Paging64, PteExecuteDisableAndProtectionKey) {
  Pte64 e{};
  e.present = 1;
  e.execute_disable = 1;
  e.protection_key = 0xa;
  e.set_address(0xf'ffff'f000ull);
  EXPECT_EQ(e.raw(), page::XD | (0xaull << 59) | 0xf'ffff'f000ull | page::P);
  EXPECT_EQ(Pte64::from(e.raw()).address(), 0xf'ffff'f000ull);
}

TEST(Paging64, LargeFormsKeepOnlyTheirAddressBits) {
  Pde64Large l{};
  l.set_address(0x1'2360'0000ull);
  EXPECT_EQ(l.address(), 0x1'2360'0000ull);
  EXPECT_EQ(l.reserved13, 0u);  // bits 20:13 untouched
  Pdpte64Huge h{};
  h.page_size = 1;
  h.set_address(0x40'c000'0000ull);
  EXPECT_EQ(h.raw(), 0x40'c000'0000ull | page::PS);
  auto t = TableEntry64::from(0x8000'0000'0012'3067ull);
  EXPECT_EQ(t.address(), 0x123000ull);
  EXPECT_EQ(t.execute_disable, 1u);
  EXPECT_EQ(t.page_size, 0u);
  EXPECT_EQ(pml4_index(0xffff'8000'0000'0000ull), 256u);
  EXPECT_EQ(pdpt_index(0x7fc0000000ull), 511u);
  EXPECT_EQ(pd_index(0x200000ull), 1u);
  EXPECT_EQ(pt_index(0x1ff000ull), 511u);
  Cr3Ia32e cr3 = Cr3Ia32e::from(0x1234'5000ull | 0x5);
  EXPECT_EQ(cr3.address(), 0x1234'5000ull);
  EXPECT_EQ(cr3.pcid(), 5u);
}

TEST(Ept, EntriesAndPointer) {
  EptPte pte{};
  pte.read = pte.write = 1;
  pte.memory_type = ept::kWriteBack;
  pte.ignore_pat = 1;
  pte.set_address(0x1234'5000ull);
  EXPECT_EQ(pte.raw(), 0x1234'5000ull | ept::R | ept::W | (6u << 3) | ept::IGNORE_PAT);
  EXPECT_TRUE(pte.present());
  EXPECT_FALSE(EptPte::from(0x1234'5000ull).present());  // no R/W/X: not present
  auto pte2 = EptPte::from(ept::X | ept::A | ept::D | (1ull << 63));
  EXPECT_TRUE(pte2.execute && pte2.accessed && pte2.dirty && pte2.suppress_ve);

  EptPdeLarge l{};
  l.large_page = 1;
  l.read = 1;
  l.set_address(0x20'0000ull);
  EXPECT_EQ(l.raw(), 0x20'0000ull | ept::LARGE | ept::R);
  EptPdpteHuge h{};
  h.set_address(0x1'4000'0000ull);
  EXPECT_EQ(h.address(), 0x1'4000'0000ull);
  EXPECT_EQ(h.reserved12, 0u);

  auto t = EptTableEntry::from(0x5000ull | ept::RWX | ept::A);
  EXPECT_EQ(t.address(), 0x5000ull);
  EXPECT_EQ(t.reserved3, 0u);
  EXPECT_TRUE(t.accessed);

  auto eptp = EptPointer::make(0xabc000, true);
  EXPECT_EQ(eptp.raw(), 0xabc000ull | 6u | (3u << 3) | (1u << 6));
  EXPECT_EQ(eptp.address(), 0xabc000ull);
}

}  // namespace
}  // namespace hvlab::x86
