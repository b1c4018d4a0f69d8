#pragma once
// The order in which the test guest runs its tests for a seed, shared by the guest (which
// runs them so) and the grader (which checks that the guest did): with seed=HEX on its
// command line the guest runs its tests in a shuffled order and numbers them as it runs
// them, so a transcript saved from one run matches no other. Seed 0 is the order of the
// source (`make run`, a plain boot). Freestanding: no library beyond <cstdint>, and no 64-bit
// division (a 32-bit kernel would need libgcc for it).

#include <cstdint>

namespace hvlab::guest::order {

/// SplitMix64's finaliser: a well-mixed 64-bit value from any input.
constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// perm[k] = the index (in source order) of the test run k-th, for `count` tests made of
/// consecutive groups of `group_sizes` (priv, sens, intr, ...). Each group is shuffled within
/// itself and the groups keep the order of the source: under a trap-and-emulate monitor a
/// deprivileged kernel cannot undo all that a user-mode test leaves (POPF at CPL 1 does not
/// lower IOPL), and the theory's predictions for the sens tests assume the machine as the
/// earlier groups leave it. Sizes that do not add up to `count` leave the rest in place.
constexpr void test_order(std::uint64_t seed, unsigned* perm, unsigned count, const unsigned* group_sizes,
                          unsigned groups) {
  for (unsigned i = 0; i < count; ++i) perm[i] = i;
  if (seed == 0) return;
  std::uint64_t state = seed;
  unsigned start = 0;
  for (unsigned g = 0; g < groups && start < count; ++g) {
    const unsigned n = group_sizes[g] < count - start ? group_sizes[g] : count - start;
    for (unsigned i = n; i > 1; --i) {  // Fisher-Yates within the group
      state = mix64(state);
      const unsigned j = static_cast<unsigned>(static_cast<std::uint32_t>(state >> 32) % i);
      const unsigned t = perm[start + i - 1];
      perm[start + i - 1] = perm[start + j];
      perm[start + j] = t;
    }
    start += n;
  }
}

/// 1 to 16 hex digits (either case); false for anything else.
constexpr bool parse_hex64(const char* text, std::uint64_t* out) {
  std::uint64_t v = 0;
  unsigned n = 0;
  for (; text[n] != '\0'; ++n) {
    const char c = text[n];
    unsigned d = 0;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
    else return false;
    if (n == 16) return false;
    v = v << 4 | d;
  }
  if (n == 0) return false;
  *out = v;
  return true;
}

/// The key of a boot's test data values (see boot_value in suite.hpp): the run's seed and the
/// boot's nonce, so values differ between the boots of one run too.
constexpr std::uint64_t boot_key(std::uint64_t seed, const char* nonce) {
  std::uint64_t h = mix64(seed);
  for (unsigned i = 0; nonce != nullptr && nonce[i] != '\0'; ++i) h = mix64(h ^ static_cast<unsigned char>(nonce[i]));
  return h;
}

/// The value number `salt` of a boot, from its key.
constexpr std::uint32_t boot_value(std::uint64_t key, unsigned salt) {
  return static_cast<std::uint32_t>(mix64(key ^ (std::uint64_t{salt} << 32 | salt)) >> 16);
}

}  // namespace hvlab::guest::order
