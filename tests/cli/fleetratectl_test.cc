// fleetratectl against the real server in-process on port 0: golden human tables, JSON that
// parses back into the protos, policies with and without the admin token, an unreachable server,
// usage errors and watch frames. The server's clock is manual and the rate table is recomputed
// by hand, so every number in a table is fixed.
#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "fleetrate/v1/admin.grpc.pb.h"
#include "fleetrate/v1/sampling.grpc.pb.h"
#include "server/service/server.h"

namespace fleetrate::cli {
namespace {

namespace fs = std::filesystem;
using server::ManualClock;
using server::Server;
using server::ServerOptions;

constexpr char kToken[] = "cli-test-token-0123";  // 16 bytes at least, as the server requires
constexpr char kPolicies[] = R"(defaults:
  target_traces_per_second: 2
rules:
  - name: health-checks
    operation: "*health*"
    probability: 0
)";

struct Result {
  int code;
  std::string out;
  std::string err;
};

struct OperationTraffic {
  std::string operation;
  double seen_per_second;
  double sampled_per_second;
};

// A port nothing listens on: bound once, then closed.
uint16_t ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fleetratectl-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    env_.getenv = [this](const char* name) -> const char* {
      auto it = variables_.find(name);
      return it == variables_.end() ? nullptr : it->second.c_str();
    };
    // 2026-11-25T23:00:00Z
    env_.now = [] {
      return std::chrono::system_clock::time_point(std::chrono::seconds(1795647600));
    };
    env_.sleep = [this](std::chrono::milliseconds d) {
      sleeps_.push_back(d);
      if (on_sleep_) on_sleep_();
    };
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    fs::remove_all(dir_);
  }

  void StartServer(const std::string& token, uint16_t port = 0) {
    ServerOptions options;
    options.grpc_listen = "127.0.0.1:" + std::to_string(port);
    options.http_listen = "127.0.0.1:0";
    options.admin_token = token;
    // Only the test recomputes, so the table does not depend on timing.
    options.recompute_interval = std::chrono::hours(1);
    auto policies = server::ParsePolicies(kPolicies);
    ASSERT_TRUE(policies.ok()) << policies.status();
    policies->source_name = "config/test.yaml";
    server_ = std::make_unique<Server>(options, std::make_shared<const server::Policies>(*policies),
                                       clock_);
    ASSERT_TRUE(server_->Start().ok());
    address_ = "127.0.0.1:" + std::to_string(server_->grpc_port());
    sampling_ = v1::SamplingService::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }

  // One client's Sync covering 10 s at the given rates.
  void Report(const std::string& instance, const std::string& service,
              const std::string& environment, const std::vector<OperationTraffic>& traffic) {
    grpc::ClientContext context;
    v1::SyncRequest request;
    request.mutable_client()->set_instance_id(instance);
    request.mutable_client()->set_service(service);
    request.mutable_client()->set_environment(environment);
    request.set_interval_ms(10000);
    for (const OperationTraffic& t : traffic) {
      auto* op = request.add_operations();
      op->set_operation(t.operation);
      op->set_roots_seen(static_cast<uint64_t>(t.seen_per_second * 10));
      op->set_roots_sampled(static_cast<uint64_t>(t.sampled_per_second * 10));
    }
    v1::SyncResponse response;
    ASSERT_TRUE(sampling_->Sync(&context, request, &response).ok());
  }

  // Three clients of two services, then enough recomputes for every rise to settle.
  void StartFleet() {
    StartServer(kToken);
    clock_.Advance(std::chrono::seconds(75));  // uptime 1m15s
    Report("i-1", "cart", "prod", {{"GET /cart", 1000, 2}, {"GET /health", 50, 0}});
    Report("i-2", "cart", "prod", {{"GET /cart", 1000, 1.9}, {"POST /checkout", 40, 1.5}});
    Report("i-3", "search", "", {{"GET /search", 500, 2.5}});
    for (int i = 0; i < 12; ++i) server_->publisher().Recompute(clock_.Now());
  }

  Result Run(std::vector<std::string> args, bool with_server = true) {
    if (with_server) args.insert(args.begin(), {"--server", address_});
    std::ostringstream out, err;
    const int code = RunCli(args, out, err, env_);
    return {code, out.str(), err.str()};
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  ManualClock clock_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::SamplingService::Stub> sampling_;
  std::string address_;
  fs::path dir_;
  std::map<std::string, std::string> variables_;
  CliEnv env_;
  std::vector<std::chrono::milliseconds> sleeps_;
  std::function<void()> on_sleep_;
};

template <typename Message>
Message ParseJson(const std::string& text) {
  Message message;
  const auto status = google::protobuf::util::JsonStringToMessage(text, &message);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << text;
  return message;
}

TEST_F(CliTest, StatusGoldenTable) {
  StartFleet();
  Result r = Run({"status"});
  ASSERT_EQ(r.code, 0) << r.err;
  // The table version counts recomputes since the server's first version; mask it.
  const std::string out = std::regex_replace(r.out, std::regex("(table version  )[0-9]+"), "$1N");
  EXPECT_EQ(out, "server         " + address_ + "\n" +
                     "version        " FLEETRATE_VERSION
                     "\n"
                     "uptime         1m15s\n"
                     "store          memory\n"
                     "leader         this replica\n"
                     "live clients   3\n"
                     "keys           4\n"
                     "scopes         2\n"
                     "table version  N\n"
                     "policies       config/test.yaml (1 rule)\n"
                     "fleet          2590.0 roots/s seen, 6.00 traces/s target, 7.90 traces/s "
                     "achieved (132%)\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, RatesGoldenTableSortedByServiceThenTraffic) {
  StartFleet();
  Result r = Run({"rates"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "SERVICE  ENVIRONMENT  OPERATION       FLEET QPS  TARGET/S  ACHIEVED/S  PROBABILITY  "
            "RULE           REASONS\n"
            "cart     prod         GET /cart          2000.0      2.00        3.90        0.001  "
            "default        held_by_tolerance\n"
            "cart     prod         GET /health         50.00         0           0            0  "
            "health-checks  fixed\n"
            "cart     prod         POST /checkout      40.00      2.00        1.50         0.05  "
            "default        held_by_tolerance\n"
            "search   -            GET /search         500.0      2.00        2.50        0.004  "
            "default        held_by_tolerance\n");

  Result filtered = Run({"rates", "--service", "search"});
  ASSERT_EQ(filtered.code, 0) << filtered.err;
  EXPECT_EQ(filtered.out.find("cart"), std::string::npos) << filtered.out;
  EXPECT_NE(filtered.out.find("GET /search"), std::string::npos) << filtered.out;

  Result limited = Run({"rates", "--limit", "2"});
  ASSERT_EQ(limited.code, 0) << limited.err;
  EXPECT_NE(limited.out.find("showing 2 of 4 operations"), std::string::npos) << limited.out;
}

TEST_F(CliTest, RatesJsonParsesIntoTheProto) {
  StartFleet();
  Result r = Run({"--json", "rates"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rates = ParseJson<v1::GetRatesResponse>(r.out);
  ASSERT_EQ(rates.scopes_size(), 2);
  EXPECT_EQ(rates.operations_total(), 4u);
  EXPECT_FALSE(rates.truncated());
  const v1::ScopeRates& cart = rates.scopes(0);
  EXPECT_EQ(cart.service(), "cart");
  EXPECT_EQ(cart.environment(), "prod");
  EXPECT_EQ(cart.live_clients(), 2u);
  EXPECT_DOUBLE_EQ(cart.fleet_seen_per_second(), 2090);
  EXPECT_DOUBLE_EQ(cart.target_traces_per_second(), 4);
  ASSERT_EQ(cart.operations_size(), 3);
  EXPECT_EQ(cart.operations(0).operation(), "GET /cart");
  EXPECT_DOUBLE_EQ(cart.operations(0).probability(), 0.001);
  EXPECT_EQ(cart.operations(1).rule(), "health-checks");
  ASSERT_EQ(cart.operations(1).reasons_size(), 1);
  EXPECT_EQ(cart.operations(1).reasons(0), "fixed");
  EXPECT_EQ(cart.operations(1).threshold_hex(), "");  // p = 0 has no tracestate encoding

  Result status = Run({"status", "--json"});
  ASSERT_EQ(status.code, 0) << status.err;
  auto s = ParseJson<v1::GetStatusResponse>(status.out);
  EXPECT_EQ(s.version(), FLEETRATE_VERSION);
  EXPECT_DOUBLE_EQ(s.uptime_seconds(), 75);
  EXPECT_EQ(s.store().backend(), "memory");
  EXPECT_TRUE(s.store().leader());
  EXPECT_EQ(s.live_clients(), 3u);
  EXPECT_EQ(s.keys(), 4u);
  EXPECT_EQ(s.policy_source(), "config/test.yaml");
}

TEST_F(CliTest, ExplainSaysWhyAndJsonParses) {
  StartFleet();
  Result r = Run({"explain", "cart", "POST /checkout", "--environment", "prod"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("key          cart / prod / POST /checkout\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rule         default (adaptive)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("traffic      40.00 roots/s seen, 1.50 kept/s, 2 live clients\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("target 2 traces/s over a fleet-wide 40 roots/s from 2 live clients"),
            std::string::npos)
      << r.out;

  Result json = Run({"--json", "explain", "cart", "GET /health", "--environment=prod"});
  ASSERT_EQ(json.code, 0) << json.err;
  auto e = ParseJson<v1::ExplainRateResponse>(json.out);
  EXPECT_TRUE(e.known_key());
  EXPECT_EQ(e.rule(), "health-checks");
  EXPECT_EQ(e.mode(), "fixed");
  EXPECT_DOUBLE_EQ(e.probability(), 0);

  Result unknown = Run({"explain", "cart", "GET /never-seen"});
  ASSERT_EQ(unknown.code, 0) << unknown.err;
  EXPECT_NE(unknown.out.find("no estimate: the service default applies"), std::string::npos)
      << unknown.out;
  Result no_environment = Run({"explain", "cart", "POST /checkout"});
  ASSERT_EQ(no_environment.code, 0) << no_environment.err;
  EXPECT_EQ(no_environment.err,
            "note: cart reports traffic under an environment; try one of: --environment prod\n");
}

TEST_F(CliTest, PoliciesGetValidateAndSetWithTheToken) {
  StartServer(kToken);
  Result get = Run({"policies", "get"});
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.out, kPolicies);
  EXPECT_EQ(get.err, "# policies from config/test.yaml (1 rule)\n");

  const std::string good = WriteFile("good.yaml", "defaults:\n  probability: 0.25\n");
  Result valid = Run({"policies", "validate", good});
  EXPECT_EQ(valid.code, 0) << valid.err;
  EXPECT_EQ(valid.out, good + ": valid (0 rules)\n");

  const std::string bad = WriteFile("bad.yaml", "rules:\n  - name: x\n    max_probability: 9\n");
  Result invalid = Run({"policies", "validate", bad});
  EXPECT_EQ(invalid.code, 3);
  EXPECT_EQ(invalid.err, "fleetratectl: " + bad +
                             " is invalid: rules[0].max_probability: must be in [0, 1], got 9 "
                             "(line 3)\n");
  // A bad file is reported as such before the token matters.
  EXPECT_EQ(Run({"policies", "set", bad}).code, 3);

  Result missing = Run({"policies", "set", good});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("no admin token given"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("--token-file"), std::string::npos) << missing.err;

  const std::string wrong_file = WriteFile("wrong-token", "not-it\n");
  Result wrong = Run({"policies", "set", good, "--token-file", wrong_file});
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find("the admin token was not accepted"), std::string::npos) << wrong.err;

  Result absent = Run({"policies", "set", good, "--token-file", (dir_ / "nope").string()});
  EXPECT_EQ(absent.code, 2);

  const std::string token_file = WriteFile("token", std::string(kToken) + "\n");
  Result set = Run({"policies", "set", good, "--token-file", token_file});
  ASSERT_EQ(set.code, 0) << set.err;
  EXPECT_EQ(set.out, good + ": applied (0 rules); clients get the new rates at their next Sync\n");
  Result after = Run({"--json", "policies", "get"});
  ASSERT_EQ(after.code, 0) << after.err;
  auto policies = ParseJson<v1::GetPoliciesResponse>(after.out);
  EXPECT_EQ(policies.yaml(), "defaults:\n  probability: 0.25\n");
  EXPECT_EQ(policies.source(), "AdminService");

  variables_["FLEETRATE_ADMIN_TOKEN"] = kToken;
  EXPECT_EQ(Run({"policies", "set", good}).code, 0) << "the token from the environment";
}

TEST_F(CliTest, PoliciesSetOnAServerWithoutATokenSaysItIsDisabled) {
  StartServer("");
  variables_["FLEETRATE_ADMIN_TOKEN"] = "anything";
  const std::string good = WriteFile("good.yaml", "defaults:\n  probability: 1\n");
  Result r = Run({"policies", "set", good});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("SetPolicies is disabled"), std::string::npos) << r.err;
}

TEST_F(CliTest, UnreachableServerExitsOneNamingTheAddress) {
  const std::string address = "127.0.0.1:" + std::to_string(ClosedPort());
  for (const char* command : {"status", "rates"}) {
    Result r = Run({"--server", address, command}, false);
    EXPECT_EQ(r.code, 1) << command;
    EXPECT_EQ(r.err.rfind("fleetratectl: cannot reach fleetrate at " + address, 0), 0u) << r.err;
    EXPECT_EQ(r.out, "");
  }
  variables_["FLEETRATE_SERVER"] = address;
  Result from_env = Run({"policies", "get"}, false);
  EXPECT_EQ(from_env.code, 1);
  EXPECT_NE(from_env.err.find(address), std::string::npos) << from_env.err;
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  const std::vector<std::vector<std::string>> bad_lines = {
      {},
      {"frobnicate"},
      {"rates", "--bogus"},
      {"status", "--limit", "3"},
      {"rates", "--limit", "0"},
      {"explain", "cart"},
      {"policies"},
      {"policies", "delete"},
      {"policies", "validate"},
      {"policies", "validate", (dir_ / "missing.yaml").string()},
      {"watch", "--interval-s", "0"},
      {"watch", "--iterations", "many"},
      {"--server", "no-port", "status"},
      {"--timeout-ms", "-5", "status"},
      {"status", "extra"},
  };
  for (const auto& line : bad_lines) {
    std::ostringstream out, err;
    EXPECT_EQ(RunCli(line, out, err, env_), 2) << ::testing::PrintToString(line);
    EXPECT_NE(err.str().find("--help' for usage"), std::string::npos) << err.str();
  }
}

TEST_F(CliTest, HelpForEachCommand) {
  for (const std::string command : {"status", "rates", "explain", "policies", "watch"}) {
    Result r = Run({command, "--help"}, false);
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out.rfind("Usage: fleetratectl " + command, 0), 0u) << r.out;
    EXPECT_NE(r.out.find("Exit codes:"), std::string::npos);
    EXPECT_EQ(Run({"help", command}, false).out, r.out);
  }
  Result main_help = Run({"-h"}, false);
  EXPECT_EQ(main_help.code, 0);
  for (const char* command : {"status", "rates", "explain", "policies get", "policies validate",
                              "policies set", "watch"}) {
    EXPECT_NE(main_help.out.find("\n  " + std::string(command) + " "), std::string::npos)
        << command;
  }
}

TEST_F(CliTest, WatchPrintsOneFramePerIteration) {
  StartFleet();
  Result r = Run({"watch", "--iterations", "2", "--interval-s", "0.5"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string frame =
      "\x1b[H\x1b[2J"
      "fleetrate " +
      address_ +
      "  v" FLEETRATE_VERSION
      "  store memory  leader this replica  live clients 3  2026-11-25T23:00:00Z\n"
      "\n"
      "SERVICE  ENVIRONMENT  ROOTS/S  TARGET/S  ACHIEVED/S  ACHIEVED%\n"
      "cart     prod          2090.0      4.00        5.40       135%\n"
      "search   -              500.0      2.00        2.50       125%\n"
      "TOTAL                  2590.0      6.00        7.90       132%\n"
      "\n"
      "refreshing every 0.5 s; Ctrl-C to stop\n";
  EXPECT_EQ(r.out, frame + frame);
  EXPECT_EQ(sleeps_, std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(500)});

  Result json = Run({"watch", "--iterations", "1", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(json.out.rfind("{\"time\":\"2026-11-25T23:00:00Z\",\"status\":{", 0), 0u) << json.out;
  EXPECT_EQ(std::count(json.out.begin(), json.out.end(), '\n'), 1);
}

TEST_F(CliTest, WatchSurvivesAServerRestart) {
  StartFleet();
  const uint16_t port = server_->grpc_port();
  int sleeps = 0;
  on_sleep_ = [&] {
    if (++sleeps == 1) {
      server_->Shutdown();
      server_.reset();
    } else if (sleeps == 2) {
      StartServer(kToken, port);
      // Past the CLI channel's reconnect backoff (at most 2 s).
      std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    }
  };
  const std::string address = address_;
  Result r = Run({"watch", "--iterations", "3"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  const auto first = r.out.find("live clients 3");
  const auto unreachable = r.out.find("fleetrate " + address + "  unreachable, retrying every 2 s");
  const auto back = r.out.find("live clients 0");
  EXPECT_NE(first, std::string::npos) << r.out;
  EXPECT_NE(unreachable, std::string::npos) << r.out;
  EXPECT_NE(back, std::string::npos) << r.out;
  EXPECT_LT(first, unreachable);
  EXPECT_LT(unreachable, back);
}

TEST_F(CliTest, WatchAgainstNothingRetriesAndExitsOne) {
  const std::string address = "127.0.0.1:" + std::to_string(ClosedPort());
  Result r = Run({"--server", address, "watch", "--iterations", "2"}, false);
  EXPECT_EQ(r.code, 1);
  const std::string header = "fleetrate " + address + "  unreachable, retrying every 2 s";
  const auto first = r.out.find(header);
  ASSERT_NE(first, std::string::npos) << r.out;
  EXPECT_NE(r.out.find(header, first + 1), std::string::npos) << r.out;
}

}  // namespace
}  // namespace fleetrate::cli
