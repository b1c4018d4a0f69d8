// The shadow MMU (lab01-e5) over an array standing in for RAM: host frames 0..63 hold the
// shadow tables, guest memory is a 4 MiB-aligned window further up.
#include "lab01-trap-and-emulate/src/shadow_mmu.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace hvlab;
using namespace hvlab::lab01;
namespace pg = x86::page;

namespace {

struct Machine {
  static constexpr std::uint64_t kRam = 16u << 20, kGuestHpa = 8u << 20, kGuestSize = 4u << 20;
  std::vector<unsigned char> ram = std::vector<unsigned char>(kRam);
  mem::WindowPhysicalMemory<HostPhysAddr> host{ram.data(), HostPhysAddr(0), kRam};
  mem::GuestMemory guest;
  ShadowMmu mmu;
  vmm::VCpu v;

  Machine() {
    EXPECT_TRUE(guest.add_region(GuestPhysAddr(0), kGuestSize, ram.data() + kGuestHpa, HostPhysAddr(kGuestHpa)).ok());
    // The directory at 0x1000, eight frames for tables from 0x2000.
    mmu.init({&host, &guest, HostPhysAddr(0x1000), HostPhysAddr(0x2000), 8});
    mmu.reset(v);
  }
  std::uint32_t* pd() { return reinterpret_cast<std::uint32_t*>(ram.data() + 0x1000); }
  std::uint32_t shadow_pte(std::uint32_t la) {
    std::uint32_t pde = pd()[la >> 22];
    if (!(pde & pg::P)) return 0;
    if (pde & pg::PS) return pde;
    return reinterpret_cast<std::uint32_t*>(ram.data() + (pde & ~0xfffu))[(la >> 12) & 0x3ff];
  }
  void gput(std::uint32_t gpa, std::uint32_t v32) { ASSERT_TRUE(guest.write(GuestPhysAddr(gpa), v32).ok()); }
  std::uint32_t gget(std::uint32_t gpa) { return guest.read<std::uint32_t>(GuestPhysAddr(gpa)).value(); }
  // Guest paging on: PD at 0x10000, one table at 0x11000 for 0x40000000.
  void guest_paging() {
    gput(0x10000 + (0x40000000 >> 22) * 4, 0x11000 | pg::P | pg::RW | pg::US);
    v.cr0 |= x86::cr0::PG | x86::cr0::WP;
    v.cr3 = 0x10000;
    mmu.reset(v);
  }
};

}  // namespace

TEST(ShadowMmu, UnpagedGuestGetsIdentityLargePages) {
  Machine m;
  std::uint32_t ge = 0, bad;
  GuestPhysAddr b;
  EXPECT_EQ(m.mmu.handle_fault(0x123456, 0, &ge, &b), ShadowMmu::Fill::filled);
  EXPECT_EQ(m.pd()[0], static_cast<std::uint32_t>(Machine::kGuestHpa) | pg::P | pg::RW | pg::US | pg::PS | pg::A | pg::D);
  (void)bad;
}

TEST(ShadowMmu, UnpagedAccessOutsideGuestMemoryIsRefused) {
  Machine m;
  std::uint32_t ge = 0;
  GuestPhysAddr bad;
  EXPECT_EQ(m.mmu.handle_fault(0x00800000, 0, &ge, &bad), ShadowMmu::Fill::refused);
  EXPECT_EQ(bad.value(), 0x00800000u);
}

TEST(ShadowMmu, NotPresentGuestPteIsReflected) {
  Machine m;
  m.guest_paging();
  std::uint32_t ge = 0;
  GuestPhysAddr bad;
  EXPECT_EQ(m.mmu.handle_fault(0x40001000, x86::pf_error::W, &ge, &bad), ShadowMmu::Fill::reflect);
  EXPECT_EQ(ge, x86::pf_error::W);
}

TEST(ShadowMmu, ReadMapsReadOnlyUntilDirtyThenWriteSetsD) {
  Machine m;
  m.guest_paging();
  m.gput(0x11000 + 1 * 4, 0x200000 | pg::P | pg::RW);
  std::uint32_t ge = 0;
  GuestPhysAddr bad;
  ASSERT_EQ(m.mmu.handle_fault(0x40001000, 0, &ge, &bad), ShadowMmu::Fill::filled);
  std::uint32_t pte = m.shadow_pte(0x40001000);
  EXPECT_EQ(pte & ~0xfffu, static_cast<std::uint32_t>(Machine::kGuestHpa + 0x200000));
  EXPECT_FALSE(pte & pg::RW);  // D still clear in the guest's PTE
  EXPECT_TRUE(m.gget(0x11004) & pg::A);
  EXPECT_FALSE(m.gget(0x11004) & pg::D);
  ASSERT_EQ(m.mmu.handle_fault(0x40001000, x86::pf_error::P | x86::pf_error::W, &ge, &bad), ShadowMmu::Fill::filled);
  EXPECT_TRUE(m.shadow_pte(0x40001000) & pg::RW);
  EXPECT_TRUE(m.gget(0x11004) & pg::D);
}

TEST(ShadowMmu, SupervisorPageIsNotUserInTheShadow) {
  Machine m;
  m.guest_paging();
  m.gput(0x11000 + 2 * 4, 0x201000 | pg::P | pg::RW);
  std::uint32_t ge = 0;
  GuestPhysAddr bad;
  ASSERT_EQ(m.mmu.handle_fault(0x40002000, 0, &ge, &bad), ShadowMmu::Fill::filled);
  EXPECT_FALSE(m.shadow_pte(0x40002000) & pg::US);
  EXPECT_EQ(m.mmu.handle_fault(0x40002000, x86::pf_error::P | x86::pf_error::U, &ge, &bad), ShadowMmu::Fill::reflect);
  EXPECT_EQ(ge, x86::pf_error::P | x86::pf_error::U);
}

TEST(ShadowMmu, GuestPteOutsideItsMemoryIsRefused) {
  Machine m;
  m.guest_paging();
  m.gput(0x11000 + 3 * 4, 0x00f00000 | pg::P | pg::RW);  // 15 MiB: beyond the 4 MiB guest
  std::uint32_t ge = 0;
  GuestPhysAddr bad;
  EXPECT_EQ(m.mmu.handle_fault(0x40003000, 0, &ge, &bad), ShadowMmu::Fill::refused);
  EXPECT_EQ(bad.value(), 0x00f00000u);
}

TEST(ShadowMmu, InvalidateAndResetDropEntries) {
  Machine m;
  m.guest_paging();
  m.gput(0x11000 + 1 * 4, 0x200000 | pg::P | pg::RW | pg::D);
  std::uint32_t ge = 0;
  GuestPhysAddr bad;
  ASSERT_EQ(m.mmu.handle_fault(0x40001000, 0, &ge, &bad), ShadowMmu::Fill::filled);
  EXPECT_TRUE(m.shadow_pte(0x40001000) & pg::RW);  // D already set: writable at once
  m.mmu.invalidate(0x40001000);
  EXPECT_EQ(m.shadow_pte(0x40001000), 0u);
  ASSERT_EQ(m.mmu.handle_fault(0x40001000, 0, &ge, &bad), ShadowMmu::Fill::filled);
  m.mmu.reset(m.v);
  EXPECT_EQ(m.pd()[0x40000000 >> 22], 0u);
  EXPECT_EQ(m.mmu.tables_in_use(), 0u);
}

TEST(ShadowMmu, TheMonitorsWindowIsNeverTouched) {
  Machine m;
  m.pd()[1023] = 0xfffff000u | pg::P;  // the trap pages' table, as the back end puts it
  m.guest_paging();                    // a reset clears the guest part only
  EXPECT_EQ(m.pd()[1023], 0xfffff000u | pg::P);
  std::uint32_t ge = 0;
  GuestPhysAddr bad;
  EXPECT_EQ(m.mmu.handle_fault(0xf0000000, 0, &ge, &bad), ShadowMmu::Fill::refused);
  EXPECT_EQ(m.mmu.handle_fault(0xffc00000, x86::pf_error::W, &ge, &bad), ShadowMmu::Fill::refused);
  m.mmu.invalidate(0xfffff000);
  EXPECT_EQ(m.pd()[1023], 0xfffff000u | pg::P);
}

TEST(ShadowMmu, AnEmptyPoolStartsOverInsteadOfFailing) {
  Machine m;
  m.guest_paging();
  // Nine page tables' worth of guest mappings (one PDE each), eight frames in the pool.
  for (std::uint32_t i = 0; i < 9; ++i) {
    std::uint32_t la = 0x40000000 + (i << 22);
    m.gput(0x10000 + (la >> 22) * 4, 0x11000 | pg::P | pg::RW);
  }
  m.gput(0x11000, 0x200000 | pg::P | pg::RW | pg::D);
  std::uint32_t ge = 0;
  GuestPhysAddr bad;
  for (std::uint32_t i = 0; i < 8; ++i)
    ASSERT_EQ(m.mmu.handle_fault(0x40000000 + (i << 22), 0, &ge, &bad), ShadowMmu::Fill::filled);
  EXPECT_EQ(m.mmu.tables_in_use(), 8u);
  // The ninth: everything is dropped, the access faults again into a fresh pool.
  EXPECT_EQ(m.mmu.handle_fault(0x40000000 + (8u << 22), 0, &ge, &bad), ShadowMmu::Fill::filled);
  EXPECT_EQ(m.mmu.tables_in_use(), 0u);
  EXPECT_EQ(m.shadow_pte(0x40000000), 0u);
  EXPECT_EQ(m.mmu.handle_fault(0x40000000 + (8u << 22), 0, &ge, &bad), ShadowMmu::Fill::filled);
  EXPECT_NE(m.shadow_pte(0x40000000 + (8u << 22)), 0u);
}

TEST(ShadowMmu, ItKnowsWhenThePagingStateMovedOn) {
  Machine m;
  EXPECT_TRUE(m.mmu.matches(m.v));
  m.v.cr4 |= x86::cr4::PSE;
  EXPECT_FALSE(m.mmu.matches(m.v));
  m.mmu.reset(m.v);
  m.v.cr3 = 0x5000;  // CR3 means nothing while paging is off
  EXPECT_TRUE(m.mmu.matches(m.v));
  m.v.cr0 |= x86::cr0::PG;
  EXPECT_FALSE(m.mmu.matches(m.v));
}
