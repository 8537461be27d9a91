// AdminService on the real server over real gRPC, and live reload of the policy file.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "fleetrate/v1/admin.grpc.pb.h"
#include "fleetrate/v1/sampling.grpc.pb.h"
#include "server/service/server.h"
#include "tests/support/http_get.h"

namespace fleetrate::server {
namespace {

namespace fs = std::filesystem;
using fleetrate::testing::HttpGet;

constexpr char kToken[] = "s3cret-admin-token-0123";  // 16 bytes at least, as the server requires

class AdminTest : public ::testing::Test {
 protected:
  void Start(const std::string& token, const std::string& policy_path = "",
             bool protect_reads = false) {
    ServerOptions options;
    options.protect_reads = protect_reads;
    options.grpc_listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.admin_token = token;
    options.policy_path = policy_path;
    options.policy_watch_interval = std::chrono::milliseconds(50);
    options.recompute_interval = std::chrono::milliseconds(50);
    auto policies = policy_path.empty()
                        ? ParsePolicies("defaults:\n  target_traces_per_second: 2\n")
                        : LoadPoliciesFile(policy_path);
    ASSERT_TRUE(policies.ok()) << policies.status();
    server_ =
        std::make_unique<Server>(options, std::make_shared<const Policies>(*policies), clock_);
    ASSERT_TRUE(server_->Start().ok());
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                       grpc::InsecureChannelCredentials());
    admin_ = v1::AdminService::NewStub(channel);
    sampling_ = v1::SamplingService::NewStub(channel);
  }

  grpc::Status Set(const std::string& yaml, const std::string& authorization) {
    grpc::ClientContext context;
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    v1::SetPoliciesRequest request;
    request.set_yaml(yaml);
    v1::SetPoliciesResponse response;
    return admin_->SetPolicies(&context, request, &response);
  }

  void Report(double per_second) {
    grpc::ClientContext context;
    v1::SyncRequest request;
    request.mutable_client()->set_instance_id("i-1");
    request.mutable_client()->set_service("cart");
    request.set_interval_ms(10000);
    auto* op = request.add_operations();
    op->set_operation("GET /cart");
    op->set_roots_seen(static_cast<uint64_t>(per_second * 10));
    v1::SyncResponse response;
    ASSERT_TRUE(sampling_->Sync(&context, request, &response).ok());
  }

  v1::ExplainRateResponse Explain(const std::string& operation) {
    grpc::ClientContext context;
    v1::ExplainRateRequest request;
    request.set_service("cart");
    request.set_operation(operation);
    v1::ExplainRateResponse response;
    EXPECT_TRUE(admin_->ExplainRate(&context, request, &response).ok());
    return response;
  }

  RealClock clock_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::SamplingService::Stub> sampling_;
};

TEST_F(AdminTest, SetPoliciesIsDisabledWithoutAConfiguredToken) {
  Start("");
  grpc::Status s = Set("defaults:\n  probability: 1\n", "Bearer anything");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("--admin-token-file"), std::string::npos);
}

TEST_F(AdminTest, SetPoliciesRequiresTheRightBearerToken) {
  Start(kToken);
  EXPECT_EQ(Set("defaults:\n  probability: 1\n", "").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Set("defaults:\n  probability: 1\n", "Bearer wrong").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Set("defaults:\n  probability: 1\n", kToken).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);  // the scheme is part of the header
  grpc::Status bad = Set("defaults:\n  probability: 3\n", std::string("Bearer ") + kToken);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.error_message(), "defaults.probability: must be in [0, 1], got 3 (line 2)");

  ASSERT_TRUE(Set("defaults:\n  probability: 0.25\n", std::string("Bearer ") + kToken).ok());
  grpc::ClientContext context;
  v1::GetPoliciesResponse policies;
  ASSERT_TRUE(admin_->GetPolicies(&context, v1::GetPoliciesRequest(), &policies).ok());
  EXPECT_EQ(policies.yaml(), "defaults:\n  probability: 0.25\n");
  EXPECT_EQ(policies.source(), "AdminService");

  Report(1000);
  for (int i = 0; i < 200 && Explain("GET /cart").probability() != 0.25; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_DOUBLE_EQ(Explain("GET /cart").probability(), 0.25);
  auto metrics = HttpGet(server_->http_port(), "/metrics");
  EXPECT_NE(metrics.body.find("fleetrate_policy_loads_total{result=\"success\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("fleetrate_policy_loads_total{result=\"error\"} 1\n"),
            std::string::npos);
}

TEST_F(AdminTest, ValidatePoliciesNamesTheFieldWithoutApplying) {
  Start("");
  grpc::ClientContext context;
  v1::ValidatePoliciesRequest request;
  request.set_yaml("rules:\n  - name: x\n    max_probability: 9\n");
  v1::ValidatePoliciesResponse response;
  ASSERT_TRUE(admin_->ValidatePolicies(&context, request, &response).ok());
  EXPECT_FALSE(response.valid());
  EXPECT_EQ(response.error(), "rules[0].max_probability: must be in [0, 1], got 9 (line 3)");
}

// An empty document is what a file being rewritten looks like; `{}` says "all defaults".
TEST_F(AdminTest, ABlankDocumentIsRefusedByValidateAndSet) {
  Start(kToken);
  grpc::Status blank = Set("\n# nothing\n", std::string("Bearer ") + kToken);
  EXPECT_EQ(blank.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(blank.error_message(),
            "the document is empty (only whitespace or comments), as a file being written can "
            "be; write {} to mean all built-in defaults");
  grpc::ClientContext context;
  v1::ValidatePoliciesRequest request;
  v1::ValidatePoliciesResponse response;
  ASSERT_TRUE(admin_->ValidatePolicies(&context, request, &response).ok());
  EXPECT_FALSE(response.valid());
  EXPECT_EQ(response.error(), blank.error_message());
  EXPECT_TRUE(Set("{}", std::string("Bearer ") + kToken).ok());
}

// Protobuf would refuse these requests while parsing (gRPC's INTERNAL); the service reads them
// itself and names the field. Authorization still comes first.
TEST_F(AdminTest, StringsThatAreNotUtf8AreInvalidArgumentNamingTheField) {
  Start(kToken);
  // The message of an INVALID_ARGUMENT answer, or the code that came instead.
  const auto refusal = [](const grpc::Status& s) {
    return s.error_code() == grpc::StatusCode::INVALID_ARGUMENT
               ? s.error_message()
               : "code " + std::to_string(s.error_code()) + ": " + s.error_message();
  };
  EXPECT_EQ(Set("defaults: {}\n# \xff\n", "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(refusal(Set("defaults: {}\n# \xff\n", std::string("Bearer ") + kToken)),
            "yaml: must be valid UTF-8, byte 15 of 17 is not");

  v1::ExplainRateRequest explain;
  explain.set_service("cart");
  explain.set_operation("GET /\xc0\xaf");
  v1::ExplainRateResponse explained;
  grpc::ClientContext explain_context;
  EXPECT_EQ(refusal(admin_->ExplainRate(&explain_context, explain, &explained)),
            "operation: must be valid UTF-8, byte 5 of 7 is not");

  v1::GetRatesRequest rates;
  rates.set_environment("prod\xed\xa0\x80");
  v1::GetRatesResponse listed;
  grpc::ClientContext rates_context;
  EXPECT_EQ(refusal(admin_->GetRates(&rates_context, rates, &listed)),
            "environment: must be valid UTF-8, byte 4 of 7 is not");

  v1::ValidatePoliciesRequest validate;
  validate.set_yaml("\xfe");
  v1::ValidatePoliciesResponse validated;
  grpc::ClientContext validate_context;
  EXPECT_EQ(refusal(admin_->ValidatePolicies(&validate_context, validate, &validated)),
            "yaml: must be valid UTF-8, byte 0 of 1 is not");

  // Well-formed UTF-8 passes through untouched.
  explain.set_operation("GET /k\xc3\xb6rbe");
  grpc::ClientContext ok_context;
  ASSERT_TRUE(admin_->ExplainRate(&ok_context, explain, &explained).ok());
  EXPECT_EQ(explained.rule(), "default");
}

TEST_F(AdminTest, ExplainRateShowsInputsRuleAndSteps) {
  Start("");
  Report(1000);
  v1::ExplainRateResponse e;
  for (int i = 0; i < 200; ++i) {
    e = Explain("GET /cart");
    if (e.known_key()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(e.known_key());
  EXPECT_DOUBLE_EQ(e.probability(), 2.0 / 1000);
  EXPECT_DOUBLE_EQ(e.fleet_seen_per_second(), 1000);
  EXPECT_EQ(e.rule(), "default");
  EXPECT_EQ(e.mode(), "adaptive");
  EXPECT_DOUBLE_EQ(e.target_traces_per_second(), 2);
  EXPECT_EQ(e.live_clients(), 1u);
  EXPECT_FALSE(e.threshold_hex().empty());
  EXPECT_NE(e.explanation().find("target 2 traces/s over a fleet-wide 1000 roots/s"),
            std::string::npos)
      << e.explanation();

  v1::ExplainRateResponse unknown = Explain("GET /never-seen");
  EXPECT_FALSE(unknown.known_key());
  EXPECT_DOUBLE_EQ(unknown.probability(), 0.001);
  ASSERT_GE(unknown.reasons_size(), 1);
  EXPECT_EQ(unknown.reasons(0), "no_estimate");
}

TEST_F(AdminTest, GetStatusAndGetRatesAreOpenReadsOfTheTable) {
  Start(kToken);
  Report(1000);
  v1::GetRatesResponse rates;
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext context;
    v1::GetRatesRequest request;
    request.set_service("cart");
    ASSERT_TRUE(admin_->GetRates(&context, request, &rates).ok());
    if (rates.operations_total() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(rates.scopes_size(), 1);
  ASSERT_EQ(rates.scopes(0).operations_size(), 1);
  const v1::OperationRates& op = rates.scopes(0).operations(0);
  EXPECT_EQ(op.operation(), "GET /cart");
  EXPECT_DOUBLE_EQ(op.fleet_seen_per_second(), 1000);
  EXPECT_DOUBLE_EQ(op.target_traces_per_second(), op.probability() * 1000);
  EXPECT_EQ(op.rule(), "default");

  grpc::ClientContext status_context;  // no token: reads stay open
  v1::GetStatusResponse status;
  ASSERT_TRUE(admin_->GetStatus(&status_context, v1::GetStatusRequest(), &status).ok());
  EXPECT_EQ(status.version(), FLEETRATE_VERSION);
  EXPECT_EQ(status.store().backend(), "memory");
  EXPECT_TRUE(status.store().leader());
  EXPECT_EQ(status.live_clients(), 1u);
  EXPECT_EQ(status.keys(), 1u);
  EXPECT_GT(status.table_version(), 0u);

  grpc::ClientContext too_many_context;
  v1::GetRatesRequest too_many;
  too_many.set_limit(100001);
  grpc::Status s = admin_->GetRates(&too_many_context, too_many, &rates);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "limit: must be at most 100000, got 100001");
}

TEST_F(AdminTest, PolicyFileEditsApplyWithinTwoSecondsAndBadEditsKeepTheLastGood) {
  const fs::path dir =
      fs::temp_directory_path() / ("fleetrate-admin-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "policies.yaml").string();
  const auto write = [&](const std::string& text) {
    std::ofstream(path + ".tmp") << text;
    fs::rename(path + ".tmp", path);
  };
  write("defaults:\n  probability: 0.5\n");
  Start("", path);
  Report(1000);
  const auto wait_for = [&](double p) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Explain("GET /cart").probability() == p) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  ASSERT_TRUE(wait_for(0.5));

  write("defaults:\n  probability: 0.125\n");
  EXPECT_TRUE(wait_for(0.125)) << "a valid edit must apply within 2 s";

  write("defaults:\n  probability: oops\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_DOUBLE_EQ(Explain("GET /cart").probability(), 0.125) << "the last good policies stay";
  auto metrics = HttpGet(server_->http_port(), "/metrics");
  EXPECT_NE(metrics.body.find("fleetrate_policy_loads_total{result=\"error\"} 1\n"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("fleetrate_policy_last_load_success 0\n"), std::string::npos);
  server_->Shutdown();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fleetrate::server

namespace fleetrate::server {
namespace {

// --protect-reads: AdminService's reads, /debug/* and /ui/data need the admin token; what SDKs,
// scrapers and probes use stays open.
TEST_F(AdminTest, ProtectedReadsNeedTheTokenAndLeaveSdkScraperAndProbePathsOpen) {
  Start(kToken, "", /*protect_reads=*/true);
  const auto status_with = [&](const std::string& authorization) {
    grpc::ClientContext context;
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    v1::GetStatusResponse response;
    return admin_->GetStatus(&context, v1::GetStatusRequest(), &response);
  };
  EXPECT_EQ(status_with("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status_with("Bearer wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(status_with(std::string("Bearer ") + kToken).ok());
  {
    grpc::ClientContext context;
    v1::GetPoliciesResponse response;
    EXPECT_EQ(admin_->GetPolicies(&context, v1::GetPoliciesRequest(), &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  // ValidatePolicies parses documents of up to 4 MiB for whoever asks: a locked-down port keeps
  // it for token holders too.
  const auto validate_with = [&](const std::string& authorization) {
    grpc::ClientContext context;
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    v1::ValidatePoliciesRequest request;
    request.set_yaml("defaults:\n  target_traces_per_second: 1\n");
    v1::ValidatePoliciesResponse response;
    return admin_->ValidatePolicies(&context, request, &response);
  };
  EXPECT_EQ(validate_with("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(validate_with("Bearer wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(validate_with(std::string("Bearer ") + kToken).ok());
  const uint16_t http = server_->http_port();
  EXPECT_EQ(HttpGet(http, "/debug/rates").status, 401u);
  EXPECT_EQ(HttpGet(http, "/debug/config", "Bearer wrong").status, 401u);
  EXPECT_EQ(HttpGet(http, "/ui/data").status, 401u);
  EXPECT_EQ(HttpGet(http, "/debug/rates", std::string("Bearer ") + kToken).status, 200u);
  EXPECT_EQ(HttpGet(http, "/sampling?service=cart").status, 200u);
  EXPECT_EQ(HttpGet(http, "/metrics").status, 200u);
  EXPECT_EQ(HttpGet(http, "/readyz").status, 200u);
}

TEST_F(AdminTest, ReadsAreOpenByDefault) {
  Start(kToken);
  grpc::ClientContext context;
  v1::GetStatusResponse response;
  EXPECT_TRUE(admin_->GetStatus(&context, v1::GetStatusRequest(), &response).ok());
  EXPECT_EQ(HttpGet(server_->http_port(), "/debug/rates").status, 200u);
}

}  // namespace
}  // namespace fleetrate::server
