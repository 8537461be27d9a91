#include "server/policy/policy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace fleetrate::server {
namespace {

std::string ErrorOf(const std::string& yaml) {
  auto p = ParsePolicies(yaml);
  return p.ok() ? "" : std::string(p.status().message());
}

TEST(PolicyTest, EmptyDocumentGivesDefaults) {
  auto p = ParsePolicies("");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->sync_interval_seconds, 10.0);
  EXPECT_EQ(p->batch_profile.name, "balanced");
  EXPECT_TRUE(p->defaults.adaptive());
  EXPECT_DOUBLE_EQ(p->defaults.target_traces_per_second, 1.0);
  EXPECT_DOUBLE_EQ(p->defaults.lower_bound_traces_per_second, 1.0 / 60);
}

TEST(PolicyTest, RulesInheritDefaultsAndFirstMatchWins) {
  auto p = ParsePolicies(R"(
sync_interval_seconds: 5
batch_profile: low_latency
defaults:
  target_traces_per_second: 2
  max_probability: 0.5
rules:
  - name: health
    operation: "*health*"
    probability: 0
  - name: checkout
    service: checkout
    target_traces_per_second: 10
  - name: shadowed
    service: checkout
    probability: 1
)");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->batch_profile.max_queue_size, 512u);
  EXPECT_EQ(p->Match("cart", "/healthz").name, "health");
  EXPECT_EQ(p->Match("checkout", "/healthz").name, "health");
  const Rule& checkout = p->Match("checkout", "POST /pay");
  EXPECT_EQ(checkout.name, "checkout");
  EXPECT_TRUE(checkout.adaptive());
  EXPECT_DOUBLE_EQ(checkout.target_traces_per_second, 10);
  EXPECT_DOUBLE_EQ(checkout.max_probability, 0.5);  // inherited
  EXPECT_EQ(p->Match("cart", "GET /cart").name, "default");
}

TEST(PolicyTest, ErrorsNameTheFieldAndTheLimit) {
  EXPECT_EQ(ErrorOf("rules:\n  - probability: 1.5\n"),
            "rules[0].probability: must be in [0, 1], got 1.5");
  EXPECT_NE(ErrorOf("defaults:\n  min_probability: 0.5\n  max_probability: 0.1\n")
                .find("defaults.min_probability: must be <= max_probability"),
            std::string::npos);
  EXPECT_NE(ErrorOf("sync_interval_seconds: 0\n").find("sync_interval_seconds: must be in"),
            std::string::npos);
  EXPECT_NE(ErrorOf("rules:\n  - probability: 0.1\n    target_traces_per_second: 3\n")
                .find("rules[0]: set either probability"),
            std::string::npos);
  EXPECT_NE(ErrorOf("rules:\n  - servce: x\n").find("rules[0].servce: unknown field"),
            std::string::npos);
  EXPECT_NE(ErrorOf("batch_profile: turbo\n").find("batch_profile: unknown profile 'turbo'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("defaults:\n  target_traces_per_second: fast\n")
                .find("defaults.target_traces_per_second: must be a number"),
            std::string::npos);
  EXPECT_NE(ErrorOf("rules: [\n").find("line "), std::string::npos);  // YAML syntax error
}

TEST(PolicyTest, ShippedPolicyFilesAreValid) {
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(FLEETRATE_SOURCE_DIR) + "/config")) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    auto p = LoadPoliciesFile(entry.path().string());
    EXPECT_TRUE(p.ok()) << entry.path() << ": " << p.status();
  }
  EXPECT_GE(files, 1);
}

TEST(PolicyTest, MissingFileIsNotFoundNamingThePath) {
  auto p = LoadPoliciesFile("/nonexistent/policies.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(p.status().message().find("/nonexistent/policies.yaml"), std::string::npos);
}

}  // namespace
}  // namespace fleetrate::server
