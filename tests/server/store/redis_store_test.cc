#include "server/store/redis_store.h"

#include <gtest/gtest.h>

#include <chrono>

namespace fleetrate::server {
namespace {

RedisReply Str(std::string value) {
  RedisReply r;
  r.type = RedisReply::Type::kString;
  r.str = std::move(value);
  return r;
}

RedisReply Int(long long value) {
  RedisReply r;
  r.type = RedisReply::Type::kInteger;
  r.integer = value;
  return r;
}

RedisReply Error(std::string text) {
  RedisReply r;
  r.type = RedisReply::Type::kError;
  r.str = std::move(text);
  return r;
}

constexpr std::chrono::milliseconds kLease{3000};

TEST(LeaseToRepairTest, ALeaseWithoutExpiryOrBeyondTwiceTheLeaseIsRepaired) {
  // SET fleetrate:leader x (no TTL).
  auto repair = LeaseToRepair(Str("x"), Int(-1), false, kLease);
  ASSERT_TRUE(repair.has_value());
  EXPECT_EQ(repair->seen, "x");
  EXPECT_EQ(repair->max_pttl_ms, 6000);
  // SET fleetrate:leader x PX 86400000.
  repair = LeaseToRepair(Str("x"), Int(86'400'000), false, kLease);
  ASSERT_TRUE(repair.has_value());
  EXPECT_EQ(repair->seen, "x");
  // A hash under the lease's name without expiry: any value, the script checks the type.
  repair = LeaseToRepair(Error("WRONGTYPE Operation against a key"), Int(-1), false, kLease);
  ASSERT_TRUE(repair.has_value());
  EXPECT_EQ(repair->seen, "");
}

TEST(LeaseToRepairTest, ALeaseThatExpiresInTimeOursOrNoneIsLeftAlone) {
  EXPECT_FALSE(LeaseToRepair(Str("replica-2"), Int(2999), false, kLease).has_value());
  EXPECT_FALSE(LeaseToRepair(Str("x"), Int(6000), false, kLease).has_value());  // at the bound
  EXPECT_FALSE(LeaseToRepair(Str("x"), Int(0), false, kLease).has_value());
  EXPECT_FALSE(LeaseToRepair(RedisReply{}, Int(-2), false, kLease).has_value());  // no key
  // This replica holds it: its renew script sets the expiry every round.
  EXPECT_FALSE(LeaseToRepair(Str("me"), Int(-1), true, kLease).has_value());
  // PTTL refused or missing: nothing known, nothing done.
  EXPECT_FALSE(LeaseToRepair(Str("x"), Error("ERR"), false, kLease).has_value());
}

}  // namespace
}  // namespace fleetrate::server
