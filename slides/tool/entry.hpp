#pragma once
// demo-entry-fail: lab04 with a VMCS broken on purpose (its break= option): the CPU's refusal
// (Bochs' log), the monitor's diagnostic naming the failed check, and the fields decoded.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "slides/tool/screen.hpp"

namespace hvlab::demo {

struct EntryFailure {
  std::string headline;              ///< "VM entry failed: exit reason 33 (...)" or "VM-instruction error 7: ..."
  std::vector<std::string> checks;   ///< "check failed (SDM ...): ..."
  std::map<std::string, std::uint64_t> fields;  ///< the VMCS dump, and "NAME = 0x..." in the checks
  std::vector<std::string> cpu;      ///< Bochs' own words: "VMENTER FAIL: ...", "VMFAIL: ..."
};

/// The monitor's diagnostic from COM1 (lines "# lab04: ...") and the emulator's log.
/// nullopt (with `error`) when the run shows no failed entry.
std::optional<EntryFailure> parse_entry_failure(std::string_view com1, std::string_view emulator_log,
                                                std::string* error);

/// The fields a check names, in the order it names them.
std::vector<std::string> fields_named(const EntryFailure& f, std::string_view check);

/// The other fields of the dump that belong with `name` (GUEST_TR_* beside GUEST_TR_AR_BYTES).
std::vector<std::string> related_fields(const EntryFailure& f, std::string_view name);

void show_entry_failure(const EntryFailure& f, std::string_view breakage, const Screen& s);
std::vector<std::pair<std::string, std::string>> entry_failure_figures(const EntryFailure& f,
                                                                       std::string_view breakage);

}  // namespace hvlab::demo
