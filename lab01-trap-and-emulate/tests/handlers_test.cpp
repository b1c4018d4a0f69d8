// lab01's handlers, one per reason, driven the way the run loop drives them: the guest traps
// on an instruction (the back end decodes it and builds the Event), the handler runs.
#include "lab01-trap-and-emulate/src/handlers.hpp"

#include <gtest/gtest.h>

#include <string>

#include "lab01-trap-and-emulate/tests/trap_machine.hpp"

namespace hvlab::lab01 {
namespace {

namespace fl = x86::eflags;
using vmm::PendingEvent;

struct HandlersTest : ::testing::Test {
  testing::TrapMachine tm;
  VCpu& v = tm.vcpu();
  Action run(const std::vector<std::uint8_t>& bytes) { return tm.run_insn(bytes); }
  bool raised(unsigned vector) { return tm.pending().valid && tm.pending().vector == vector; }
  void user() {
    tm.guest_tables();
    v.cpl = 3;
    v.cs = 0x1b;
    v.ss = v.ds = v.es = 0x23;
  }
};

TEST_F(HandlersTest, CliStiChangeOnlyTheVirtualIf) {
  v.eflags |= fl::IF;
  EXPECT_EQ(run({0xfa}), Action::advance);
  EXPECT_FALSE(v.interrupts_enabled());
  EXPECT_EQ(v.eip, 0xa001u);
  EXPECT_EQ(run({0xfb}), Action::advance);
  EXPECT_TRUE(v.interrupts_enabled());
  EXPECT_TRUE(v.interrupt_shadow);
  // The real IF the guest runs with stays 1 whatever it does.
  tm.trap(0x20);
  EXPECT_TRUE(tm.hw.given.back().eflags & fl::IF);
}

TEST_F(HandlersTest, CliInUserModeWithIoplZeroIsAGpForTheGuest) {
  user();
  EXPECT_EQ(run({0xfa}), Action::resume);
  EXPECT_TRUE(raised(x86::vector::GP));
  tm.board.clear_pending_event();
  v.eflags |= 3u << fl::kIoplShift;  // IOPL 3 allows it
  EXPECT_EQ(run({0xfa}), Action::advance);
}

TEST_F(HandlersTest, PortIoReachesTheBoardsDevices) {
  v.regs.eax = 'h';
  EXPECT_EQ(run({0xe6, 0xe9}), Action::advance);  // out 0xe9, al: the guest's debug console
  v.regs.eax = '\n';
  EXPECT_EQ(run({0xe6, 0xe9}), Action::advance);
  EXPECT_EQ(tm.debug.bytes, "guest: h\n");
  v.regs.eax = 0x0f;
  EXPECT_EQ(run({0xe6, 0x70}), Action::advance);  // CMOS index 0x0f
  v.regs.eax = 0xffffff00u;
  EXPECT_EQ(run({0xe4, 0x71}), Action::advance);  // in al, 0x71
  EXPECT_EQ(v.regs.eax & 0xffffff00u, 0xffffff00u);  // only AL changes
  EXPECT_EQ(tm.last.reason, Reason::io_instruction);
  EXPECT_EQ(tm.last.io.port, 0x71);
}

TEST_F(HandlersTest, RepOutsbGoesThroughTheSharedStringIo) {
  tm.put(0x100, {'h', 'e', 'y', '\n'});
  v.regs.esi = 0x100;
  v.regs.ecx = 4;
  v.regs.edx = 0xe9;
  EXPECT_EQ(run({0xf3, 0x6e}), Action::advance);
  EXPECT_EQ(tm.debug.bytes, "guest: hey\n");
  EXPECT_EQ(v.regs.ecx, 0u);
  EXPECT_EQ(v.regs.esi, 0x104u);
}

TEST_F(HandlersTest, UserModeIoNeedsTheVirtualIopl) {
  user();
  v.regs.eax = 'x';
  EXPECT_EQ(run({0xe6, 0xe9}), Action::resume);
  EXPECT_TRUE(raised(x86::vector::GP));
  EXPECT_TRUE(tm.debug.bytes.empty());
}

TEST_F(HandlersTest, RdtscReadsTheGuestsClockFrozenAtTheTrap) {
  tm.board.prepare_entry(v, tm.hw.clock);
  v.regs.ecx = 7;
  EXPECT_EQ(run({0x0f, 0x01, 0xf9}), Action::advance);  // rdtscp
  tm.board.on_exit(tm.hw.exited);
  std::uint64_t seen = (std::uint64_t{v.regs.edx} << 32) | v.regs.eax;
  EXPECT_EQ(seen, tm.board.guest_tsc(tm.hw.exited));
  EXPECT_EQ(v.regs.ecx, 0u);  // IA32_TSC_AUX
  user();
  v.cr4 |= x86::cr4::TSD;
  EXPECT_EQ(run({0x0f, 0x31}), Action::resume);  // the guest's own TSD: #GP at CPL 3
  EXPECT_TRUE(raised(x86::vector::GP));
}

TEST_F(HandlersTest, MovToCr3DropsTheShadowTables) {
  tm.identity_paging();
  tm.trap(0x20);
  const auto resets = tm.backend->mmu().resets();
  v.regs.eax = 0x10000;  // the same tables: the write still flushes (SDM 4.10.4.1)
  EXPECT_EQ(run({0x0f, 0x22, 0xd8}), Action::advance);  // mov cr3, eax
  EXPECT_EQ(v.cr3, 0x10000u);
  EXPECT_EQ(tm.backend->mmu().resets(), resets + 1);
  EXPECT_EQ(run({0x0f, 0x20, 0xdb}), Action::advance);  // mov ebx, cr3
  EXPECT_EQ(v.regs.ebx, 0x10000u);
  EXPECT_EQ(tm.last.reason, Reason::cr_access);
  EXPECT_EQ(tm.last.number(), 3u);
}

TEST_F(HandlersTest, Cr0AndCr4WritesAreChecked) {
  v.regs.eax = x86::cr0::PG;  // paging without protection
  EXPECT_EQ(run({0x0f, 0x22, 0xc0}), Action::resume);
  EXPECT_TRUE(raised(x86::vector::GP));
  tm.board.clear_pending_event();
  v.regs.eax = 1u << 20;  // CR4.SMEP: not modelled
  EXPECT_EQ(run({0x0f, 0x22, 0xe0}), Action::resume);
  EXPECT_TRUE(raised(x86::vector::GP));
  tm.board.clear_pending_event();
  v.regs.eax = x86::cr4::PAE;
  EXPECT_EQ(run({0x0f, 0x22, 0xe0}), Action::stop);
  EXPECT_EQ(tm.board.state(), vmm::RunState::contained);
}

TEST_F(HandlersTest, LmswCannotClearPeAndCltsClearsTs) {
  v.cr0 |= x86::cr0::TS;
  EXPECT_EQ(run({0x0f, 0x06}), Action::advance);  // clts
  EXPECT_FALSE(v.cr0 & x86::cr0::TS);
  v.regs.eax = 0x8;  // TS only
  EXPECT_EQ(run({0x0f, 0x01, 0xf0}), Action::advance);  // lmsw ax
  EXPECT_EQ(v.cr0 & 0xf, x86::cr0::PE | x86::cr0::TS);
  tm.put(0x600, {0x02, 0x00});  // MP, from memory
  v.regs.ebx = 0x600;
  EXPECT_EQ(run({0x0f, 0x01, 0x33}), Action::advance);  // lmsw [ebx]
  EXPECT_EQ(v.cr0 & 0xf, x86::cr0::PE | x86::cr0::MP);
}

TEST_F(HandlersTest, ControlRegistersAreTheKernelsOnly) {
  user();
  EXPECT_EQ(run({0x0f, 0x22, 0xd8}), Action::resume);
  EXPECT_TRUE(raised(x86::vector::GP));
}

TEST_F(HandlersTest, MsrsRoundTripAndTheTscMovesOnlyItself) {
  v.regs.ecx = 0x174;
  v.regs.eax = 0x1234;
  v.regs.edx = 0;
  EXPECT_EQ(run({0x0f, 0x30}), Action::advance);
  v.regs.eax = 0;
  EXPECT_EQ(run({0x0f, 0x32}), Action::advance);
  EXPECT_EQ(v.regs.eax, 0x1234u);
  EXPECT_EQ(tm.last.msr.index, 0x174u);
  v.regs.ecx = 0xdeadbeef;  // no such MSR
  EXPECT_EQ(run({0x0f, 0x32}), Action::resume);
  EXPECT_TRUE(raised(x86::vector::GP));
  tm.board.clear_pending_event();
  v.regs.ecx = 0x10;  // IA32_TIME_STAMP_COUNTER = 5
  v.regs.eax = 5;
  v.regs.edx = 0;
  tm.board.prepare_entry(v, tm.hw.clock);
  EXPECT_EQ(run({0x0f, 0x30}), Action::advance);
  tm.board.on_exit(tm.hw.exited);
  EXPECT_EQ(tm.board.read_guest_tsc(tm.hw.clock), 5u);
}

TEST_F(HandlersTest, LgdtLtrAndLldtReachTheShadowTables) {
  tm.guest_tables();
  tm.put(0x600, {0x37, 0x00, 0x00, 0x10, 0x00, 0x00});  // limit 0x37, base 0x1000
  v.regs.eax = 0x600;
  EXPECT_EQ(run({0x0f, 0x01, 0x10}), Action::advance);  // lgdt [eax]
  EXPECT_EQ(v.gdtr.base, 0x1000u);
  EXPECT_EQ(v.gdtr.limit, 0x37);
  v.regs.eax = 0x28;
  EXPECT_EQ(run({0x0f, 0x00, 0xd8}), Action::advance);  // ltr ax
  EXPECT_EQ(v.tr, 0x28);
  EXPECT_EQ(x86::SegmentDescriptor::from(tm.u32(0x1028) | (std::uint64_t{tm.u32(0x102c)} << 32)).type,
            x86::desc_type::kTss32Busy);
  tm.put64(0x4008, x86::SegmentDescriptor::make(0x6000, 0xfff, x86::desc_type::kDataRW, 0).raw());
  v.regs.eax = 0x30;
  EXPECT_EQ(run({0x0f, 0x00, 0xd0}), Action::advance);  // lldt ax
  EXPECT_EQ(v.ldtr, 0x30);
  tm.trap(0x20);  // the next entry mirrors the LDT
  EXPECT_EQ(tm.backend->segment_base(0x0c), 0x6000u);
  v.regs.eax = 0x10;  // a data segment is no LDT
  EXPECT_EQ(run({0x0f, 0x00, 0xd0}), Action::resume);
  EXPECT_TRUE(raised(x86::vector::GP));
}

TEST_F(HandlersTest, IretToTheKernelRestoresTheVirtualIf) {
  tm.guest_tables();
  tm.put32(0x9000, 0x2222);
  tm.put32(0x9004, 0x08);
  tm.put32(0x9008, fl::FIXED1 | fl::IF);
  EXPECT_EQ(run({0xcf}), Action::resume);
  EXPECT_EQ(v.eip, 0x2222u);
  EXPECT_EQ(v.cs, 0x08);
  EXPECT_TRUE(v.interrupts_enabled());
  EXPECT_EQ(v.regs.esp, 0x900cu);
}

TEST_F(HandlersTest, IretToUserTakesTheIoplAndTheStack) {
  tm.guest_tables();
  tm.put32(0x9000, 0x4000);
  tm.put32(0x9004, 0x1b);
  tm.put32(0x9008, fl::FIXED1 | fl::IF | fl::IOPL);
  tm.put32(0x900c, 0x7ff0);
  tm.put32(0x9010, 0x23);
  EXPECT_EQ(run({0xcf}), Action::resume);
  EXPECT_EQ(v.cpl, 3);
  EXPECT_EQ(v.iopl(), 3u);
  EXPECT_EQ(v.regs.esp, 0x7ff0u);
  EXPECT_EQ(v.ss, 0x23);
}

TEST_F(HandlersTest, MovSsAndFarRetToTheKernel) {
  tm.guest_tables();
  v.regs.eax = 0x10;
  EXPECT_EQ(run({0x8e, 0xd0}), Action::advance);  // mov ss, ax
  EXPECT_EQ(v.ss, 0x10);
  EXPECT_TRUE(v.interrupt_shadow);
  v.regs.eax = 0x23;  // a ring-3 stack is no stack for the kernel
  EXPECT_EQ(run({0x8e, 0xd0}), Action::resume);
  EXPECT_TRUE(raised(x86::vector::GP));
  tm.board.clear_pending_event();
  tm.put32(0x9000, 0x3333);
  tm.put32(0x9004, 0x08);
  EXPECT_EQ(run({0xcb}), Action::resume);  // retf
  EXPECT_EQ(v.eip, 0x3333u);
  EXPECT_EQ(v.regs.esp, 0x9008u);
}

TEST_F(HandlersTest, DebugRegistersKeepTheirFixedBits) {
  v.regs.eax = 0;
  EXPECT_EQ(run({0x0f, 0x23, 0xf8}), Action::advance);  // mov dr7, eax
  EXPECT_EQ(v.dr[7], 0x400u);
  EXPECT_EQ(run({0x0f, 0x21, 0xf3}), Action::advance);  // mov ebx, dr6
  EXPECT_EQ(v.regs.ebx, 0xffff0ff0u);
}

TEST_F(HandlersTest, HltSleepsTheVcpuOnlyInTheKernel) {
  EXPECT_EQ(run({0xf4}), Action::advance);
  EXPECT_TRUE(v.halted);
  v.halted = false;
  user();
  EXPECT_EQ(run({0xf4}), Action::resume);
  EXPECT_FALSE(v.halted);
  EXPECT_TRUE(raised(x86::vector::GP));
}

TEST_F(HandlersTest, IntNIsPlannedForTheNextEntryThroughTheGuestsIdt) {
  tm.guest_tables();
  EXPECT_EQ(run({0xcd, 0x80}), Action::resume);
  PendingEvent p = tm.pending();
  ASSERT_TRUE(p.valid);
  EXPECT_EQ(p.type, PendingEvent::Type::software_interrupt);
  EXPECT_EQ(p.vector, 0x80);
  EXPECT_EQ(p.insn_length, 2);
  // The back end's inject() takes it through the DPL-3 trap gate, returning after the INT.
  ASSERT_TRUE(tm.backend->inject(v, p));
  EXPECT_EQ(v.eip, 0x5080u);
  EXPECT_EQ(tm.u32(v.regs.esp), 0xa002u);
  // INTO without OF does nothing.
  v.eip = 0xa000;
  tm.board.clear_pending_event();
  EXPECT_EQ(run({0xce}), Action::advance);
  EXPECT_FALSE(tm.pending().valid);
}

TEST_F(HandlersTest, PageFaultsFillReflectOrContain) {
  namespace pg = x86::page;
  // Paging off: the shadow maps guest RAM (a 4 MiB page here).
  EXPECT_EQ(tm.dispatcher.dispatch(tm.machine, v, tm.trap(x86::vector::PF)), Action::resume);
  EXPECT_EQ(tm.backend->mmu().fills(), 1u);
  // Paging on with nothing mapped at 0x400000: the guest's own #PF, with its error code.
  tm.put32(0x10000, 0);
  v.cr0 |= x86::cr0::PG;
  v.cr3 = 0x10000;
  tm.hw.cr2 = 0x400123;
  EXPECT_EQ(tm.dispatcher.dispatch(tm.machine, v, tm.trap(x86::vector::PF, pg::P | 2)), Action::resume);
  ASSERT_TRUE(raised(x86::vector::PF));
  EXPECT_EQ(tm.pending().error_code, 2u);  // not present in the guest's tables: no P
  EXPECT_EQ(v.cr2, 0x400123u);
  tm.board.clear_pending_event();
  // A page of the monitor's window: contained, naming the address.
  tm.hw.cr2 = 0xf0001000;
  EXPECT_EQ(tm.dispatcher.dispatch(tm.machine, v, tm.trap(x86::vector::PF)), Action::stop);
  EXPECT_EQ(std::string(tm.board.stop_reason()),
            "the guest accessed linear address f0001000, in 0xF0000000-0xFFFFFFFF where the monitor lives");
}

TEST_F(HandlersTest, AFrameOutsideItsRamIsContained) {
  namespace pg = x86::page;
  tm.put32(0x10000 + (0x80000000u >> 22) * 4, 0x20000000u | pg::P | pg::RW | pg::PS);
  v.cr0 |= x86::cr0::PG;
  v.cr4 |= x86::cr4::PSE;
  v.cr3 = 0x10000;
  tm.hw.cr2 = 0x80000000;
  EXPECT_EQ(tm.dispatcher.dispatch(tm.machine, v, tm.trap(x86::vector::PF, 2)), Action::stop);
  EXPECT_EQ(std::string(tm.board.stop_reason()),
            "the guest maps linear 80000000 to guest-physical 20000000, outside its 4 MiB of memory");
}

TEST_F(HandlersTest, AGpThatOnlyTheMonitorsWindowExplainsIsContained) {
  // mov eax, [0xf0000000] with flat guest segments: on a CPU that checks limits, the
  // truncated real segment faults (#GP(0)) where the guest's own would not.
  EXPECT_EQ(run({0xa1, 0x00, 0x00, 0x00, 0xf0}), Action::stop);
  EXPECT_EQ(tm.board.state(), vmm::RunState::contained);
  EXPECT_EQ(std::string(tm.board.stop_reason()),
            "the guest accessed linear address f0000000, in 0xF0000000-0xFFFFFFFF where the monitor lives");
}

TEST_F(HandlersTest, TheGuestsOwnGpIsReflected) {
  tm.guest_tables();
  EXPECT_EQ(run({0x0f, 0x0b}), Action::reflect);  // ud2... as a #GP: the guest's
  EXPECT_EQ(run({0x8e, 0xd8}), Action::reflect);  // mov ds, ax with a bad selector
  EXPECT_EQ(tm.board.state(), vmm::RunState::running);
}

}  // namespace
}  // namespace hvlab::lab01
