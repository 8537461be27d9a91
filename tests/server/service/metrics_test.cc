#include "server/service/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <map>
#include <string>

namespace fleetrate::server {
namespace {

KeyRate Rate(double probability, double seen, double sampled) {
  KeyRate rate;
  rate.probability = probability;
  rate.fleet_seen_per_second = seen;
  rate.fleet_sampled_per_second = sampled;
  return rate;
}

void AddScope(RateTables& tables, const Scope& scope,
              std::vector<std::pair<std::string, KeyRate>> operations, size_t live_clients = 1) {
  auto rates = std::make_shared<ServiceRates>();
  rates->scope = scope;
  rates->operations = std::move(operations);
  rates->live_clients = live_clients;
  tables.scopes[scope] = std::move(rates);
}

// Series of one family as {"label=value,...": value}.
std::map<std::string, double> Series(prometheus::Registry& registry, const std::string& name) {
  std::map<std::string, double> out;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::string key;
      for (const auto& label : metric.label) key += label.name + "=" + label.value + ",";
      out[key] = family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                                : metric.gauge.value;
    }
  }
  return out;
}

class ServerMetricsTest : public ::testing::Test {
 protected:
  ServerMetricsTest()
      : registry_(std::make_shared<prometheus::Registry>()),
        metrics_(registry_, MetricsLimits{2, 3}) {}

  std::shared_ptr<prometheus::Registry> registry_;
  ServerMetrics metrics_;
};

TEST_F(ServerMetricsTest, PerScopeGaugesSumTheScopesKeys) {
  RateTables tables;
  AddScope(tables, {"cart", "prod"}, {{"GET", Rate(0.01, 1000, 9)}, {"POST", Rate(0.5, 10, 6)}});
  metrics_.RecordTable(tables);
  const std::string labels = "environment=prod,service=cart,";
  EXPECT_DOUBLE_EQ(Series(*registry_, "fleetrate_service_roots_seen_per_second")[labels], 1010);
  EXPECT_DOUBLE_EQ(Series(*registry_, "fleetrate_service_roots_sampled_per_second")[labels], 15);
  // Target: sum of p × seen = 10 + 5.
  EXPECT_DOUBLE_EQ(Series(*registry_, "fleetrate_service_target_traces_per_second")[labels], 15);
  EXPECT_DOUBLE_EQ(Series(*registry_, "fleetrate_scopes_tracked")[""], 1);
}

TEST_F(ServerMetricsTest, OnlyTheBusiestScopesAndKeysGetSeriesAndStaleOnesAreRemoved) {
  RateTables first;
  AddScope(first, {"a", "prod"}, {{"x", Rate(0.1, 100, 10)}, {"y", Rate(0.2, 50, 10)}});
  AddScope(first, {"b", "prod"}, {{"x", Rate(0.3, 300, 90)}});
  AddScope(first, {"c", "prod"}, {{"x", Rate(1, 1, 1)}});
  metrics_.RecordTable(first);
  std::map<std::string, double> seen =
      Series(*registry_, "fleetrate_service_roots_seen_per_second");
  ASSERT_EQ(seen.size(), 2u);  // max_scope_series = 2: b (300/s) and a (150/s)
  EXPECT_EQ(seen.count("environment=prod,service=c,"), 0u);
  std::map<std::string, double> probability = Series(*registry_, "fleetrate_key_probability");
  ASSERT_EQ(probability.size(), 3u);  // max_key_series = 3: b/x, a/x, a/y
  EXPECT_DOUBLE_EQ(probability["environment=prod,operation=x,service=b,"], 0.3);
  EXPECT_DOUBLE_EQ(probability["environment=prod,operation=y,service=a,"], 0.2);

  // Traffic moves to c; a drops out of the top and its series go away.
  RateTables second;
  AddScope(second, {"a", "prod"}, {{"x", Rate(0.1, 1, 1)}});
  AddScope(second, {"b", "prod"}, {{"x", Rate(0.4, 300, 90)}});
  AddScope(second, {"c", "prod"}, {{"x", Rate(0.01, 5000, 50)}});
  metrics_.RecordTable(second);
  seen = Series(*registry_, "fleetrate_service_roots_seen_per_second");
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen.count("environment=prod,service=a,"), 0u);
  EXPECT_DOUBLE_EQ(seen["environment=prod,service=c,"], 5000);
  EXPECT_EQ(Series(*registry_, "fleetrate_service_target_traces_per_second").size(), 2u);
  probability = Series(*registry_, "fleetrate_key_probability");
  EXPECT_EQ(probability.size(), 3u);
  EXPECT_EQ(probability.count("environment=prod,operation=y,service=a,"), 0u);
  EXPECT_DOUBLE_EQ(probability["environment=prod,operation=x,service=b,"], 0.4);

  // An empty table leaves no labelled series behind.
  metrics_.RecordTable(RateTables{});
  EXPECT_TRUE(Series(*registry_, "fleetrate_service_roots_seen_per_second").empty());
  EXPECT_TRUE(Series(*registry_, "fleetrate_key_probability").empty());
}

TEST(SanitizeLabelValueTest, ReplacesControlCharactersAndBadUtf8AndCapsTheLength) {
  EXPECT_EQ(SanitizeLabelValue("GET /users/{id}"), "GET /users/{id}");
  EXPECT_EQ(SanitizeLabelValue("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  // é € 😀 stay
  EXPECT_EQ(SanitizeLabelValue(std::string("a\0b\rc\nd\te\x7f"
                                           "f\x1b",
                                           12)),
            "a_b_c_d_e_f_");
  EXPECT_EQ(SanitizeLabelValue("\xc2\x85|\xc2\x9f|\xc2\xa0"), "_|_|\xc2\xa0");  // C1; NBSP stays
  EXPECT_EQ(SanitizeLabelValue("x\xff\xc3(\xed\xa0\x80"), "x__(___");  // not UTF-8, byte by byte
  EXPECT_EQ(SanitizeLabelValue("\\ \""), "\\ \"");  // prometheus-cpp escapes these itself
  EXPECT_EQ(SanitizeLabelValue(std::string(1000, 'o')), std::string(kMaxLabelValueBytes, 'o'));
  // Cut at a character boundary, never inside one.
  std::string euros;
  for (int i = 0; i < 100; ++i) euros += "\xe2\x82\xac";
  EXPECT_EQ(SanitizeLabelValue(euros).size(), kMaxLabelValueBytes / 3 * 3);
}

// Sync lets any UTF-8 through in service, environment and operation names, NUL and CR included;
// prometheus-cpp writes those raw and a scrape that has them fails to parse.
TEST_F(ServerMetricsTest, LabelsFromClientInputCarryNoControlCharacters) {
  RateTables tables;
  AddScope(tables, {std::string("cart\r\0", 6), "prod\x01"}, {{"GET\r\n", Rate(0.5, 100, 50)}});
  // Differs from the first only in replaced characters: one series, set by the busier scope.
  AddScope(tables, {std::string("cart\0\r", 6), "prod\x02"}, {{"GET\n\r", Rate(0.25, 10, 2)}});
  metrics_.RecordTable(tables);
  const std::string text = prometheus::TextSerializer().Serialize(registry_->Collect());
  for (const char bad : {'\0', '\r', '\x01', '\x02'}) {
    EXPECT_EQ(text.find(bad), std::string::npos) << static_cast<int>(bad);
  }
  EXPECT_DOUBLE_EQ(
      Series(*registry_,
             "fleetrate_service_roots_seen_per_second")["environment=prod_,service=cart__,"],
      100);
  EXPECT_DOUBLE_EQ(
      Series(*registry_,
             "fleetrate_key_probability")["environment=prod_,operation=GET__,service=cart__,"],
      0.5);
  // The series survive the busier scope leaving, and go when both have.
  RateTables second;
  AddScope(second, {std::string("cart\0\r", 6), "prod\x02"}, {{"GET\n\r", Rate(0.25, 10, 2)}});
  metrics_.RecordTable(second);
  EXPECT_DOUBLE_EQ(
      Series(*registry_,
             "fleetrate_service_roots_seen_per_second")["environment=prod_,service=cart__,"],
      10);
  metrics_.RecordTable(RateTables{});
  EXPECT_TRUE(Series(*registry_, "fleetrate_service_roots_seen_per_second").empty());
  EXPECT_TRUE(Series(*registry_, "fleetrate_key_probability").empty());
}

TEST(ExpectedSampledPerSecondTest, ProbabilityTimesSeenAndPerClientCapsForRateLimitedKeys) {
  KeyRate adaptive = Rate(0.01, 1000, 0);
  adaptive.local_cap_per_second = 20;  // fleet-wide burst cap of an adaptive key: not a limit
  EXPECT_DOUBLE_EQ(ExpectedSampledPerSecond(adaptive, 4), 10);
  KeyRate fixed = Rate(0.5, 10, 0);
  fixed.reasons = kFixed;
  EXPECT_DOUBLE_EQ(ExpectedSampledPerSecond(fixed, 4), 5);
  KeyRate rate_limited = Rate(1, 1000, 0);
  rate_limited.reasons = kFixed;
  rate_limited.local_cap_per_second = 2;  // per client
  EXPECT_DOUBLE_EQ(ExpectedSampledPerSecond(rate_limited, 4), 8);
}

TEST_F(ServerMetricsTest, CountsSyncsByCodeAndPolicyLoadsByResult) {
  metrics_.RecordSync("OK", 0.001);
  metrics_.RecordSync("OK", 0.002);
  metrics_.RecordSync("INVALID_ARGUMENT", 0.001);
  metrics_.RecordPolicyLoad(false);
  std::map<std::string, double> syncs = Series(*registry_, "fleetrate_sync_requests_total");
  EXPECT_DOUBLE_EQ(syncs["code=OK,"], 2);
  EXPECT_DOUBLE_EQ(syncs["code=INVALID_ARGUMENT,"], 1);
  std::map<std::string, double> loads = Series(*registry_, "fleetrate_policy_loads_total");
  EXPECT_DOUBLE_EQ(loads["result=error,"], 1);
  EXPECT_DOUBLE_EQ(loads["result=success,"], 0);
  EXPECT_DOUBLE_EQ(Series(*registry_, "fleetrate_policy_last_load_success")[""], 0);
}

TEST_F(ServerMetricsTest, StoreDegradedStateAndRefusalsAreExported) {
  StoreStatus status;
  status.degraded = true;
  status.degraded_reason = "refused the last table";
  status.table_age_seconds = 12.5;
  status.invalid_reports = 3;
  status.invalid_tables = 1;
  status.lease_repairs = 2;
  metrics_.RecordStore(status);
  EXPECT_EQ(Series(*registry_, "fleetrate_store_degraded")[""], 1);
  EXPECT_EQ(Series(*registry_, "fleetrate_store_table_age_seconds")[""], 12.5);
  EXPECT_EQ(Series(*registry_, "fleetrate_store_lease_repairs_total")[""], 2);
  std::map<std::string, double> invalid = Series(*registry_, "fleetrate_store_invalid_total");
  EXPECT_EQ(invalid["what=report,"], 3);
  EXPECT_EQ(invalid["what=entry,"], 0);
  EXPECT_EQ(invalid["what=table,"], 1);
  // Counters follow the increase; the gauge follows the state.
  status.degraded = false;
  status.invalid_reports = 5;
  metrics_.RecordStore(status);
  EXPECT_EQ(Series(*registry_, "fleetrate_store_degraded")[""], 0);
  EXPECT_EQ(Series(*registry_, "fleetrate_store_invalid_total")["what=report,"], 5);
}

TEST_F(ServerMetricsTest, CollectablesServeTheRegistryAndTheProcessMetrics) {
  std::vector<std::string> names;
  for (const auto& weak : metrics_.collectables()) {
    const auto collectable = weak.lock();
    ASSERT_NE(collectable, nullptr);
    for (const prometheus::MetricFamily& family : collectable->Collect()) {
      names.push_back(family.name);
      // Prometheus conventions: counters end in _total, nothing else does.
      const bool total =
          family.name.size() > 6 && family.name.compare(family.name.size() - 6, 6, "_total") == 0;
      EXPECT_EQ(total, family.type == prometheus::MetricType::Counter) << family.name;
    }
  }
  for (const char* expected :
       {"fleetrate_build_info", "fleetrate_sync_requests_total", "fleetrate_sync_duration_seconds",
        "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
        "process_start_time_seconds", "process_threads"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
}

}  // namespace
}  // namespace fleetrate::server
