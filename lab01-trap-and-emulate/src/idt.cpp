#include "lab01-trap-and-emulate/src/idt.hpp"

#include "common/runtime/exercise.hpp"

namespace hvlab::lab01 {

namespace fl = x86::eflags;
namespace vec = x86::vector;
using vmm::ExceptionInfo;

namespace {

constexpr ExceptionInfo gp(std::uint32_t error) { return {vec::GP, true, error, 0}; }

bool read(vmm::VCpu& v, vmm::Backend& mem, std::uint32_t la, void* dst, std::size_t n, ExceptionInfo* f) {
  return mem.read_linear(v, GuestVirtAddr(la), dst, n, false, f);
}

bool deliver_once(vmm::VCpu& v, vmm::Backend& mem, const SegmentBases& seg, std::uint8_t vector, Delivery kind,
                  bool has_error, std::uint32_t error, std::uint32_t return_eip, ExceptionInfo* nested) {
  // BEGIN SOLUTION lab01-e6
  // SDM 6.12.1: read the gate from the IDT, check it, pick the stack, push the frame.
  std::uint32_t idt_error = vector * 8u + 2 + (kind == Delivery::external ? 1 : 0);
  if (vector * 8u + 7 > v.idtr.limit) {
    *nested = gp(idt_error);
    return false;
  }
  std::uint64_t raw = 0;
  if (!read(v, mem, v.idtr.base + vector * 8u, &raw, 8, nested)) return false;
  auto gate = x86::GateDescriptor::from(raw);
  if (gate.type != x86::desc_type::kInterruptGate32 && gate.type != x86::desc_type::kTrapGate32) {
    *nested = gp(idt_error);
    return false;
  }
  if (kind == Delivery::software && gate.dpl < v.cpl) {
    *nested = gp(idt_error);
    return false;
  }
  if (!gate.p) {
    *nested = {vec::NP, true, idt_error, 0};
    return false;
  }
  x86::SegmentDescriptor code{};
  if (!guest_descriptor(v, mem, static_cast<std::uint16_t>(gate.selector), &code, nested)) return false;
  if (!code.s || !(code.type & 0x8) || code.dpl > v.cpl) {
    *nested = gp(gate.selector & 0xfffcu);
    return false;
  }
  bool conforming = (code.type & 0x4) != 0;
  unsigned new_cpl = conforming ? v.cpl : code.dpl;

  std::uint32_t frame[7];
  unsigned n = 0;
  std::uint32_t new_esp = v.regs.esp;
  std::uint16_t new_ss = v.ss;
  if (new_cpl < v.cpl) {
    // An inner ring: the stack comes from the guest's TSS (SDM 6.12.1, 8.2.1).
    x86::SegmentDescriptor tss{};
    if (!guest_descriptor(v, mem, v.tr, &tss, nested)) {
      *nested = {vec::TS, true, static_cast<std::uint32_t>(v.tr & 0xfffc), 0};
      return false;
    }
    std::uint32_t esp0 = 0, ss0 = 0;
    if (!read(v, mem, tss.base() + 4, &esp0, 4, nested) || !read(v, mem, tss.base() + 8, &ss0, 4, nested)) return false;
    new_esp = esp0;
    new_ss = static_cast<std::uint16_t>(ss0);
    frame[n++] = v.ss;
    frame[n++] = v.regs.esp;
  }
  frame[n++] = v.eflags;
  frame[n++] = v.cs;
  frame[n++] = return_eip;
  if (has_error) frame[n++] = error;
  // The frame's lowest address holds the last push.
  std::uint32_t bytes[7];
  for (unsigned i = 0; i < n; ++i) bytes[i] = frame[n - 1 - i];
  new_esp -= n * 4;
  if (!mem.write_linear(v, GuestVirtAddr(seg.segment_base(new_ss) + new_esp), bytes, n * 4, new_cpl == 3, nested))
    return false;

  v.regs.esp = new_esp;
  v.ss = new_ss;
  v.cs = static_cast<std::uint16_t>((gate.selector & ~3u) | new_cpl);
  v.eip = gate.offset();
  v.cpl = static_cast<std::uint8_t>(new_cpl);
  v.eflags &= ~(fl::TF | fl::NT | fl::RF | fl::VM);
  if (gate.type == x86::desc_type::kInterruptGate32) v.eflags &= ~fl::IF;
  v.halted = false;
  return true;
  // STUB: return false;
  // END SOLUTION
}

bool contributory(unsigned v) { return v == vec::DE || v == vec::TS || v == vec::NP || v == vec::SS || v == vec::GP; }

}  // namespace

bool guest_descriptor(vmm::VCpu& v, vmm::Backend& mem, std::uint16_t sel, x86::SegmentDescriptor* d,
                      ExceptionInfo* fault) {
  unsigned index = sel >> 3;
  if ((sel & 4) || index == 0 || index * 8u + 7 > v.gdtr.limit) {
    *fault = gp(sel & 0xfffc);
    return false;
  }
  std::uint64_t raw = 0;
  if (!read(v, mem, v.gdtr.base + index * 8u, &raw, 8, fault)) return false;
  *d = x86::SegmentDescriptor::from(raw);
  return true;
}

bool deliver_interrupt(vmm::VCpu& v, vmm::Backend& mem, const SegmentBases& seg, std::uint8_t vector,
                       Delivery kind, bool has_error, std::uint32_t error, std::uint32_t return_eip) {
  ExceptionInfo nested;
  if (deliver_once(v, mem, seg, vector, kind, has_error, error, return_eip, &nested)) return true;
  if (vector == vec::DF) return false;  // a fault while delivering #DF: triple fault
  if (nested.vector == vec::PF) v.cr2 = nested.address;
  // SDM 6.15 table 6-5: a contributory fault or #PF while delivering one of those is #DF.
  bool first_bad = kind == Delivery::exception && (contributory(vector) || vector == vec::PF);
  if (first_bad && (contributory(nested.vector) || nested.vector == vec::PF)) {
    return deliver_once(v, mem, seg, vec::DF, Delivery::exception, true, 0, v.eip, &nested);
  }
  // Otherwise the nested fault is delivered in its place, at the instruction that caused it.
  ExceptionInfo second;
  if (deliver_once(v, mem, seg, nested.vector, Delivery::exception, nested.has_error_code, nested.error_code, v.eip,
                   &second))
    return true;
  if (second.vector == vec::PF) v.cr2 = second.address;
  return deliver_once(v, mem, seg, vec::DF, Delivery::exception, true, 0, v.eip, &second);
}

}  // namespace hvlab::lab01
