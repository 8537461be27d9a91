#include "server/jaeger/jaeger_service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "server/jaeger/strategy.h"
#include "server/store/memory_store.h"

namespace fleetrate::server {
namespace {

// 10,000 literal-operation rules for service "big", as a converted Jaeger strategies file.
std::shared_ptr<const Policies> ManyLiteralRules(size_t count) {
  Policies policies = *ParsePolicies("defaults:\n  probability: 0.5\n");
  for (size_t i = 0; i < count; ++i) {
    Rule rule;
    rule.service_glob = "big";
    rule.operation_glob = "operation-" + std::to_string(i);
    rule.probability = 0.25;
    policies.rules.push_back(std::move(rule));
  }
  return std::make_shared<const Policies>(std::move(policies));
}

class JaegerAnswersTest : public ::testing::Test {
 protected:
  JaegerAnswersTest()
      : metrics_(std::make_shared<prometheus::Registry>()),
        publisher_(ManyLiteralRules(10'000), store_, metrics_, 1),
        answers_(publisher_) {
    publisher_.Recompute(clock_.Now());
  }

  std::string Expected(const std::string& service) {
    const auto tables = publisher_.Current();
    return JaegerStrategyToJson(BuildJaegerStrategy(tables.get(), *tables->policies, service));
  }

  HttpRequest Request(const std::string& service) {
    HttpRequest request;
    request.method = "GET";
    request.path = "/sampling";
    request.query = {{"service", service}};
    return request;
  }

  ManualClock clock_;
  MemoryStore store_;
  ServerMetrics metrics_;
  RatePublisher publisher_;
  JaegerAnswers answers_;
};

TEST_F(JaegerAnswersTest, BuildsEachServicesAnswerOncePerTable) {
  prometheus::Registry registry;
  JaegerMetrics jaeger_metrics(registry);
  HttpHandler handler = JaegerHttpHandler(answers_, jaeger_metrics);
  const std::string expected = Expected("big");
  for (int i = 0; i < 50; ++i) {
    const HttpResponse response = handler(Request("big"));
    ASSERT_EQ(response.status, 200u);
    ASSERT_EQ(response.body, expected);
  }
  EXPECT_EQ(answers_.builds(), 1u);
  EXPECT_EQ(answers_.For("big")->proto.operationsampling().peroperationstrategies_size(), 10'000);

  // A new table: the next request builds again, from it.
  publisher_.Recompute(clock_.Now());
  EXPECT_EQ(handler(Request("big")).body, Expected("big"));
  EXPECT_EQ(answers_.builds(), 2u);
}

TEST_F(JaegerAnswersTest, UnknownServicesGetThePolicyDefault) {
  EXPECT_EQ(answers_.For("nobody")->json, Expected("nobody"));
  EXPECT_EQ(answers_.For("nobody")->json,
            R"({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}})");
  EXPECT_EQ(answers_.builds(), 1u);
}

TEST_F(JaegerAnswersTest, NewPoliciesAreServedFromTheNextTable) {
  ASSERT_EQ(answers_.For("nobody")->proto.probabilisticsampling().samplingrate(), 0.5);
  // Before the first table, answers follow the publisher's policies; with a table, its own.
  // Either way a change of what the answer is built from is seen.
  publisher_.SetPolicies(
      std::make_shared<const Policies>(*ParsePolicies("defaults:\n  probability: 0.125\n")));
  publisher_.Recompute(clock_.Now());
  EXPECT_EQ(answers_.For("nobody")->proto.probabilisticsampling().samplingrate(), 0.125);
}

TEST(JaegerAnswersBoundTest, AnswersBeyondTheByteBudgetAreBuiltButNotKept) {
  ManualClock clock;
  MemoryStore store;
  ServerMetrics metrics(std::make_shared<prometheus::Registry>());
  RatePublisher publisher(ManyLiteralRules(100), store, metrics, 1);
  publisher.Recompute(clock.Now());
  JaegerAnswers answers(publisher, /*max_cached_bytes=*/1000);
  EXPECT_EQ(answers.For("small")->json, answers.For("small")->json);
  EXPECT_EQ(answers.builds(), 1u);  // a small answer fits
  (void)answers.For("big");
  (void)answers.For("big");
  EXPECT_EQ(answers.builds(), 3u);  // ~4 KB each: built twice
}

}  // namespace
}  // namespace fleetrate::server
