// The translator on the host: guest bytes in, cache code and records out.
#include "lab02-binary-translation/src/translator.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

namespace hvlab::lab02 {
namespace {

/// Guest code at `base`, one page per frame (frame = la >> 12); nothing else is mapped.
class Bytes final : public CodeSource {
 public:
  Bytes(std::uint32_t base, std::vector<std::uint8_t> b) : base_(base), b_(std::move(b)) {}
  bool fetch(std::uint32_t la, std::uint8_t* buf, std::size_t n, std::size_t* got) override {
    *got = 0;
    while (*got < n && la + *got >= base_ && la + *got < base_ + b_.size()) {
      buf[*got] = b_[la + *got - base_];
      ++*got;
    }
    return *got > 0;
  }
  std::uint32_t frame_of(std::uint32_t la) override { return la >> 12; }
  std::vector<std::uint8_t>& bytes() { return b_; }

 private:
  std::uint32_t base_;
  std::vector<std::uint8_t> b_;
};

struct Fixture : ::testing::Test {
  std::vector<std::uint8_t> cache = std::vector<std::uint8_t>(kCacheBytes);
  std::unique_ptr<Translator> t = std::make_unique<Translator>(cache.data(), kCacheBytes);

  std::uint32_t rel32(std::uint32_t at) const {
    std::uint32_t r;
    std::memcpy(&r, &cache[at], 4);
    return r;
  }
};

TEST_F(Fixture, IdentCopiesBytesAndAFallThroughExitEndsAtThePage) {
  // nop; mov %eax,%ebx; add $1,%ecx up to the page's end.
  std::vector<std::uint8_t> code = {0x90, 0x89, 0xc3, 0x83, 0xc1, 0x01};
  Bytes src(0x1000 - code.size(), code);
  auto r = t->translate(0x1000 - 6, 0x08, kModeIF, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  EXPECT_EQ(b.guest_insns, 3);
  EXPECT_EQ(b.ident_insns, 3);
  EXPECT_EQ(std::memcmp(&cache[b.start], code.data(), code.size()), 0);
  // Then `jmp rel32` to the stub `int $0xF0` of the exit towards 0x1000.
  EXPECT_EQ(cache[b.start + 6], 0xE9);
  ASSERT_EQ(b.exits, 1u);
  const Exit& x = t->exit(b.first_exit);
  EXPECT_EQ(x.target, 0x1000u);
  EXPECT_EQ(b.start + 11 + rel32(b.start + 7), x.stub);
  EXPECT_EQ(cache[x.stub], 0xCD);
  EXPECT_EQ(cache[x.stub + 1], kCalloutVector);
}

TEST_F(Fixture, RecordsMapEveryBoundaryBackToTheGuest) {
  // mov (%eax),%ebx at 0x2000 may fault: its record says 0x2000; the exit's stub says 0x2002.
  Bytes src(0x2000, {0x8b, 0x18, 0xeb, 0x10});  // mov (%eax),%ebx; jmp +0x10
  auto r = t->translate(0x2000, 0x08, kModeIF, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  const Record* first = t->locate(b.start);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->eip, 0x2000u);
  const Record* jmp = t->locate(b.start + 2);
  ASSERT_NE(jmp, nullptr);
  EXPECT_EQ(jmp->eip, 0x2002u);
  EXPECT_EQ(jmp->rule, Rule::jump);
  const Exit& x = t->exit(b.first_exit);
  EXPECT_EQ(x.target, 0x2014u);
  const Record* stub = t->locate(x.stub);
  ASSERT_NE(stub, nullptr);
  EXPECT_EQ(stub->spot, Spot::exit);
  EXPECT_EQ(stub->eip, 0x2014u);
  EXPECT_EQ(t->locate(b.start + 1), nullptr);  // inside an instruction
}

TEST_F(Fixture, CallPushesTheGuestReturnAddress) {
  Bytes src(0x3000, {0xe8, 0x00, 0x01, 0x00, 0x00});  // call +0x100
  auto r = t->translate(0x3000, 0x08, kModeIF, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  EXPECT_EQ(cache[b.start], 0x68);  // push $0x3005
  EXPECT_EQ(rel32(b.start + 1), 0x3005u);
  EXPECT_EQ(cache[b.start + 5], 0xE9);
  EXPECT_EQ(t->exit(b.first_exit).target, 0x3105u);
  // After the push the guest is at the target, the CALL done.
  EXPECT_EQ(t->locate(b.start + 5)->eip, 0x3105u);
}

TEST_F(Fixture, JccHasTakenAndFallThroughExits) {
  Bytes src(0x4000, {0x74, 0x05});  // jz +5
  auto r = t->translate(0x4000, 0x08, kModeIF, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  EXPECT_EQ(cache[b.start], 0x0F);
  EXPECT_EQ(cache[b.start + 1], 0x84);
  ASSERT_EQ(b.exits, 2u);
  EXPECT_EQ(t->exit(b.first_exit).target, 0x4007u);
  EXPECT_EQ(t->exit(b.first_exit + 1).target, 0x4002u);
}

TEST_F(Fixture, SensitiveInstructionsBecomeCallouts) {
  struct Case {
    std::vector<std::uint8_t> bytes;
    Rule rule;
  } cases[] = {
      {{0x9c}, Rule::pushf},  // in a slow mode (IOPL 3 below)
      {{0x9d}, Rule::popf},
      {{0x0f, 0x01, 0x00}, Rule::vcpu},     // sgdt (%eax)
      {{0x8c, 0xc8}, Rule::cs_read},        // mov %cs,%eax
      {{0x0f, 0x22, 0xd8}, Rule::callout},  // mov %eax,%cr3
      {{0xcf}, Rule::callout},              // iret
  };
  std::uint32_t at = 0x5000;
  for (const auto& c : cases) {
    Bytes src(at, c.bytes);
    auto r = t->translate(at, 0x08, mode_of(x86::eflags::IF | x86::eflags::IOPL), src);
    ASSERT_TRUE(r.ok());
    const Block& b = t->block(r.value());
    EXPECT_EQ(cache[b.start], 0xCD) << rule_name(c.rule);
    EXPECT_EQ(cache[b.start + 1], kCalloutVector);
    const Record* rec = t->locate(b.start);
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(rec->spot, Spot::callout);
    EXPECT_EQ(rec->rule, c.rule) << rule_name(c.rule);
    EXPECT_EQ(t->site(rec->aux).eip, at);
    at += 0x100;
  }
}

TEST_F(Fixture, RetIsLookedUpInlineAndUnwindsAtEveryStep) {
  Bytes src(0x5800, {0xc3});  // ret
  auto r = t->translate(0x5800, 0x08, kModeIF, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  EXPECT_EQ(cache[b.start], 0x9C);  // pushfd: the lookup starts
  // Every instruction of the sequence has a record that says how to get back to the guest.
  unsigned forward = 0, back = 0;
  for (std::uint32_t i = b.first_record; i < b.first_record + b.records; ++i) {
    const Record& rec = t->record(i);
    EXPECT_EQ(rec.eip, 0x5800u);
    if (rec.spot == Spot::callout) continue;
    const Unwind u = Unwind::unpack(rec.unwind);
    ASSERT_TRUE(u.any);
    (u.forward ? forward : back)++;
  }
  EXPECT_EQ(forward, 4u);  // pop ebx, pop eax, popfd, ret: the return slot holds the cache offset
  EXPECT_GE(back, 9u);
  // The miss: the saved words come off, then a callout with the instruction's bytes, at the
  // guest's state before the RET (nothing to unwind).
  const Record& miss = t->record(b.first_record + b.records - 1);
  EXPECT_EQ(miss.spot, Spot::callout);
  EXPECT_EQ(miss.unwind, 0u);
  EXPECT_EQ(t->site(miss.aux).rule, Rule::ret);
  EXPECT_EQ(cache[miss.offset - 1], 0x9D);  // popfd
}

TEST_F(Fixture, TheLookupTableFindsTranslatedBlocks) {
  Bytes src(0x5900, {0x90, 0xc3});
  auto r = t->translate(0x5900, 0x08, kModeIF, src);
  ASSERT_TRUE(r.ok());
  const std::uint32_t slot = Translator::table_index(0x5900, kModeIF) * 8;
  EXPECT_EQ(rel32(slot), 0x5900u);
  EXPECT_EQ(rel32(slot + 4), t->block(r.value()).start);
  EXPECT_EQ(t->invalidate_frame(0x5), 1u);
  EXPECT_EQ(rel32(slot), kNone);  // a dropped block is never found
}

TEST_F(Fixture, IndirectJumpPushesItsOperand) {
  Bytes src(0x5a00, {0xff, 0x60, 0x08});  // jmp *8(%eax)
  auto r = t->translate(0x5a00, 0x08, kModeIF, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  EXPECT_EQ(cache[b.start], 0xFF);
  EXPECT_EQ(cache[b.start + 1], 0x70);  // push 8(%eax): FF /6
  EXPECT_EQ(cache[b.start + 2], 0x08);
  EXPECT_EQ(cache[b.start + 3], 0x9C);
}

TEST_F(Fixture, LookupChainAndInvalidate) {
  Bytes src(0x6000, {0xeb, 0xfe});  // jmp . (a loop on itself)
  auto r = t->translate(0x6000, 0x08, kModeIF, src);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(t->lookup(0x6000, 0x08, kModeIF), r.value());
  EXPECT_EQ(t->lookup(0x6000, 0x18, kModeIF), kNone);  // another code segment: another translation
  const Block& b = t->block(r.value());
  t->chain(b.first_exit, r.value());
  EXPECT_EQ(b.start + 5 + rel32(b.start + 1), b.start);  // straight to itself
  EXPECT_EQ(t->invalidate_frame(0x6), 1u);
  EXPECT_EQ(t->lookup(0x6000, 0x08, kModeIF), kNone);
  const Exit& x = t->exit(b.first_exit);
  EXPECT_EQ(b.start + 5 + rel32(b.start + 1), x.stub);  // unchained
  EXPECT_EQ(t->stats().invalidations, 1u);
}

TEST_F(Fixture, ABlockForIfZeroAndOneForIfOneAreDistinct) {
  Bytes src(0xa000, {0x9c, 0xc3});  // pushfd; ret
  auto off = t->translate(0xa000, 0x08, 0, src);
  auto on = t->translate(0xa000, 0x08, kModeIF, src);
  ASSERT_TRUE(off.ok() && on.ok());
  ASSERT_NE(off.value(), on.value());
  EXPECT_EQ(t->block(off.value()).mode, 0);
  EXPECT_EQ(t->block(on.value()).mode, kModeIF);
  EXPECT_EQ(t->lookup(0xa000, 0x08, 0), off.value());
  EXPECT_EQ(t->lookup(0xa000, 0x08, kModeIF), on.value());
  EXPECT_EQ(t->lookup(0xa000, 0x08, mode_of(x86::eflags::IF | x86::eflags::IOPL)), kNone);
  // Each found by inline lookups in its own half of the table.
  EXPECT_EQ(rel32(Translator::table_index(0xa000, 0) * 8 + 4), t->block(off.value()).start);
  EXPECT_EQ(rel32(Translator::table_index(0xa000, kModeIF) * 8 + 4), t->block(on.value()).start);
  // PUSHF's word gets the mode's IF: cleared by the AND under IF = 0, kept (the real IF, 1)
  // under IF = 1.
  EXPECT_EQ(rel32(t->block(off.value()).start + 6) & x86::eflags::IF, 0u);
  EXPECT_EQ(rel32(t->block(on.value()).start + 6) & x86::eflags::IF, x86::eflags::IF);
  // Every record says the guest's virtual IF there.
  for (std::uint32_t i = 0; i < t->block(off.value()).records; ++i)
    EXPECT_EQ(t->record(t->block(off.value()).first_record + i).mode & kModeIF, 0);
  // A write to the frame drops both.
  EXPECT_EQ(t->invalidate_frame(0xa), 2u);
}

TEST_F(Fixture, AChainNeverCrossesModes) {
  Bytes src(0xb000, {0xfa, 0x90, 0xfb, 0x90, 0x90});  // cli; nop; sti; nop; nop
  auto r = t->translate(0xb000, 0x08, kModeIF, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  EXPECT_EQ(b.guest_insns, 1);  // CLI ends the block: what follows runs with IF = 0
  ASSERT_EQ(b.exits, 1u);
  const Exit& x = t->exit(b.first_exit);
  EXPECT_EQ(x.target, 0xb001u);
  EXPECT_EQ(x.mode, 0);
  // The target translated for IF = 1 (the wrong mode) is refused; for IF = 0 it is chained.
  auto wrong = t->translate(0xb001, 0x08, kModeIF, src);
  ASSERT_TRUE(wrong.ok());
  EXPECT_FALSE(t->chain(b.first_exit, wrong.value()));
  EXPECT_EQ(b.start + 5 + rel32(b.start + 1), x.stub);
  auto right = t->translate(0xb001, 0x08, 0, src);
  ASSERT_TRUE(right.ok());
  EXPECT_TRUE(t->chain(b.first_exit, right.value()));
  EXPECT_EQ(b.start + 5 + rel32(b.start + 1), t->block(right.value()).start);
  // Under IF = 0, STI leads to a block for IF = 1 whose first instruction is in its shadow.
  const Block& c = t->block(right.value());
  EXPECT_EQ(c.guest_insns, 2);  // nop; sti
  const Exit& y = t->exit(c.first_exit + c.exits - 1);
  EXPECT_EQ(y.target, 0xb003u);
  EXPECT_EQ(y.mode, kModeIF | kModeShadow);
  auto shadow = t->translate(0xb003, 0x08, y.mode, src);
  ASSERT_TRUE(shadow.ok());
  EXPECT_EQ(t->block(shadow.value()).guest_insns, 1);  // the one instruction in the shadow
  EXPECT_EQ(t->exit(t->block(shadow.value()).first_exit).mode, kModeIF);
  EXPECT_FALSE(t->chain(c.first_exit + c.exits - 1, wrong.value()));
  EXPECT_TRUE(t->chain(c.first_exit + c.exits - 1, shadow.value()));
}

TEST_F(Fixture, StiLooksForAWaitingInterrupt) {
  Bytes src(0xb800, {0xfb});  // sti
  auto r = t->translate(0xb800, 0x08, 0, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  // pushfd; cmp byte cs:[pending], 0: the byte the monitor sets while it holds one back.
  EXPECT_EQ(cache[b.start + 1], 0x2E);
  EXPECT_EQ(rel32(b.start + 4), t->pending_offset());
  t->set_interrupt_waiting(true);
  EXPECT_EQ(cache[t->pending_offset()], 1);
  t->set_interrupt_waiting(false);
  EXPECT_EQ(cache[t->pending_offset()], 0);
  EXPECT_LT(t->pending_offset(), kCacheBytes);
  EXPECT_GE(t->pending_offset(), t->code_used());
  // With one waiting, the callout of the STI (the monitor delivers it after the shadow).
  bool callout = false;
  for (std::uint32_t i = b.first_record; i < b.first_record + b.records; ++i)
    if (t->record(i).spot == Spot::callout) callout = t->site(t->record(i).aux).rule == Rule::sti;
  EXPECT_TRUE(callout);
}

TEST_F(Fixture, AFaultInThePushfSequenceUnwindsToThePushf) {
  Bytes src(0xc000, {0x9c, 0x90});  // pushfd; nop
  auto r = t->translate(0xc000, 0x08, kModeIF, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  // Walk the cache code, counting the words it pushed on the guest's stack: at every
  // boundary inside the PUSHF's sequence (where a push may fault on the guest's stack, or
  // an interrupt arrive) the record maps back to the PUSHF's EIP and drops exactly those
  // words, so the guest sees its stack as before the PUSHF.
  decoder::Decoder dec(decoder::Mode::k32);
  int pushed = 0;
  unsigned inside = 0;
  std::uint32_t at = b.start;
  for (;;) {
    const Record* rec = t->locate(at);
    ASSERT_NE(rec, nullptr) << "no record at cache offset " << at;
    if (rec->eip != 0xc000u) {
      EXPECT_EQ(rec->eip, 0xc001u);  // after the sequence: the PUSHF done, one word pushed
      EXPECT_EQ(pushed, 1);
      EXPECT_EQ(rec->unwind, 0u);
      break;
    }
    const Unwind u = Unwind::unpack(rec->unwind);
    EXPECT_EQ(static_cast<int>(u.saved + u.extra), pushed) << "at +" << at - b.start;
    EXPECT_FALSE(u.forward);
    // The arithmetic flags come back from the copy the sequence saved (the top word).
    if (pushed == 2) EXPECT_EQ(u.saved, 1u);
    ++inside;
    decoder::Instruction ci;
    ASSERT_TRUE(dec.decode_into(&cache[at], 15, ci).ok());
    if (ci.mnemonic() == ZYDIS_MNEMONIC_PUSHFD) ++pushed;
    if (ci.mnemonic() == ZYDIS_MNEMONIC_POPFD) --pushed;
    at += ci.length();
  }
  EXPECT_EQ(inside, 4u);
}

TEST_F(Fixture, AnUnfetchableStartIsTheGuestsFault) {
  Bytes src(0x7000, {0x90});
  auto r = t->translate(0x9000, 0x08, kModeIF, src);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Error::fault);
  EXPECT_EQ(t->code_used(), Translator::kLookupBytes);  // nothing past the lookup table
}

TEST_F(Fixture, NotAnInstructionBecomesUd2) {
  std::vector<std::uint8_t> bad(15, 0x0f);
  bad[1] = 0x04;  // 0F 04: no such opcode
  Bytes src(0x8000, bad);
  auto r = t->translate(0x8000, 0x08, kModeIF, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  EXPECT_EQ(cache[b.start], 0x0F);
  EXPECT_EQ(cache[b.start + 1], 0x0B);
}

}  // namespace
}  // namespace hvlab::lab02
