// The simulator's model of the client's token buckets (client/src/token_bucket.h, GCRA) in
// virtual seconds, taking a whole second's worth of requests at once.
//
//   double tat = kFullBucket;                        // starts full
//   uint64_t kept = TakeTokens(&tat, now, 1 / rate, (burst - 1) / rate, wanted);
//
// A request at `now` conforms iff tat - tolerance <= now, and moves tat to max(tat, now) +
// interval; TakeTokens grants up to `want` such requests, all at `now`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace fleetrate::sim {

inline constexpr double kFullBucket = -1e18;  // a theoretical arrival time long ago

// Takes up to `want` tokens at `now`; returns how many conformed. interval > 0.
inline uint64_t TakeTokens(double* tat, double now, double interval, double tolerance,
                           uint64_t want) noexcept {
  if (want == 0) return 0;
  const double base = std::max(*tat, now);
  if (base - now > tolerance) return 0;
  const double room = std::floor((now + tolerance - base) / interval) + 1;
  const uint64_t take = std::min<uint64_t>(want, static_cast<uint64_t>(room));
  *tat = base + static_cast<double>(take) * interval;
  return take;
}

}  // namespace fleetrate::sim
