// Internal: the hash and table sizing shared by RateTable and the Sampler's operation registry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace fleetrate::internal {

// A multiply-xor mix of 64x64 -> 128 bits (as in wyhash); __extension__ keeps -Wpedantic quiet.
[[nodiscard]] inline uint64_t Mix(uint64_t a, uint64_t b) noexcept {
  __extension__ using U128 = unsigned __int128;
  const U128 r = static_cast<U128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// Hashes the bytes in place, 8 at a time: no allocation, a few ns for a typical span name
// (std::hash<std::string_view> took about three times as long on the decision path).
[[nodiscard]] inline size_t HashOperation(std::string_view operation) noexcept {
  const char* p = operation.data();
  size_t n = operation.size();
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = Mix(h ^ v, 0xbf58476d1ce4e5b9ULL);
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    // The 1-7 byte tail without a variable-length memcpy (a library call): two overlapping
    // 4-byte loads, or three single bytes (as wyhash does).
    uint64_t v;
    if (n >= 4) {
      uint32_t a;
      uint32_t b;
      std::memcpy(&a, p, 4);
      std::memcpy(&b, p + n - 4, 4);
      v = (uint64_t{a} << 32) | b;
    } else {
      v = (uint64_t{static_cast<uint8_t>(p[0])} << 16) |
          (uint64_t{static_cast<uint8_t>(p[n >> 1])} << 8) | static_cast<uint8_t>(p[n - 1]);
    }
    h = Mix(h ^ v, 0x94d049bb133111ebULL);
  }
  return static_cast<size_t>(Mix(h, 0x2545f4914f6cdd1dULL));
}

// Slots for an open-addressing index of `n` keys: a power of two >= 2n (load <= 1/2), >= 8.
[[nodiscard]] inline size_t SlotCountFor(size_t n) noexcept {
  size_t slots = 8;
  while (slots < 2 * n) slots *= 2;
  return slots;
}

}  // namespace fleetrate::internal
