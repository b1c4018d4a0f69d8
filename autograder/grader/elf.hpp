#pragma once
// The test guest's table of tests, read from its ELF file (the instructor's build): each
// test's name and the address range of its code, in the order of the source. The grader
// uses it to check the order a seed gives the tests (guests/suite/order.hpp) and to tell
// which test a monitor's trace event happened in, without booting anything.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hvlab::grader {

struct SuiteTest {
  std::string name;
  std::uint32_t code = 0;       ///< the test function's address
  std::uint32_t code_size = 0;  ///< its size (the symbol's), 0 if unknown
  std::string head;             ///< its first bytes (up to 16), to know them when they run
};

struct SuiteTable {
  std::vector<SuiteTest> tests;  ///< in the order of the source (seed 0)
  std::vector<unsigned> groups;  ///< the sizes of its groups, in order (a seed shuffles within each)
  std::optional<SuiteTest> fail; ///< hvlab::guest::fail(), which every failing check calls

  /// The entry points for the execution-evidence plugin (autograder/plugins/evidence.cpp):
  /// `<index> <hex address> <hex bytes>` per test, then the fail() line.
  std::string watch_list() const;

  /// The index of the test whose code holds `address`, if any.
  std::optional<std::size_t> test_at(std::uint32_t address) const;
};

/// The table of a guest built from autograder/guests/suite (the symbol hvlab_suite_groups:
/// pointers to {TestCase*, count} groups, each TestCase {const char* name, void (*fn)()}).
/// Nothing for an ELF without it (another guest); `problem` says why when the file is broken.
std::optional<SuiteTable> read_suite_table(const std::filesystem::path& elf, std::string* problem = nullptr);

/// The positions (1-based KTAP numbers) of a seed's order: order[k] = the index in the table
/// of the test the guest runs as number k + 1 (groups as the table's, or one group).
std::vector<unsigned> seeded_order(std::uint64_t seed, std::size_t count, const std::vector<unsigned>& groups = {});

}  // namespace hvlab::grader
