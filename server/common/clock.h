// Time for the server, injected (Envoy's rule): only main() and RealClock read the system clock,
// so the rate engine, aggregator and service are hermetic in tests.
//
//   RealClock clock;             // production
//   ManualClock clock;           // tests: clock.Advance(std::chrono::seconds(1));
//
// Both are thread-safe.
#pragma once

#include <atomic>
#include <chrono>

namespace fleetrate::server {

using Timestamp = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual Timestamp Now() const noexcept = 0;
};

class RealClock final : public Clock {
 public:
  [[nodiscard]] Timestamp Now() const noexcept override { return std::chrono::steady_clock::now(); }
};

// A clock that moves only when told to. Starts at an arbitrary non-zero time point.
class ManualClock final : public Clock {
 public:
  ManualClock() = default;
  explicit ManualClock(Timestamp start) : now_(start.time_since_epoch().count()) {}

  [[nodiscard]] Timestamp Now() const noexcept override {
    return Timestamp(Duration(now_.load(std::memory_order_acquire)));
  }
  void Advance(Duration by) noexcept { now_.fetch_add(by.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<Duration::rep> now_{
      std::chrono::duration_cast<Duration>(std::chrono::hours(1)).count()};
};

// Seconds as a double, the unit rates are expressed in.
[[nodiscard]] inline double Seconds(Duration d) noexcept {
  return std::chrono::duration<double>(d).count();
}

}  // namespace fleetrate::server
