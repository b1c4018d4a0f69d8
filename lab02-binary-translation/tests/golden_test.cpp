// Golden files: guest bytes in, the translation's listing out, one file per rule
// (tests/golden/cases.txt). HVLAB_GOLDEN_REBASE=1 rewrites the files instead of comparing
// (the target lab02-golden-rebase).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "lab02-binary-translation/src/translator.hpp"
#include "lab02-binary-translation/tools/listing.hpp"

namespace hvlab::lab02 {
namespace {

constexpr std::uint32_t kAt = 0x00101000;

class Bytes final : public CodeSource {
 public:
  Bytes(std::uint32_t base, std::vector<std::uint8_t> b) : base_(base), b_(std::move(b)) {}
  bool fetch(std::uint32_t la, std::uint8_t* buf, std::size_t n, std::size_t* got) override {
    *got = 0;
    while (*got < n && la + *got >= base_ && la + *got < base_ + b_.size()) {
      buf[*got] = b_[la + *got - base_];
      ++*got;
    }
    return *got > 0;
  }
  std::uint32_t frame_of(std::uint32_t la) override { return la >> 12; }

 private:
  std::uint32_t base_;
  std::vector<std::uint8_t> b_;
};

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(Golden, EveryRuleMatchesItsListing) {
  const std::string dir = HVLAB_GOLDEN_DIR;
  const bool rebase = std::getenv("HVLAB_GOLDEN_REBASE") != nullptr;
  std::istringstream cases(read(dir + "/cases.txt"));
  std::string line;
  unsigned n = 0;
  while (std::getline(cases, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, hex, mode = "if1";
    fields >> name >> hex >> mode;
    std::vector<std::uint8_t> bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(std::stoi(hex.substr(i, 2), nullptr, 16));
    // page_end: the bytes end the page, so the block ends with a fall-through exit.
    const std::uint32_t at = name == "page_end" ? 0x00101fff : kAt;
    Bytes src(at, bytes);
    std::vector<std::uint8_t> cache(kCacheBytes);
    auto t = std::make_unique<Translator>(cache.data(), kCacheBytes);
    // The mode: the virtual IF the block is translated for, or a slow mode (IOPL 3).
    const std::uint8_t m = mode == "if0"    ? 0
                           : mode == "slow" ? mode_of(x86::eflags::IF | x86::eflags::IOPL)
                                            : kModeIF;
    ASSERT_TRUE(mode == "if0" || mode == "if1" || mode == "slow") << name << ": mode " << mode;
    auto r = t->translate(at, 0x08, m, src);
    ASSERT_TRUE(r.ok()) << name;
    const std::string got = listing(*t, r.value(), src, false, false);
    const std::string path = dir + "/" + name + ".txt";
    if (rebase) {
      std::ofstream(path) << got;
    } else {
      EXPECT_EQ(got, read(path)) << name << ": the listing differs from " << path
                                 << " (an intended change? ninja -C build lab02-golden-rebase)";
    }
    ++n;
  }
  EXPECT_GE(n, 20u);
}

}  // namespace
}  // namespace hvlab::lab02
