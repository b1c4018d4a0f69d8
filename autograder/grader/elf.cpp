#include "autograder/grader/elf.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "autograder/guests/suite/order.hpp"

namespace hvlab::grader {
namespace {

constexpr std::uint32_t kPtLoad = 1, kShtSymtab = 2, kSttFunc = 2;

std::uint32_t le32(const std::string& b, std::size_t at) {
  if (at + 4 > b.size()) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(b.data() + at);
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 | static_cast<std::uint32_t>(p[2]) << 16 |
         static_cast<std::uint32_t>(p[3]) << 24;
}

std::uint16_t le16(const std::string& b, std::size_t at) {
  if (at + 2 > b.size()) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(b.data() + at);
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}

// An ELF32 image: what its loadable segments put at an address, and its symbols.
class Image {
 public:
  explicit Image(std::string bytes) : b_(std::move(bytes)) {}

  bool valid() const {
    return b_.size() >= 52 && std::memcmp(b_.data(), "\x7f" "ELF", 4) == 0 && b_[4] == 1 && b_[5] == 1;
  }

  // The file offset of `n` bytes at `address`, from the PT_LOAD segments.
  std::optional<std::size_t> offset_of(std::uint32_t address, std::size_t n) const {
    const std::uint32_t phoff = le32(b_, 28);
    const unsigned phentsize = le16(b_, 42), phnum = le16(b_, 44);
    for (unsigned i = 0; i < phnum; ++i) {
      const std::size_t e = phoff + std::size_t{phentsize} * i;
      if (le32(b_, e) != kPtLoad) continue;
      const std::uint32_t off = le32(b_, e + 4), vaddr = le32(b_, e + 8), filesz = le32(b_, e + 16);
      if (address >= vaddr && std::uint64_t{address} + n <= std::uint64_t{vaddr} + filesz &&
          std::size_t{off} + (address - vaddr) + n <= b_.size())
        return std::size_t{off} + (address - vaddr);
    }
    return std::nullopt;
  }

  std::optional<std::uint32_t> word(std::uint32_t address) const {
    auto at = offset_of(address, 4);
    if (!at) return std::nullopt;
    return le32(b_, *at);
  }

  std::string bytes(std::uint32_t address, std::size_t n) const {
    for (; n > 0; --n)
      if (auto at = offset_of(address, n)) return b_.substr(*at, n);
    return {};
  }

  std::optional<std::string> c_string(std::uint32_t address) const {
    auto at = offset_of(address, 1);
    if (!at) return std::nullopt;
    const std::size_t end = b_.find('\0', *at);
    if (end == std::string::npos || end - *at > 200) return std::nullopt;
    return b_.substr(*at, end - *at);
  }

  struct Symbol {
    std::uint32_t value = 0, size = 0;
    unsigned type = 0;
  };

  // Every symbol of the symbol table, by name (the last one wins), and function sizes by address.
  void read_symbols(std::map<std::string, Symbol>& by_name, std::map<std::uint32_t, std::uint32_t>& func_size) const {
    const std::uint32_t shoff = le32(b_, 32);
    const unsigned shentsize = le16(b_, 46), shnum = le16(b_, 48);
    for (unsigned i = 0; i < shnum; ++i) {
      const std::size_t sh = shoff + std::size_t{shentsize} * i;
      if (le32(b_, sh + 4) != kShtSymtab) continue;
      const std::uint32_t off = le32(b_, sh + 16), size = le32(b_, sh + 20), link = le32(b_, sh + 24);
      const std::size_t strsh = shoff + std::size_t{shentsize} * link;
      const std::uint32_t stroff = le32(b_, strsh + 16), strsize = le32(b_, strsh + 20);
      for (std::size_t s = off; s + 16 <= std::size_t{off} + size && s + 16 <= b_.size(); s += 16) {
        Symbol sym{le32(b_, s + 4), le32(b_, s + 8), static_cast<unsigned>(b_[s + 12]) & 0xfu};
        const std::uint32_t name = le32(b_, s);
        if (name >= strsize || std::size_t{stroff} + name >= b_.size()) continue;
        const char* text = b_.data() + stroff + name;
        const std::size_t len = strnlen(text, b_.size() - (stroff + name));
        if (sym.type == kSttFunc && sym.size) func_size[sym.value] = sym.size;
        if (len) by_name[std::string(text, len)] = sym;
      }
    }
  }

 private:
  std::string b_;
};

}  // namespace

std::optional<std::size_t> SuiteTable::test_at(std::uint32_t address) const {
  for (std::size_t i = 0; i < tests.size(); ++i)
    if (tests[i].code_size && address >= tests[i].code && address - tests[i].code < tests[i].code_size) return i;
  return std::nullopt;
}

std::optional<SuiteTable> read_suite_table(const std::filesystem::path& elf, std::string* problem) {
  auto fail = [&](std::string why) -> std::optional<SuiteTable> {
    if (problem) *problem = elf.string() + ": " + why;
    return std::nullopt;
  };
  std::ifstream in(elf, std::ios::binary);
  if (!in) return fail("cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  const Image img(s.str());
  if (!img.valid()) return fail("not a 32-bit little-endian ELF file");
  std::map<std::string, Image::Symbol> symbols;
  std::map<std::uint32_t, std::uint32_t> func_size;
  img.read_symbols(symbols, func_size);
  const auto groups = symbols.find("hvlab_suite_groups");
  if (groups == symbols.end()) return std::nullopt;  // not the suite: no table, no problem
  SuiteTable table;
  for (std::uint32_t g = 0; g < groups->second.size / 4; ++g) {
    const auto group = img.word(groups->second.value + 4 * g);
    const auto tests = group ? img.word(*group) : std::nullopt;
    const auto count = group ? img.word(*group + 4) : std::nullopt;
    if (!tests || !count || *count > 1000) return fail("its test table cannot be read");
    table.groups.push_back(*count);
    for (std::uint32_t t = 0; t < *count; ++t) {
      const auto name_at = img.word(*tests + 8 * t), fn = img.word(*tests + 8 * t + 4);
      const auto name = name_at ? img.c_string(*name_at) : std::nullopt;
      if (!name || !fn) return fail("its test table cannot be read");
      const auto size = func_size.find(*fn);
      const std::uint32_t bytes = size == func_size.end() ? 0 : size->second;
      table.tests.push_back({*name, *fn, bytes, img.bytes(*fn, std::min<std::uint32_t>(16, bytes))});
    }
  }
  if (table.tests.empty()) return fail("its test table is empty");
  // hvlab::guest::fail(const char*, ...)
  const auto f = symbols.find("_ZN5hvlab5guest4failEPKcz");
  if (f != symbols.end() && f->second.type == kSttFunc)
    table.fail = SuiteTest{"fail", f->second.value, f->second.size, img.bytes(f->second.value, std::min<std::uint32_t>(16, f->second.size))};
  return table;
}

std::string SuiteTable::watch_list() const {
  auto hex = [](const std::string& b) {
    std::string out;
    for (unsigned char c : b) out += fmt::format("{:02x}", c);
    return out.empty() ? std::string("00") : out;
  };
  std::string out;
  for (std::size_t i = 0; i < tests.size(); ++i)
    if (!tests[i].head.empty()) out += fmt::format("{} {:x} {}\n", i, tests[i].code, hex(tests[i].head));
  if (fail && !fail->head.empty()) out += fmt::format("fail {:x} {}\n", fail->code, hex(fail->head));
  return out;
}

std::vector<unsigned> seeded_order(std::uint64_t seed, std::size_t count, const std::vector<unsigned>& groups) {
  std::vector<unsigned> perm(count);
  const std::vector<unsigned> one = {static_cast<unsigned>(count)};
  const std::vector<unsigned>& g = groups.empty() ? one : groups;
  guest::order::test_order(seed, perm.data(), static_cast<unsigned>(count), g.data(), static_cast<unsigned>(g.size()));
  return perm;
}

}  // namespace hvlab::grader
