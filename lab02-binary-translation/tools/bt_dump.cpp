// lab02-bt-dump: a guest kernel's basic block and its translation, side by side, with the
// rule of each instruction (`make bt-dump ADDR=... [GUEST=...]`, the lecture's demo).
//
// The guest's ELF file is read as a multiboot loader would place it (its PT_LOAD segments at
// their physical addresses, paging off); the block at ADDR (an address or a function's
// name) is translated by lab02's Translator on the host, exactly as the monitor does, and
// its cache code disassembled by Zydis at the cache's linear address.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lab02-binary-translation/src/translator.hpp"
#include "lab02-binary-translation/tools/listing.hpp"

namespace {

using hvlab::lab02::CodeSource;

/// The loaded image of an ELF32 file, and its function symbols.
class Image final : public CodeSource {
 public:
  bool load(const std::string& path, std::string* why) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(why, "cannot open " + path);
    file_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (file_.size() < 52 ||
        std::memcmp(file_.data(),
                    "\x7f"
                    "ELF",
                    4) != 0 ||
        file_[4] != 1)
      return fail(why, path + " is not a 32-bit ELF file");
    const std::uint32_t phoff = u32(28), shoff = u32(32);
    const unsigned phnum = u16(44), phentsize = u16(42), shnum = u16(48), shentsize = u16(46);
    for (unsigned i = 0; i < phnum; ++i) {
      const std::size_t p = phoff + std::size_t{i} * phentsize;
      if (p + 32 > file_.size() || u32(p) != 1) continue;  // PT_LOAD
      const std::uint32_t off = u32(p + 4), paddr = u32(p + 12), filesz = u32(p + 16);
      if (off + std::uint64_t{filesz} > file_.size()) return fail(why, "a segment lies outside the file");
      segments_.push_back({paddr, off, filesz});
    }
    for (unsigned i = 0; i < shnum; ++i) {
      const std::size_t s = shoff + std::size_t{i} * shentsize;
      if (s + 40 > file_.size() || u32(s + 4) != 2) continue;  // SHT_SYMTAB
      const std::uint32_t off = u32(s + 16), size = u32(s + 20), link = u32(s + 24);
      const std::size_t str = shoff + std::size_t{link} * shentsize;
      const std::uint32_t stroff = u32(str + 16);
      for (std::uint32_t k = 0; k + 16 <= size; k += 16) {
        const std::uint32_t name = u32(off + k), value = u32(off + k + 4);
        if ((file_[off + k + 12] & 0xf) != 2 || stroff + name >= file_.size()) continue;  // STT_FUNC
        symbols_[reinterpret_cast<const char*>(&file_[stroff + name])] = value;
      }
    }
    return !segments_.empty() || fail(why, "no loadable segment");
  }
  /// A function by its symbol, or by its unqualified name inside a mangled one
  /// ("sens_pushf" finds _ZN5hvlab5guest12_GLOBAL__N_110sens_pushfEv).
  bool symbol(const std::string& name, std::uint32_t* value) const {
    auto it = symbols_.find(name);
    if (it == symbols_.end()) {
      const std::string part = std::to_string(name.size()) + name;
      for (it = symbols_.begin(); it != symbols_.end(); ++it)
        if (it->first.find(part) != std::string::npos) break;
    }
    if (it == symbols_.end()) return false;
    *value = it->second;
    return true;
  }
  bool fetch(std::uint32_t la, std::uint8_t* buf, std::size_t n, std::size_t* got) override {
    *got = 0;
    for (; *got < n; ++*got) {
      const std::uint8_t* b = at(la + static_cast<std::uint32_t>(*got));
      if (!b) break;
      buf[*got] = *b;
    }
    return *got > 0;
  }
  std::uint32_t frame_of(std::uint32_t la) override { return la >> 12; }

 private:
  struct Segment {
    std::uint32_t paddr, offset, size;
  };
  const std::uint8_t* at(std::uint32_t pa) const {
    for (const auto& s : segments_)
      if (pa >= s.paddr && pa - s.paddr < s.size) return &file_[s.offset + (pa - s.paddr)];
    return nullptr;
  }
  std::uint32_t u32(std::size_t o) const {
    std::uint32_t v = 0;
    if (o + 4 <= file_.size()) std::memcpy(&v, &file_[o], 4);
    return v;
  }
  unsigned u16(std::size_t o) const { return o + 2 <= file_.size() ? file_[o] | file_[o + 1] << 8 : 0; }
  static bool fail(std::string* why, const std::string& w) {
    *why = w;
    return false;
  }
  std::vector<std::uint8_t> file_;
  std::vector<Segment> segments_;
  std::map<std::string, std::uint32_t> symbols_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string guest, where;
  bool narrow = false, colour = false;
  unsigned blocks = 1, virtual_if = 1;
  CLI::App app{"A guest kernel's basic block and its translation by lab02, side by side"};
  app.add_option("--guest", guest, "the guest kernel (ELF32)")->required();
  app.add_option("--addr", where, "the block's address (hex) or a function's name")->required();
  app.add_option("--blocks", blocks, "this many blocks, each from where the last one's guest code ends");
  app.add_option("--if", virtual_if, "the virtual IF the first block is translated for (its mode)")
      ->check(CLI::IsMember({0u, 1u}));
  app.add_flag("--narrow", narrow, "80 columns: no addresses or bytes (the lecture's demo)");
  app.add_flag("--colour", colour, "rules in colour (IDENT green, rewritten yellow, callouts red)");
  CLI11_PARSE(app, argc, argv);

  Image image;
  std::string why;
  if (!image.load(guest, &why)) {
    fmt::print(stderr, "lab02-bt-dump: {}\n", why);
    return 2;
  }
  std::uint32_t eip = 0;
  if (!image.symbol(where, &eip)) {
    char* end = nullptr;
    eip = static_cast<std::uint32_t>(std::strtoul(where.c_str(), &end, 16));
    if (where.empty() || *end != '\0') {
      fmt::print(stderr, "lab02-bt-dump: '{}' is neither a hex address nor a function of {}\n", where, guest);
      return 2;
    }
  }
  std::vector<std::uint8_t> cache(hvlab::lab02::kCacheBytes);
  auto t = std::make_unique<hvlab::lab02::Translator>(cache.data(), hvlab::lab02::kCacheBytes);
  hvlab::decoder::Decoder dec(hvlab::decoder::Mode::k32);
  std::uint8_t mode = virtual_if ? hvlab::lab02::kModeIF : 0;
  for (unsigned n = 0; n < blocks; ++n) {
    auto r = t->translate(eip, 0x08, mode, image);
    if (!r.ok()) {
      fmt::print(stderr, "lab02-bt-dump: no guest code at {:08x} in {}\n", eip, guest);
      return 2;
    }
    const auto& b = t->block(r.value());
    if (n) fmt::print("\n");
    fmt::print("block at guest {:08x} (IF={}): {} instructions, {} IDENT -> cache {:08x}\n", eip,
               (mode & hvlab::lab02::kModeIF) ? 1 : 0, b.guest_insns, b.ident_insns,
               hvlab::lab02::kCacheLinear + b.start);
    fmt::print("{}", hvlab::lab02::listing(*t, r.value(), image, narrow, colour));
    // The next block starts where this one's guest code ends, in the mode its last exit
    // goes on in (after a CLI: IF = 0).
    if (b.exits) mode = t->exit(b.first_exit + b.exits - 1).mode & ~hvlab::lab02::kModeShadow;
    for (unsigned k = 0; k < b.guest_insns; ++k) {
      std::uint8_t bytes[15];
      std::size_t got = 0;
      hvlab::decoder::Instruction gi;
      if (!image.fetch(eip, bytes, sizeof bytes, &got) || !dec.decode_into(bytes, got, gi).ok()) break;
      eip += gi.length();
    }
  }
  return 0;
}
