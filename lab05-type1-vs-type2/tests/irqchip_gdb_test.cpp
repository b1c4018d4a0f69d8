// lab05-e6 (the in-kernel irqchip) and lab05-e7 (the GDB stub's registers), and the stub's
// protocol around them.

#include <gtest/gtest.h>

#include <string>

#include "lab05-type1-vs-type2/src/gdb_stub.hpp"
#include "lab05-type1-vs-type2/src/irqchip.hpp"
#include "lab05-type1-vs-type2/tests/fake_kvm.hpp"

namespace hvlab::lab05 {
namespace {

using fake::FakeKvm;

TEST(Lab05E6Irqchip, CreatesThePicsAndApicsThenThePitWithItsSpeakerPort) {
  FakeKvm kvm;
  Vm vm(kvm);
  std::string why;
  ASSERT_TRUE(vm.create(FakeKvm::kKvmFd, 4 << 20, &why).ok());
  kvm.calls.clear();
  ASSERT_TRUE(create_kernel_irqchip(vm, &why).ok()) << why;
  ASSERT_EQ(kvm.calls.size(), 2u);
  EXPECT_EQ(kvm.calls[0], static_cast<unsigned long>(KVM_CREATE_IRQCHIP));
  EXPECT_EQ(kvm.calls[1], static_cast<unsigned long>(KVM_CREATE_PIT2));
  ASSERT_EQ(kvm.pit_flags.size(), 1u);
  EXPECT_EQ(kvm.pit_flags[0], 0u);  // not KVM_PIT_SPEAKER_DUMMY: port 0x61 works
}

TEST(Lab05E6Irqchip, AFailureSaysWhichCall) {
  FakeKvm kvm;
  kvm.irqchip_result = -EEXIST;
  Vm vm(kvm);
  std::string why;
  ASSERT_TRUE(vm.create(FakeKvm::kKvmFd, 4 << 20, &why).ok());
  EXPECT_FALSE(create_kernel_irqchip(vm, &why).ok());
  EXPECT_NE(why.find("KVM_CREATE_IRQCHIP"), std::string::npos) << why;
}

TEST(Lab05E6Irqchip, DeviceLinesBecomeKvmIrqLine) {
  FakeKvm kvm;
  Vm vm(kvm);
  std::string why;
  ASSERT_TRUE(vm.create(FakeKvm::kKvmFd, 4 << 20, &why).ok());
  KernelIrqLines lines(vm);
  lines.set_irq(4, true);
  lines.set_irq(4, false);
  ASSERT_EQ(kvm.irq_lines.size(), 2u);
  EXPECT_EQ(kvm.irq_lines[0], (std::pair<std::uint32_t, std::uint32_t>{4, 1}));
  EXPECT_EQ(kvm.irq_lines[1], (std::pair<std::uint32_t, std::uint32_t>{4, 0}));
  EXPECT_EQ(lines.failures(), 0u);
}

vmm::VCpu sample() {
  vmm::VCpu v;
  v.regs = {0x2badb002, 1, 2, 0x1000, 0x7ff0, 0x11223344, 6, 7};
  v.eip = 0x0010000c;
  v.eflags = 0x202;
  v.cs = 0x08;
  v.ss = v.ds = v.es = v.fs = v.gs = 0x10;
  return v;
}

TEST(Lab05E7Gdb, TheRegisterPacketIsGdbsI386OrderLittleEndian) {
  const std::string g = encode_registers(sample());
  ASSERT_EQ(g.size(), 16u * 8);
  EXPECT_EQ(g.substr(0, 8), "02b0ad2b");    // EAX
  EXPECT_EQ(g.substr(8, 8), "01000000");    // ECX
  EXPECT_EQ(g.substr(24, 8), "00100000");   // EBX
  EXPECT_EQ(g.substr(40, 8), "44332211");   // EBP
  EXPECT_EQ(g.substr(64, 8), "0c001000");   // EIP
  EXPECT_EQ(g.substr(72, 8), "02020000");   // EFLAGS
  EXPECT_EQ(g.substr(80, 8), "08000000");   // CS
  EXPECT_EQ(g.substr(88, 8), "10000000");   // SS
  EXPECT_EQ(g.substr(120, 8), "10000000");  // GS
  vmm::VCpu back;
  ASSERT_TRUE(decode_registers(g, back));
  EXPECT_EQ(back.regs.ebp, 0x11223344u);
  EXPECT_EQ(back.eip, 0x0010000cu);
}

// A script of GDB's side, and everything the stub sent back.
struct ScriptChannel final : GdbChannel {
  std::string in, out;
  std::size_t pos = 0;
  int get() override { return pos < in.size() ? static_cast<unsigned char>(in[pos++]) : -1; }
  void put(std::string_view b) override { out += b; }
  void send(const std::string& payload) { in += GdbStub::frame(payload); }
};

struct MemoryTarget final : GdbTarget {
  vmm::VCpu v = sample();
  std::string memory = std::string(0x100, '\0');
  std::array<std::uint32_t, 4> bp{};
  unsigned used = 0;
  bool step = false;
  vmm::VCpu& vcpu() override { return v; }
  bool read_memory(std::uint32_t va, void* dst, std::size_t n) override {
    if (va + n > memory.size()) return false;
    memcpy(dst, memory.data() + va, n);
    return true;
  }
  bool write_memory(std::uint32_t va, const void* src, std::size_t n) override {
    if (va + n > memory.size()) return false;
    memcpy(memory.data() + va, src, n);
    return true;
  }
  bool set_debug(const std::array<std::uint32_t, 4>& a, unsigned u, bool s) override {
    bp = a;
    used = u;
    step = s;
    return true;
  }
};

TEST(Lab05E7Gdb, AStubSessionReadsRegistersAndMemorySetsABreakpointAndContinues) {
  MemoryTarget t;
  t.memory[0x10] = '\x90';
  t.memory[0x11] = '\xcc';
  ScriptChannel c;
  c.send("qSupported:xmlRegisters=i386");
  c.send("?");
  c.send("g");
  c.send("m10,2");
  c.send("M20,2:abcd");
  c.send("Z1,10000c,1");
  c.send("c");
  GdbStub stub(t, c);
  EXPECT_EQ(stub.attach(), GdbStub::Resume::cont);
  EXPECT_NE(c.out.find(GdbStub::frame("PacketSize=1000")), std::string::npos);
  EXPECT_NE(c.out.find(GdbStub::frame("S05")), std::string::npos);
  EXPECT_NE(c.out.find(GdbStub::frame(encode_registers(sample()))), std::string::npos);
  EXPECT_NE(c.out.find(GdbStub::frame("90cc")), std::string::npos);
  EXPECT_EQ(static_cast<unsigned char>(t.memory[0x20]), 0xab);
  EXPECT_EQ(t.used, 1u);
  EXPECT_EQ(t.bp[0], 0x10000cu);
  EXPECT_FALSE(t.step);
  EXPECT_TRUE(stub.running());
  // The breakpoint is hit: the stop is reported, GDB steps once, then detaches.
  c.send("z1,10000c,1");
  c.send("s");
  EXPECT_EQ(stub.stopped(5), GdbStub::Resume::step);
  EXPECT_EQ(t.used, 0u);
  EXPECT_TRUE(t.step);
  c.send("D");
  EXPECT_EQ(stub.stopped(5), GdbStub::Resume::detach);
  EXPECT_FALSE(stub.attached());
}

TEST(Lab05GdbStub, FramingEscapesAndChecksums) {
  EXPECT_EQ(GdbStub::frame("OK"), "$OK#9a");
  EXPECT_EQ(GdbStub::frame("a#b"), "$a}\x03" "b#43");  // '#' sent as '}' '#' ^ 0x20
  // A packet with a bad checksum is refused with '-', then the good one is taken.
  MemoryTarget t;
  ScriptChannel c;
  c.in = "$g#00";
  c.send("k");
  GdbStub stub(t, c);
  EXPECT_EQ(stub.attach(), GdbStub::Resume::kill);
  EXPECT_EQ(c.out.substr(0, 2), "-+");
}

}  // namespace
}  // namespace hvlab::lab05
