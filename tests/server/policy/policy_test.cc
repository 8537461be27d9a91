#include "server/policy/policy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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
  EXPECT_EQ(p->service_defaults.batch_profile.name, "balanced");
  EXPECT_FALSE(p->budget_traces_per_second.has_value());
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
  EXPECT_EQ(p->service_defaults.batch_profile.max_queue_size, 512u);
  EXPECT_EQ(p->Match("cart", "prod", "/healthz").name, "health");
  EXPECT_EQ(p->Match("checkout", "prod", "/healthz").name, "health");
  const Rule& checkout = p->Match("checkout", "prod", "POST /pay");
  EXPECT_EQ(checkout.name, "checkout");
  EXPECT_TRUE(checkout.adaptive());
  EXPECT_DOUBLE_EQ(checkout.target_traces_per_second, 10);
  EXPECT_DOUBLE_EQ(checkout.max_probability, 0.5);  // inherited
  EXPECT_EQ(p->Match("cart", "prod", "GET /cart").name, "default");
}

TEST(PolicyTest, ErrorsNameTheFieldAndTheLimit) {
  EXPECT_EQ(ErrorOf("rules:\n  - probability: 1.5\n"),
            "rules[0].probability: must be in [0, 1], got 1.5 (line 2)");
  EXPECT_NE(ErrorOf("defaults:\n  min_probability: 0.5\n  max_probability: 0.1\n")
                .find("defaults.min_probability: must be <= max_probability"),
            std::string::npos);
  EXPECT_NE(ErrorOf("sync_interval_seconds: 0\n").find("sync_interval_seconds: must be in"),
            std::string::npos);
  EXPECT_NE(ErrorOf("rules:\n  - probability: 0.1\n    target_traces_per_second: 3\n")
                .find("rules[0]: set one of probability (fixed), target_traces_per_second "
                      "(adaptive) and rate_limit_traces_per_second (rate-limited)"),
            std::string::npos);
  EXPECT_NE(ErrorOf("rules:\n  - servce: x\n").find("rules[0].servce: unknown field"),
            std::string::npos);
  EXPECT_NE(ErrorOf("batch_profile: turbo\n").find("batch_profile: unknown profile 'turbo'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("defaults:\n  target_traces_per_second: fast\n")
                .find("defaults.target_traces_per_second: must be a number"),
            std::string::npos);
  EXPECT_NE(ErrorOf("rules: [\n").find("YAML syntax"), std::string::npos);
  EXPECT_NE(ErrorOf("rules:\n  - just-a-string\n").find("rules[0]: must be a mapping"),
            std::string::npos);
  EXPECT_NE(ErrorOf("defaults:\n  burst: 2\n  burst: 3\n").find("defaults.burst: given twice"),
            std::string::npos);
  EXPECT_NE(ErrorOf("defaults:\n  max_probability: 0.0001\n")
                .find("defaults.initial_probability: must be within [min_probability, "
                      "max_probability]"),
            std::string::npos);
  EXPECT_NE(ErrorOf("budget_traces_per_second: 0\n").find("budget_traces_per_second: must be > 0"),
            std::string::npos);
  EXPECT_NE(ErrorOf("services:\n  - service: x\n    batch_profile: nope\n")
                .find("services[0].batch_profile: unknown profile 'nope'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("batch_profiles:\n  tiny:\n    max_queue_size: 10\n"
                    "    max_export_batch_size: 20\n")
                .find("batch_profiles.tiny.max_export_batch_size: must be <= max_queue_size"),
            std::string::npos);
  EXPECT_NE(ErrorOf("rules:\n  - priority: 1.5\n").find("rules[0].priority: must be a whole"),
            std::string::npos);
}

TEST(PolicyTest, PriorityOrdersRulesAndEnvironmentIsMatched) {
  auto p = ParsePolicies(R"(
rules:
  - name: late
    priority: 200
    probability: 0.5
  - name: staging
    environment: "stag*"
    priority: 10
    probability: 1
  - name: early
    priority: 50
    service: checkout
    probability: 0.1
)");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->rules.size(), 3u);
  EXPECT_EQ(p->rules[0].name, "staging");
  EXPECT_EQ(p->Match("checkout", "staging", "op").name, "staging");
  EXPECT_EQ(p->Match("checkout", "production", "op").name, "early");
  EXPECT_EQ(p->Match("cart", "production", "op").name, "late");
  EXPECT_EQ(p->MatchIndex("cart", "production", "op"), 2);
}

TEST(PolicyTest, ServicesGetTheirBatchProfileAndCapturePolicy) {
  auto p = ParsePolicies(R"(
batch_profile: high_throughput
capture:
  errors_per_second: 1
batch_profiles:
  bulk:
    max_queue_size: 100000
    max_export_batch_size: 5000
    schedule_delay_ms: 20000
    export_timeout_ms: 60000
services:
  - service: "checkout*"
    batch_profile: low_latency
    capture:
      errors_per_second: 10
      slow_threshold_ms: 1000
      slow_per_second: 5
  - service: batch-jobs
    environment: prod
    batch_profile: bulk
)");
  ASSERT_TRUE(p.ok()) << p.status();
  const ServiceSettings& checkout = p->MatchService("checkout-api", "prod");
  EXPECT_EQ(checkout.batch_profile.name, "low_latency");
  EXPECT_EQ(checkout.capture.slow_threshold_ms, 1000u);
  EXPECT_DOUBLE_EQ(checkout.capture.errors_per_second, 10);
  EXPECT_EQ(p->MatchService("batch-jobs", "prod").batch_profile.max_queue_size, 100000u);
  EXPECT_EQ(p->MatchService("batch-jobs", "dev").batch_profile.name, "high_throughput");
  EXPECT_DOUBLE_EQ(p->MatchService("cart", "prod").capture.errors_per_second, 1);
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

TEST(PolicyTest, TooDeepNestingSaysWhatTheLimitIs) {
  const std::string deep = std::string(600, '[') + std::string(600, ']');
  EXPECT_EQ(ErrorOf("rules: " + deep).find("YAML syntax: nesting deeper than 499 levels (line 1, "),
            0u)
      << ErrorOf("rules: " + deep);
  const std::string ok_depth = "x: " + std::string(400, '[') + std::string(400, ']');
  EXPECT_EQ(ErrorOf(ok_depth).find("YAML syntax"), std::string::npos) << ErrorOf(ok_depth);
}

TEST(PolicyTest, ABlankDocumentIsOnlyWhitespaceCommentsAndMarkers) {
  EXPECT_TRUE(IsBlankDocument(""));
  EXPECT_TRUE(IsBlankDocument(" \n\t\r\n"));
  EXPECT_TRUE(IsBlankDocument("# policies\n  # more\n---\n...\n"));
  EXPECT_FALSE(IsBlankDocument("{}"));
  EXPECT_FALSE(IsBlankDocument("# header\nrules: []\n"));
  EXPECT_FALSE(IsBlankDocument("sync"));  // half of a key: not blank, and a parse error
  EXPECT_TRUE(CheckNotBlank("{}\n").ok());
}

class PolicyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fleetrate-policy-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(PolicyFileTest, AnEmptyFileIsRefusedAndBracesMeanAllDefaults) {
  const std::string empty = Write("empty.yaml", "");
  auto p = LoadPoliciesFile(empty);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            empty +
                ": the document is empty (only whitespace or comments), as a file being written "
                "can be; write {} to mean all built-in defaults");
  EXPECT_FALSE(LoadPoliciesFile(Write("comments.yaml", "# to do\n")).ok());
  auto braces = LoadPoliciesFile(Write("braces.yaml", "{}\n"));
  ASSERT_TRUE(braces.ok()) << braces.status();
  EXPECT_TRUE(braces->rules.empty());
  EXPECT_TRUE(braces->defaults.adaptive());
}

TEST_F(PolicyFileTest, ADirectoryIsRefusedSayingSo) {
  auto p = LoadPoliciesFile(dir_.string());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "'" + dir_.string() + "' is a directory, not a regular file");
}

}  // namespace
}  // namespace fleetrate::server
