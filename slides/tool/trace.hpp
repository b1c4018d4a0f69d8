#pragma once
// demo-trap and demo-vmexit: a monitor's event trace (COM2, one JSON object a line, see
// common/vmm/trace.hpp) and the guest's KTAP verdict (COM1), shown and summed up.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "slides/tool/screen.hpp"

namespace hvlab::demo {

struct Trace {
  std::vector<nlohmann::ordered_json> events;  ///< records of kind "trap" or "exit", in order
  std::optional<nlohmann::ordered_json> summary;
  std::optional<nlohmann::ordered_json> stats;  ///< lab04's {"kind":"stats","what":"..."}
  unsigned bad_lines = 0;               ///< lines that were not JSON objects
};

/// The guest's own report: its test lines and its closing "# summary:" line.
struct Ktap {
  std::vector<std::string> results;  ///< "ok 15 priv_hlt", "not ok 18 sens_sgdt", ...
  std::string summary;               ///< "102 passed, 0 failed"
};

Trace parse_trace(std::string_view com2);
Ktap parse_ktap(std::string_view com1);

/// A per-reason count from the summary record ("counts"), 0 when absent.
std::uint64_t summary_count(const Trace& t, std::string_view reason);

/// One row per distinct instruction that trapped, in order of first appearance.
struct TrapRow {
  std::uint64_t seq = 0, times = 0;
  std::string eip, trap, insn, outcome;
};
std::vector<TrapRow> first_traps(const Trace& t);
/// The row an instruction counts under: its mnemonic, and for MOV the register that makes it
/// privileged ("mov cr3", "mov dr").
std::string trap_key(std::string_view insn);

/// One row per VM-exit reason, the first exit of each, in order of appearance.
struct ExitRow {
  std::uint64_t seq = 0;
  unsigned basic = 0;
  std::string name, qualification, decoded, eip, event;
};
std::vector<ExitRow> first_exits(const Trace& t);

/// Ports the guest touched, most used first, grouped by device ("COM1 1393").
std::vector<std::pair<std::string, std::uint64_t>> io_by_device(const Trace& t);

/// `test` is the suite's only= argument ("" for the whole suite).
void show_trap(const Trace& t, const Ktap& k, std::string_view test, const Screen& s);
std::vector<std::pair<std::string, std::string>> trap_figures(const Trace& t, const Ktap& k, std::string_view test);

void show_vmexit(const Trace& t, const Ktap& k, std::string_view test, const Screen& s);
std::vector<std::pair<std::string, std::string>> vmexit_figures(const Trace& t, const Ktap& k,
                                                                std::string_view test);

}  // namespace hvlab::demo
