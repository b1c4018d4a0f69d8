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
// The cache is plain memory here (a code segment based at kCacheLinear runs it in the
// monitor): this class runs under GoogleTest as it does in the kernel.

#include <cstddef>
#include <cstdint>

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
  std::uint32_t unwind = 0;   ///< Unwind::pack() inside an inline lookup, else 0
  Rule rule = Rule::ident;
  Spot spot = Spot::insn;
};

/// A direct exit: the rel32 of a JMP/Jcc that leads to its stub until it is chained.
struct Exit {
  std::uint32_t block = kNone;  ///< the block it leaves
  std::uint32_t jump = 0;       ///< cache offset of the rel32 field
  std::uint32_t stub = 0;       ///< cache offset of its stub
  std::uint32_t target = 0;     ///< guest EIP
  std::uint32_t to = kNone;     ///< the block it is chained to
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
};

class Translator {
 public:
  static constexpr unsigned kMaxBlocks = 8192, kMaxRecords = 65536, kMaxExits = 16384, kMaxSites = 8192,
                            kHashBuckets = 4096;
  /// The inline lookup's table at cache offset 0: {guest EIP, cache offset} at slot(EIP), for
  /// the blocks of one code segment (the first the guest kernel ran in).
  static constexpr std::uint32_t kLookupEntries = 16384, kLookupBytes = kLookupEntries * 8;
  static constexpr std::uint32_t slot(std::uint32_t eip) { return (eip ^ (eip >> 12)) & (kLookupEntries - 1); }

  /// `code`: the cache, `bytes` long, written here and run at kCacheLinear + offset.
  Translator(std::uint8_t* code, std::uint32_t bytes);

  /// The block for guest (cs, eip), or kNone. Counts a hit or a miss.
  std::uint32_t lookup(std::uint32_t eip, std::uint16_t cs);
  /// Translates the block at guest (cs, eip). `one_shot`: one instruction, not entered in the
  /// lookup (the monitor runs it once, for a write to a page that holds the code itself).
  /// Error::fault: its first instruction cannot be fetched; Error::out_of_memory: the cache
  /// is full (flush() and try again); Error::unsupported: its first instruction has no
  /// translation yet (Rule::untranslated: an exercise is not done), the monitor runs the guest
  /// from there as lab01 does. A later instruction without one ends the block before it.
  Result<std::uint32_t> translate(std::uint32_t eip, std::uint16_t cs, CodeSource& src, bool one_shot = false);
  /// Aims exit `exit` at `block`'s code (both live, same code segment).
  void chain(std::uint32_t exit, std::uint32_t block);
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
  unsigned bucket(std::uint32_t eip, std::uint16_t cs) const { return (eip ^ (eip >> 12) ^ cs) % kHashBuckets; }
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
