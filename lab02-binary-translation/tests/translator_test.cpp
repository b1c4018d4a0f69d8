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
  auto r = t->translate(0x1000 - 6, 0x08, src);
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
  auto r = t->translate(0x2000, 0x08, src);
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
  auto r = t->translate(0x3000, 0x08, src);
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
  auto r = t->translate(0x4000, 0x08, src);
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
      {{0x9c}, Rule::pushf},
      {{0x9d}, Rule::popf},
      {{0xfa}, Rule::cli},
      {{0xfb}, Rule::sti},
      {{0x0f, 0x01, 0x00}, Rule::vcpu},     // sgdt (%eax)
      {{0x8c, 0xc8}, Rule::cs_read},        // mov %cs,%eax
      {{0x0f, 0x22, 0xd8}, Rule::callout},  // mov %eax,%cr3
      {{0xcf}, Rule::callout},              // iret
  };
  std::uint32_t at = 0x5000;
  for (const auto& c : cases) {
    Bytes src(at, c.bytes);
    auto r = t->translate(at, 0x08, src);
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
  auto r = t->translate(0x5800, 0x08, src);
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
  auto r = t->translate(0x5900, 0x08, src);
  ASSERT_TRUE(r.ok());
  const std::uint32_t slot = Translator::slot(0x5900) * 8;
  EXPECT_EQ(rel32(slot), 0x5900u);
  EXPECT_EQ(rel32(slot + 4), t->block(r.value()).start);
  EXPECT_EQ(t->invalidate_frame(0x5), 1u);
  EXPECT_EQ(rel32(slot), kNone);  // a dropped block is never found
}

TEST_F(Fixture, IndirectJumpPushesItsOperand) {
  Bytes src(0x5a00, {0xff, 0x60, 0x08});  // jmp *8(%eax)
  auto r = t->translate(0x5a00, 0x08, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  EXPECT_EQ(cache[b.start], 0xFF);
  EXPECT_EQ(cache[b.start + 1], 0x70);  // push 8(%eax): FF /6
  EXPECT_EQ(cache[b.start + 2], 0x08);
  EXPECT_EQ(cache[b.start + 3], 0x9C);
}

TEST_F(Fixture, LookupChainAndInvalidate) {
  Bytes src(0x6000, {0xeb, 0xfe});  // jmp . (a loop on itself)
  auto r = t->translate(0x6000, 0x08, src);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(t->lookup(0x6000, 0x08), r.value());
  EXPECT_EQ(t->lookup(0x6000, 0x18), kNone);  // another code segment: another translation
  const Block& b = t->block(r.value());
  t->chain(b.first_exit, r.value());
  EXPECT_EQ(b.start + 5 + rel32(b.start + 1), b.start);  // straight to itself
  EXPECT_EQ(t->invalidate_frame(0x6), 1u);
  EXPECT_EQ(t->lookup(0x6000, 0x08), kNone);
  const Exit& x = t->exit(b.first_exit);
  EXPECT_EQ(b.start + 5 + rel32(b.start + 1), x.stub);  // unchained
  EXPECT_EQ(t->stats().invalidations, 1u);
}

TEST_F(Fixture, AnUnfetchableStartIsTheGuestsFault) {
  Bytes src(0x7000, {0x90});
  auto r = t->translate(0x9000, 0x08, src);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Error::fault);
  EXPECT_EQ(t->code_used(), Translator::kLookupBytes);  // nothing past the lookup table
}

TEST_F(Fixture, NotAnInstructionBecomesUd2) {
  std::vector<std::uint8_t> bad(15, 0x0f);
  bad[1] = 0x04;  // 0F 04: no such opcode
  Bytes src(0x8000, bad);
  auto r = t->translate(0x8000, 0x08, src);
  ASSERT_TRUE(r.ok());
  const Block& b = t->block(r.value());
  EXPECT_EQ(cache[b.start], 0x0F);
  EXPECT_EQ(cache[b.start + 1], 0x0B);
}

}  // namespace
}  // namespace hvlab::lab02
