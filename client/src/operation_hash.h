// Internal: the hash and table sizing shared by RateTable and the Sampler's operation registry.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace fleetrate::internal {

// std::hash<std::string_view> hashes the bytes in place: no allocation, no std::string.
[[nodiscard]] inline size_t HashOperation(std::string_view operation) noexcept {
  return std::hash<std::string_view>{}(operation);
}

// Slots for an open-addressing index of `n` keys: a power of two >= 2n (load <= 1/2), >= 8.
[[nodiscard]] inline size_t SlotCountFor(size_t n) noexcept {
  size_t slots = 8;
  while (slots < 2 * n) slots *= 2;
  return slots;
}

}  // namespace fleetrate::internal
