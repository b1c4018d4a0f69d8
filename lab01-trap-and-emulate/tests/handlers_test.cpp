// The emulation routines as functions of (vCPU, decoded instruction, environment), driven
// with made-up instructions and a fake guest: flat memory, a port log, hook counters.
#include "lab01-trap-and-emulate/core.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

using namespace hvlab;
using namespace hvlab::lab01;
namespace fl = x86::eflags;

namespace {

struct FakeEnv final : GuestEnv {
  std::vector<std::uint8_t> mem = std::vector<std::uint8_t>(1 << 20);
  std::map<std::uint16_t, std::uint32_t> ports_in;
  std::vector<std::pair<std::uint16_t, std::uint32_t>> out_log;
  unsigned cr_writes[5] = {}, invlpgs = 0, gdt_loads = 0, ldt_loads = 0;
  const char* contained = nullptr;

  bool read_linear(std::uint32_t la, void* dst, std::size_t n, bool, Fault* f) override {
    if (la + n > mem.size()) {
      *f = {x86::vector::PF, true, 0, la};
      return false;
    }
    std::memcpy(dst, &mem[la], n);
    return true;
  }
  bool write_linear(std::uint32_t la, const void* src, std::size_t n, bool, Fault* f) override {
    if (la + n > mem.size()) {
      *f = {x86::vector::PF, true, 2, la};
      return false;
    }
    std::memcpy(&mem[la], src, n);
    return true;
  }
  std::uint32_t segment_base(std::uint16_t) override { return 0; }
  std::uint32_t io_read(std::uint16_t port, unsigned) override { return ports_in[port]; }
  void io_write(std::uint16_t port, unsigned, std::uint32_t v) override { out_log.push_back({port, v}); }
  void control_register_written(unsigned cr, std::uint32_t) override { ++cr_writes[cr]; }
  void invalidate_page(std::uint32_t) override { ++invlpgs; }
  void gdt_loaded() override { ++gdt_loads; }
  void ldt_loaded(std::uint32_t, std::uint32_t) override { ++ldt_loads; }
  std::uint64_t read_tsc() override { return 0x1122334455ull; }
  void contain(const char* why) override { contained = why; }

  std::uint32_t u32(std::uint32_t at) const {
    std::uint32_t v;
    std::memcpy(&v, &mem[at], 4);
    return v;
  }
  void put32(std::uint32_t at, std::uint32_t v) { std::memcpy(&mem[at], &v, 4); }
  void put64(std::uint32_t at, std::uint64_t v) { std::memcpy(&mem[at], &v, 8); }
};

decoder::Instruction decode(std::vector<std::uint8_t> bytes) {
  decoder::Decoder d(decoder::Mode::k32);
  auto r = d.decode(bytes.data(), bytes.size());
  EXPECT_TRUE(r.ok());
  return r.value();
}

// Runs the instruction as the monitor does: event, then dispatch on the mnemonic.
Action run(VCpu& v, FakeEnv& env, std::vector<std::uint8_t> bytes) {
  auto insn = decode(bytes);
  Event e = make_trap_event(v, x86::vector::GP, 0, 0, &insn);
  Action a = emulate_instruction(v, e, insn, env);
  if (a == Action::advance) v.eip += insn.length();
  return a;
}

// A flat guest GDT at 0x1000: null, code 0x08, data 0x10, user code 0x1b, user data 0x23,
// TSS 0x28 (at 0x3000), LDT 0x30.
void guest_tables(VCpu& v, FakeEnv& env) {
  using x86::SegmentDescriptor;
  namespace dt = x86::desc_type;
  env.put64(0x1008, SegmentDescriptor::make(0, 0xffffffff, dt::kCodeRX, 0).raw());
  env.put64(0x1010, SegmentDescriptor::make(0, 0xffffffff, dt::kDataRW, 0).raw());
  env.put64(0x1018, SegmentDescriptor::make(0, 0xffffffff, dt::kCodeRX, 3).raw());
  env.put64(0x1020, SegmentDescriptor::make(0, 0xffffffff, dt::kDataRW, 3).raw());
  env.put64(0x1028, SegmentDescriptor::make(0x3000, 103, dt::kTss32Available, 0, false, false).raw());
  env.put64(0x1030, SegmentDescriptor::make(0x4000, 31, dt::kLdt, 0, false, false).raw());
  v.gdtr = {0x37, 0x1000};
  v.idtr = {0x7ff, 0x2000};
  v.cs = 0x08;
  v.ss = v.ds = 0x10;
  v.regs.esp = 0x9000;
  // IDT: vector 0x20 an interrupt gate, 0x80 a DPL-3 trap gate, 0x81 DPL 0.
  env.put64(0x2000 + 0x20 * 8, x86::GateDescriptor::make(0x5000, 0x08, dt::kInterruptGate32, 0).raw());
  env.put64(0x2000 + 0x80 * 8, x86::GateDescriptor::make(0x5080, 0x08, dt::kTrapGate32, 3).raw());
  env.put64(0x2000 + 0x81 * 8, x86::GateDescriptor::make(0x5081, 0x08, dt::kInterruptGate32, 0).raw());
  env.put64(0x2000 + 13 * 8, x86::GateDescriptor::make(0x500d, 0x08, dt::kInterruptGate32, 0).raw());
  env.put32(0x3004, 0x8000);  // TSS.ESP0
  env.put32(0x3008, 0x10);    // TSS.SS0
  v.tr = 0x28;
}

}  // namespace

TEST(Classify, PrivilegedAndIoAndOthers) {
  EXPECT_EQ(classify_instruction(decode({0xfa})), Reason::privileged_instruction);  // cli
  EXPECT_EQ(classify_instruction(decode({0xec})), Reason::io_instruction);          // in al, dx
  EXPECT_EQ(classify_instruction(decode({0x0f, 0x22, 0xd8})), Reason::cr_access);   // mov cr3, eax
  EXPECT_EQ(classify_instruction(decode({0x0f, 0x32})), Reason::msr_read);
  EXPECT_EQ(classify_instruction(decode({0xf4})), Reason::hlt);
  EXPECT_EQ(classify_instruction(decode({0xcd, 0x80})), Reason::software_interrupt);
  EXPECT_EQ(classify_instruction(decode({0x8e, 0xd0})), Reason::privileged_instruction);  // mov ss, ax
  EXPECT_EQ(classify_instruction(decode({0x8e, 0xd8})), Reason::exception);                // mov ds, ax
  EXPECT_EQ(classify_instruction(decode({0x0f, 0x0b})), Reason::exception);                // ud2
}

TEST(Event, IoDetailsFromTheInstruction) {
  VCpu v;
  v.regs.edx = 0x3fd;
  auto insn = decode({0xec});
  Event e = make_trap_event(v, x86::vector::GP, 0, 0, &insn);
  EXPECT_EQ(e.reason, Reason::io_instruction);
  EXPECT_EQ(e.io.port, 0x3fd);
  EXPECT_EQ(e.io.size, 1);
  EXPECT_TRUE(e.io.in);
  EXPECT_EQ(e.insn_length, 1);
}

TEST(CliSti, ChangeOnlyTheVirtualIf) {
  FakeEnv env;
  VCpu v;
  v.eflags |= fl::IF;
  EXPECT_EQ(run(v, env, {0xfa}), Action::advance);
  EXPECT_FALSE(v.interrupts_enabled());
  EXPECT_EQ(run(v, env, {0xfb}), Action::advance);
  EXPECT_TRUE(v.interrupts_enabled());
  EXPECT_TRUE(v.interrupt_shadow);
}

TEST(CliSti, UserModeWithIopl0GetsGp) {
  FakeEnv env;
  VCpu v;
  v.cpl = 3;
  EXPECT_EQ(run(v, env, {0xfa}), Action::reflect);
  EXPECT_TRUE(env.has_pending);
  EXPECT_EQ(env.pending.vector, x86::vector::GP);
  v.eflags |= 3u << fl::kIoplShift;  // IOPL 3 allows it
  env.has_pending = false;
  EXPECT_EQ(run(v, env, {0xfa}), Action::advance);
}

TEST(Io, InAndOutReachTheBus) {
  FakeEnv env;
  VCpu v;
  env.ports_in[0x3fd] = 0x60;
  v.regs.edx = 0x3fd;
  EXPECT_EQ(run(v, env, {0xec}), Action::advance);  // in al, dx
  EXPECT_EQ(v.regs.eax & 0xff, 0x60u);
  v.regs.eax = 0x41;
  EXPECT_EQ(run(v, env, {0xe6, 0xe9}), Action::advance);  // out 0xe9, al
  ASSERT_EQ(env.out_log.size(), 1u);
  EXPECT_EQ(env.out_log[0].first, 0xe9);
  EXPECT_EQ(env.out_log[0].second, 0x41u);
}

TEST(Io, RepOutsbWritesEveryByte) {
  FakeEnv env;
  VCpu v;
  std::memcpy(&env.mem[0x100], "hey", 3);
  v.regs.esi = 0x100;
  v.regs.ecx = 3;
  v.regs.edx = 0xe9;
  EXPECT_EQ(run(v, env, {0xf3, 0x6e}), Action::advance);
  ASSERT_EQ(env.out_log.size(), 3u);
  EXPECT_EQ(env.out_log[2].second, static_cast<std::uint32_t>('y'));
  EXPECT_EQ(v.regs.ecx, 0u);
  EXPECT_EQ(v.regs.esi, 0x103u);
}

TEST(Io, LongRepOutsbStopsAfterAChunkAndRunsAgain) {
  FakeEnv env;
  VCpu v;
  v.eip = 0x500;
  v.regs.esi = 0x100;
  v.regs.ecx = 0xffffffffu;  // a hostile count
  v.regs.edx = 0x80;
  EXPECT_EQ(run(v, env, {0xf3, 0x6e}), Action::resume);
  EXPECT_EQ(env.out_log.size(), kRepChunk);
  EXPECT_EQ(v.regs.ecx, 0xffffffffu - kRepChunk);
  EXPECT_EQ(v.regs.esi, 0x100u + kRepChunk);
  EXPECT_EQ(v.eip, 0x500u);  // the instruction runs again
}

TEST(Rdtsc, ReadsTheEnvironmentsClockAndRdtscpClearsEcx) {
  FakeEnv env;
  VCpu v;
  v.regs.ecx = 7;
  EXPECT_EQ(classify_instruction(decode({0x0f, 0x01, 0xf9})), Reason::privileged_instruction);  // rdtscp
  EXPECT_EQ(run(v, env, {0x0f, 0x01, 0xf9}), Action::advance);
  EXPECT_EQ(v.regs.eax, 0x22334455u);
  EXPECT_EQ(v.regs.edx, 0x11u);
  EXPECT_EQ(v.regs.ecx, 0u);
  v.cpl = 3;
  v.cr4 |= x86::cr4::TSD;
  EXPECT_EQ(run(v, env, {0x0f, 0x31}), Action::reflect);  // the guest's own TSD: #GP at CPL 3
  EXPECT_EQ(env.pending.vector, x86::vector::GP);
}

TEST(ControlRegisters, MovToCr3TellsTheShadowTables) {
  FakeEnv env;
  VCpu v;
  v.regs.eax = 0x123000;
  EXPECT_EQ(run(v, env, {0x0f, 0x22, 0xd8}), Action::advance);  // mov cr3, eax
  EXPECT_EQ(v.cr3, 0x123000u);
  EXPECT_EQ(env.cr_writes[3], 1u);
  EXPECT_EQ(run(v, env, {0x0f, 0x20, 0xdb}), Action::advance);  // mov ebx, cr3
  EXPECT_EQ(v.regs.ebx, 0x123000u);
}

TEST(ControlRegisters, LmswCannotClearPe) {
  FakeEnv env;
  VCpu v;
  v.regs.eax = 0x8;  // TS only
  EXPECT_EQ(run(v, env, {0x0f, 0x01, 0xf0}), Action::advance);  // lmsw ax
  EXPECT_EQ(v.cr0 & 0xf, x86::cr0::PE | x86::cr0::TS);
}

TEST(ControlRegisters, UserModeGetsGp) {
  FakeEnv env;
  VCpu v;
  v.cpl = 3;
  EXPECT_EQ(run(v, env, {0x0f, 0x22, 0xd8}), Action::reflect);
  EXPECT_EQ(env.pending.vector, x86::vector::GP);
}

TEST(Msr, SysenterCsRoundTrip) {
  FakeEnv env;
  VCpu v;
  v.regs.ecx = 0x174;
  v.regs.eax = 0x1234;
  v.regs.edx = 0;
  EXPECT_EQ(run(v, env, {0x0f, 0x30}), Action::advance);
  v.regs.eax = 0;
  EXPECT_EQ(run(v, env, {0x0f, 0x32}), Action::advance);
  EXPECT_EQ(v.regs.eax, 0x1234u);
  v.regs.ecx = 0xdeadbeef;  // no such MSR
  EXPECT_EQ(run(v, env, {0x0f, 0x32}), Action::reflect);
}

TEST(DescriptorTables, LgdtAndLtr) {
  FakeEnv env;
  VCpu v;
  guest_tables(v, env);
  env.put32(0x600, 0x00000037u << 0 | (0x1000u << 16));
  env.mem[0x604] = 0;
  env.mem[0x605] = 0;
  v.regs.eax = 0x600;
  EXPECT_EQ(run(v, env, {0x0f, 0x01, 0x10}), Action::advance);  // lgdt [eax]
  EXPECT_EQ(v.gdtr.base, 0x1000u);
  EXPECT_EQ(v.gdtr.limit, 0x37);
  EXPECT_EQ(env.gdt_loads, 1u);
  v.regs.eax = 0x28;
  EXPECT_EQ(run(v, env, {0x0f, 0x00, 0xd8}), Action::advance);  // ltr ax
  EXPECT_EQ(v.tr, 0x28);
  EXPECT_EQ(x86::SegmentDescriptor::from(env.u32(0x1028) | (std::uint64_t{env.u32(0x102c)} << 32)).type,
            x86::desc_type::kTss32Busy);
  v.regs.eax = 0x30;
  EXPECT_EQ(run(v, env, {0x0f, 0x00, 0xd0}), Action::advance);  // lldt ax
  EXPECT_EQ(v.ldtr, 0x30);
  EXPECT_EQ(env.ldt_loads, 1u);
}

TEST(Interrupts, ExternalFromKernelPushesTheVirtualFrame) {
  FakeEnv env;
  VCpu v;
  guest_tables(v, env);
  v.eip = 0x1234;
  v.eflags = fl::FIXED1 | fl::IF;
  ASSERT_TRUE(deliver_interrupt(v, env, 0x20, Delivery::external, false, 0, v.eip));
  EXPECT_EQ(v.eip, 0x5000u);
  EXPECT_FALSE(v.interrupts_enabled());  // interrupt gate
  EXPECT_EQ(v.regs.esp, 0x9000u - 12);
  EXPECT_EQ(env.u32(0x9000 - 12), 0x1234u);       // EIP
  EXPECT_EQ(env.u32(0x9000 - 8), 0x08u);          // the guest's CS, RPL 0
  EXPECT_EQ(env.u32(0x9000 - 4) & fl::IF, fl::IF); // the virtual IF
}

TEST(Interrupts, SyscallFromUserSwitchesToTheTssStack) {
  FakeEnv env;
  VCpu v;
  guest_tables(v, env);
  v.cpl = 3;
  v.cs = 0x1b;
  v.ss = 0x23;
  v.regs.esp = 0x7000;
  v.eip = 0x4440;
  ASSERT_TRUE(deliver_interrupt(v, env, 0x80, Delivery::software, false, 0, 0x4442));
  EXPECT_EQ(v.cpl, 0);
  EXPECT_EQ(v.ss, 0x10);
  EXPECT_EQ(v.regs.esp, 0x8000u - 20);
  EXPECT_EQ(env.u32(0x8000 - 4), 0x23u);    // SS
  EXPECT_EQ(env.u32(0x8000 - 8), 0x7000u);  // ESP
  EXPECT_EQ(env.u32(0x8000 - 16), 0x1bu);   // CS
  EXPECT_EQ(env.u32(0x8000 - 20), 0x4442u); // EIP after INT
}

TEST(Interrupts, DplZeroGateFromUserIsGp) {
  FakeEnv env;
  VCpu v;
  guest_tables(v, env);
  v.cpl = 3;
  v.cs = 0x1b;
  v.ss = 0x23;
  v.regs.esp = 0x7000;
  v.eip = 0x4440;
  ASSERT_TRUE(deliver_interrupt(v, env, 0x81, Delivery::software, false, 0, 0x4442));
  EXPECT_EQ(v.eip, 0x500du);  // the #GP handler
  EXPECT_EQ(env.u32(v.regs.esp), (0x81u << 3) | 2);  // error code: IDT vector
}

TEST(Iret, ReturnsToKernelAndRestoresTheVirtualIf) {
  FakeEnv env;
  VCpu v;
  guest_tables(v, env);
  env.put32(0x9000, 0x2222);
  env.put32(0x9004, 0x08);
  env.put32(0x9008, fl::FIXED1 | fl::IF);
  EXPECT_EQ(run(v, env, {0xcf}), Action::resume);
  EXPECT_EQ(v.eip, 0x2222u);
  EXPECT_EQ(v.cs, 0x08);
  EXPECT_TRUE(v.interrupts_enabled());
  EXPECT_EQ(v.regs.esp, 0x900cu);
}

TEST(Iret, ReturnsToUserWithIopl) {
  FakeEnv env;
  VCpu v;
  guest_tables(v, env);
  env.put32(0x9000, 0x4000);
  env.put32(0x9004, 0x1b);
  env.put32(0x9008, fl::FIXED1 | fl::IF | fl::IOPL);
  env.put32(0x900c, 0x7ff0);
  env.put32(0x9010, 0x23);
  EXPECT_EQ(run(v, env, {0xcf}), Action::resume);
  EXPECT_EQ(v.cpl, 3);
  EXPECT_EQ(v.iopl(), 3u);
  EXPECT_EQ(v.regs.esp, 0x7ff0u);
  EXPECT_EQ(v.ss, 0x23);
}

TEST(Descriptors, DeprivilegedBelowTheMonitor) {
  auto d = deprivilege_descriptor(x86::SegmentDescriptor::make(0, 0xffffffff, x86::desc_type::kDataRW, 0));
  EXPECT_EQ(d.dpl, 1u);
  EXPECT_EQ(d.limit(), kGuestLinearLimit);
  auto u = deprivilege_descriptor(x86::SegmentDescriptor::make(0, 0xffffffff, x86::desc_type::kCodeRX, 3));
  EXPECT_EQ(u.dpl, 3u);
  auto high = deprivilege_descriptor(x86::SegmentDescriptor::make(0xf8000000, 0xfff, x86::desc_type::kDataRW, 0));
  EXPECT_FALSE(high.p);
  auto tss = deprivilege_descriptor(x86::SegmentDescriptor::make(0x3000, 103, x86::desc_type::kTss32Available, 0, false, false));
  EXPECT_EQ(tss.raw(), 0u);
  auto np = x86::SegmentDescriptor::make(0, 0xfff, x86::desc_type::kDataRW, 0);
  np.p = 0;
  EXPECT_EQ(deprivilege_descriptor(np).dpl, 1u);  // #NP, not #GP, when loaded at CPL 1
}
