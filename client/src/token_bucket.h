// Internal: a lock-free token bucket in one atomic word (GCRA, the generic cell rate
// algorithm of ITU-T I.371): the word holds the theoretical arrival time `tat` of the next
// token; a request at `now` conforms iff tat - tolerance <= now, and then moves tat to
// max(tat, now) + interval. interval = 1 s / rate; tolerance = (burst - 1) * interval.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace fleetrate::internal {

// 1e9 / per_second, in [1, 1e18]; 0 for a rate <= 0 (meaning "no bucket") or NaN.
[[nodiscard]] inline int64_t IntervalNanos(double per_second) noexcept {
  if (!(per_second > 0.0)) return 0;
  const double ns = 1e9 / per_second;
  if (ns >= 1e18) return 1'000'000'000'000'000'000;
  return std::max<int64_t>(1, static_cast<int64_t>(ns));
}

class TokenBucket {
 public:
  // Takes one token at `now_ns` if the bucket has one. Thread-safe (one CAS loop).
  [[nodiscard]] bool TryTake(int64_t now_ns, int64_t interval_ns, int64_t tolerance_ns) noexcept {
    int64_t tat = tat_.load(std::memory_order_relaxed);
    for (;;) {
      const int64_t base = std::max(tat, now_ns);
      if (base - now_ns > tolerance_ns) return false;
      if (tat_.compare_exchange_weak(tat, base + interval_ns, std::memory_order_relaxed)) {
        return true;
      }
    }
  }

 private:
  std::atomic<int64_t> tat_{INT64_MIN / 2};  // long ago: the bucket starts full
};

}  // namespace fleetrate::internal
