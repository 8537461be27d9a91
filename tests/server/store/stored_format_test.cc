#include "server/store/stored_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "fleetrate/threshold.h"

namespace fleetrate::server {
namespace {

TEST(StoredFormatTest, AReportRoundTrips) {
  const ClientReport report{{"cart", "prod"},
                            "cart-7f9c",
                            std::chrono::milliseconds(9500),
                            {{"GET /cart", 12000, 40}, {"POST /cart", 300, 3}}};
  store::v1::StoredReport stored;
  ToStored(report, std::chrono::seconds(10), &stored);
  store::v1::StoredReport wire;
  ASSERT_TRUE(wire.ParseFromString(stored.SerializeAsString()));
  Duration sync_interval{};
  const ClientReport back = FromStored(wire, &sync_interval);
  EXPECT_EQ(back.scope, report.scope);
  EXPECT_EQ(back.instance_id, report.instance_id);
  EXPECT_EQ(back.interval, report.interval);
  EXPECT_EQ(sync_interval, std::chrono::seconds(10));
  ASSERT_EQ(back.operations.size(), 2u);
  EXPECT_EQ(back.operations[1].operation, "POST /cart");
  EXPECT_EQ(back.operations[1].roots_seen, 300u);
  EXPECT_EQ(back.operations[1].roots_sampled, 3u);
}

TEST(StoredFormatTest, ATableRoundTripsExactly) {
  auto rates = std::make_shared<ServiceRates>();
  rates->scope = {"cart", "prod"};
  rates->version = 1795644488147;
  KeyRate get;
  get.probability = 0.0123;
  get.threshold = 0xfcd35a858793dd;
  get.local_cap_per_second = 7.5;
  get.lower_bound_per_second = 1.0 / 60;
  get.fleet_seen_per_second = 812.25;
  get.fleet_sampled_per_second = 9.99;
  get.wanted_probability = 0.0125;
  get.burst = 3;
  get.rule = 2;
  get.reasons = kRiseCapped | kCutByBudget;
  KeyRate health;
  health.reasons = kFixed;
  // Out of order on purpose: a reader must get them sorted.
  rates->operations = {{"GET /health", health}, {"GET /cart", get}};
  rates->default_rate.probability = 0.001;
  rates->batch_profile = {"low_latency", 512, 128, 1000, 10000};
  rates->capture = {2.5, 1000, 0.5};
  rates->live_clients = 12;
  RateTables tables;
  tables.scopes.emplace(rates->scope, rates);
  tables.budget_demand_per_second = 120;
  tables.budget_allocated_per_second = 100;

  store::v1::StoredTables stored;
  ToStored(tables, &stored);
  store::v1::StoredTables wire;
  ASSERT_TRUE(wire.ParseFromString(stored.SerializeAsString()));
  auto policies = std::make_shared<const Policies>();
  const std::shared_ptr<const RateTables> back = FromStored(wire, policies);
  EXPECT_EQ(back->policies, policies);
  EXPECT_EQ(back->budget_demand_per_second, 120);
  EXPECT_EQ(back->budget_allocated_per_second, 100);
  const ServiceRates* s = back->Find({"cart", "prod"});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->version, rates->version);
  EXPECT_EQ(s->live_clients, 12u);
  EXPECT_EQ(s->batch_profile, rates->batch_profile);
  EXPECT_EQ(s->capture, rates->capture);
  EXPECT_EQ(s->default_rate.probability, 0.001);
  ASSERT_EQ(s->operations.size(), 2u);
  EXPECT_EQ(s->operations[0].first, "GET /cart");
  const KeyRate* back_get = s->Find("GET /cart");
  ASSERT_NE(back_get, nullptr);
  EXPECT_EQ(back_get->probability, get.probability);
  EXPECT_EQ(back_get->threshold, get.threshold);
  EXPECT_EQ(back_get->local_cap_per_second, get.local_cap_per_second);
  EXPECT_EQ(back_get->lower_bound_per_second, get.lower_bound_per_second);
  EXPECT_EQ(back_get->fleet_seen_per_second, get.fleet_seen_per_second);
  EXPECT_EQ(back_get->fleet_sampled_per_second, get.fleet_sampled_per_second);
  EXPECT_EQ(back_get->wanted_probability, get.wanted_probability);
  EXPECT_EQ(back_get->burst, get.burst);
  EXPECT_EQ(back_get->rule, get.rule);
  EXPECT_EQ(back_get->reasons, get.reasons);
  ASSERT_NE(s->Find("GET /health"), nullptr);
  EXPECT_EQ(s->Find("GET /health")->reasons, kFixed);
  EXPECT_EQ(MaxVersion(*back), rates->version);
}

// A report as a replica writes it for a valid Sync.
store::v1::StoredReport ValidReport() {
  const ClientReport report{{"cart", "prod"},
                            "cart-7f9c",
                            std::chrono::milliseconds(10000),
                            {{"GET /cart", 12000, 40}, {"POST /cart", 300, 3}}};
  store::v1::StoredReport stored;
  ToStored(report, std::chrono::seconds(10), &stored);
  stored.set_age_at_flush_ms(120);
  return stored;
}

// A table as a leader publishes it.
store::v1::StoredTables ValidTable() {
  auto rates = std::make_shared<ServiceRates>();
  rates->scope = {"cart", "prod"};
  rates->version = 7;
  KeyRate get;
  get.probability = 0.25;
  get.threshold = ProbabilityToThreshold(0.25);
  get.fleet_seen_per_second = 400;
  get.burst = 2;
  rates->operations = {{"GET /cart", get}};
  rates->default_rate.probability = 1;
  rates->default_rate.threshold = 0;
  RateTables tables;
  tables.scopes.emplace(rates->scope, rates);
  store::v1::StoredTables stored;
  ToStored(tables, &stored);
  return stored;
}

void ExpectInvalid(const absl::Status& status, const std::string& field, const std::string& limit) {
  ASSERT_FALSE(status.ok()) << "expected an error naming " << field;
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  const std::string message(status.message());
  EXPECT_NE(message.find(field), std::string::npos) << message;
  EXPECT_NE(message.find(limit), std::string::npos) << message;
}

TEST(StoredFormatTest, AValidReportAndTablePass) {
  EXPECT_TRUE(ValidateStored(ValidReport(), StoredLimits{}).ok());
  EXPECT_TRUE(ValidateStored(ValidTable(), StoredLimits{}).ok());
  EXPECT_TRUE(ValidateStored(store::v1::StoredTables{}, StoredLimits{}).ok());
}

TEST(StoredFormatTest, AnInvalidReportIsRefusedLikeASync) {
  const StoredLimits limits;
  {
    auto r = ValidReport();
    r.set_service("caf\xc3");
    ExpectInvalid(ValidateStored(r, limits), "service", "valid UTF-8");
  }
  {
    auto r = ValidReport();
    r.set_instance_id("");
    ExpectInvalid(ValidateStored(r, limits), "instance_id", "required");
  }
  {
    auto r = ValidReport();
    r.set_environment(std::string(65, 'e'));
    ExpectInvalid(ValidateStored(r, limits), "environment", "at most 64 bytes");
  }
  {
    auto r = ValidReport();
    r.mutable_operations(1)->set_operation("\xff");
    ExpectInvalid(ValidateStored(r, limits), "operations[1].operation", "valid UTF-8");
  }
  {
    auto r = ValidReport();
    r.clear_operations();
    for (int i = 0; i < 2001; ++i) {
      auto* op = r.add_operations();
      op->set_operation("op-" + std::to_string(i));
      op->set_roots_seen(1);
    }
    ExpectInvalid(ValidateStored(r, limits), "operations", "at most 2000 entries");
  }
  {
    auto r = ValidReport();
    r.mutable_operations(1)->set_operation("GET /cart");
    ExpectInvalid(ValidateStored(r, limits), "operations[1].operation", "duplicate");
  }
  {
    auto r = ValidReport();
    r.mutable_operations(0)->set_roots_sampled(12001);
    ExpectInvalid(ValidateStored(r, limits), "operations[0].roots_sampled", "<= roots_seen");
  }
  {
    auto r = ValidReport();
    r.mutable_operations(0)->set_roots_seen(std::numeric_limits<uint64_t>::max());
    r.mutable_operations(0)->set_roots_sampled(0);
    ExpectInvalid(ValidateStored(r, limits), "operations[0].roots_seen", "at most 1e+09");
  }
  {
    auto r = ValidReport();
    r.set_interval_ms(-5);
    ExpectInvalid(ValidateStored(r, limits), "interval_ms", "[0, 3600000]");
  }
  {
    auto r = ValidReport();
    r.set_interval_ms(0);
    ExpectInvalid(ValidateStored(r, limits), "interval_ms", "> 0 when operations");
  }
  {
    auto r = ValidReport();
    r.set_sync_interval_ms(std::numeric_limits<int64_t>::max());
    ExpectInvalid(ValidateStored(r, limits), "sync_interval_ms", "[0, 3600000]");
  }
  {
    auto r = ValidReport();
    r.set_age_at_flush_ms(-1);
    ExpectInvalid(ValidateStored(r, limits), "age_at_flush_ms", "[0, 10800000]");
  }
}

TEST(StoredFormatTest, AHostileTableIsRefused) {
  const StoredLimits limits;
  const auto op = [](store::v1::StoredTables* t) {
    return t->mutable_scopes(0)->mutable_operations(0);
  };
  for (double p : {std::nan(""), 5.0, -0.5, std::numeric_limits<double>::infinity()}) {
    auto t = ValidTable();
    op(&t)->set_probability(p);
    ExpectInvalid(ValidateStored(t, limits), "scopes[0].operations[0].probability",
                  "finite and in [0, 1]");
  }
  {
    auto t = ValidTable();
    op(&t)->set_threshold(std::numeric_limits<uint64_t>::max());
    ExpectInvalid(ValidateStored(t, limits), "scopes[0].operations[0].threshold",
                  "at most 72057594037927936");
  }
  {
    // In range but not the probability's threshold: clients would keep another share.
    auto t = ValidTable();
    op(&t)->set_threshold(ProbabilityToThreshold(0.5));
    ExpectInvalid(ValidateStored(t, limits), "scopes[0].operations[0].threshold",
                  "(1 - probability) x 2^56");
  }
  {
    auto t = ValidTable();
    t.mutable_scopes(0)->mutable_default_rate()->set_probability(std::nan(""));
    ExpectInvalid(ValidateStored(t, limits), "scopes[0].default_rate.probability", "[0, 1]");
  }
  {
    auto t = ValidTable();
    op(&t)->set_lower_bound_per_second(-1);
    ExpectInvalid(ValidateStored(t, limits), "scopes[0].operations[0].lower_bound_per_second",
                  "finite");
  }
  {
    auto t = ValidTable();
    op(&t)->set_local_cap_per_second(std::numeric_limits<double>::infinity());
    ExpectInvalid(ValidateStored(t, limits), "scopes[0].operations[0].local_cap_per_second",
                  "finite");
  }
  {
    auto t = ValidTable();
    t.mutable_scopes(0)->set_capture_errors_per_second(-3);
    ExpectInvalid(ValidateStored(t, limits), "scopes[0].capture_errors_per_second", "finite");
  }
  {
    auto t = ValidTable();
    t.set_budget_demand_per_second(std::nan(""));
    ExpectInvalid(ValidateStored(t, limits), "budget_demand_per_second", "finite");
  }
  {
    auto t = ValidTable();
    t.mutable_scopes(0)->set_service("\xc0\xaf");
    ExpectInvalid(ValidateStored(t, limits), "scopes[0].service", "valid UTF-8");
  }
  {
    auto t = ValidTable();
    op(&t)->set_operation(std::string(257, 'o'));
    ExpectInvalid(ValidateStored(t, limits), "scopes[0].operations[0].operation",
                  "at most 256 bytes");
  }
  {
    auto t = ValidTable();
    *t.mutable_scopes(0)->add_operations() = *op(&t);
    ExpectInvalid(ValidateStored(t, limits), "scopes[0].operations[1].operation", "duplicate");
  }
  {
    auto t = ValidTable();
    *t.add_scopes() = t.scopes(0);
    ExpectInvalid(ValidateStored(t, limits), "scopes[1]", "duplicate scope");
  }
  {
    auto t = ValidTable();
    t.mutable_scopes(0)->set_max_queue_size(0);
    ExpectInvalid(ValidateStored(t, limits), "scopes[0].max_queue_size", "[1, 1048576]");
  }
  {
    StoredLimits few;
    few.max_table_operations = 0;
    ExpectInvalid(ValidateStored(ValidTable(), few), "scopes[0].operations", "at most 0 entries");
  }
}

}  // namespace
}  // namespace fleetrate::server
