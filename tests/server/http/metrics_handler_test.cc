#include "server/http/metrics_handler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace fleetrate::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsHandlerTest, RendersCounterAndGaugeInTextFormat) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("fleetrate_syncs_total")
      .Help("Sync calls handled.")
      .Register(*registry)
      .Add({{"result", "ok"}})
      .Increment(3);
  prometheus::BuildGauge()
      .Name("fleetrate_keys")
      .Help("Keys tracked.")
      .Register(*registry)
      .Add({})
      .Set(42);

  const HttpResponse response = MetricsHandler(registry)(HttpRequest{});

  EXPECT_EQ(response.status, 200u);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(response.body, HasSubstr("# HELP fleetrate_syncs_total Sync calls handled.\n"));
  EXPECT_THAT(response.body, HasSubstr("# TYPE fleetrate_syncs_total counter\n"));
  EXPECT_THAT(response.body, HasSubstr("\nfleetrate_syncs_total{result=\"ok\"} 3\n"));
  EXPECT_THAT(response.body, HasSubstr("# TYPE fleetrate_keys gauge\n"));
  EXPECT_THAT(response.body, HasSubstr("\nfleetrate_keys 42\n"));
}

// prometheus-cpp 1.0 does not append "_total" to counters: the name is emitted as registered,
// so fleetrate's counters must be registered with the suffix.
TEST(MetricsHandlerTest, CounterNameIsEmittedAsRegistered) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("fleetrate_plain").Register(*registry).Add({}).Increment();

  const HttpResponse response = MetricsHandler(registry)(HttpRequest{});

  EXPECT_THAT(response.body, HasSubstr("# TYPE fleetrate_plain counter\n"));
  EXPECT_THAT(response.body, HasSubstr("\nfleetrate_plain 1\n"));
  EXPECT_THAT(response.body, Not(HasSubstr("fleetrate_plain_total")));
}

TEST(MetricsHandlerTest, ReflectsUpdatesOnEveryScrape) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& gauge = prometheus::BuildGauge().Name("fleetrate_g").Register(*registry).Add({});
  const HttpHandler handler = MetricsHandler(registry);

  gauge.Set(1);
  EXPECT_THAT(handler(HttpRequest{}).body, HasSubstr("\nfleetrate_g 1\n"));
  gauge.Set(7);
  EXPECT_THAT(handler(HttpRequest{}).body, HasSubstr("\nfleetrate_g 7\n"));
}

TEST(MetricsHandlerTest, CollectsLiveCollectablesAndSkipsExpiredOnes) {
  auto first = std::make_shared<prometheus::Registry>();
  auto second = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge().Name("fleetrate_first").Register(*first).Add({}).Set(1);
  prometheus::BuildGauge().Name("fleetrate_second").Register(*second).Add({}).Set(2);
  const HttpHandler handler = MetricsHandler(std::vector<std::weak_ptr<prometheus::Collectable>>{
      std::weak_ptr<prometheus::Registry>(first), std::weak_ptr<prometheus::Registry>(second)});

  std::string body = handler(HttpRequest{}).body;
  EXPECT_THAT(body, HasSubstr("\nfleetrate_first 1\n"));
  EXPECT_THAT(body, HasSubstr("\nfleetrate_second 2\n"));

  second.reset();
  body = handler(HttpRequest{}).body;
  EXPECT_THAT(body, HasSubstr("\nfleetrate_first 1\n"));
  EXPECT_THAT(body, Not(HasSubstr("fleetrate_second")));
}

}  // namespace
}  // namespace fleetrate::server
