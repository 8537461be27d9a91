#include "server/common/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <string>

#include "fleetrate/v1/sampling.pb.h"
#include "fleetrate/wire/v1/sync_request.pb.h"

namespace fleetrate::server {
namespace {

using std::chrono::seconds;
using Time = std::chrono::steady_clock::time_point;

TEST(LogBudgetTest, AllowsSoManyPerWindowAndCountsTheRest) {
  LogBudget budget(2, seconds(60));
  const Time t0{seconds(1000)};
  uint64_t dropped = 99;
  EXPECT_TRUE(budget.Allow(t0, &dropped));
  EXPECT_EQ(dropped, 0u);
  EXPECT_TRUE(budget.Allow(t0 + seconds(1), &dropped));
  EXPECT_FALSE(budget.Allow(t0 + seconds(2), &dropped));
  EXPECT_FALSE(budget.Allow(t0 + seconds(59), &dropped));
  // A new window: the first message written says how many were dropped, once.
  EXPECT_TRUE(budget.Allow(t0 + seconds(60), &dropped));
  EXPECT_EQ(dropped, 2u);
  EXPECT_TRUE(budget.Allow(t0 + seconds(61), &dropped));
  EXPECT_EQ(dropped, 0u);
  EXPECT_FALSE(budget.Allow(t0 + seconds(62), &dropped));
}

int CountOf(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// What a flood of bad requests to a method with proto3 strings does: protobuf refuses each and
// logs once per request. Routed, the log gets the budget's worth of warning lines.
TEST(ProtobufLogTest, ParseErrorsBecomeRateLimitedWarningLines) {
  wire::v1::ClientIdentity bad;
  bad.set_service("cart\xff");
  const std::string bytes = bad.SerializeAsString();
  google::protobuf::LogHandler* previous = google::protobuf::SetLogHandler(nullptr);
  RouteProtobufLogs(3);
  testing::internal::CaptureStderr();
  for (int i = 0; i < 10; ++i) {
    v1::ClientIdentity parsed;
    EXPECT_FALSE(parsed.ParseFromString(bytes));
  }
  const std::string log = testing::internal::GetCapturedStderr();
  google::protobuf::SetLogHandler(previous);
  EXPECT_EQ(CountOf(log, "\n"), 3) << log;
  EXPECT_EQ(CountOf(log,
                    " warning protobuf: String field 'fleetrate.v1.ClientIdentity.service' "
                    "contains invalid UTF-8 data when parsing"),
            3)
      << log;
}

}  // namespace
}  // namespace fleetrate::server
