// LogThrottle: bounds the log lines of an event that clients can trigger at will (refused Syncs,
// evictions), so a flood cannot flood the log too. At most `lines` lines per `window`; the first
// line after a quiet spell says how many were held back.
//
//   LogThrottle throttle(5, std::chrono::minutes(1));
//   uint64_t held_back = 0;
//   if (throttle.Allow(clock.Now(), &held_back)) FLEETRATE_LOG(kWarning) << ... << held_back;
//
// Thread-safe (a mutex; callers are on an error path).
#pragma once

#include <cstdint>
#include <mutex>

#include "server/common/clock.h"

namespace fleetrate::server {

class LogThrottle {
 public:
  LogThrottle(int lines, Duration window) : lines_(lines), window_(window) {}

  // True if a line may be written at `now`; then `*held_back` is the number of lines refused
  // since the previous one allowed.
  [[nodiscard]] bool Allow(Timestamp now, uint64_t* held_back) {
    std::lock_guard<std::mutex> lock(mu_);
    if (written_ == 0 || now - window_start_ >= window_) {
      window_start_ = now;
      written_ = 0;
    }
    if (written_ >= lines_) {
      ++held_back_;
      return false;
    }
    ++written_;
    *held_back = held_back_;
    held_back_ = 0;
    return true;
  }

 private:
  const int lines_;
  const Duration window_;
  std::mutex mu_;
  Timestamp window_start_{};  // guarded by mu_
  int written_ = 0;           // guarded by mu_; lines in the current window
  uint64_t held_back_ = 0;    // guarded by mu_
};

}  // namespace fleetrate::server
