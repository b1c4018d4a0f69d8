#include "common/boot/multiboot.hpp"

#include <cstdint>

namespace hvlab {

namespace {
template <typename T>
const T* at(std::uint32_t addr) {
  return reinterpret_cast<const T*>(static_cast<std::uintptr_t>(addr));
}
}  // namespace

BootInfo parse_multiboot(std::uint32_t magic, const multiboot::Info* info) {
  BootInfo bi;
  if (magic != multiboot::kBootloaderMagic || info == nullptr) return bi;
  using namespace multiboot::info_flags;
  if (info->flags & CMDLINE) bi.cmdline = at<char>(info->cmdline);
  if (info->flags & MEMORY) {
    bi.mem_lower_kib = info->mem_lower;
    bi.mem_upper_kib = info->mem_upper;
  }
  if (info->flags & MMAP) {
    std::uint32_t p = info->mmap_addr, end = info->mmap_addr + info->mmap_length;
    while (p + sizeof(multiboot::MmapEntry) <= end + 4 && bi.range_count < BootInfo::kMaxRanges) {
      const auto* e = at<multiboot::MmapEntry>(p);
      if (e->size < 20) break;  // a corrupt map: stop rather than loop forever
      bi.ranges[bi.range_count++] = {e->base_addr, e->length, e->type};
      p += e->size + 4;
    }
  } else if (info->flags & MEMORY) {
    // No map: the two classic ranges below 640 KiB and above 1 MiB.
    bi.ranges[bi.range_count++] = {0, std::uint64_t{info->mem_lower} * 1024, 1};
    bi.ranges[bi.range_count++] = {0x100000, std::uint64_t{info->mem_upper} * 1024, 1};
  }
  if (info->flags & MODS) {
    const auto* mods = at<multiboot::Module>(info->mods_addr);
    for (std::uint32_t i = 0; i < info->mods_count && bi.module_count < BootInfo::kMaxModules; ++i) {
      bi.modules[bi.module_count++] = {mods[i].mod_start, mods[i].mod_end,
                                       mods[i].string ? at<char>(mods[i].string) : ""};
    }
  }
  return bi;
}

bool find_option(const char* s, const char* key, char* buf, unsigned size) {
  if (!s || size == 0) return false;
  unsigned klen = 0;
  while (key[klen]) ++klen;
  while (*s) {
    while (*s == ' ') ++s;
    const char* word = s;
    while (*s && *s != ' ') ++s;
    unsigned i = 0;
    while (i < klen && word + i < s && word[i] == key[i]) ++i;
    if (i == klen && word + klen < s && word[klen] == '=') {
      const char* v = word + klen + 1;
      unsigned n = 0;
      while (v + n < s && n + 1 < size) {
        buf[n] = v[n];
        ++n;
      }
      buf[n] = '\0';
      return true;
    }
  }
  return false;
}

bool find_unsigned_option(const char* options, const char* key, std::uint32_t* value, bool* malformed) {
  if (malformed) *malformed = false;
  char buf[16] = {};  // room for 10 digits; a value that fills it may have been cut short
  if (!find_option(options, key, buf, sizeof buf)) return false;
  std::uint64_t v = 0;
  bool ok = buf[0] != '\0' && buf[sizeof buf - 2] == '\0';
  for (const char* p = buf; ok && *p; ++p) {
    ok = *p >= '0' && *p <= '9';
    v = v * 10 + static_cast<unsigned>(*p - '0');
    ok = ok && v <= 0xffffffffu;
  }
  if (!ok) {
    if (malformed) *malformed = true;
    return false;
  }
  *value = static_cast<std::uint32_t>(v);
  return true;
}

bool BootInfo::cmdline_option(const char* key, char* buf, unsigned size) const {
  return find_option(cmdline, key, buf, size);
}

bool BootInfo::cmdline_unsigned(const char* key, std::uint32_t* value, bool* malformed) const {
  return find_unsigned_option(cmdline, key, value, malformed);
}

}  // namespace hvlab
