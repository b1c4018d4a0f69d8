#include "lab02-binary-translation/src/translator.hpp"

#include <initializer_list>

#include "common/runtime/exercise.hpp"
#include "common/runtime/string.hpp"

namespace hvlab::lab02 {

namespace {

/// The guest EIP a relative branch goes to.
std::uint32_t branch_target(const decoder::Instruction& insn, std::uint32_t eip) {
  return eip + insn.length() + static_cast<std::uint32_t>(insn.operands[0].imm.value.s);
}

}  // namespace

/// Writes one block's code and its bookkeeping into the translator's tables.
class Emitter {
 public:
  Emitter(Translator& t, Block& b) : mode(b.mode), t_(t), b_(b) {}

  void put(std::uint8_t byte) { t_.code_[t_.used_++] = byte; }
  void put32(std::uint32_t w) {
    for (unsigned i = 0; i < 4; ++i) put(static_cast<std::uint8_t>(w >> (8 * i)));
  }
  /// A record of the guest's state here, in the current `mode`.
  void record(std::uint32_t eip, Rule r, Spot spot = Spot::insn, std::uint32_t aux = kNone, Unwind u = {}) {
    record_in(mode, eip, r, spot, aux, u);
  }
  void record_in(std::uint8_t m, std::uint32_t eip, Rule r, Spot spot = Spot::insn, std::uint32_t aux = kNone,
                 Unwind u = {}) {
    t_.records_[t_.nrecords_++] = Record{t_.used_, eip, aux, u.pack(), r, spot, m};
  }
  /// The mode once the current instruction is done: an STI shadow covers one instruction.
  std::uint8_t after() const { return static_cast<std::uint8_t>(mode & ~kModeShadow); }
  void bytes(std::initializer_list<std::uint8_t> b) {
    for (std::uint8_t x : b) put(x);
  }
  /// `jmp rel32` (or the rel32 of a Jcc just put) to an exit towards guest `target`, in the
  /// mode after the instruction (`to`: another one).
  void exit_rel32(std::uint32_t target) { exit_rel32(target, after()); }
  void exit_rel32(std::uint32_t target, std::uint8_t to) {
    t_.exits_[t_.nexits_++] = Exit{t_.nblocks_, t_.used_, 0, target, kNone, to};
    put32(0);
  }
  /// A `jmp` to an exit where the guest is already at `target` (in mode `to`).
  void jump_exit(std::uint32_t guest_eip, std::uint32_t target) { jump_exit(guest_eip, target, after()); }
  void jump_exit(std::uint32_t guest_eip, std::uint32_t target, std::uint8_t to) {
    record_in(to, guest_eip, Rule::jump);
    put(0xE9);
    exit_rel32(target, to);
  }
  /// `jcc rel32` (0F 80+cc) to a label placed later: returns its field for patch().
  std::uint32_t jcc_forward(std::uint8_t cc) {
    put(0x0F);
    put(static_cast<std::uint8_t>(0x80 | cc));
    const std::uint32_t field = t_.used_;
    put32(0);
    return field;
  }
  /// `int $0xF0` for the guest instruction at `eip` (its site).
  void callout(std::uint32_t eip, Rule r, std::uint32_t site) {
    record(eip, r, Spot::callout, site);
    put(0xCD);
    put(kCalloutVector);
  }
  std::uint32_t site(const decoder::Instruction& insn, std::uint32_t eip, Rule r, const std::uint8_t* bytes) {
    Site& s = t_.sites_[t_.nsites_];
    s.eip = eip;
    s.rule = r;
    s.length = insn.length();
    rt::mem_copy(s.bytes, bytes, s.length);
    return t_.nsites_++;
  }
  /// The inline lookup of the branch target on top of the guest's stack (`extra` words the
  /// translation pushed, the RET's `imm`): a hit in the table returns straight into the
  /// target's translation, a miss calls the monitor at `site`.
  void inline_lookup(std::uint32_t eip, Rule r, unsigned extra, unsigned imm, std::uint32_t site) {
    // The half of the table of the mode the branch goes on in; once the branch is as good as
    // done (forward), an STI shadow is over.
    const std::uint32_t base = Translator::half(after()) * Translator::kLookupEntries * 8;
    auto step = [&](unsigned saved, bool forward) {
      record_in(forward ? after() : mode, eip, r, Spot::lookup, kNone, Unwind{saved, extra, imm, forward, true});
    };
    step(0, false);
    bytes({0x9C});  // pushfd
    step(1, false);
    bytes({0x50});  // push eax
    step(2, false);
    bytes({0x53});  // push ebx
    step(3, false);
    bytes({0x8B, 0x44, 0x24, 0x0C});  // mov eax, [esp+12]: the guest target
    step(3, false);
    bytes({0x89, 0xC3});  // mov ebx, eax
    step(3, false);
    bytes({0xC1, 0xEB, 0x0C});  // shr ebx, 12
    step(3, false);
    bytes({0x31, 0xC3});  // xor ebx, eax: Translator::slot()
    step(3, false);
    bytes({0x81, 0xE3});  // and ebx, entries - 1
    put32(Translator::kLookupEntries - 1);
    step(3, false);
    bytes({0x2E, 0x3B, 0x04, 0xDD});  // cmp eax, cs:[ebx*8 + base]
    put32(base);
    step(3, false);
    bytes({0x0F, 0x85});  // jne miss
    const std::uint32_t jne = t_.used_;
    put32(0);
    step(3, false);
    bytes({0x2E, 0x8B, 0x04, 0xDD});  // mov eax, cs:[ebx*8 + base + 4]: its cache offset
    put32(base + 4);
    step(3, false);
    bytes({0x89, 0x44, 0x24, 0x0C});  // mov [esp+12], eax
    step(3, true);
    bytes({0x5B});  // pop ebx
    step(2, true);
    bytes({0x58});  // pop eax
    step(1, true);
    bytes({0x9D});  // popfd: the arithmetic flags back (IF is not the guest's to change here)
    step(0, true);
    if (imm) {
      put(0xC2);  // ret imm16
      put(static_cast<std::uint8_t>(imm));
      put(static_cast<std::uint8_t>(imm >> 8));
    } else {
      put(0xC3);
    }
    // The miss: the saved words and the pushed ones come off first, so the callout sees the
    // guest as it was before the instruction, the same as a callout without a lookup.
    patch(jne, t_.used_);
    step(3, false);
    bytes({0x5B});  // pop ebx
    step(2, false);
    bytes({0x58});  // pop eax
    step(1, false);
    bytes({0x9D});  // popfd
    if (extra) {
      step(0, false);
      bytes({0x8D, 0x64, 0x24, static_cast<std::uint8_t>(4 * extra)});  // lea esp, [esp+4*extra]
    }
    callout(eip, r, site);
  }

  /// What an EFLAGS rule (CLI, STI, PUSHF, POPF) became.
  enum class Flags : std::uint8_t {
    callout,    ///< nothing emitted: the caller emits a callout
    goes_on,    ///< an inline sequence; the block goes on after it
    ends_block  ///< an inline sequence that ends in exits (the mode changes there)
  };
  Flags eflags_rule(Rule r, std::uint32_t eip, std::uint32_t next, std::uint32_t site);

  /// The stubs of the block's exits, after its code: `int $0xF0` each.
  void stubs() {
    for (std::uint32_t i = b_.first_exit; i < t_.nexits_; ++i) {
      Exit& e = t_.exits_[i];
      e.stub = t_.used_;
      record_in(e.mode, e.target, Rule::jump, Spot::exit, i);
      put(0xCD);
      put(kCalloutVector);
      patch(e.jump, e.stub);
    }
  }
  void patch(std::uint32_t field, std::uint32_t to) {
    const std::uint32_t rel = to - (field + 4);
    for (unsigned i = 0; i < 4; ++i) t_.code_[field + i] = static_cast<std::uint8_t>(rel >> (8 * i));
  }

  /// The mode of the guest's state at the code emitted next.
  std::uint8_t mode;

 private:
  Translator& t_;
  Block& b_;
};

Emitter::Flags Emitter::eflags_rule(Rule r, std::uint32_t eip, std::uint32_t next, std::uint32_t site) {
  namespace fl = x86::eflags;
  const bool on = (mode & kModeIF) != 0;
  // BEGIN SOLUTION lab02-e4 degraded
  // In this block the virtual IF is `on`; the real IF is 1 and the real IOPL 0 (ring 1), so
  // POPFD here changes neither, and PUSHFD pushes IF = 1, IOPL = 0 and the monitor's TF.
  switch (r) {
    case Rule::cli:
    case Rule::sti:
      if ((r == Rule::sti) == on) {
        record(eip, r);  // IF is already so: nothing to do (no STI shadow either)
        put(0x90);
        return Flags::goes_on;
      }
      if (r == Rule::cli) {
        // The rest is translated for IF = 0: an exit to it.
        record(eip, r);
        put(0xE9);
        exit_rel32(next, static_cast<std::uint8_t>(after() & ~kModeIF));
        return Flags::ends_block;
      } else {
        // An interrupt held back for IF = 0 is delivered right after STI's shadow: the
        // monitor does it (a callout). Otherwise an exit to the rest, translated for IF = 1
        // with the next instruction in STI's shadow. The flags are saved around the CMP.
        record(eip, r);
        put(0x9C);  // pushfd
        record(eip, r, Spot::insn, kNone, Unwind{1, 0, 0, false, true});
        bytes({0x2E, 0x80, 0x3D});  // cmp byte cs:[the pending byte], 0
        put32(t_.pending_offset());
        put(0);
        record(eip, r, Spot::insn, kNone, Unwind{1, 0, 0, false, true});
        const std::uint32_t waiting = jcc_forward(0x5);  // jne
        record(eip, r, Spot::insn, kNone, Unwind{1, 0, 0, false, true});
        put(0x9D);  // popfd
        jump_exit(next, next, static_cast<std::uint8_t>(mode | kModeIF | kModeShadow));
        patch(waiting, t_.used_);
        record(eip, r, Spot::insn, kNone, Unwind{1, 0, 0, false, true});
        put(0x9D);
        callout(eip, r, site);
        return Flags::ends_block;
      }
    case Rule::pushf: {
      if (mode & kModeSlow) return Flags::callout;
      // The real flags, then a second copy to restore them from after the AND: the pushed
      // word gets the virtual IF (and no TF: the monitor's single step is not the guest's).
      // A fault on a push (the guest's stack) unwinds to the PUSHF with ESP as it was.
      record(eip, r);
      put(0x9C);  // pushfd: the guest's word
      record(eip, r, Spot::insn, kNone, Unwind{0, 1, 0, false, true});
      put(0x9C);  // pushfd: the flags, kept
      record(eip, r, Spot::insn, kNone, Unwind{1, 1, 0, false, true});
      bytes({0x81, 0x64, 0x24, 0x04});  // and dword [esp+4], ~(TF | IOPL | IF if off)
      put32(~(fl::TF | fl::IOPL | (on ? 0u : fl::IF)));
      record(eip, r, Spot::insn, kNone, Unwind{1, 1, 0, false, true});
      put(0x9D);  // popfd: the arithmetic flags as they were
      return Flags::goes_on;
    }
    case Rule::popf: {
      if (mode & kModeSlow) return Flags::callout;
      // Branch on the popped word (the flags saved around the TESTs): what the real POPFD at
      // ring 1 cannot do (IOPL, TF, NT, RF, VIF, VIP) calls out; otherwise POPFD, then an exit
      // to the rest translated for the popped IF. Setting IF looks for a waiting interrupt
      // first, as STI does (no shadow after POPF).
      const Unwind saved{1, 0, 0, false, true};
      record(eip, r);
      put(0x9C);  // pushfd
      record(eip, r, Spot::insn, kNone, saved);
      bytes({0xF7, 0x44, 0x24, 0x04});  // test dword [esp+4], slow bits
      put32(kSlowFlags | fl::RF);
      record(eip, r, Spot::insn, kNone, saved);
      const std::uint32_t slow = jcc_forward(0x5);  // jnz
      record(eip, r, Spot::insn, kNone, saved);
      bytes({0xF7, 0x44, 0x24, 0x04});  // test dword [esp+4], IF
      put32(fl::IF);
      record(eip, r, Spot::insn, kNone, saved);
      const std::uint32_t other = jcc_forward(on ? 0x4 : 0x5);  // jz / jnz: IF changes
      std::uint32_t waiting = kNone;
      for (unsigned pass = 0; pass < 2; ++pass) {
        if (pass == 1) {
          patch(other, t_.used_);
          if (!on) {
            record(eip, r, Spot::insn, kNone, saved);
            bytes({0x2E, 0x80, 0x3D});  // cmp byte cs:[the pending byte], 0
            put32(t_.pending_offset());
            put(0);
            record(eip, r, Spot::insn, kNone, saved);
            waiting = jcc_forward(0x5);  // jne
          }
        }
        record(eip, r, Spot::insn, kNone, saved);
        put(0x9D);  // popfd: the flags as they were, the guest before its POPF
        record(eip, r);
        put(0x9D);  // popfd: the popped word
        const std::uint8_t to = pass == 0 ? after() : static_cast<std::uint8_t>(after() ^ kModeIF);
        jump_exit(next, next, to);
      }
      patch(slow, t_.used_);
      if (waiting != kNone) patch(waiting, t_.used_);
      record(eip, r, Spot::insn, kNone, saved);
      put(0x9D);
      callout(eip, r, site);
      return Flags::ends_block;
    }
    default:
      return Flags::callout;
  }
  // STUB: (void)r; (void)eip; (void)next; (void)site; (void)on;
  // STUB: return Flags::callout;
  // END SOLUTION
}

Translator::Translator(std::uint8_t* code, std::uint32_t bytes) : code_(code), bytes_(bytes) {
  for (auto& h : hash_) h = kNone;
  table_clear();
  set_interrupt_waiting(false);
}

void Translator::table_set(std::uint32_t index, std::uint32_t eip, std::uint32_t offset) {
  for (unsigned i = 0; i < 4; ++i) {
    code_[index * 8 + i] = static_cast<std::uint8_t>(eip >> (8 * i));
    code_[index * 8 + 4 + i] = static_cast<std::uint8_t>(offset >> (8 * i));
  }
}

void Translator::table_clear() {
  // An EIP no branch goes to: every lookup misses.
  for (std::uint32_t i = 0; i < kLookupHalves * kLookupEntries; ++i) table_set(i, kNone, 0);
}

std::uint32_t Translator::lookup(std::uint32_t eip, std::uint16_t cs, std::uint8_t mode) {
  ++stats_.lookups;
  for (std::uint32_t b = hash_[bucket(eip, cs, mode)]; b != kNone; b = blocks_[b].hash_next) {
    if (blocks_[b].eip == eip && blocks_[b].cs == cs && blocks_[b].mode == mode && blocks_[b].live) {
      ++stats_.hits;
      return b;
    }
  }
  ++stats_.misses;
  return kNone;
}

Result<std::uint32_t> Translator::translate(std::uint32_t eip, std::uint16_t cs, std::uint8_t mode, CodeSource& src,
                                            bool one_shot) {
  // Room for the largest block: each instruction at most 15 bytes of copy or 16 of rewrite
  // (a POPF: 64 bytes, 17 records), three records, two exits and their stubs.
  if (nblocks_ >= kMaxBlocks || nrecords_ + 4 * kMaxBlockInsns + 24 > kMaxRecords || nexits_ + 4 > kMaxExits ||
      nsites_ + 1 > kMaxSites || used_ + 16 * kMaxBlockInsns + 128 > pending_offset())
    return Error::out_of_memory;
  const std::uint32_t saved_used = used_, saved_records = nrecords_, saved_exits = nexits_, saved_sites = nsites_;
  Block& b = blocks_[nblocks_];
  b = Block{};
  b.eip = eip;
  b.cs = cs;
  b.start = used_;
  b.first_record = nrecords_;
  b.first_exit = nexits_;
  b.one_shot = one_shot;
  b.mode = mode;
  b.frames[0] = src.frame_of(eip);
  Emitter out(*this, b);
  if (lookup_cs_ == 0) lookup_cs_ = cs;
  const bool inline_lookups = cs == lookup_cs_ && half(mode) != kNone;
  // An STI shadow covers one instruction: its block is that one.
  const unsigned limit = one_shot || (mode & kModeShadow) ? 1 : kMaxBlockInsns;
  std::uint32_t at = eip;
  unsigned n = 0;
  for (;;) {
    // A block ends at its page's end: a write to the next page must not reach it.
    if (n == limit || (n > 0 && (at >> 12) != (eip >> 12))) {
      out.jump_exit(at, at);
      break;
    }
    std::uint8_t buf[15];
    std::size_t got = 0;
    decoder::Instruction insn;
    if (!src.fetch(at, buf, sizeof buf, &got) || !decoder_.decode_into(buf, got, insn).ok()) {
      if (got == sizeof buf) {
        // Not an instruction: UD2 in its place, so the guest takes its #UD there.
        out.record(at, Rule::undefined);
        out.put(0x0F);
        out.put(0x0B);
        ++n;
        break;
      }
      if (n == 0) {  // its first bytes cannot be fetched: the guest's fault, at this EIP
        used_ = saved_used, nrecords_ = saved_records, nexits_ = saved_exits, nsites_ = saved_sites;
        return Error::fault;
      }
      out.jump_exit(at, at);  // the rest is fetched (and faults) as a block of its own
      break;
    }
    const std::uint32_t len = insn.length();
    const std::uint32_t next = at + len;
    Rule r = rule_for(insn);
    if (n == 0 && r != Rule::untranslated) ++stats_.discovered;
    for (unsigned i = 0; i < ncopied_ && r != Rule::ident && r != Rule::untranslated; ++i)
      if (copied_[i] == at) r = Rule::ident;
    // An instruction without a translation yet (an exercise not done) ends the block before
    // it; a block that would start with one is not made (see translate() in the header).
    bool untranslated = r == Rule::untranslated;
    if (r == Rule::ident && !untranslated) {
      // BEGIN SOLUTION lab02-e2 degraded
      // Innocuous at ring 1 (or it traps there by itself, and the monitor sees it at its own
      // EIP): the same bytes.
      out.record(at, r);
      for (std::uint32_t i = 0; i < len; ++i) out.put(buf[i]);
      // STUB: untranslated = true;
      // END SOLUTION
    }
    if (untranslated) {
      if (n == 0) {
        used_ = saved_used, nrecords_ = saved_records, nexits_ = saved_exits, nsites_ = saved_sites;
        return Error::unsupported;
      }
      out.jump_exit(at, at);
      break;
    }
    if (((at + len - 1) >> 12) != (eip >> 12)) b.frames[1] = src.frame_of(at + len - 1);
    ++n;
    bool goes_on = false;
    if (r == Rule::ident) {
      ++b.ident_insns;
      at = next;
      if (out.mode & kModeShadow) out.mode = out.after();
      if (insn.ends_block()) {
        out.jump_exit(at, at);
        break;
      }
      continue;
    }
    // BEGIN SOLUTION lab02-e3 degraded
    switch (r) {
      case Rule::jump:
        out.record(at, r);
        out.put(0xE9);
        out.exit_rel32(branch_target(insn, at));
        break;
      case Rule::jcc: {
        // Jcc rel8 (70+cc) or rel32 (0F 80+cc): the rel32 form, aimed at the taken exit,
        // then a JMP to the fall-through exit.
        const std::uint8_t cc = static_cast<std::uint8_t>(insn.info.opcode & 0x0F);
        out.record(at, r);
        out.put(0x0F);
        out.put(static_cast<std::uint8_t>(0x80 | cc));
        out.exit_rel32(branch_target(insn, at));
        out.jump_exit(next, next);
        break;
      }
      case Rule::jcxz_loop:
        // Only a rel8 form exists: it jumps over the fall-through JMP to the taken one.
        out.record(at, r);
        if (insn.info.address_width == 16) out.put(0x67);
        out.put(static_cast<std::uint8_t>(insn.info.opcode));
        out.put(5);
        out.jump_exit(next, next);
        out.jump_exit(branch_target(insn, at), branch_target(insn, at));
        break;
      case Rule::call:
        // The guest's return address, never a cache address: RET is looked up.
        out.record(at, r);
        out.put(0x68);
        out.put32(next);
        out.jump_exit(branch_target(insn, at), branch_target(insn, at));
        break;
      case Rule::undefined:
        out.record(at, r);
        out.put(0x0F);
        out.put(0x0B);
        break;
      case Rule::ret:
      case Rule::jump_indirect:
      case Rule::call_indirect: {
        const std::uint32_t site = out.site(insn, at, r, buf);
        const auto& op = insn.operands[0];
        const bool memory = op.type == ZYDIS_OPERAND_TYPE_MEMORY;
        // CALL's operand is read after its PUSH of the return address here: not through ESP.
        const bool esp_based = memory && (op.mem.base == ZYDIS_REGISTER_ESP || op.mem.index == ZYDIS_REGISTER_ESP);
        // Through CS the operand would be read from the cache's own segment.
        const bool through_cs = memory && op.mem.segment == ZYDIS_REGISTER_CS;
        const bool ok = inline_lookups && insn.info.operand_width == 32 && insn.info.address_width == 32 &&
                        !through_cs && (r != Rule::call_indirect || !esp_based);
        if (!ok) {
          out.record(at, r, Spot::callout, site);
          out.put(0xCD);
          out.put(kCalloutVector);
          break;
        }
        if (r == Rule::ret) {
          const unsigned imm = insn.info.operand_count_visible > 0 ? static_cast<unsigned>(op.imm.value.u) : 0;
          out.inline_lookup(at, r, 0, imm, site);
          break;
        }
        unsigned extra = 0;
        if (r == Rule::call_indirect) {
          out.record(at, r, Spot::lookup, kNone, Unwind{0, 0, 0, false, true});
          out.put(0x68);  // push the guest's return address
          out.put32(next);
          extra = 1;
        }
        // PUSH r/m32 (FF /6) of the same operand as JMP/CALL r/m32 (FF /4, FF /2): the target.
        out.record(at, r, Spot::lookup, kNone, Unwind{0, extra, 0, false, true});
        const unsigned modrm = insn.info.raw.modrm.offset;
        for (std::uint32_t i = 0; i < len; ++i)
          out.put(i == modrm ? static_cast<std::uint8_t>((buf[i] & ~0x38u) | (6u << 3)) : buf[i]);
        out.inline_lookup(at, r, extra + 1, 0, site);
        break;
      }
      case Rule::cli:
      case Rule::sti:
      case Rule::pushf:
      case Rule::popf: {
        // The EFLAGS rules (lab02-e4): inline on the mode's virtual IF where they can be.
        // STI and POPF may call out inline (and end the block); PUSHF and CLI never do.
        const bool may_call = r == Rule::sti || r == Rule::popf;
        const std::uint32_t site = may_call ? out.site(insn, at, r, buf) : kNone;
        const Emitter::Flags f = out.eflags_rule(r, at, next, site);
        if (f == Emitter::Flags::callout) {
          out.callout(at, r, site == kNone ? out.site(insn, at, r, buf) : site);
          break;
        }
        ++stats_.inline_by_rule[static_cast<unsigned>(r)];
        goes_on = f == Emitter::Flags::goes_on;
        break;
      }
      default:
        out.callout(at, r, out.site(insn, at, r, buf));
        break;
    }
    // STUB: untranslated = true;
    // END SOLUTION
    if (untranslated) {
      --n;
      if (n == 0) {
        used_ = saved_used, nrecords_ = saved_records, nexits_ = saved_exits, nsites_ = saved_sites;
        return Error::unsupported;
      }
      out.jump_exit(at, at);
    }
    if (goes_on && !untranslated) {
      at = next;
      if (out.mode & kModeShadow) out.mode = out.after();
      continue;
    }
    break;
  }
  out.stubs();
  b.end = used_;
  b.records = nrecords_ - b.first_record;
  b.exits = nexits_ - b.first_exit;
  b.guest_insns = static_cast<std::uint16_t>(n);
  b.live = true;
  const std::uint32_t index = nblocks_++;
  if (!one_shot) {
    const unsigned h = bucket(eip, cs, mode);
    b.hash_next = hash_[h];
    hash_[h] = index;
    // Inline lookups find blocks whose first instruction is in no STI shadow.
    if (inline_lookups && !(mode & kModeShadow)) table_set(table_index(eip, mode), eip, b.start);
  }
  ++stats_.blocks;
  stats_.guest_insns += b.guest_insns;
  stats_.ident_insns += b.ident_insns;
  return index;
}

bool Translator::chain(std::uint32_t exit, std::uint32_t block) {
  // A block of another mode would run the guest with the wrong virtual IF.
  if (blocks_[block].mode != exits_[exit].mode) return false;
  // BEGIN SOLUTION lab02-e5 degraded
  Exit& e = exits_[exit];
  if (e.to == block) return true;
  const std::uint32_t rel = blocks_[block].start - (e.jump + 4);
  for (unsigned i = 0; i < 4; ++i) code_[e.jump + i] = static_cast<std::uint8_t>(rel >> (8 * i));
  e.to = block;
  ++stats_.chained;
  // STUB: (void)exit; (void)block;
  // END SOLUTION
  return true;
}

void Translator::unlink(std::uint32_t b) {
  std::uint32_t* p = &hash_[bucket(blocks_[b].eip, blocks_[b].cs, blocks_[b].mode)];
  while (*p != kNone) {
    if (*p == b) {
      *p = blocks_[b].hash_next;
      return;
    }
    p = &blocks_[*p].hash_next;
  }
}

unsigned Translator::invalidate_frame(std::uint32_t frame) {
  unsigned dropped = 0;
  // BEGIN SOLUTION lab02-e7 degraded
  for (std::uint32_t i = 0; i < nblocks_; ++i) {
    Block& b = blocks_[i];
    if (!b.live || (b.frames[0] != frame && b.frames[1] != frame)) continue;
    b.live = false;
    if (!b.one_shot) unlink(i);
    const std::uint32_t index = table_index(b.eip, b.mode);
    std::uint32_t in_table = 0;
    for (unsigned k = 0; index != kNone && k < 4; ++k) in_table |= std::uint32_t{code_[index * 8 + 4 + k]} << (8 * k);
    if (index != kNone && in_table == b.start) table_set(index, kNone, 0);
    ++dropped;
  }
  if (dropped) {
    // Exits chained into a dropped block lead to their stubs again.
    for (std::uint32_t i = 0; i < nexits_; ++i) {
      Exit& e = exits_[i];
      if (e.to == kNone || blocks_[e.to].live) continue;
      const std::uint32_t rel = e.stub - (e.jump + 4);
      for (unsigned k = 0; k < 4; ++k) code_[e.jump + k] = static_cast<std::uint8_t>(rel >> (8 * k));
      e.to = kNone;
    }
    ++stats_.invalidations;
    stats_.blocks_invalidated += dropped;
  }
  // STUB: (void)frame;
  // END SOLUTION
  return dropped;
}

void Translator::flush() {
  used_ = kLookupBytes;
  table_clear();
  nblocks_ = nrecords_ = nexits_ = nsites_ = 0;
  for (auto& h : hash_) h = kNone;
  ++stats_.flushes;
}

bool Translator::copy_as_written(std::uint32_t eip) {
  if (ncopied_ == kMaxCopied) return false;
  copied_[ncopied_++] = eip;
  flush();
  return true;
}

std::uint32_t Translator::block_at(std::uint32_t offset) const {
  // Blocks lie in the cache in the order they were made: the last one starting at or below.
  std::uint32_t lo = 0, hi = nblocks_;
  while (lo < hi) {
    std::uint32_t mid = (lo + hi) / 2;
    if (blocks_[mid].start <= offset) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == 0 || offset >= blocks_[lo - 1].end) return kNone;
  return lo - 1;
}

const Record* Translator::locate(std::uint32_t offset) const {
  const std::uint32_t i = block_at(offset);
  if (i == kNone) return nullptr;
  const Block& b = blocks_[i];
  for (std::uint32_t i = b.first_record; i < b.first_record + b.records; ++i) {
    if (records_[i].offset == offset) return &records_[i];
  }
  return nullptr;
}

}  // namespace hvlab::lab02
