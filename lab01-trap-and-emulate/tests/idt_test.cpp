// The virtual IDT (lab01-e6): delivery through the guest's own gates, stacks and frames, and
// the double and triple faults of SDM 6.15.
#include "lab01-trap-and-emulate/src/idt.hpp"

#include <gtest/gtest.h>

#include "lab01-trap-and-emulate/tests/trap_machine.hpp"

namespace hvlab::lab01 {
namespace {

namespace fl = x86::eflags;

struct IdtTest : ::testing::Test {
  void SetUp() override { tm.guest_tables(); }
  bool deliver(std::uint8_t vector, Delivery kind, bool has_error = false, std::uint32_t error = 0,
               std::uint32_t return_eip = 0x1234) {
    return deliver_interrupt(v, *tm.backend, *tm.backend, vector, kind, has_error, error, return_eip);
  }
  testing::TrapMachine tm;
  VCpu& v = tm.vcpu();
};

TEST_F(IdtTest, ExternalFromKernelPushesTheVirtualFrame) {
  v.eip = 0x1234;
  v.eflags = fl::FIXED1 | fl::IF;
  ASSERT_TRUE(deliver(0x20, Delivery::external));
  EXPECT_EQ(v.eip, 0x5000u);
  EXPECT_FALSE(v.interrupts_enabled());  // interrupt gate
  EXPECT_EQ(v.regs.esp, 0x9000u - 12);
  EXPECT_EQ(tm.u32(0x9000 - 12), 0x1234u);          // EIP
  EXPECT_EQ(tm.u32(0x9000 - 8), 0x08u);             // the guest's CS, RPL 0
  EXPECT_EQ(tm.u32(0x9000 - 4) & fl::IF, fl::IF);   // the virtual IF
}

TEST_F(IdtTest, SyscallFromUserSwitchesToTheTssStack) {
  v.cpl = 3;
  v.cs = 0x1b;
  v.ss = 0x23;
  v.regs.esp = 0x7000;
  ASSERT_TRUE(deliver(0x80, Delivery::software, false, 0, 0x4442));
  EXPECT_EQ(v.cpl, 0);
  EXPECT_EQ(v.ss, 0x10);
  EXPECT_EQ(v.cs, 0x08);
  EXPECT_EQ(v.regs.esp, 0x8000u - 20);
  EXPECT_EQ(tm.u32(0x8000 - 4), 0x23u);     // SS
  EXPECT_EQ(tm.u32(0x8000 - 8), 0x7000u);   // ESP
  EXPECT_EQ(tm.u32(0x8000 - 16), 0x1bu);    // CS
  EXPECT_EQ(tm.u32(0x8000 - 20), 0x4442u);  // EIP after INT
}

TEST_F(IdtTest, ADplZeroGateFromUserIsAGpThroughTheGuestsOwnHandler) {
  v.cpl = 3;
  v.cs = 0x1b;
  v.ss = 0x23;
  v.regs.esp = 0x7000;
  v.eip = 0x4440;
  ASSERT_TRUE(deliver(0x81, Delivery::software, false, 0, 0x4442));
  EXPECT_EQ(v.eip, 0x500du);                                // the #GP handler
  EXPECT_EQ(tm.u32(v.regs.esp), (0x81u << 3) | 2);          // error code: IDT vector
  EXPECT_EQ(tm.u32(v.regs.esp + 4), 0x4440u);               // at the INT itself
}

TEST_F(IdtTest, AFaultWhileDeliveringAFaultIsADoubleFault) {
  // Vector 0x30 has no gate (beyond nothing: a zero descriptor): #GP while delivering #GP.
  tm.put64(0x2000 + 13 * 8, 0);
  ASSERT_TRUE(deliver(13, Delivery::exception, true, 0));
  EXPECT_EQ(v.eip, 0x5008u);  // #DF
  EXPECT_EQ(tm.u32(v.regs.esp), 0u);
}

TEST_F(IdtTest, NoDoubleFaultHandlerEitherIsATripleFault) {
  tm.put64(0x2000 + 13 * 8, 0);
  tm.put64(0x2000 + 8 * 8, 0);
  EXPECT_FALSE(deliver(13, Delivery::exception, true, 0));
}

TEST_F(IdtTest, APageFaultOnTheStackPutsItsAddressInCr2) {
  // Guest paging on: 4 KiB identity pages for the first 4 MiB, but the stack's page 0x8000
  // is missing. The frame cannot be pushed (#PF at 0x8ff4), nor the #PF's, nor the #DF's.
  namespace pg = x86::page;
  tm.put32(0x10000, 0x11000 | pg::P | pg::RW);
  for (std::uint32_t i = 0; i < 1024; ++i) tm.put32(0x11000 + i * 4, i == 8 ? 0 : (i << 12) | pg::P | pg::RW);
  v.cr0 |= x86::cr0::PG;
  v.cr3 = 0x10000;
  tm.put64(0x2000 + 14 * 8, x86::GateDescriptor::make(0x500e, 0x08, x86::desc_type::kInterruptGate32, 0).raw());
  EXPECT_FALSE(deliver(0x20, Delivery::external));
  // The interrupt's frame faulted at 0x8ff4, the #PF's own (with its error code) at 0x8ff0:
  // CR2 holds the last, as the CPU leaves it when it gives up.
  EXPECT_EQ(v.cr2, 0x8ff0u);
  // With the page there, the same delivery goes through.
  tm.put32(0x11000 + 8 * 4, 0x8000 | pg::P | pg::RW);
  tm.backend->invalidate_page(0x8000);
  v.regs.esp = 0x9000;
  v.eip = 0x1234;
  EXPECT_TRUE(deliver(0x20, Delivery::external));
  EXPECT_EQ(v.eip, 0x5000u);
}

TEST(Delivery, TheGateIsReadThroughTheBackEndsMemory) {
  // Without a guest IDT at all (limit 0), an external interrupt is a #GP, then a #DF: a
  // triple fault, the guest cannot take anything.
  testing::TrapMachine tm;
  VCpu& v = tm.vcpu();
  v.idtr = {0, 0x2000};
  EXPECT_FALSE(deliver_interrupt(v, *tm.backend, *tm.backend, 0x20, Delivery::external, false, 0, 0));
}

}  // namespace
}  // namespace hvlab::lab01
