#pragma once
// The translator: guest kernel code, a basic block at a time, into the translation cache
// (labs/lab02.md, "The translator" and "The cache").
//
// A block is decoded from a guest EIP up to its first instruction that is not IDENT (that
// one included), a page boundary or kMaxBlockInsns. Each guest instruction becomes a piece of
// cache code by its rule (rules.hpp); a block ends in exits: `jmp rel32` to a stub `int
// $0xF0` until chain() aims the jump straight at the target's translation.
//
// Every instruction boundary of the cache code is a Record: the guest EIP whose state the
// guest's registers hold there. A fault or an interrupt in translated code comes back at one
// of them, so the guest sees it at its own instruction (precise exceptions): IDENT copies
// change nothing else, and each rewritten piece is one instruction, or a PUSH whose record
// already says "the CALL is done but the jump".
//
// A block is translated for one *mode* (kModeIF, ...): what the guest's virtual EFLAGS hold
// while it runs. In a block the virtual IF is a constant, so CLI, STI, PUSHF and POPF become
// short inline sequences (an exit to the block for the new mode, the IF put into the pushed
// word), and a trap anywhere in the cache tells the monitor the guest's virtual IF (each
// Record carries the mode of the guest's state there). Blocks, exits and the inline lookup's
// table are keyed by mode: a chain or a lookup hit never enters a block of another mode.
//
// The cache is plain memory here (a code segment based at kCacheLinear runs it in the
// monitor): this class runs under GoogleTest as it does in the kernel.

#include <cstddef>
#include <cstdint>

#include "common/arch/x86.hpp"
#include "common/decoder/decoder.hpp"
#include "common/runtime/result.hpp"
#include "lab02-binary-translation/src/rules.hpp"

namespace hvlab::lab02 {

/// `int $0xF0` in translated code calls the monitor. Its gate has DPL 1: only ring 1
/// (translated kernel code) reaches it; guest user code that tries takes a #GP, which the
/// monitor turns into the guest's own INT 0xF0 as under lab01.
inline constexpr std::uint8_t kCalloutVector = 0xF0;
/// Where the guest's address space maps the cache (read-only, supervisor): the bottom of the
/// monitor's trap window, below the trap pages.
inline constexpr std::uint32_t kCacheLinear = 0xFFC00000u;
inline constexpr std::uint32_t kCacheBytes = 1u << 20;
inline constexpr std::uint32_t kNone = 0xffffffffu;
inline constexpr unsigned kMaxBlockInsns = 48;
inline constexpr std::uint32_t kStubBytes = 2;  ///< `int $0xF0`

/// A block's mode bits.
/// kModeIF: the virtual IF is 1. kModeShadow: the block's first guest instruction lies in an
/// STI shadow (the block is that one instruction; a trap before it completes keeps the
/// shadow). kModeSlow: the virtual EFLAGS hold what the real ones cannot show at ring 1
/// (IOPL > 0, TF, NT, VIF, VIP): PUSHF and POPF call out there.
inline constexpr std::uint8_t kModeIF = 1, kModeShadow = 2, kModeSlow = 4;
/// EFLAGS bits that make a mode slow; a POPF that pops one of them (or RF) calls out.
inline constexpr std::uint32_t kSlowFlags =
    x86::eflags::IOPL | x86::eflags::TF | x86::eflags::NT | x86::eflags::VIF | x86::eflags::VIP;
/// The mode of a guest at virtual CPL 0 with virtual `eflags` (and an STI shadow pending).
constexpr std::uint8_t mode_of(std::uint32_t eflags, bool shadow = false) {
  const bool on = (eflags & x86::eflags::IF) != 0;
  return static_cast<std::uint8_t>((on ? kModeIF : 0) | (on && shadow ? kModeShadow : 0) |
                                   ((eflags & kSlowFlags) ? kModeSlow : 0));
}

/// What translated code does at a record's offset.
enum class Spot : std::uint8_t {
  insn,     ///< the translation of the guest instruction at eip starts here
  exit,     ///< an exit stub: the guest goes on at eip (exit: its index)
  callout,  ///< `int $0xF0` for the guest instruction at eip (site: its index)
  lookup,   ///< inside the inline lookup of a RET or an indirect JMP/CALL at eip (see Unwind)
};

/// The state of the guest's stack inside an inline lookup (a Record's `unwind`), so the
/// monitor can bring a trap there back to a guest state: `saved` words the sequence pushed
/// (EBX, EAX, EFLAGS from the top), `extra` words it pushed for the guest before (the target
/// of an indirect JMP/CALL, the return address of a CALL), and whether the word under them
/// already holds the cache offset to go to (`forward`: the branch is as good as done).
struct Unwind {
  unsigned saved = 0, extra = 0, imm = 0;
  bool forward = false;
  bool any = false;

  std::uint32_t pack() const {
    return any ? (1u << 7) | saved | (extra << 3) | (forward ? 1u << 2 : 0u) | (imm << 16) : 0u;
  }
  static Unwind unpack(std::uint32_t w) {
    Unwind u;
    u.any = (w >> 7) & 1;
    u.saved = w & 3;
    u.forward = (w >> 2) & 1;
    u.extra = (w >> 3) & 3;
    u.imm = w >> 16;
    return u;
  }
};

struct Record {
  std::uint32_t offset = 0;   ///< in the cache
  std::uint32_t eip = 0;      ///< the guest EIP the guest's state corresponds to there
  std::uint32_t aux = kNone;  ///< exit: its index; callout: its site
  std::uint32_t unwind = 0;   ///< Unwind::pack() inside an inline sequence, else 0
  Rule rule = Rule::ident;
  Spot spot = Spot::insn;
  std::uint8_t mode = 0;  ///< the mode of the guest's state there (its virtual IF; an STI shadow)
};

/// A direct exit: the rel32 of a JMP/Jcc that leads to its stub until it is chained.
struct Exit {
  std::uint32_t block = kNone;  ///< the block it leaves
  std::uint32_t jump = 0;       ///< cache offset of the rel32 field
  std::uint32_t stub = 0;       ///< cache offset of its stub
  std::uint32_t target = 0;     ///< guest EIP
  std::uint32_t to = kNone;     ///< the block it is chained to
  std::uint8_t mode = 0;        ///< the mode the guest goes on in (a CLI's exit: IF = 0)
};

/// A callout: the guest instruction the monitor emulates, with its bytes.
struct Site {
  std::uint32_t eip = 0;
  Rule rule = Rule::callout;
  std::uint8_t length = 0;
  std::uint8_t bytes[15] = {};
};

struct Block {
  std::uint32_t eip = 0;
  std::uint16_t cs = 0;
  std::uint32_t start = 0, end = 0;          ///< cache offsets: its code and stubs
  std::uint32_t frames[2] = {kNone, kNone};  ///< guest-physical frames its code came from
  std::uint32_t first_record = 0, records = 0;
  std::uint32_t first_exit = 0, exits = 0;
  std::uint32_t hash_next = kNone;
  std::uint16_t guest_insns = 0, ident_insns = 0;
  bool live = false;
  bool one_shot = false;  ///< never looked up nor watched (see Translator::translate)
  std::uint8_t mode = 0;  ///< the mode it was translated for (kModeIF, ...)
};

/// Where the translator reads guest code.
class CodeSource {
 public:
  /// Up to `n` bytes at guest-linear `la` into `buf` (a fetch at CPL 0); false if the first
  /// byte cannot be fetched. Returns how many bytes came in `*got` (never across a page that
  /// cannot be fetched).
  virtual bool fetch(std::uint32_t la, std::uint8_t* buf, std::size_t n, std::size_t* got) = 0;
  /// The guest-physical frame (address >> 12) of guest-linear `la`, kNone if unmapped.
  virtual std::uint32_t frame_of(std::uint32_t la) = 0;

 protected:
  ~CodeSource() = default;
};

struct TranslatorStats {
  std::uint64_t discovered = 0;  ///< blocks whose first instruction got a rule (translated or not)
  std::uint64_t blocks = 0, guest_insns = 0, ident_insns = 0, lookups = 0, hits = 0, misses = 0, chained = 0,
                unchained_exits = 0, callouts = 0, invalidations = 0, blocks_invalidated = 0, flushes = 0;
  std::uint64_t callouts_by_rule[static_cast<unsigned>(Rule::count)] = {};
  /// Guest instructions translated into inline sequences (the EFLAGS rules), by rule.
  std::uint64_t inline_by_rule[static_cast<unsigned>(Rule::count)] = {};
};

class Translator {
 public:
  static constexpr unsigned kMaxBlocks = 8192, kMaxRecords = 65536, kMaxExits = 16384, kMaxSites = 8192,
                            kHashBuckets = 4096;
  /// The inline lookup's table at cache offset 0: {guest EIP, cache offset} at slot(EIP), for
  /// the blocks of one code segment (the first the guest kernel ran in), in two halves: the
  /// blocks of mode IF = 0, then those of mode IF = 1 (slow modes have no inline lookups).
  static constexpr std::uint32_t kLookupEntries = 8192, kLookupHalves = 2,
                                 kLookupBytes = kLookupHalves * kLookupEntries * 8;
  static constexpr std::uint32_t slot(std::uint32_t eip) { return (eip ^ (eip >> 12)) & (kLookupEntries - 1); }
  /// The table half the blocks of `mode` are found in by inline lookups (the mode after an
  /// STI shadow), or kNone for a slow mode.
  static constexpr std::uint32_t half(std::uint8_t mode) {
    return (mode & kModeSlow) ? kNone : ((mode & kModeIF) ? 1u : 0u);
  }
  /// The table entry of guest `eip` in `mode`, or kNone.
  static constexpr std::uint32_t table_index(std::uint32_t eip, std::uint8_t mode) {
    return half(mode) == kNone ? kNone : half(mode) * kLookupEntries + slot(eip);
  }

  /// `code`: the cache, `bytes` long, written here and run at kCacheLinear + offset.
  Translator(std::uint8_t* code, std::uint32_t bytes);

  /// The block for guest (cs, eip) in `mode`, or kNone. Counts a hit or a miss.
  std::uint32_t lookup(std::uint32_t eip, std::uint16_t cs, std::uint8_t mode);
  /// Translates the block at guest (cs, eip) for `mode`. `one_shot`: one instruction, not entered in the
  /// lookup (the monitor runs it once, for a write to a page that holds the code itself).
  /// Error::fault: its first instruction cannot be fetched; Error::out_of_memory: the cache
  /// is full (flush() and try again); Error::unsupported: its first instruction has no
  /// translation yet (Rule::untranslated: an exercise is not done), the monitor runs the guest
  /// from there as lab01 does. A later instruction without one ends the block before it.
  Result<std::uint32_t> translate(std::uint32_t eip, std::uint16_t cs, std::uint8_t mode, CodeSource& src,
                                  bool one_shot = false);
  /// Aims exit `exit` at `block`'s code (both live, same code segment). False, and the exit
  /// left as it is, if the block is not of the exit's mode.
  bool chain(std::uint32_t exit, std::uint32_t block);
  /// Drops every block whose code came from guest-physical frame `frame`, unchaining the
  /// exits into them. Returns how many were dropped.
  unsigned invalidate_frame(std::uint32_t frame);
  /// Empties the cache.
  void flush();
  /// From now on the guest instruction at `eip` is copied as the guest wrote it (IDENT), and
  /// the cache is flushed: what the monitor does with a sensitive instruction while lab02-e4
  /// is not done (it then runs at ring 1 and shows the guest the real machine, as under
  /// lab01). False if no more can be (the table is full: kMaxCopied).
  bool copy_as_written(std::uint32_t eip);

  /// The byte inline STI and POPF look at (through CS) before they set the virtual IF: nonzero
  /// while the monitor holds an interrupt back for the virtual IF, then they call out.
  /// Written only when it changes: a write to the cache's pages costs an emulator that
  /// translates the cache code itself (QEMU) a look for code on that page.
  void set_interrupt_waiting(bool on) {
    if (code_[pending_offset()] != (on ? 1 : 0)) code_[pending_offset()] = on ? 1 : 0;
  }
  /// At the cache's end, after the room for blocks.
  std::uint32_t pending_offset() const { return bytes_ - 16; }

  /// The block whose code or stubs hold cache offset `offset`, or kNone.
  std::uint32_t block_at(std::uint32_t offset) const;
  /// The record at exactly cache offset `offset` (an instruction boundary), or nullptr.
  const Record* locate(std::uint32_t offset) const;

  const Block& block(std::uint32_t i) const { return blocks_[i]; }
  const Exit& exit(std::uint32_t i) const { return exits_[i]; }
  const Site& site(std::uint32_t i) const { return sites_[i]; }
  const Record& record(std::uint32_t i) const { return records_[i]; }
  std::uint32_t block_count() const { return nblocks_; }
  const std::uint8_t* code() const { return code_; }
  std::uint32_t code_used() const { return used_; }
  TranslatorStats& stats() { return stats_; }
  const TranslatorStats& stats() const { return stats_; }

 private:
  friend class Emitter;
  unsigned bucket(std::uint32_t eip, std::uint16_t cs, std::uint8_t mode) const {
    return (eip ^ (eip >> 12) ^ cs ^ (std::uint32_t{mode} << 7)) % kHashBuckets;
  }
  void unlink(std::uint32_t b);

  std::uint8_t* code_;
  void table_set(std::uint32_t index, std::uint32_t eip, std::uint32_t offset);
  void table_clear();

  std::uint32_t bytes_, used_ = kLookupBytes;
  std::uint16_t lookup_cs_ = 0;
  static constexpr unsigned kMaxCopied = 256;
  std::uint32_t copied_[kMaxCopied];  ///< copy_as_written()
  unsigned ncopied_ = 0;
  decoder::Decoder decoder_{decoder::Mode::k32};
  Block blocks_[kMaxBlocks];
  Record records_[kMaxRecords];
  Exit exits_[kMaxExits];
  Site sites_[kMaxSites];
  std::uint32_t hash_[kHashBuckets];
  std::uint32_t nblocks_ = 0, nrecords_ = 0, nexits_ = 0, nsites_ = 0;
  TranslatorStats stats_;
};

}  // namespace hvlab::lab02
