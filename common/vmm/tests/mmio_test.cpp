// MMIO by instruction emulation: each instruction form, placed in guest memory as the guest
// would have run it, against a recording device on the Board's MMIO bus, through the same
// handler a VT-x EPT violation or an AMD-V nested page fault reaches.

#include "common/vmm/mmio.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/arch/x86.hpp"
#include "common/decoder/decoder.hpp"
#include "common/memory/page_table.hpp"
#include "common/vmm/testing/fake_machine.hpp"

namespace hvlab::vmm {
namespace {

constexpr std::uint64_t kDevice = 0xfed00000;
constexpr std::uint32_t kCode = 0x1000;

// A register file that records every access; reads return `value` (per width).
struct Recorder final : dev::Device {
  struct Access {
    bool write;
    std::uint32_t offset;
    unsigned size;
    std::uint32_t value;
  };
  std::vector<Access> log;
  std::uint32_t value = 0;
  unsigned refuse_size = 0;  // a width the device does not take
  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override {
    if (size == refuse_size) return Error::unsupported;
    std::uint32_t v = size == 4 ? value : value & ((1u << (8 * size)) - 1);
    log.push_back({false, offset, size, v});
    return v;
  }
  Status write(std::uint32_t offset, unsigned size, std::uint32_t v) override {
    if (size == refuse_size) return Error::unsupported;
    log.push_back({true, offset, size, v});
    value = v;
    return {};
  }
};

struct MmioTest : ::testing::Test {
  void SetUp() override {
    ASSERT_TRUE(fm.board.mmio().attach(GuestPhysAddr(kDevice), 0x1000, dev).ok());
    vcpu.cr0 = x86::cr0::PE | x86::cr0::ET;
    vcpu.eip = kCode;
    vcpu.eflags = x86::eflags::FIXED1;
  }
  // Places `bytes` at the guest's EIP and runs the handler for an access at kDevice + off.
  Action run(std::vector<std::uint8_t> bytes, std::uint32_t off = 0, bool fetch = false) {
    EXPECT_TRUE(fm.board.memory().copy_in(GuestPhysAddr(vcpu.cs_base + vcpu.eip), bytes.data(), bytes.size()).ok());
    Event e;
    e.reason = Reason::ept_violation;
    e.memory.physical = GuestPhysAddr(kDevice + off);
    e.memory.has_physical = true;
    e.memory.fetch = fetch;
    e.guest_eip = vcpu.eip;
    return emulate_mmio(fm.machine, vcpu, e);
  }
  std::string why() const { return fm.board.stop_reason(); }

  fake::FakeMachine fm;
  VCpu& vcpu = fm.vcpu();
  Recorder dev;
};

TEST_F(MmioTest, MovFromARegisterWritesTheDevice) {
  vcpu.regs.edx = 0x13f;
  EXPECT_EQ(run({0x89, 0x50, 0xf0}, 0xf0), Action::resume);  // mov [eax+0xf0], edx
  ASSERT_EQ(dev.log.size(), 1u);
  EXPECT_TRUE(dev.log[0].write);
  EXPECT_EQ(dev.log[0].offset, 0xf0u);
  EXPECT_EQ(dev.log[0].size, 4u);
  EXPECT_EQ(dev.log[0].value, 0x13fu);
  EXPECT_EQ(vcpu.eip, kCode + 3);
  EXPECT_EQ(vcpu.instructions_emulated, 1u);
}

TEST_F(MmioTest, MovToARegisterReadsTheDevice) {
  dev.value = 0x01000000;
  vcpu.regs.eax = kDevice;
  EXPECT_EQ(run({0x8b, 0x40, 0x20}, 0x20), Action::resume);  // mov eax, [eax+0x20]
  EXPECT_EQ(vcpu.regs.eax, 0x01000000u);
  EXPECT_EQ(dev.log.at(0).offset, 0x20u);
  EXPECT_EQ(vcpu.eip, kCode + 3);
}

TEST_F(MmioTest, NarrowRegistersKeepTheirOtherBits) {
  dev.value = 0xab;
  vcpu.regs.eax = 0x11223344;
  EXPECT_EQ(run({0x8a, 0x20}), Action::resume);  // mov ah, [eax]
  EXPECT_EQ(vcpu.regs.eax, 0x1122ab44u);
  EXPECT_EQ(dev.log.at(0).size, 1u);
  vcpu.regs.ecx = 0xcafe1234;
  EXPECT_EQ(run({0x66, 0x89, 0x08}, 4), Action::resume);  // mov [eax], cx
  EXPECT_EQ(dev.log.at(1).size, 2u);
  EXPECT_EQ(dev.log.at(1).value, 0x1234u);
  vcpu.regs.ebx = 0x0000bb00;
  EXPECT_EQ(run({0x88, 0x38}, 8), Action::resume);  // mov [eax], bh
  EXPECT_EQ(dev.log.at(2).value, 0xbbu);
}

TEST_F(MmioTest, ImmediateAndMoffsForms) {
  EXPECT_EQ(run({0xc7, 0x00, 0x78, 0x56, 0x34, 0x12}), Action::resume);  // mov dword [eax], 0x12345678
  EXPECT_EQ(dev.log.at(0).value, 0x12345678u);
  EXPECT_EQ(vcpu.eip, kCode + 6);
  EXPECT_EQ(run({0xc6, 0x00, 0x9a}), Action::resume);  // mov byte [eax], 0x9a
  EXPECT_EQ(dev.log.at(1).size, 1u);
  EXPECT_EQ(dev.log.at(1).value, 0x9au);
  vcpu.regs.eax = 0x77;
  EXPECT_EQ(run({0xa3, 0xb0, 0x00, 0xd0, 0xfe}, 0xb0), Action::resume);  // mov [0xfed000b0], eax
  EXPECT_EQ(dev.log.at(2).value, 0x77u);
  dev.value = 0x42;
  EXPECT_EQ(run({0xa0, 0x20, 0x00, 0xd0, 0xfe}, 0x20), Action::resume);  // mov al, [0xfed00020]
  EXPECT_EQ(vcpu.regs.eax, 0x42u);
}

TEST_F(MmioTest, MovzxAndMovsxExtend) {
  dev.value = 0x80f0;
  EXPECT_EQ(run({0x0f, 0xb6, 0x00}), Action::resume);  // movzx eax, byte [eax]
  EXPECT_EQ(vcpu.regs.eax, 0xf0u);
  EXPECT_EQ(run({0x0f, 0xbf, 0x18}), Action::resume);  // movsx ebx, word [eax]
  EXPECT_EQ(vcpu.regs.ebx, 0xffff80f0u);
  EXPECT_EQ(run({0x0f, 0xbe, 0x08}), Action::resume);  // movsx ecx, byte [eax]
  EXPECT_EQ(vcpu.regs.ecx, 0xfffffff0u);
}

TEST_F(MmioTest, ReadModifyWriteSetsTheFlags) {
  dev.value = 0xff;
  EXPECT_EQ(run({0x81, 0x08, 0x00, 0x01, 0x00, 0x00}, 0xf0), Action::resume);  // or dword [eax], 0x100
  ASSERT_EQ(dev.log.size(), 2u);
  EXPECT_FALSE(dev.log[0].write);
  EXPECT_TRUE(dev.log[1].write);
  EXPECT_EQ(dev.log[1].value, 0x1ffu);
  // ZF = SF = CF = OF = 0; PF = 1 (0xff has eight bits set).
  EXPECT_EQ(vcpu.eflags & (x86::eflags::FIXED1 | 0x8d5), x86::eflags::FIXED1 | 0x04);

  dev.value = 3;
  EXPECT_EQ(run({0x83, 0x38, 0x05}), Action::resume);  // cmp dword [eax], 5
  EXPECT_EQ(dev.log.size(), 3u);  // a compare only reads
  EXPECT_TRUE(vcpu.eflags & 0x01);   // CF: 3 < 5 unsigned
  EXPECT_TRUE(vcpu.eflags & 0x80);   // SF: 3 - 5 is negative
  EXPECT_FALSE(vcpu.eflags & 0x40);  // ZF

  dev.value = 0x1000;
  vcpu.regs.eax = 0x1000;
  EXPECT_EQ(run({0x85, 0x00}), Action::resume);  // test [eax], eax
  EXPECT_FALSE(vcpu.eflags & 0x40);
  vcpu.regs.eax = 0x0fff;
  EXPECT_EQ(run({0x85, 0x00}), Action::resume);
  EXPECT_TRUE(vcpu.eflags & 0x40);

  dev.value = 5;
  vcpu.regs.eax = 0xfffffffe;
  EXPECT_EQ(run({0x03, 0x00}), Action::resume);  // add eax, [eax]
  EXPECT_EQ(vcpu.regs.eax, 3u);
  EXPECT_TRUE(vcpu.eflags & 0x01);  // carry out of bit 31
}

TEST_F(MmioTest, XchgSwapsWithTheDevice) {
  dev.value = 0xaaaa;
  vcpu.regs.ebx = 0x5555;
  EXPECT_EQ(run({0x87, 0x18}), Action::resume);  // xchg [eax], ebx
  EXPECT_EQ(vcpu.regs.ebx, 0xaaaau);
  EXPECT_EQ(dev.value, 0x5555u);
}

TEST_F(MmioTest, WhatItDoesNotKnowStopsTheGuestWithTheInstructionNamed) {
  EXPECT_EQ(run({0xf3, 0xa5}), Action::stop);  // rep movsd
  EXPECT_NE(why().find("movsd"), std::string::npos) << why();
  EXPECT_TRUE(dev.log.empty());
}

TEST_F(MmioTest, AccessesWiderThan32BitsAreRefused) {
  EXPECT_EQ(run({0x0f, 0x11, 0x00}), Action::stop);  // movups [eax], xmm0
  EXPECT_NE(why().find("wider than 32 bits"), std::string::npos) << why();
}

TEST_F(MmioTest, AWidthTheDeviceRefusesContainsTheGuest) {
  dev.refuse_size = 1;
  EXPECT_EQ(run({0x8a, 0x00}, 0x20), Action::stop);  // mov al, [eax]
  EXPECT_EQ(fm.board.state(), RunState::contained);
  EXPECT_NE(why().find("refused a 1-byte read"), std::string::npos) << why();
  EXPECT_EQ(vcpu.eip, kCode);  // not past the instruction
}

TEST_F(MmioTest, ExecutingFromADeviceIsContained) {
  EXPECT_EQ(run({0x90}, 0, true), Action::stop);
  EXPECT_NE(why().find("executed from device memory"), std::string::npos);
}

TEST_F(MmioTest, TheLocalApicTakesXv6sAccesses) {
  // xv6's lapicw(SVR, ENABLE | (T_IRQ0 + IRQ_SPURIOUS)); lapic[ID]: a store then a load.
  ASSERT_TRUE(fm.board.memory().copy_in(GuestPhysAddr(kCode), "\x89\x90\xf0\x00\x00\x00", 6).ok());
  Event e;
  e.reason = Reason::ept_violation;
  e.memory.physical = GuestPhysAddr(dev::LocalApic::kDefaultBase + 0xf0);
  e.memory.has_physical = true;
  vcpu.regs.edx = 0x13f;
  EXPECT_EQ(emulate_mmio(fm.machine, vcpu, e), Action::resume);
  EXPECT_TRUE(fm.board.lapic().software_enabled());
  EXPECT_EQ(fm.board.lapic().read(dev::LocalApic::kSvr, 4).value_or(0), 0x13fu);
}

TEST_F(MmioTest, TheInstructionIsFetchedThroughTheGuestsPageTablesUpToAPageEnd) {
  // Paging on; the code page is linear 0x400000 (physical 0x3000) and the page after it is
  // not mapped: a 2-byte instruction in the last 2 bytes of the page still decodes.
  mem::BumpFrameSource<GuestPhysAddr> frames(GuestPhysAddr(0x10000), 0x4000);
  auto pt = mem::GuestPageTable32::create(fm.board.memory(), frames);
  ASSERT_TRUE(pt.ok());
  ASSERT_TRUE(pt.value().map(GuestVirtAddr(0x400000), GuestPhysAddr(0x3000), x86::page::RW).ok());
  vcpu.cr3 = pt.value().cr3();
  vcpu.cr0 |= x86::cr0::PG;
  vcpu.eip = 0x400ffe;
  ASSERT_TRUE(fm.board.memory().copy_in(GuestPhysAddr(0x3ffe), "\x89\x18", 2).ok());  // mov [eax], ebx
  Event e;
  e.reason = Reason::ept_violation;
  e.memory.physical = GuestPhysAddr(kDevice);
  e.memory.has_physical = true;
  vcpu.regs.ebx = 0x77;
  EXPECT_EQ(emulate_mmio(fm.machine, vcpu, e), Action::resume) << why();
  EXPECT_EQ(dev.value, 0x77u);
  EXPECT_EQ(vcpu.eip, 0x401000u);
}

TEST_F(MmioTest, AWriteTheMechanismReportedOnlyReachesTheDevice) {
  // VT-x's APIC-write exit or KVM's MMIO exit: the instruction is done, its value known.
  Event e;
  e.reason = Reason::mmio;
  e.memory.physical = GuestPhysAddr(kDevice + 0x380);
  e.memory.has_physical = true;
  e.memory.write = true;
  e.memory.size = 4;
  e.memory.has_value = true;
  e.memory.value = 10'000'000;
  vcpu.eip = 0x2000;  // already past the instruction; no bytes there to decode
  EXPECT_EQ(emulate_mmio(fm.machine, vcpu, e), Action::resume);
  ASSERT_EQ(dev.log.size(), 1u);
  EXPECT_EQ(dev.log[0].offset, 0x380u);
  EXPECT_EQ(dev.log[0].value, 10'000'000u);
  EXPECT_EQ(vcpu.eip, 0x2000u);
  e.memory.size = 3;
  EXPECT_EQ(emulate_mmio(fm.machine, vcpu, e), Action::stop);
}

TEST(AluFlags, MatchTheSdm) {
  std::uint32_t r = 0;
  // 0x7fffffff + 1: signed overflow, no carry.
  std::uint32_t f = alu_flags(ZYDIS_MNEMONIC_ADD, 0x7fffffff, 1, 32, 0x2, &r);
  EXPECT_EQ(r, 0x80000000u);
  EXPECT_EQ(f & 0x8d5, 0x800u | 0x80u | 0x10u | 0x04u);  // OF, SF, AF, PF (low byte 0: even)
  // 8-bit SUB 0x00 - 0x01: borrow, result 0xff.
  f = alu_flags(ZYDIS_MNEMONIC_SUB, 0, 1, 8, 0x2, &r);
  EXPECT_EQ(r, 0xffu);
  EXPECT_EQ(f & 0x8d5, 0x01u | 0x80u | 0x10u | 0x04u);  // CF, SF, AF, PF
  // ADC and SBB take the incoming carry.
  alu_flags(ZYDIS_MNEMONIC_ADC, 1, 1, 16, 0x3, &r);
  EXPECT_EQ(r, 3u);
  alu_flags(ZYDIS_MNEMONIC_SBB, 5, 1, 32, 0x3, &r);
  EXPECT_EQ(r, 3u);
  // Logic clears CF and OF whatever came in.
  f = alu_flags(ZYDIS_MNEMONIC_XOR, 0xf0, 0xf0, 32, 0x2 | 0x801, &r);
  EXPECT_EQ(f & 0x8d5, 0x40u | 0x04u);  // ZF, PF
}

}  // namespace
}  // namespace hvlab::vmm
