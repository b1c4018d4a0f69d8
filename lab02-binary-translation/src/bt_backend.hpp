#pragma once
// lab02's back end: lab01's trap back end, but the guest kernel runs only from the
// translation cache (labs/lab02.md). Guest user code runs directly at ring 3, as under lab01.
//
//   enter():  at virtual CPL 0, the block at the guest's CS:EIP is looked up (translated on a
//             miss) and the guest enters its translation, in the cache's own code segment
//             (GDT slot kExtensionCodeSlot, ring 1, based at kCacheLinear); at its trap, the
//             cache offset is mapped back to the guest EIP (precise faults and interrupts)
//             and to the virtual IF (the mode of the record there: translated code changes
//             the virtual IF without the monitor, by going on in blocks of another mode).
//             A callout (`int $0xF0`) comes back as Source::callout: an exit to chain, or a
//             guest instruction to emulate (lab01's handlers, or lab02's for the rules of the
//             virtual CPU).
//   the write watch: frames that hold translated code are read-only in the shadow tables;
//             a write drops their translations (lab02::on_page_fault).

#include <cstddef>
#include <cstdint>

#include "common/vmm/trace.hpp"
#include "lab01-trap-and-emulate/src/trap_backend.hpp"
#include "lab02-binary-translation/src/translator.hpp"

namespace hvlab::lab02 {

/// What a Reason::translation event carries in raw_reason.
enum class CalloutKind : std::uint8_t {
  exit,         ///< an exit of a block: chained where it could be; the guest goes on at eip
  fetch_fault,  ///< the guest's code at eip cannot be fetched: e.exception is its fault
  emulate,      ///< e.insn is a guest instruction of rule raw_qualification to emulate
};

class BtBackend final : public lab01::TrapBackend, public lab01::ShadowMmu::WriteWatch, private CodeSource {
 public:
  struct Config {
    lab01::TrapBackend::Config trap;
    Translator* translator = nullptr;  ///< its cache mapped at kCacheLinear in the guest's directory
    std::uint8_t* ram = nullptr;       ///< the guest's RAM as the monitor reaches it
    std::uint64_t ram_bytes = 0;
  };
  static constexpr std::uint32_t kMaxWatchedFrames = (512u << 20) >> 12;

  BtBackend(vmm::Board& board, const Config& c);

  const char* name() const override { return "bt"; }
  vmm::Event enter(vmm::VCpu& v) override;
  /// Also the byte inline STI and POPF look at: an interrupt held back for the virtual IF.
  void request_interrupt_window(vmm::VCpu& v, bool on) override;
  void finish(vmm::TraceWriter& trace) override;

  /// lab01::ShadowMmu::WriteWatch: frames translated code came from.
  bool watched(GuestPhysAddr frame) const override;
  /// A write fault at `la` (error code `error`): if it hit a watched frame, that frame's
  /// translations are dropped and the frame let go; true then. The writing instruction, if
  /// the guest kernel's, is run next from a one-instruction translation of its own (it may
  /// sit on the very page it writes).
  bool code_written(vmm::VCpu& v, std::uint32_t la);
  /// The frame written at `la` stops being watched, its translations kept (stale): what the
  /// monitor does while lab02-e7 is not done. True if it was watched.
  bool let_write(vmm::VCpu& v, std::uint32_t la);

  Translator& translator() { return *translator_; }
  /// Counters of the trace's statistics.
  struct BtCounters {
    std::uint64_t translated_entries = 0, direct_entries = 0, one_shots = 0, watch_faults = 0, monitor_writes = 0;
    /// Entries that ran guest kernel code as it is (no translation for it yet).
    std::uint64_t untranslated_entries = 0;
    /// Traps in translated code that the monitor could tie only to their block (lab02-e6 not
    /// done): the guest was resumed at the cache offset, or shown the block's start.
    std::uint64_t imprecise = 0;
  };
  const BtCounters& bt_counters() const { return counters_; }

 protected:
  void guest_state_stored(const vmm::VCpu& v, TrapFrame& f) override;
  void guest_state_loaded(vmm::VCpu& v, const TrapFrame& f) override;
  void guest_memory_written(const void* host, std::size_t n) override;

 private:
  bool fetch(std::uint32_t la, std::uint8_t* buf, std::size_t n, std::size_t* got) override;
  std::uint32_t frame_of(std::uint32_t la) override;
  /// The translation for the vCPU's CS:EIP (translated now if need be); false with `stop`
  /// filled in when the guest's code cannot be fetched.
  bool prepare(vmm::VCpu& v, vmm::Event* stop);
  Result<std::uint32_t> translate(vmm::VCpu& v, std::uint32_t eip, std::uint8_t mode, bool one_shot);
  /// The guest's state at a record: its virtual IF, and an STI shadow not yet over.
  void take_mode(vmm::VCpu& v, std::uint8_t mode);
  /// A few trace records of instructions translated inline (the rubric's evidence that
  /// PUSHF and POPF were translated although they no longer call out).
  void note_inline(vmm::VCpu& v, std::uint32_t block);
  void watch(vmm::VCpu& v, std::uint32_t frame, std::uint32_t la);
  void unwatch(std::uint32_t frame);
  /// Brings the vCPU back to a guest state from inside an inline lookup (record `r`): false
  /// if the guest's stack could not be read.
  bool unwind(vmm::VCpu& v, const Record& r);
  /// A trap at cache offset `f.eip` without its record (lab02-e6 not done): the guest EIP is
  /// the block's start. If the monitor handles the trap by itself, the guest goes on at the
  /// cache offset; a fault it must see is shown at the block's start (imprecise); a virtual
  /// interrupt waits, the translated code single-stepped, until an exit or a callout.
  void imprecise(vmm::VCpu& v, const TrapFrame& f);

  Translator* translator_;
  std::uint8_t* ram_;
  std::uint64_t ram_bytes_;
  vmm::VCpu* cur_ = nullptr;
  std::uint32_t entry_block_ = kNone;
  std::uint16_t entry_cs_ = 0;
  std::uint32_t one_shot_eip_ = kNone;
  // imprecise(): where to go on in the cache if the guest is still at resume_eip_ next time.
  std::uint32_t resume_offset_ = kNone, resume_eip_ = 0, resume_at_ = kNone, resume_block_ = 0;
  std::uint64_t resume_flushes_ = 0;
  bool imprecise_ = false;
  bool shadow_ = false;  // the trap came before the instruction in an STI shadow completed
  std::uint64_t inline_notes_[static_cast<unsigned>(Rule::count)] = {};
  enum class Pending : std::uint8_t { none, exit, callout, lost } pending_ = Pending::none;
  std::uint32_t pending_aux_ = 0, lost_offset_ = 0, unwound_eip_ = 0;
  // Decoded callout instructions by site (a direct-mapped cache: a decode costs thousands of
  // instructions, and the same few sites call out over and over). Tagged with the site and
  // the cache's flush count, since a flush reuses site numbers.
  struct DecodedSite {
    std::uint32_t site = kNone;
    std::uint64_t flushes = 0;
    decoder::Instruction insn{};
  };
  static constexpr unsigned kDecodedSites = 64;
  DecodedSite decoded_[kDecodedSites];
  const decoder::Instruction* insn_ = nullptr;
  std::uint8_t watch_[kMaxWatchedFrames / 8] = {};
  BtCounters counters_;
};

inline BtBackend& bt_backend(vmm::Machine& m) { return static_cast<BtBackend&>(m.backend()); }

}  // namespace hvlab::lab02
