#include "fleetrate/rate_table.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace fleetrate {
namespace {

RateTable MakeTable() {
  return RateTable(7, OperationRate::FromProbability(0.01),
                   {{"GET /users", OperationRate::FromProbability(0.5)},
                    {"POST /orders", OperationRate::FromProbability(1.0)},
                    {"health", OperationRate::FromProbability(0.0)}},
                   BatchProfile{"low_latency", 512, 128, 1000, 10000});
}

TEST(RateTableTest, FindsListedOperations) {
  const RateTable table = MakeTable();
  EXPECT_EQ(table.version(), 7u);
  EXPECT_EQ(table.size(), 3u);
  ASSERT_NE(table.Find("GET /users"), nullptr);
  EXPECT_DOUBLE_EQ(table.Find("GET /users")->probability, 0.5);
  EXPECT_EQ(table.Find("POST /orders")->threshold, 0u);
  EXPECT_EQ(table.Find("health")->threshold, kMaxThreshold);
  EXPECT_EQ(table.batch_profile().name, "low_latency");
  EXPECT_EQ(table.batch_profile().max_queue_size, 512u);
}

TEST(RateTableTest, UnknownOperationsUseTheDefault) {
  const RateTable table = MakeTable();
  EXPECT_EQ(table.Find("GET /unknown"), nullptr);
  EXPECT_EQ(table.Find(""), nullptr);
  EXPECT_EQ(&table.Lookup("GET /unknown"), &table.default_rate());
  EXPECT_DOUBLE_EQ(table.Lookup("GET /unknown").probability, 0.01);
  EXPECT_DOUBLE_EQ(table.Lookup("GET /users").probability, 0.5);
}

TEST(RateTableTest, LooksUpByStringViewIntoALargerBuffer) {
  const RateTable table = MakeTable();
  const std::string buffer = "GET /users/42 and more";
  // A view of a prefix: not NUL-terminated at its end, and not a std::string.
  EXPECT_NE(table.Find(std::string_view(buffer).substr(0, 10)), nullptr);
  EXPECT_EQ(table.Find(std::string_view(buffer).substr(0, 13)), nullptr);
  EXPECT_EQ(table.Find(std::string_view(buffer).substr(0, 9)), nullptr);
}

TEST(RateTableTest, FirstDuplicateWins) {
  const RateTable table(
      1, OperationRate{},
      {{"a", OperationRate::FromProbability(0.5)}, {"a", OperationRate::FromProbability(1.0)}});
  EXPECT_EQ(table.size(), 1u);
  EXPECT_DOUBLE_EQ(table.Find("a")->probability, 0.5);
}

TEST(RateTableTest, FindsEveryOperationOfALargeTable) {
  std::vector<RateTable::Entry> entries;
  for (int i = 0; i < 2000; ++i) {
    entries.push_back({"op-" + std::to_string(i), OperationRate::FromProbability(i / 2000.0)});
  }
  const RateTable table(3, OperationRate{}, std::move(entries));
  ASSERT_EQ(table.size(), 2000u);
  for (int i = 0; i < 2000; ++i) {
    const OperationRate* rate = table.Find("op-" + std::to_string(i));
    ASSERT_NE(rate, nullptr) << i;
    EXPECT_DOUBLE_EQ(rate->probability, i / 2000.0);
  }
  for (int i = 2000; i < 4000; ++i) EXPECT_EQ(table.Find("op-" + std::to_string(i)), nullptr);
}

TEST(RateTableTest, EmptyTableHasOnlyTheDefault) {
  const RateTable table(0, OperationRate::FromProbability(0.25), {});
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.Find("anything"), nullptr);
  EXPECT_EQ(table.Lookup("anything").threshold, ProbabilityToThreshold(0.25));
}

}  // namespace
}  // namespace fleetrate
