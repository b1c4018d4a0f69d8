// MMIO by instruction emulation (see mmio.hpp). Instruction semantics are the SDM vol. 2's.

#include "common/vmm/mmio.hpp"

#include "common/arch/x86.hpp"
#include "common/decoder/decoder.hpp"
#include "common/vmm/machine.hpp"

namespace hvlab::vmm {

namespace {

constexpr std::uint32_t kCF = 1u << 0, kPF = 1u << 2, kAF = 1u << 4, kZF = 1u << 6, kSF = 1u << 7, kOF = 1u << 11;
constexpr std::uint32_t kStatusFlags = kCF | kPF | kAF | kZF | kSF | kOF;
constexpr unsigned kMaxInsnLength = 15;

constexpr std::uint32_t mask_of(unsigned bits) { return bits >= 32 ? 0xffffffffu : (1u << bits) - 1; }

// A general register as an operand: the 32-bit register and which of its bits.
struct RegRef {
  std::uint32_t* reg = nullptr;
  unsigned shift = 0;  // 8 for AH, CH, DH, BH
  unsigned bits = 0;
  std::uint32_t get() const { return (*reg >> shift) & mask_of(bits); }
  // A 32-bit write replaces the register, narrower ones only their bits (SDM vol. 1 3.4.1.1).
  void put(std::uint32_t v) const {
    const std::uint32_t m = mask_of(bits) << shift;
    *reg = (*reg & ~m) | ((v << shift) & m);
  }
};

bool reg_ref(VCpu& v, ZydisRegister r, RegRef* out) {
  GeneralRegisters& g = v.regs;
  std::uint32_t* const by_index[8] = {&g.eax, &g.ecx, &g.edx, &g.ebx, &g.esp, &g.ebp, &g.esi, &g.edi};
  if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_EDI) {
    *out = {by_index[r - ZYDIS_REGISTER_EAX], 0, 32};
  } else if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_DI) {
    *out = {by_index[r - ZYDIS_REGISTER_AX], 0, 16};
  } else if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BL) {
    *out = {by_index[r - ZYDIS_REGISTER_AL], 0, 8};
  } else if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH) {
    *out = {by_index[r - ZYDIS_REGISTER_AH], 8, 8};
  } else {
    return false;
  }
  return true;
}

bool parity_even(std::uint32_t v) {
  v &= 0xff;
  v ^= v >> 4;
  v ^= v >> 2;
  v ^= v >> 1;
  return (v & 1) == 0;
}

// One instruction's access to the device: its operands resolved, its reads and writes sent
// to the bus, with the reason on the Board when something cannot be done.
class Access {
 public:
  Access(Machine& m, VCpu& vcpu, const decoder::Instruction& insn, GuestPhysAddr gpa)
      : m_(m), vcpu_(vcpu), insn_(insn), gpa_(gpa) {}

  Action run();

 private:
  bool operand_value(const ZydisDecodedOperand& op, unsigned bits, std::uint32_t* v);
  bool device_read(unsigned bits, std::uint32_t* v);
  bool device_write(unsigned bits, std::uint32_t v);
  Action unsupported(const char* what);
  Action done() {
    vcpu_.eip += insn_.length();
    ++vcpu_.instructions_emulated;
    return Action::resume;
  }

  Machine& m_;
  VCpu& vcpu_;
  const decoder::Instruction& insn_;
  GuestPhysAddr gpa_;
};

Action Access::unsupported(const char* what) {
  m_.board().contain("the guest's %s at eip %08x touches device memory at guest-physical 0x%llx: %s",
                     insn_.mnemonic_name(), vcpu_.eip, static_cast<unsigned long long>(gpa_.value()), what);
  return Action::stop;
}

bool Access::device_read(unsigned bits, std::uint32_t* v) {
  auto r = m_.board().mmio().read(gpa_, bits / 8);
  if (!r.ok()) {
    m_.board().contain("the device at guest-physical 0x%llx refused a %u-byte read (%s, eip %08x)",
                       static_cast<unsigned long long>(gpa_.value()), bits / 8, error_name(r.error()), vcpu_.eip);
    return false;
  }
  *v = r.value() & mask_of(bits);
  return true;
}

bool Access::device_write(unsigned bits, std::uint32_t v) {
  Status s = m_.board().mmio().write(gpa_, bits / 8, v & mask_of(bits));
  if (!s.ok()) {
    m_.board().contain("the device at guest-physical 0x%llx refused a %u-byte write (%s, eip %08x)",
                       static_cast<unsigned long long>(gpa_.value()), bits / 8, error_name(s.error()), vcpu_.eip);
    return false;
  }
  return true;
}

// A register or immediate source operand, or the memory operand (read from the device).
bool Access::operand_value(const ZydisDecodedOperand& op, unsigned bits, std::uint32_t* v) {
  switch (op.type) {
    case ZYDIS_OPERAND_TYPE_REGISTER: {
      RegRef r;
      if (!reg_ref(vcpu_, op.reg.value, &r)) {
        unsupported("a register operand other than a general register");
        return false;
      }
      *v = r.get();
      return true;
    }
    case ZYDIS_OPERAND_TYPE_IMMEDIATE:
      // Zydis sign-extends signed immediates (imm8 of 83 /r) to 64 bits.
      *v = static_cast<std::uint32_t>(op.imm.value.u) & mask_of(bits);
      return true;
    case ZYDIS_OPERAND_TYPE_MEMORY: return device_read(bits, v);
    default: unsupported("an operand of an unexpected kind"); return false;
  }
}

Action Access::run() {
  const ZydisDecodedInstruction& info = insn_.info;
  const unsigned n = info.operand_count_visible;
  int mem = -1;
  for (unsigned i = 0; i < n; ++i) {
    if (insn_.operands[i].type != ZYDIS_OPERAND_TYPE_MEMORY) continue;
    if (mem >= 0) return unsupported("two memory operands");
    mem = static_cast<int>(i);
  }
  if (mem < 0) return unsupported("no memory operand the fault could be for");
  const ZydisDecodedOperand& m = insn_.operands[mem];
  const unsigned bits = m.size;
  if (bits != 8 && bits != 16 && bits != 32) return unsupported("an access wider than 32 bits");
  if (info.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE))
    return unsupported("a repeated string operation");
  if (n < 2) return unsupported("an instruction this emulator does not know");
  const ZydisDecodedOperand& other = insn_.operands[mem == 0 ? 1 : 0];

  switch (info.mnemonic) {
    case ZYDIS_MNEMONIC_MOV: {
      if (mem == 0) {  // MOV m, r / MOV m, imm
        std::uint32_t v;
        if (!operand_value(other, bits, &v) || !device_write(bits, v)) return Action::stop;
        return done();
      }
      RegRef dst;  // MOV r, m
      if (!reg_ref(vcpu_, other.reg.value, &dst)) return unsupported("a destination other than a general register");
      std::uint32_t v;
      if (!device_read(bits, &v)) return Action::stop;
      dst.put(v);
      return done();
    }
    case ZYDIS_MNEMONIC_MOVZX:
    case ZYDIS_MNEMONIC_MOVSX: {
      RegRef dst;
      if (mem != 1 || !reg_ref(vcpu_, insn_.operands[0].reg.value, &dst))
        return unsupported("a destination other than a general register");
      std::uint32_t v;
      if (!device_read(bits, &v)) return Action::stop;
      if (info.mnemonic == ZYDIS_MNEMONIC_MOVSX && (v >> (bits - 1)) & 1) v |= ~mask_of(bits);
      dst.put(v);
      return done();
    }
    case ZYDIS_MNEMONIC_ADD:
    case ZYDIS_MNEMONIC_ADC:
    case ZYDIS_MNEMONIC_SUB:
    case ZYDIS_MNEMONIC_SBB:
    case ZYDIS_MNEMONIC_AND:
    case ZYDIS_MNEMONIC_OR:
    case ZYDIS_MNEMONIC_XOR:
    case ZYDIS_MNEMONIC_CMP:
    case ZYDIS_MNEMONIC_TEST: {
      // a OP b with a the first operand; the result goes back to it, except for CMP and TEST.
      std::uint32_t a, b, result;
      if (!operand_value(insn_.operands[0], bits, &a) || !operand_value(insn_.operands[1], bits, &b))
        return Action::stop;
      vcpu_.eflags = alu_flags(info.mnemonic, a, b, bits, vcpu_.eflags, &result);
      if (info.mnemonic == ZYDIS_MNEMONIC_CMP || info.mnemonic == ZYDIS_MNEMONIC_TEST) return done();
      if (mem == 0) {
        if (!device_write(bits, result)) return Action::stop;
      } else {
        RegRef dst;
        if (!reg_ref(vcpu_, insn_.operands[0].reg.value, &dst)) return unsupported("a destination other than a general register");
        dst.put(result);
      }
      return done();
    }
    case ZYDIS_MNEMONIC_XCHG: {
      RegRef r;
      if (other.type != ZYDIS_OPERAND_TYPE_REGISTER || !reg_ref(vcpu_, other.reg.value, &r))
        return unsupported("an exchange with something other than a general register");
      std::uint32_t old;
      if (!device_read(bits, &old) || !device_write(bits, r.get())) return Action::stop;
      r.put(old);
      return done();
    }
    default: return unsupported("an instruction this emulator does not know (MOV, MOVZX, MOVSX, ALU, XCHG)");
  }
}

// Up to 15 bytes at CS:EIP through the guest's page tables; fewer if the next page is not
// mapped (the instruction then had to end before it). False if not even the first byte is
// readable.
bool fetch(Machine& m, VCpu& vcpu, std::uint8_t* bytes, std::size_t* count) {
  const GuestVirtAddr la(vcpu.cs_base + vcpu.eip);
  const bool user = vcpu.cpl == 3;
  std::size_t first = kPageSize - la.page_offset();
  if (first > kMaxInsnLength) first = kMaxInsnLength;
  ExceptionInfo fault;
  if (!m.backend().read_linear(vcpu, la, bytes, first, user, &fault)) return false;
  *count = first;
  if (first < kMaxInsnLength &&
      m.backend().read_linear(vcpu, la + first, bytes + first, kMaxInsnLength - first, user, &fault)) {
    *count = kMaxInsnLength;
  }
  return true;
}

}  // namespace

std::uint32_t alu_flags(unsigned mnemonic, std::uint32_t a, std::uint32_t b, unsigned bits, std::uint32_t eflags,
                        std::uint32_t* result) {
  const std::uint32_t mask = mask_of(bits);
  const std::uint32_t sign = 1u << (bits - 1);
  a &= mask;
  b &= mask;
  const std::uint32_t carry_in = (eflags & kCF) ? 1 : 0;
  std::uint64_t wide = 0;
  std::uint32_t flags = 0;
  switch (mnemonic) {
    case ZYDIS_MNEMONIC_ADD:
    case ZYDIS_MNEMONIC_ADC: {
      wide = std::uint64_t{a} + b + (mnemonic == ZYDIS_MNEMONIC_ADC ? carry_in : 0);
      const std::uint32_t r = static_cast<std::uint32_t>(wide) & mask;
      if (wide > mask) flags |= kCF;
      if ((a ^ r) & (b ^ r) & sign) flags |= kOF;  // both inputs' sign differs from the result's
      if ((a ^ b ^ r) & 0x10) flags |= kAF;
      break;
    }
    case ZYDIS_MNEMONIC_SUB:
    case ZYDIS_MNEMONIC_SBB:
    case ZYDIS_MNEMONIC_CMP: {
      const std::uint64_t borrow = mnemonic == ZYDIS_MNEMONIC_SBB ? carry_in : 0;
      wide = std::uint64_t{a} - b - borrow;
      const std::uint32_t r = static_cast<std::uint32_t>(wide) & mask;
      if (std::uint64_t{a} < std::uint64_t{b} + borrow) flags |= kCF;
      if ((a ^ b) & (a ^ r) & sign) flags |= kOF;
      if ((a ^ b ^ r) & 0x10) flags |= kAF;
      break;
    }
    case ZYDIS_MNEMONIC_AND:
    case ZYDIS_MNEMONIC_TEST: wide = a & b; break;  // CF = OF = 0; AF undefined, left 0
    case ZYDIS_MNEMONIC_OR: wide = a | b; break;
    case ZYDIS_MNEMONIC_XOR: wide = a ^ b; break;
    default: break;
  }
  const std::uint32_t r = static_cast<std::uint32_t>(wide) & mask;
  if (r == 0) flags |= kZF;
  if (r & sign) flags |= kSF;
  if (parity_even(r)) flags |= kPF;
  *result = r;
  return (eflags & ~kStatusFlags) | flags;
}

Action emulate_mmio_instruction(Machine& m, VCpu& vcpu, const decoder::Instruction& insn, GuestPhysAddr gpa) {
  return Access(m, vcpu, insn, gpa).run();
}

Action emulate_mmio(Machine& m, VCpu& vcpu, const Event& e) {
  const GuestPhysAddr gpa = e.memory.physical;
  if (e.memory.has_value) {
    // The mechanism completed the instruction and reports the value written: only the
    // device's side is left (the guest is already past the instruction).
    Status s = e.memory.write && dev::valid_access_size(e.memory.size)
                   ? m.board().mmio().write(gpa, e.memory.size, e.memory.value)
                   : Status{Error::invalid_argument};
    if (!s.ok()) {
      m.board().contain("the device at guest-physical 0x%llx refused a %u-byte write of 0x%x (%s, eip %08x)",
                        static_cast<unsigned long long>(gpa.value()), e.memory.size, e.memory.value,
                        error_name(s.error()), vcpu.eip);
      return Action::stop;
    }
    return Action::resume;
  }
  if (e.memory.fetch) {
    m.board().contain("the guest executed from device memory at guest-physical 0x%llx (eip %08x)",
                      static_cast<unsigned long long>(gpa.value()), vcpu.eip);
    return Action::stop;
  }
  if (!(vcpu.cr0 & x86::cr0::PE)) {
    m.board().contain("the guest touched device memory at guest-physical 0x%llx in real mode (eip %04x), which is "
                      "not emulated",
                      static_cast<unsigned long long>(gpa.value()), vcpu.eip);
    return Action::stop;
  }
  std::uint8_t bytes[kMaxInsnLength];
  std::size_t count = 0;
  if (!fetch(m, vcpu, bytes, &count)) {
    m.board().contain("cannot read the instruction at eip %08x that touched device memory at 0x%llx", vcpu.eip,
                      static_cast<unsigned long long>(gpa.value()));
    return Action::stop;
  }
  // One instruction at a time per monitor: statics keep the ~1 KiB out of a kernel's stack,
  // and the decoder is set up once.
  static decoder::Instruction insn;
  static const decoder::Decoder dec(decoder::Mode::k32);
  if (!dec.decode_into(bytes, count, insn).ok()) {
    m.board().contain("cannot decode the instruction at eip %08x (bytes %02x %02x %02x %02x) that touched device "
                      "memory at 0x%llx",
                      vcpu.eip, bytes[0], bytes[1], bytes[2], bytes[3], static_cast<unsigned long long>(gpa.value()));
    return Action::stop;
  }
  return emulate_mmio_instruction(m, vcpu, insn, gpa);
}

}  // namespace hvlab::vmm
