#include "server/common/log_throttle.h"

#include <gtest/gtest.h>

namespace fleetrate::server {
namespace {

TEST(LogThrottleTest, AFewLinesAWindowThenHowManyWereHeldBack) {
  ManualClock clock;
  LogThrottle throttle(2, std::chrono::minutes(1));
  uint64_t held_back = 99;
  EXPECT_TRUE(throttle.Allow(clock.Now(), &held_back));
  EXPECT_EQ(held_back, 0u);
  EXPECT_TRUE(throttle.Allow(clock.Now(), &held_back));
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(throttle.Allow(clock.Now(), &held_back));
  clock.Advance(std::chrono::seconds(59));
  EXPECT_FALSE(throttle.Allow(clock.Now(), &held_back));
  clock.Advance(std::chrono::seconds(1));
  EXPECT_TRUE(throttle.Allow(clock.Now(), &held_back));
  EXPECT_EQ(held_back, 1001u);
  EXPECT_TRUE(throttle.Allow(clock.Now(), &held_back));
  EXPECT_EQ(held_back, 0u);
}

}  // namespace
}  // namespace fleetrate::server
