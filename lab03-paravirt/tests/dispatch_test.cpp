// Exercise e1 (hypercall entry and dispatch) and e2 (the console), with the checks every
// guest pointer gets, and the small calls: stack_switch, set_callbacks, sched_op, port_io.

#include <gtest/gtest.h>

#include "common/vmm/debug.hpp"
#include "lab03-paravirt/src/errors.hpp"
#include "lab03-paravirt/tests/pv_fixture.hpp"

namespace hvlab::lab03 {
namespace {

using testing::PvFixture;

TEST(E1Dispatch, VersionReturnsTheAbiVersionInEaxAndContinuesAfterTheTrap) {
  PvFixture f;
  const std::uint32_t eip = PvFixture::kStubEip + HVLAB_PV_version * HVLAB_PV_STUB_SIZE + 5;
  EXPECT_EQ(f.call(HVLAB_PV_version), static_cast<int>(HVLAB_PV_ABI_VERSION));
  EXPECT_EQ(f.last_action, vmm::Action::advance);
  EXPECT_EQ(f.vcpu().eip, eip + 2) << "EIP moves past INT 0x82, to the stub's RET";
  EXPECT_EQ(f.domain.calls[HVLAB_PV_version], 1u);
}

TEST(E1Dispatch, UnknownNumbersAreENOSYSWhateverTheirValue) {
  PvFixture f;
  for (std::uint32_t nr : {std::uint32_t{HVLAB_PV_NR_HYPERCALLS}, 127u, 128u, 0x80000000u, 0xffffffffu}) {
    EXPECT_EQ(f.call(nr), err(HVLAB_PV_ENOSYS)) << nr;
    EXPECT_EQ(f.last_action, vmm::Action::advance);
  }
  EXPECT_EQ(f.domain.unknown, 5u);
  EXPECT_NE(f.trace_out.text.find("\"refused\""), std::string::npos) << "a refusal leaves a trace note";
}

// What GDB's hv-hcall reads: each call noted with the guest's registers on entry, then the
// handler's result (a refusal with its error's name).
TEST(E1Dispatch, EveryCallIsNotedForTheDebugger) {
  PvFixture f;
  const std::uint64_t before = vmm::g_debug.hypercalls;
  EXPECT_EQ(f.call(HVLAB_PV_console_write, 0x2000, 5000), err(HVLAB_PV_E2BIG));
  EXPECT_EQ(f.call(HVLAB_PV_version), static_cast<int>(HVLAB_PV_ABI_VERSION));
  ASSERT_EQ(vmm::g_debug.hypercalls, before + 2);
  const auto& ring = vmm::g_debug.hypercall_ring;
  const vmm::DebugHypercall& refused = ring[before % vmm::DebugState::kHypercallRing];
  EXPECT_EQ(refused.seq, before + 1);
  EXPECT_EQ(refused.number, std::uint32_t{HVLAB_PV_console_write});
  EXPECT_STREQ(refused.name, "console_write");
  EXPECT_EQ(refused.nargs, 2u);
  EXPECT_EQ(refused.args[0], 0x2000u);
  EXPECT_EQ(refused.args[1], 5000u);
  EXPECT_TRUE(refused.done);
  EXPECT_EQ(refused.result, err(HVLAB_PV_E2BIG));
  EXPECT_STREQ(refused.error, "E2BIG");
  EXPECT_EQ(refused.guest_eip, PvFixture::kStubEip + HVLAB_PV_console_write * HVLAB_PV_STUB_SIZE + 5);
  const vmm::DebugHypercall& version = ring[(before + 1) % vmm::DebugState::kHypercallRing];
  EXPECT_STREQ(version.name, "version");
  EXPECT_EQ(version.nargs, 0u);
  EXPECT_EQ(version.result, static_cast<int>(HVLAB_PV_ABI_VERSION));
  EXPECT_EQ(version.error, nullptr);
}

TEST(E1Dispatch, ArgumentsComeFromEbxEcxEdxEsi) {
  PvFixture f;
  // set_callbacks(event cs = EBX, event eip = ECX, failsafe cs = EDX, failsafe eip = ESI).
  EXPECT_EQ(f.call(HVLAB_PV_set_callbacks, 0x09, 0x1234, 0x11, 0x5678, 0xdead), 0);
  EXPECT_EQ(f.domain.event_callback.cs, 0x09u);
  EXPECT_EQ(f.domain.event_callback.eip, 0x1234u);
  EXPECT_EQ(f.domain.failsafe_callback.cs, 0x11u);
  EXPECT_EQ(f.domain.failsafe_callback.eip, 0x5678u);
}

TEST(E1Dispatch, AUserModeCallerGetsAGeneralProtectionFault) {
  PvFixture f;
  f.vcpu().cpl = 3;
  f.call(HVLAB_PV_version);
  ASSERT_TRUE(f.board.has_pending_event());
  EXPECT_EQ(f.board.pending_event().vector, x86::vector::GP);
  EXPECT_EQ(f.board.pending_event().error_code, HVLAB_PV_TRAP_VECTOR * 8 + 2);
  EXPECT_EQ(f.domain.calls[HVLAB_PV_version], 0u) << "nothing ran";
}

TEST(E2Console, WritesTheBytesToTheGuestConsole) {
  PvFixture f;
  const char text[] = "ok 1 pv_console\n";
  std::memcpy(f.ram.data() + 0x2000, text, sizeof text - 1);
  EXPECT_EQ(f.call(HVLAB_PV_console_write, 0x2000, sizeof text - 1), static_cast<int>(sizeof text - 1));
  EXPECT_EQ(f.console.bytes, text);
  EXPECT_NE(f.trace_out.text.find("pv_console"), std::string::npos) << "KTAP lines become trace notes, as on COM1";
}

TEST(E2Console, LongWritesCrossPieces) {
  PvFixture f;
  for (unsigned i = 0; i < 1000; ++i) f.ram[0x2000 + i] = static_cast<std::uint8_t>('a' + i % 26);
  EXPECT_EQ(f.call(HVLAB_PV_console_write, 0x2000, 1000), 1000);
  ASSERT_EQ(f.console.bytes.size(), 1000u);
  EXPECT_EQ(f.console.bytes[999], 'a' + 999 % 26);
}

TEST(E2Console, RefusesLengthsAboveTheLimitAndBadPointersAndPrintsNothing) {
  PvFixture f;  // 64 pages of RAM: 256 KiB
  EXPECT_EQ(f.call(HVLAB_PV_console_write, 0x2000, kMaxConsoleWrite + 1), err(HVLAB_PV_E2BIG));
  EXPECT_EQ(f.call(HVLAB_PV_console_write, 0x3ff00, 0x200), err(HVLAB_PV_EFAULT)) << "runs past the end of RAM";
  EXPECT_EQ(f.call(HVLAB_PV_console_write, 0xF0001000u, 16), err(HVLAB_PV_EFAULT)) << "the monitor's area";
  EXPECT_EQ(f.call(HVLAB_PV_console_write, 0xfffffff0u, 0x20), err(HVLAB_PV_EFAULT)) << "wraps around";
  EXPECT_EQ(f.console.bytes, "");
  EXPECT_EQ(f.call(HVLAB_PV_console_write, 0x2000, 0), 0);
}

TEST(E4PageTables, HypercallPointersGoThroughTheGuestsTables) {
  PvFixture f;
  f.build_identity();
  ASSERT_EQ(f.start_paging(), 0);
  // 0x400000 and up is not mapped: a pointer there is -EFAULT, not a fault in the monitor.
  EXPECT_EQ(f.call(HVLAB_PV_console_write, 0x400000, 4), err(HVLAB_PV_EFAULT));
  // Map frame 2 at 0x5000's place... page 5 of the identity map, unmapped, refuses too.
  ASSERT_EQ(f.update(11 << 12 | 5 * 4, 0), 0);
  f.put(0x5000, 'x');
  EXPECT_EQ(f.call(HVLAB_PV_console_write, 0x5000, 1), err(HVLAB_PV_EFAULT));
  f.put(0x6000, 'y');
  EXPECT_EQ(f.call(HVLAB_PV_console_write, 0x6000, 1), 1);
  EXPECT_EQ(f.console.bytes, "y");
}

TEST(GuestPointers, OutputsAreAllOrNothing) {
  PvFixture f;
  f.build_identity();
  ASSERT_EQ(f.start_paging(), 0);
  // port_io's IN result must land in writable memory: page 11 (a page table) is mapped
  // read-only, so the result is refused before the port is read.
  ASSERT_TRUE(f.board.ports().write(0x21, 1, 0x5a).ok());  // master PIC mask
  EXPECT_EQ(f.call(HVLAB_PV_port_io, 0x21, 1 | HVLAB_PV_PORT_IN, 0, 11 << 12), err(HVLAB_PV_EFAULT));
  EXPECT_EQ(f.call(HVLAB_PV_port_io, 0x21, 1 | HVLAB_PV_PORT_IN, 0, 0x2ffe), 0);
  EXPECT_EQ(f.get<std::uint32_t>(0x2ffe), 0x5au) << "a result across two pages";
}

TEST(SmallCalls, StackSwitchAndCallbacksCheckSelectorsAndAddresses) {
  PvFixture f;
  EXPECT_EQ(f.call(HVLAB_PV_stack_switch, 0, 0x8000), err(HVLAB_PV_EINVAL)) << "null selector";
  EXPECT_EQ(f.call(HVLAB_PV_stack_switch, 0x13, 0x8000), err(HVLAB_PV_EINVAL)) << "RPL 3";
  EXPECT_EQ(f.call(HVLAB_PV_stack_switch, 0x15, 0x8000), err(HVLAB_PV_EINVAL)) << "an LDT selector";
  EXPECT_EQ(f.call(HVLAB_PV_stack_switch, 0x11, 0xF0100000u), err(HVLAB_PV_EPERM));
  EXPECT_FALSE(f.domain.kernel_stack_set);
  EXPECT_EQ(f.call(HVLAB_PV_stack_switch, 0x11, 0x8000), 0);
  EXPECT_EQ(f.domain.kernel_esp, 0x8000u);
  EXPECT_EQ(f.call(HVLAB_PV_set_callbacks, 0x09, 0x1234, 0x09, 0xF0000000u), err(HVLAB_PV_EPERM));
  EXPECT_FALSE(f.domain.event_callback.valid()) << "a refused call changes nothing";
  EXPECT_EQ(f.call(HVLAB_PV_set_callbacks, 0x09, 0x1234, 0, 0), 0);
  EXPECT_EQ(f.domain.event_callback.eip, 0x1234u);
}

TEST(SmallCalls, PortIoReachesTheBoardsDevices) {
  PvFixture f;
  EXPECT_EQ(f.call(HVLAB_PV_port_io, 0x21, 1, 0xa5, 0), 0);
  EXPECT_EQ(f.call(HVLAB_PV_port_io, 0x21, 1 | HVLAB_PV_PORT_IN, 0, 0x2000), 0);
  EXPECT_EQ(f.get<std::uint32_t>(0x2000), 0xa5u);
  EXPECT_EQ(f.call(HVLAB_PV_port_io, 0x21, 3, 0, 0), err(HVLAB_PV_EINVAL)) << "size 3";
  EXPECT_EQ(f.call(HVLAB_PV_port_io, 0xffff, 2, 0, 0), err(HVLAB_PV_EINVAL)) << "beyond port 0xffff";
  EXPECT_EQ(f.call(HVLAB_PV_port_io, 0x21, 1 | 0x200, 0, 0), err(HVLAB_PV_EINVAL)) << "unknown flag";
  EXPECT_EQ(f.call(HVLAB_PV_port_io, 0x80, 1, 0, 0), 0) << "a port nobody decodes drops the write";
}

TEST(SmallCalls, ShutdownStopsTheGuestWithItsStatus) {
  PvFixture f;
  EXPECT_EQ(f.call(HVLAB_PV_sched_op, HVLAB_PV_SCHEDOP_shutdown, 256), err(HVLAB_PV_EINVAL));
  EXPECT_TRUE(f.board.running());
  EXPECT_EQ(f.call(HVLAB_PV_sched_op, HVLAB_PV_SCHEDOP_shutdown, 7), 0);
  EXPECT_TRUE(f.board.guest_exited());
  EXPECT_EQ(f.board.exit_status(), 7);
  EXPECT_EQ(f.call(HVLAB_PV_sched_op, 9, 0), err(HVLAB_PV_EINVAL));
}

}  // namespace
}  // namespace hvlab::lab03
