// The exit handlers and the platform, driven with made-up exits on the host.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/arch/fake_intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/vmm/monitor.hpp"
#include "lab04-vtx/src/handlers.hpp"
#include "lab04-vtx/src/platform.hpp"
#include "lab04-vtx/src/vmx_defs.hpp"

namespace hvlab::lab04 {
namespace {

using vmm::Action;
using vmm::Event;
using vmm::Reason;

class Recorder final : public dev::ByteSink {
 public:
  void put(std::uint8_t b) override { text.push_back(static_cast<char>(b)); }
  std::string text;
};

struct HandlerTest : ::testing::Test {
  void SetUp() override {
    x86::fake::reset();
    bind_platform(&plat);
    (void)plat.memory().add_region(GuestPhysAddr(0), ram.size(), ram.data());
    install_handlers(d);
  }
  void TearDown() override { bind_platform(nullptr); }

  static Event io(std::uint16_t port, unsigned size, bool in) {
    Event e;
    e.source = vmm::Source::vm_exit;
    e.reason = Reason::io_instruction;
    e.raw_reason = vmx::exit_reason::IO_INSTRUCTION;
    e.io.port = port;
    e.io.size = static_cast<std::uint8_t>(size);
    e.io.in = in;
    e.insn_length = 1;
    return e;
  }
  static Event exit(Reason r, std::uint32_t raw, std::uint8_t len = 2) {
    Event e;
    e.source = vmm::Source::vm_exit;
    e.reason = r;
    e.raw_reason = raw;
    e.insn_length = len;
    return e;
  }
  // The guest's own PIC and PIT set-up, through the ports as the guest does it.
  void out(std::uint16_t port, std::uint8_t v) {
    vcpu.regs.eax = v;
    d.dispatch(vcpu, io(port, 1, false));
  }
  void program_pic_and_pit(std::uint16_t pit_count) {
    out(0x20, 0x11); out(0x21, 0x20); out(0x21, 0x04); out(0x21, 0x01);
    out(0xa0, 0x11); out(0xa1, 0x28); out(0xa1, 0x02); out(0xa1, 0x01);
    out(0x21, 0xfe);  // only IRQ0
    out(0xa1, 0xff);
    out(0x43, 0x34);  // counter 0, lobyte/hibyte, mode 2
    out(0x40, pit_count & 0xff);
    out(0x40, pit_count >> 8);
  }

  Recorder console, debug;
  Platform plat{&console, &debug};
  std::vector<unsigned char> ram = std::vector<unsigned char>(1 << 20);
  vmm::Dispatcher d;
  vmm::VCpu vcpu;
};

TEST_F(HandlerTest, CpuidHidesVmx) {
  x86::fake::machine().cpuid_leaves[1] = {0x806e9, 0x800, 0xffffffff, 0xbfebfbff};
  vcpu.regs.eax = 1;
  vcpu.eip = 0x1000;
  EXPECT_EQ(d.dispatch(vcpu, exit(Reason::cpuid, vmx::exit_reason::CPUID)), Action::advance);
  EXPECT_EQ(vcpu.regs.ecx & x86::cpuid::ECX_VMX, 0u);
  EXPECT_EQ(vcpu.regs.ecx & (1u << 27), 0u);  // OSXSAVE follows the guest's CR4 (clear)
  EXPECT_EQ(vcpu.regs.edx, 0xbfebfbffu);
  EXPECT_EQ(vcpu.eip, 0x1002u);  // RIP advanced in one place, by the dispatcher
}

TEST_F(HandlerTest, UartOutputReachesTheConsole) {
  for (char c : std::string("ok 1 x\n")) out(0x3f8, static_cast<std::uint8_t>(c));
  EXPECT_EQ(console.text, "ok 1 x\n");
  vcpu.regs.eax = 0xdeadbe00;
  d.dispatch(vcpu, io(0x3fd, 1, true));  // LSR: transmitter empty
  EXPECT_EQ(vcpu.regs.eax & 0xffffff00u, 0xdeadbe00u);  // only AL changes
  EXPECT_TRUE(vcpu.regs.eax & 0x20);
}

TEST_F(HandlerTest, UnmappedPortsFloat) {
  vcpu.regs.eax = 0;
  d.dispatch(vcpu, io(0x1234, 2, true));
  EXPECT_EQ(vcpu.regs.eax, 0xffffu);
}

TEST_F(HandlerTest, GuestDebugOutputIsPrefixedAndItsExitIsTheStatus) {
  for (char c : std::string("hvlab-exit: 5\n")) out(0xe9, static_cast<std::uint8_t>(c));
  EXPECT_EQ(debug.text, "guest: hvlab-exit: 5\n");  // never a line starting with the marker
  vcpu.regs.eax = 5;
  EXPECT_EQ(d.dispatch(vcpu, io(0xf4, 1, false)), Action::stop);
  EXPECT_TRUE(plat.guest_exited());
  EXPECT_EQ(plat.guest_status(), 5);
}

TEST_F(HandlerTest, BochsShutdownPortUsesTheGuestsMarker) {
  for (char c : std::string("hvlab-exit: 7\n")) out(0xe9, static_cast<std::uint8_t>(c));
  for (char c : std::string("Shutdown")) out(0x8900 & 0xff, static_cast<std::uint8_t>(c));  // wrong port: nothing
  EXPECT_FALSE(plat.guest_exited());
  Action a = Action::resume;
  for (char c : std::string("Shutdown")) {
    vcpu.regs.eax = static_cast<std::uint8_t>(c);
    a = d.dispatch(vcpu, io(0x8900, 1, false));
  }
  EXPECT_EQ(a, Action::stop);
  EXPECT_EQ(plat.guest_status(), 7);
}

TEST_F(HandlerTest, StringOutputReadsGuestMemory) {
  const char msg[] = "hey";
  ASSERT_TRUE(plat.memory().copy_in(GuestPhysAddr(0x5000), msg, 3).ok());
  Event e = io(0x3f8, 1, false);
  e.io.string = e.io.rep = true;
  e.address = 0x5000;
  vcpu.regs.esi = 0x5000;
  vcpu.regs.ecx = 3;
  EXPECT_EQ(d.dispatch(vcpu, e), Action::advance);
  EXPECT_EQ(console.text, "hey");
  EXPECT_EQ(vcpu.regs.ecx, 0u);
  EXPECT_EQ(vcpu.regs.esi, 0x5003u);
}

TEST_F(HandlerTest, HltHalts) {
  EXPECT_EQ(d.dispatch(vcpu, exit(Reason::hlt, vmx::exit_reason::HLT, 1)), Action::advance);
  EXPECT_TRUE(vcpu.halted);
}

TEST_F(HandlerTest, CrAccessKeepsVmxHidden) {
  Event e = exit(Reason::cr_access, vmx::exit_reason::CR_ACCESS, 3);
  e.qualification = vmx::cr_qual::make(4, vmx::cr_qual::MOV_TO_CR, 0);
  vcpu.regs.eax = x86::cr4::VMXE | x86::cr4::PSE;
  EXPECT_EQ(d.dispatch(vcpu, e), Action::resume);
  EXPECT_TRUE(plat.has_pending_event());
  EXPECT_EQ(plat.pending_event().vector, x86::vector::GP);
  EXPECT_EQ(vcpu.cr4, 0u);

  e.qualification = vmx::cr_qual::make(0, vmx::cr_qual::MOV_TO_CR, 3);  // mov cr0, ebx
  vcpu.regs.ebx = x86::cr0::PE | x86::cr0::NE | x86::cr0::PG;
  EXPECT_EQ(d.dispatch(vcpu, e), Action::advance);
  EXPECT_EQ(vcpu.cr0, vcpu.regs.ebx);
}

TEST_F(HandlerTest, Msrs) {
  vcpu.regs.ecx = x86::msr::IA32_FEATURE_CONTROL;
  EXPECT_EQ(d.dispatch(vcpu, exit(Reason::msr_read, vmx::exit_reason::RDMSR)), Action::advance);
  EXPECT_EQ(vcpu.regs.eax, 1u);  // locked, VMX off

  vcpu.regs.ecx = x86::msr::IA32_VMX_BASIC;
  EXPECT_EQ(d.dispatch(vcpu, exit(Reason::msr_read, vmx::exit_reason::RDMSR)), Action::resume);
  EXPECT_EQ(plat.pending_event().vector, x86::vector::GP);

  vcpu.regs.ecx = x86::msr::IA32_SYSENTER_EIP;
  vcpu.regs.eax = 0x401000;
  vcpu.regs.edx = 0;
  EXPECT_EQ(d.dispatch(vcpu, exit(Reason::msr_write, vmx::exit_reason::WRMSR)), Action::advance);
  EXPECT_EQ(vcpu.msr_sysenter_eip, 0x401000u);

  x86::fake::machine().msrs[0xfe] = 0x508;  // MTRRcap exists on this "machine"
  vcpu.regs.ecx = 0xfe;
  EXPECT_EQ(d.dispatch(vcpu, exit(Reason::msr_read, vmx::exit_reason::RDMSR)), Action::advance);
  EXPECT_EQ(vcpu.regs.eax, 0x508u);
  vcpu.regs.ecx = 0x12345;  // does not exist
  EXPECT_EQ(d.dispatch(vcpu, exit(Reason::msr_read, vmx::exit_reason::RDMSR)), Action::resume);
}

TEST_F(HandlerTest, VmxInstructionsAreInvalidOpcodes) {
  EXPECT_EQ(d.dispatch(vcpu, exit(Reason::privileged_instruction, vmx::exit_reason::VMXON, 4)), Action::resume);
  EXPECT_EQ(plat.pending_event().vector, x86::vector::UD);
  EXPECT_EQ(d.dispatch(vcpu, exit(Reason::hypercall, vmx::exit_reason::VMCALL, 3)), Action::resume);
}

TEST_F(HandlerTest, UnexpectedExitsStopAndSayWhy) {
  EXPECT_EQ(d.dispatch(vcpu, exit(Reason::other, vmx::exit_reason::MWAIT)), Action::stop);
  EXPECT_NE(std::string(plat.stop_reason()).find("MWAIT"), std::string::npos) << plat.stop_reason();
  Event ev = exit(Reason::ept_violation, vmx::exit_reason::EPT_VIOLATION);
  ev.address = 0xfee00000;
  ev.qualification = vmx::ept_qual::WRITE;
  EXPECT_EQ(d.dispatch(vcpu, ev), Action::stop);
  EXPECT_NE(std::string(plat.stop_reason()).find("0xfee00000"), std::string::npos) << plat.stop_reason();
}

TEST(ConvertTicks, CarriesRemainders) {
  std::uint64_t rem = 0, total = 0;
  for (int i = 0; i < 1000; ++i) total += convert_ticks(3, 1000, 7, &rem);  // 3000 ticks at 1 kHz = 3 s
  EXPECT_EQ(total, 21u);
  rem = 0;
  EXPECT_EQ(convert_ticks(10'000'000'000ull, 4'000'000'000ull, dev::Pit8254::kInputHz, &rem), 2982955u);
}

TEST_F(HandlerTest, TimerInterruptIsInjectedWhenTheGuestCanTakeIt) {
  plat.set_tsc_hz(dev::Pit8254::kInputHz);  // one TSC tick per PIT tick, to keep numbers simple
  program_pic_and_pit(1000);
  std::uint64_t host = 0;
  vcpu.eflags = x86::eflags::FIXED1;  // IF = 0
  EntryPlan p = plat.prepare_entry(vcpu, host);
  EXPECT_FALSE(p.inject.valid);
  EXPECT_NE(p.timer_deadline, 0u);

  host += 1500;  // past the first edge
  p = plat.prepare_entry(vcpu, host);
  EXPECT_FALSE(p.inject.valid);
  EXPECT_TRUE(p.interrupt_window);  // IF = 0: wait for the window

  vcpu.eflags |= x86::eflags::IF;
  vcpu.interrupt_shadow = true;  // just after STI
  p = plat.prepare_entry(vcpu, host);
  EXPECT_TRUE(p.interrupt_window);

  vcpu.interrupt_shadow = false;
  p = plat.prepare_entry(vcpu, host);
  ASSERT_TRUE(p.inject.valid);
  EXPECT_EQ(p.inject.type, PendingEvent::Type::external_interrupt);
  EXPECT_EQ(p.inject.vector, 0x20);
  EXPECT_EQ(plat.interrupts_injected(), 1u);
  // In service now: nothing more until the guest's EOI.
  p = plat.prepare_entry(vcpu, host + 5000);
  EXPECT_FALSE(p.inject.valid);
  out(0x20, 0x20);  // EOI
  p = plat.prepare_entry(vcpu, host + 5000);
  EXPECT_TRUE(p.inject.valid);
}

TEST_F(HandlerTest, HaltedGuestSkipsAheadToTheNextTick) {
  plat.set_tsc_hz(dev::Pit8254::kInputHz);
  program_pic_and_pit(50000);
  std::uint64_t host = 0;
  vcpu.eflags |= x86::eflags::IF;
  // Programming mode 2 raises OUT at once: that edge is the first interrupt. Take it.
  if (plat.prepare_entry(vcpu, host).inject.valid) out(0x20, 0x20);
  vcpu.halted = true;
  EntryPlan p = plat.prepare_entry(vcpu, host + 10);
  ASSERT_TRUE(p.inject.valid);
  EXPECT_EQ(p.inject.vector, 0x20);
  EXPECT_FALSE(vcpu.halted);
  EXPECT_GE(plat.tsc_offset(), 49000u);  // the guest's clock moved, not the host's
  EXPECT_EQ(plat.idle_skips(), 1u);
}

TEST_F(HandlerTest, HaltedWithInterruptsOffStops) {
  vcpu.halted = true;
  EXPECT_TRUE(plat.prepare_entry(vcpu, 0).stop);
}

TEST_F(HandlerTest, AGuestThatFloodsItsConsoleIsStopped) {
  Action a = Action::advance;
  std::uint64_t n = 0;
  for (; n <= Platform::kConsoleLimit + 1 && a == Action::advance; ++n) {
    vcpu.regs.eax = 'x';
    a = d.dispatch(vcpu, io(0x3f8, 1, false));
  }
  EXPECT_EQ(a, Action::stop);
  EXPECT_EQ(console.text.size(), Platform::kConsoleLimit);
  EXPECT_NE(std::string(plat.stop_reason()).find("flooded"), std::string::npos);
}

TEST_F(HandlerTest, SpinningWithInterruptsOffIsNoticed) {
  plat.set_tsc_hz(1000);
  plat.on_exit(0);
  plat.note_progress();
  plat.prepare_entry(vcpu, 0);
  plat.on_exit(1500);  // 1.5 s of guest time, IF = 0, no progress
  EXPECT_FALSE(plat.spinning_with_interrupts_off(vcpu, 2));
  plat.prepare_entry(vcpu, 1500);
  plat.on_exit(2600);
  EXPECT_TRUE(plat.spinning_with_interrupts_off(vcpu, 2));
  vcpu.eflags |= x86::eflags::IF;  // with interrupts on, a timer can still come
  EXPECT_FALSE(plat.spinning_with_interrupts_off(vcpu, 2));
}

TEST_F(HandlerTest, MonitorTimeIsHiddenFromTheGuest) {
  plat.set_tsc_hz(1000);
  plat.prepare_entry(vcpu, 100);  // the guest enters at host 100
  plat.on_exit(150);              // and runs 50 ticks
  plat.prepare_entry(vcpu, 400);  // the monitor took 250
  EXPECT_EQ(plat.guest_tsc(400), 150u);  // the guest's clock resumes where it stopped
}

TEST_F(HandlerTest, PendingExceptionGoesFirst) {
  plat.inject_exception(x86::vector::GP, true, 0);
  EntryPlan p = plat.prepare_entry(vcpu, 0);
  ASSERT_TRUE(p.inject.valid);
  EXPECT_EQ(p.inject.vector, x86::vector::GP);
  EXPECT_FALSE(plat.has_pending_event());
}

}  // namespace
}  // namespace hvlab::lab04
