// The ABI's start of day: the hypercall page, the guest's header, the start info and the
// shared info pages, and the names generated from the X-macro lists.

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "common/vmm/guest_loader.hpp"
#include "lab03-paravirt/src/errors.hpp"
#include "lab03-paravirt/tests/pv_fixture.hpp"

namespace hvlab::lab03 {
namespace {

using testing::PvFixture;

TEST(Abi, HypercallPageHasOneStubPerNumber) {
  std::uint8_t page[HVLAB_PV_PAGE_SIZE];
  write_hypercall_page(page);
  for (unsigned nr = 0; nr < HVLAB_PV_MAX_HYPERCALLS; ++nr) {
    const std::uint8_t* s = page + nr * HVLAB_PV_STUB_SIZE;
    const std::uint8_t want[] = {0xb8, static_cast<std::uint8_t>(nr), 0, 0, 0, 0xcd, HVLAB_PV_TRAP_VECTOR, 0xc3};
    ASSERT_EQ(0, std::memcmp(s, want, sizeof want)) << "stub " << nr;
    for (unsigned i = sizeof want; i < HVLAB_PV_STUB_SIZE; ++i) EXPECT_EQ(s[i], 0xcc) << "padding of stub " << nr;
  }
}

TEST(Abi, NamesComeFromTheLists) {
  EXPECT_STREQ(hypercall_name(HVLAB_PV_mmu_update), "mmu_update");
  EXPECT_STREQ(hypercall_name(HVLAB_PV_multicall), "multicall");
  EXPECT_STREQ(hypercall_name(HVLAB_PV_NR_HYPERCALLS), "unknown");
  EXPECT_STREQ(error_name(-HVLAB_PV_EBUSY), "EBUSY");
  EXPECT_STREQ(error_name(0), "ok");
  EXPECT_STREQ(error_name(-1000), "E?");
  EXPECT_EQ(err(HVLAB_PV_EINVAL), -22);
}

// A guest image at 1 MiB with its header at `offset`.
void put_header(PvFixture& f, std::uint32_t offset, std::uint32_t hc, std::uint32_t si, std::uint32_t st,
                std::uint32_t version = HVLAB_PV_ABI_VERSION) {
  hvlab_pv_header h{HVLAB_PV_HEADER_MAGIC, version, hc, si, st, ~HVLAB_PV_HEADER_MAGIC};
  f.put(0x100000 + offset, h);
}

TEST(Abi, StartOfDayFillsTheThreePages) {
  PvFixture f(512);
  std::memset(f.ram.data() + 0x20000, 0x55, 3 * 4096);
  put_header(f, 0x40, 0x20000, 0x21000, 0x22000);
  ASSERT_EQ(start_domain(f.machine, GuestPhysAddr(0x100000), 1000), nullptr);
  EXPECT_TRUE(f.domain.started);
  EXPECT_EQ(f.ram[0x20000], 0xb8);  // stub 0
  EXPECT_EQ(f.ram[0x20000 + 32 * HVLAB_PV_console_write + 1], HVLAB_PV_console_write);
  const auto si = f.get<hvlab_pv_start_info>(0x22000);
  EXPECT_STREQ(si.magic, HVLAB_PV_START_MAGIC);
  EXPECT_EQ(si.nr_pages, 512u);
  EXPECT_EQ(si.shared_info, 0x21000u);
  EXPECT_EQ(si.hypervisor_virt_start, HVLAB_PV_HYPERVISOR_VIRT_START);
  EXPECT_EQ(si.tsc_khz, 1000u);
  // The shared info page starts clear, with events masked: the guest starts with "IF = 0".
  const auto sh = f.get<hvlab_pv_shared_info>(0x21000);
  EXPECT_EQ(sh.vcpu_info[0].evtchn_upcall_mask, 1);
  EXPECT_EQ(sh.vcpu_info[0].evtchn_upcall_pending, 0);
  EXPECT_EQ(sh.evtchn_pending[0], 0u);
}

TEST(Abi, StartOfDayRefusesABadHeader) {
  {
    PvFixture f(512);
    EXPECT_NE(start_domain(f.machine, GuestPhysAddr(0x100000), 1000), nullptr) << "no header at all";
  }
  {
    PvFixture f(512);
    put_header(f, 0, 0x20000, 0x21000, 0x22000);
    f.put(0x100000 + 20, 0u);  // not closed
    EXPECT_NE(start_domain(f.machine, GuestPhysAddr(0x100000), 1000), nullptr);
  }
  {
    PvFixture f(512);
    put_header(f, 0, 0x20000, 0x21000, 0x22000, 0x00020000);
    EXPECT_STREQ(start_domain(f.machine, GuestPhysAddr(0x100000), 1000),
                 "the guest was built for another major ABI version");
  }
  {
    PvFixture f(512);
    put_header(f, 0, 0x20000, 0x21004, 0x22000);
    EXPECT_NE(start_domain(f.machine, GuestPhysAddr(0x100000), 1000), nullptr) << "unaligned page";
  }
  {
    PvFixture f(512);
    put_header(f, 0, 0x20000, 0xF0000000u, 0x22000);
    EXPECT_NE(start_domain(f.machine, GuestPhysAddr(0x100000), 1000), nullptr) << "the monitor's area";
    EXPECT_FALSE(f.domain.started);
  }
  {
    PvFixture f(512);
    put_header(f, 0, 0x20000, 0x20000, 0x22000);
    EXPECT_STREQ(start_domain(f.machine, GuestPhysAddr(0x100000), 1000), "the paravirtual header names the same page twice");
  }
}

TEST(Abi, TimeScaleTurnsTicksIntoNanoseconds) {
  for (std::uint64_t hz : {1'000'000ull, 999'869'000ull, 1'000'000'000ull, 3'600'000'000ull, 4'000'000ull}) {
    std::uint32_t mul;
    std::int8_t shift;
    time_scale(hz, &mul, &shift);
    EXPECT_GE(mul, 1u << 31) << hz;
    // One second of ticks is one second, within a nanosecond per 2^31 of precision.
    const std::uint64_t ns = scale_ticks(hz, mul, shift);
    EXPECT_NEAR(static_cast<double>(ns), 1e9, 2.0) << hz;
  }
}

TEST(Abi, PublishedTimeIsVersionedAndAdvances) {
  PvFixture f(512);
  put_header(f, 0, 0x20000, 0x21000, 0x22000);
  ASSERT_EQ(start_domain(f.machine, GuestPhysAddr(0x100000), 1000), nullptr);
  f.domain.publish_time(f.board, 5000);
  auto t1 = f.get<hvlab_pv_shared_info>(0x21000).vcpu_info[0].time;
  f.domain.publish_time(f.board, 5000 + 1'000'000);  // one second at 1 MHz
  auto t2 = f.get<hvlab_pv_shared_info>(0x21000).vcpu_info[0].time;
  EXPECT_EQ(t1.version % 2, 0u);
  EXPECT_GT(t2.version, t1.version);
  EXPECT_EQ(t2.tsc_timestamp - t1.tsc_timestamp, 1'000'000u);
  EXPECT_EQ(t2.system_time - t1.system_time, 1'000'000'000u);
}

}  // namespace
}  // namespace hvlab::lab03

// The real paravirtual builds: the monitor finds their header and fills their pages, and the
// native builds are refused (they have no header).
namespace hvlab::lab03 {
namespace {

std::vector<char> read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const char* start_image(testing::PvFixture& f, const char* path) {
  std::vector<char> elf = read_file(path);
  EXPECT_FALSE(elf.empty()) << path;
  char why[128] = "";
  auto loaded = vmm::load_elf32(f.board.memory(), elf.data(), elf.size(), 0, 0, why, sizeof why);
  EXPECT_TRUE(loaded.ok()) << why;
  if (!loaded.ok()) return "not loaded";
  return start_domain(f.machine, GuestPhysAddr(loaded.value().lowest), 1000);
}

TEST(Abi, TheParavirtualBuildsCarryAHeaderTheMonitorAccepts) {
  for (const char* path : {HVLAB_SUITE_PV_ELF, HVLAB_NANOBENCH_PV_ELF}) {
    PvFixture f(2048);  // 8 MiB
    EXPECT_EQ(start_image(f, path), nullptr) << path;
    EXPECT_TRUE(f.domain.started);
    EXPECT_EQ(f.ram[f.domain.layout.hypercall_page.value()], 0xb8) << "the stubs are in";
  }
}

TEST(Abi, TheNativeBuildIsNotParavirtual) {
  PvFixture f(2048);
  EXPECT_STREQ(start_image(f, HVLAB_SUITE_ELF),
               "the guest has no paravirtual header (hvlab_pv_header) in its first 8 KiB: not a paravirtual build");
}

}  // namespace
}  // namespace hvlab::lab03
