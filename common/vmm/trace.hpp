#pragma once
// The structured event trace: one JSON object per line on its own channel (COM2), one line
// per Event, and a closing summary. The grader and the tests read it instead of console text.
//
//   {"seq":7,"kind":"trap","reason":"privileged_instruction","vector":13,"error_code":0,
//    "eip":"0x00101a2c","cpl":0,"insn":"cli","outcome":"emulated"}
//   {"kind":"summary","events":1234,"emulated":1200,"stop":"guest exited with status 0",
//    "counts":{"privileged_instruction":1000,...}}

#include <cstdint>

#include "common/runtime/format.hpp"
#include "common/vmm/event.hpp"
#include "common/vmm/dispatcher.hpp"

namespace hvlab::vmm {

const char* source_name(Source s);

class TraceWriter {
 public:
  explicit TraceWriter(FormatSink& out) : out_(out) {}

  /// One event and what became of it; `insn` is the decoded instruction text, or nullptr.
  void event(const Event& e, Action outcome, const char* insn = nullptr);
  /// A free-form record, e.g. {"kind":"contained","what":"..."} for a hostile guest.
  void note(const char* kind, const char* what);
  /// The closing record with per-reason counts.
  void summary(const Dispatcher& d, std::uint64_t emulated, const char* stop_reason);

  std::uint64_t records() const { return seq_; }
  /// How many "ktap" notes (one per guest test result) have been written: the run loop's
  /// trace filter starts afresh with each guest test.
  std::uint64_t ktap_notes() const { return ktap_notes_; }
  /// The channel itself, for records of other shapes (accounting, instruction counts).
  FormatSink& sink() { return out_; }
  /// Turns per-event records off (counts and the summary remain): for long benchmark runs.
  void set_events_enabled(bool on) { events_enabled_ = on; }

 private:
  void string_field(const char* key, const char* value);
  FormatSink& out_;
  std::uint64_t seq_ = 0;
  std::uint64_t ktap_notes_ = 0;
  bool events_enabled_ = true;
};

}  // namespace hvlab::vmm
