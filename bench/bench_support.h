// Shared by the client microbenchmarks: random trace ids, so a decision's compare is not
// predictable by the branch predictor.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace fleetrate::bench {

inline constexpr size_t kIds = 1024;  // a power of two: index with `i & (kIds - 1)`

inline const std::vector<std::array<uint8_t, 16>>& TraceIds() {
  static const std::vector<std::array<uint8_t, 16>> ids = [] {
    std::mt19937_64 rng(42);
    std::vector<std::array<uint8_t, 16>> out(kIds);
    for (auto& id : out) {
      for (uint8_t& b : id) b = static_cast<uint8_t>(rng());
    }
    return out;
  }();
  return ids;
}

}  // namespace fleetrate::bench
