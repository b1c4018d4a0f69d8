#pragma once
// demo-census: lab01's instruction census (make census), read from its COM1 output.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "slides/tool/screen.hpp"

namespace hvlab::demo {

/// One "# census: NAME ring3=... ring1=... umip3=... umip1=... ri=... agree=..." line.
struct CensusRow {
  std::string name, ring1, ring3, umip1, umip3, reference;
};

/// What a flag ended up as after POPF, at ring 0 and at the deprivileged rings.
struct FlagAfter {
  int ring0 = -1, ring1 = -1, ring3 = -1;
  bool known() const { return ring0 >= 0 && ring1 >= 0 && ring3 >= 0; }
};

struct CensusReport {
  std::vector<CensusRow> rows;
  bool umip = false;
  bool done = false;
  std::string popf_evidence;  ///< the evidence line's text after the name
  FlagAfter popf_if, popf_iopl;
};

/// The columns of the census, in the order the summary shows them.
enum class Column { ring1, ring3, umip1, umip3 };

struct ClassCounts {
  unsigned privileged = 0, sensitive = 0, innocuous = 0, other = 0;
};

/// Parses the census kernel's COM1 text; nullopt (with `error`) when it is not a whole census.
std::optional<CensusReport> parse_census(std::string_view com1, std::string* error);

ClassCounts count_classes(const CensusReport& r, Column c);
const std::string& cell(const CensusRow& row, Column c);
/// Names of the rows whose class in column `c` is `cls`, in census order.
std::vector<std::string> names_in_class(const CensusReport& r, Column c, std::string_view cls);

void show_census(const CensusReport& r, const Screen& s);
/// The deck's figures: "classes" (the counts and the sensitive list) and "popf".
std::vector<std::pair<std::string, std::string>> census_figures(const CensusReport& r);

}  // namespace hvlab::demo
