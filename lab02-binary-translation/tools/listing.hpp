#pragma once
// A translated block beside the guest code it came from, one line per record: the guest
// instruction (Zydis, Intel syntax), the rule, the cache code at its linear address. Host
// only (lab02-bt-dump, the golden tests of tests/golden/).

#include <cstdint>
#include <string>

#include "lab02-binary-translation/src/translator.hpp"

namespace hvlab::lab02 {

/// `narrow`: no addresses or bytes, 80 columns. `colour`: the rule in ANSI colour.
std::string listing(const Translator& t, std::uint32_t block, CodeSource& guest, bool narrow, bool colour);

}  // namespace hvlab::lab02
