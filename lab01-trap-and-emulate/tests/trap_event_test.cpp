// The trap -> Event step: classify_instruction (lab01-e1), the typed payloads (io_access is
// lab01-e3), make_trap_event.
#include "lab01-trap-and-emulate/src/trap_event.hpp"

#include <gtest/gtest.h>

#include "lab01-trap-and-emulate/tests/trap_machine.hpp"

namespace hvlab::lab01 {
namespace {

using testing::decode;
using testing::FlatSegments;

Event gp_event(const VCpu& v, const std::vector<std::uint8_t>& bytes, decoder::Instruction& keep,
               const SegmentBases& seg) {
  keep = decode(bytes);
  return make_trap_event(v, x86::vector::GP, 0, 0, &keep, seg);
}

TEST(Classify, PrivilegedAndIoAndOthers) {
  EXPECT_EQ(classify_instruction(decode({0xfa})), Reason::privileged_instruction);  // cli
  EXPECT_EQ(classify_instruction(decode({0xec})), Reason::io_instruction);          // in al, dx
  EXPECT_EQ(classify_instruction(decode({0xf3, 0x6e})), Reason::io_instruction);    // rep outsb
  EXPECT_EQ(classify_instruction(decode({0x0f, 0x22, 0xd8})), Reason::cr_access);   // mov cr3, eax
  EXPECT_EQ(classify_instruction(decode({0x0f, 0x06})), Reason::cr_access);         // clts
  EXPECT_EQ(classify_instruction(decode({0x0f, 0x32})), Reason::msr_read);
  EXPECT_EQ(classify_instruction(decode({0x0f, 0x30})), Reason::msr_write);
  EXPECT_EQ(classify_instruction(decode({0xf4})), Reason::hlt);
  EXPECT_EQ(classify_instruction(decode({0x0f, 0x01, 0x38})), Reason::invlpg);      // invlpg [eax]
  EXPECT_EQ(classify_instruction(decode({0xcd, 0x80})), Reason::software_interrupt);
  EXPECT_EQ(classify_instruction(decode({0x0f, 0x23, 0xf8})), Reason::privileged_instruction);  // mov dr7, eax
  EXPECT_EQ(classify_instruction(decode({0x8e, 0xd0})), Reason::privileged_instruction);  // mov ss, ax
  EXPECT_EQ(classify_instruction(decode({0xcb})), Reason::privileged_instruction);        // retf
  EXPECT_EQ(classify_instruction(decode({0xc3})), Reason::exception);                     // ret (near)
  EXPECT_EQ(classify_instruction(decode({0x8e, 0xd8})), Reason::exception);                // mov ds, ax
  EXPECT_EQ(classify_instruction(decode({0x0f, 0x0b})), Reason::exception);                // ud2
}

TEST(IoAccess, PortFromDxOrImmediateAndTheSize) {
  VCpu v;
  FlatSegments seg;
  v.regs.edx = 0x3fd;
  auto in_dx = io_access(v, decode({0xec}), seg);  // in al, dx
  EXPECT_EQ(in_dx.port, 0x3fd);
  EXPECT_EQ(in_dx.size, 1);
  EXPECT_TRUE(in_dx.in);
  EXPECT_FALSE(in_dx.string);
  auto out_imm = io_access(v, decode({0xe7, 0x70}), seg);  // out 0x70, eax
  EXPECT_EQ(out_imm.port, 0x70);
  EXPECT_EQ(out_imm.size, 4);
  EXPECT_FALSE(out_imm.in);
  auto in_w = io_access(v, decode({0x66, 0xed}), seg);  // in ax, dx
  EXPECT_EQ(in_w.size, 2);
}

TEST(IoAccess, StringsCarryTheFirstElementsLinearAddress) {
  VCpu v;
  FlatSegments seg;
  seg.base = 0x100000;
  v.regs.edx = 0x1f0;
  v.regs.edi = 0x200;
  v.regs.esi = 0x300;
  auto ins = io_access(v, decode({0xf3, 0x66, 0x6d}), seg);  // rep insw
  EXPECT_TRUE(ins.in && ins.string && ins.rep);
  EXPECT_EQ(ins.size, 2);
  EXPECT_EQ(ins.linear, GuestVirtAddr(0x100200));  // ES:EDI
  auto outs = io_access(v, decode({0x6e}), seg);  // outsb
  EXPECT_FALSE(outs.in);
  EXPECT_FALSE(outs.rep);
  EXPECT_EQ(outs.size, 1);
  EXPECT_EQ(outs.linear, GuestVirtAddr(0x100300));  // DS:ESI
}

TEST(IoAccess, OutsTakesItsSegmentOverride) {
  struct PerSelector final : SegmentBases {
    std::uint32_t segment_base(std::uint16_t sel) const override { return sel == 0x38 ? 0x5000 : 0; }
  } seg;
  VCpu v;
  v.fs = 0x38;
  v.regs.esi = 0x10;
  auto outs = io_access(v, decode({0x64, 0x6f}), seg);  // outsd dx, fs:[esi]
  EXPECT_EQ(outs.size, 4);
  EXPECT_EQ(outs.linear, GuestVirtAddr(0x5010));
}

TEST(CrAccess, TheFourKinds) {
  VCpu v;
  v.regs.ecx = 0x8;
  using Type = vmm::CrAccess::Type;
  auto to = cr_access(v, decode({0x0f, 0x22, 0xd8}));  // mov cr3, eax
  EXPECT_EQ(to.type, Type::mov_to);
  EXPECT_EQ(to.cr, 3);
  EXPECT_EQ(to.gpr, 0);
  auto from = cr_access(v, decode({0x0f, 0x20, 0xe3}));  // mov ebx, cr4
  EXPECT_EQ(from.type, Type::mov_from);
  EXPECT_EQ(from.cr, 4);
  EXPECT_EQ(from.gpr, 3);
  EXPECT_EQ(cr_access(v, decode({0x0f, 0x06})).type, Type::clts);
  auto lmsw = cr_access(v, decode({0x0f, 0x01, 0xf1}));  // lmsw cx
  EXPECT_EQ(lmsw.type, Type::lmsw);
  EXPECT_EQ(lmsw.lmsw_source, 0x8);
}

TEST(MakeTrapEvent, APrivilegedInstructionCarriesItsDecodingAndLength) {
  VCpu v;
  FlatSegments seg;
  v.eip = 0x1234;
  decoder::Instruction insn;
  Event e = gp_event(v, {0x0f, 0x01, 0x10}, insn, seg);  // lgdt [eax]
  EXPECT_EQ(e.reason, Reason::privileged_instruction);
  EXPECT_EQ(e.source, vmm::Source::trap);
  EXPECT_EQ(e.insn, &insn);
  EXPECT_EQ(e.insn_length, 3);
  EXPECT_EQ(e.guest_eip, 0x1234u);
  EXPECT_EQ(e.raw_reason, x86::vector::GP);
}

TEST(MakeTrapEvent, PayloadsForIoMsrInvlpgAndInt) {
  VCpu v;
  FlatSegments seg;
  decoder::Instruction insn;
  v.regs.edx = 0xe9;
  Event io = gp_event(v, {0xee}, insn, seg);  // out dx, al
  EXPECT_EQ(io.reason, Reason::io_instruction);
  EXPECT_EQ(io.io.port, 0xe9);
  v.regs.ecx = 0x174;
  Event msr = gp_event(v, {0x0f, 0x32}, insn, seg);
  EXPECT_EQ(msr.msr.index, 0x174u);
  EXPECT_EQ(msr.number(), 0x174u);
  v.regs.eax = 0x4000;
  seg.base = 0x10;
  Event inv = gp_event(v, {0x0f, 0x01, 0x78, 0x08}, insn, seg);  // invlpg [eax+8]
  EXPECT_EQ(inv.reason, Reason::invlpg);
  EXPECT_TRUE(inv.memory.has_linear);
  EXPECT_EQ(inv.memory.linear, GuestVirtAddr(0x4018));
  Event sys = gp_event(v, {0xcd, 0x80}, insn, seg);
  EXPECT_EQ(sys.reason, Reason::software_interrupt);
  EXPECT_EQ(sys.exception.vector, 0x80);
  EXPECT_FALSE(sys.exception.has_error_code);
  EXPECT_EQ(gp_event(v, {0xcc}, insn, seg).exception.vector, 3);  // int3
}

TEST(MakeTrapEvent, PageFaultsAndInterruptsAndTheGuestsOwnExceptions) {
  VCpu v;
  FlatSegments seg;
  Event pf = make_trap_event(v, x86::vector::PF, x86::pf_error::W | x86::pf_error::P, 0xc0001234, nullptr, seg);
  EXPECT_EQ(pf.reason, Reason::page_fault);
  EXPECT_EQ(pf.memory.linear, GuestVirtAddr(0xc0001234));
  EXPECT_TRUE(pf.memory.write);
  EXPECT_EQ(pf.exception.error_code, x86::pf_error::W | x86::pf_error::P);
  EXPECT_EQ(make_trap_event(v, 0x20, 0, 0, nullptr, seg).reason, Reason::external_interrupt);
  Event de = make_trap_event(v, x86::vector::DE, 0, 0, nullptr, seg);
  EXPECT_EQ(de.reason, Reason::exception);
  EXPECT_FALSE(de.exception.has_error_code);
  // #NP is the monitor's only for an IRET or far RET (its hidden user code); any other is
  // the guest's.
  decoder::Instruction mov_ds = decode({0x8e, 0xd8});
  EXPECT_EQ(make_trap_event(v, x86::vector::NP, 0x18, 0, &mov_ds, seg).reason, Reason::exception);
  decoder::Instruction iret = decode({0xcf});
  EXPECT_EQ(make_trap_event(v, x86::vector::NP, 0x18, 0, &iret, seg).reason, Reason::privileged_instruction);
  // A #GP whose instruction could not be fetched goes back to the guest.
  EXPECT_EQ(make_trap_event(v, x86::vector::GP, 0, 0, nullptr, seg).reason, Reason::exception);
}

}  // namespace
}  // namespace hvlab::lab01
