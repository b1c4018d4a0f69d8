#include "lab02-binary-translation/tools/listing.hpp"

#include <fmt/core.h>

namespace hvlab::lab02 {

namespace {

std::string text(const decoder::Decoder& d, const decoder::Instruction& insn, std::uint64_t at) {
  char buf[128] = "?";
  (void)d.format(insn, at, buf, sizeof buf);
  return buf;
}

/// ", IF=0" where the guest goes on in another mode than the block's (after CLI, STI, POPF).
std::string mode_change(std::uint8_t block, std::uint8_t to) {
  if (block == to) return "";
  return fmt::format(", IF={}{}", (to & kModeIF) ? 1 : 0, (to & kModeShadow) ? " in STI's shadow" : "");
}

std::string hex(const std::uint8_t* b, unsigned n) {
  std::string s;
  for (unsigned i = 0; i < n; ++i) s += fmt::format("{:02x}", b[i]);
  return s;
}

}  // namespace

std::string listing(const Translator& t, std::uint32_t block, CodeSource& guest, bool narrow, bool colour) {
  const decoder::Decoder dec(decoder::Mode::k32);
  const std::uint8_t* cache = t.code();
  const Block& b = t.block(block);
  std::string out;
  if (narrow) {
    out += fmt::format("{:<32} {:<14} {}\n", "guest", "rule", "translation");
  } else {
    out += fmt::format("{:<44} {:<14} {}\n", "guest", "rule", "translation (cache linear address)");
  }
  std::uint32_t shown_eip = 0xffffffffu;
  for (std::uint32_t i = b.first_record; i < b.first_record + b.records; ++i) {
    const auto& rec = t.record(i);
    const std::uint32_t end = i + 1 < b.first_record + b.records ? t.record(i + 1).offset : b.end;
    std::string left;
    if (rec.spot != Spot::exit && rec.eip != shown_eip) {
      std::uint8_t bytes[15];
      std::size_t got = 0;
      decoder::Instruction gi;
      if (guest.fetch(rec.eip, bytes, sizeof bytes, &got) && dec.decode_into(bytes, got, gi).ok())
        left = narrow ? text(dec, gi, rec.eip) : fmt::format("{:08x}  {}", rec.eip, text(dec, gi, rec.eip));
      // A JMP the translator added (after CALL, Jcc, or at the block's end): the guest is
      // already at its target there.
      if (rec.rule == Rule::jump && gi.mnemonic() != ZYDIS_MNEMONIC_JMP)
        left = fmt::format("  (then at {:08x}{})", rec.eip, mode_change(b.mode, rec.mode));
      shown_eip = rec.eip;
    } else if (rec.spot == Spot::exit) {
      left = fmt::format("  (exit to {:08x}{})", rec.eip, mode_change(b.mode, rec.mode));
    }
    std::string rule = rec.spot == Spot::exit ? "stub" : rule_name(rec.rule);
    decoder::Instruction ci;
    const std::uint32_t la = kCacheLinear + rec.offset;
    std::string right = "?";
    if (end > rec.offset && dec.decode_into(cache + rec.offset, end - rec.offset, ci).ok())
      right = narrow ? text(dec, ci, la)
                     : fmt::format("{:08x}  {:<22} {}", la, hex(cache + rec.offset, ci.length()), text(dec, ci, la));
    if (narrow) {
      if (left.size() > 32) left = left.substr(0, 31) + "~";
      if (right.size() > 32) right = right.substr(0, 31) + "~";
    }
    std::string shown = fmt::format("{:<14}", rule);
    if (colour) {
      const char* c = rec.rule == Rule::ident     ? "32"
                      : rec.spot == Spot::callout ? "31"
                                                                : "33";
      shown = fmt::format("\033[{}m{}\033[0m", c, shown);
    }
    out += fmt::format("{:<{}} {} {}\n", left, narrow ? 32 : 44, shown, right);
  }
  return out;
}

}  // namespace hvlab::lab02
