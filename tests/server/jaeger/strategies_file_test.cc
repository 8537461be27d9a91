#include "server/jaeger/strategies_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

namespace fleetrate::server {
namespace {

// The example from Jaeger's documentation of static strategies files.
constexpr char kJaegerExample[] = R"({
  "service_strategies": [
    {"service": "foo", "type": "probabilistic", "param": 0.8,
     "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2},
                              {"operation": "op2", "type": "probabilistic", "param": 0.4}]},
    {"service": "bar", "type": "ratelimiting", "param": 5}
  ],
  "default_strategy": {
    "type": "probabilistic", "param": 0.5,
    "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0.0},
                             {"operation": "/metrics", "type": "probabilistic", "param": 0.0}]
  }
})";

std::string ErrorOf(const std::string& json) {
  auto p = ParseJaegerStrategies(json);
  return p.ok() ? "" : std::string(p.status().message());
}

TEST(JaegerStrategiesFileTest, FollowsJaegersSemantics) {
  auto p = ParseJaegerStrategies(kJaegerExample);
  ASSERT_TRUE(p.ok()) << p.status();
  // foo: its own operation strategies, its own probability for the rest; it does not inherit
  // the default's operation strategies because it has its own.
  EXPECT_DOUBLE_EQ(*p->Match("foo", "", "op1").probability, 0.2);
  EXPECT_DOUBLE_EQ(*p->Match("foo", "", "op2").probability, 0.4);
  EXPECT_DOUBLE_EQ(*p->Match("foo", "", "other").probability, 0.8);
  EXPECT_DOUBLE_EQ(*p->Match("foo", "", "/health").probability, 0.8);
  // bar: rate-limited, but inherits the default's operation strategies (it has none).
  EXPECT_DOUBLE_EQ(*p->Match("bar", "", "anything").rate_limit_traces_per_second, 5);
  EXPECT_DOUBLE_EQ(*p->Match("bar", "", "/health").probability, 0);
  // Any other service: the default strategy and its operation strategies.
  EXPECT_DOUBLE_EQ(*p->Match("baz", "", "op1").probability, 0.5);
  EXPECT_DOUBLE_EQ(*p->Match("baz", "", "/metrics").probability, 0);
  EXPECT_NE(p->source_text.find("Converted from a Jaeger strategies file"), std::string::npos);
}

TEST(JaegerStrategiesFileTest, NoDefaultStrategyMeansProbabilistic0001) {
  auto p = ParseJaegerStrategies(R"({"service_strategies": []})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_DOUBLE_EQ(*p->defaults.probability, 0.001);
}

// Found by the policy fuzzer: a key that is itself a mapping made yaml-cpp throw out of the
// converter, which runs on policy reloads.
TEST(JaegerStrategiesFileTest, NonStringKeysAreAnErrorNotAnException) {
  for (const char* document : {"{? {a: 1} : 2}", "{\"default_strategy\": {? [1] : 2}}",
                               "# comment\n    ? obability: 0\n"}) {
    auto p = ParseJaegerStrategies(document);
    ASSERT_FALSE(p.ok()) << document;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << document;
  }
  auto yaml = ParsePolicies("? {a: 1}\n: 2\n");
  ASSERT_FALSE(yaml.ok());
  EXPECT_NE(std::string(yaml.status().message()).find("keys must be strings"), std::string::npos)
      << yaml.status();
}

TEST(JaegerStrategiesFileTest, ErrorsNameTheJaegerFieldAndLine) {
  EXPECT_EQ(ErrorOf("{\"default_strategy\": {\"type\": \"const\", \"param\": 1}}"),
            "default_strategy.type: must be probabilistic or ratelimiting, got 'const' (line 1)");
  EXPECT_EQ(ErrorOf("{\"service_strategies\": [{\"service\": \"a\", \"type\": \"probabilistic\","
                    "\n \"param\": 1.5}]}"),
            "service_strategies[0].param: must be in [0, 1] for probabilistic, got 1.5 (line 2)");
  EXPECT_NE(ErrorOf("{\"service_strategies\": [{\"type\": \"probabilistic\", \"param\": 1}]}")
                .find("service_strategies[0].service: required"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"default_strategy\": {\"type\": \"probabilistic\", \"param\": 1,"
                    " \"operation_strategies\": [{\"operation\": \"x\", \"type\": "
                    "\"ratelimiting\", \"param\": 3}]}}")
                .find("operation_strategies[0].type: must be probabilistic"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"services\": []}").find("services: unknown field"), std::string::npos);
  EXPECT_NE(ErrorOf("{\"service_strategies\": [{\"service\": \"a\", \"type\": \"ratelimiting\","
                    " \"param\": 1}, {\"service\": \"a\", \"type\": \"ratelimiting\", "
                    "\"param\": 2}]}")
                .find("'a' given twice"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{not json").find("JSON syntax"), std::string::npos);
}

TEST(JaegerStrategiesFileTest, TooDeepNestingSaysWhatTheLimitIs) {
  const std::string deep = std::string(600, '[') + std::string(600, ']');
  EXPECT_EQ(ErrorOf("{\"service_strategies\": " + deep + "}")
                .find("JSON syntax: nesting deeper than 499 levels (line 1, "),
            0u);
}

// The file rules of --config (server/common/file_read.h) hold for --jaeger-strategies too.
TEST(JaegerStrategiesFileTest, TheFileMustBeARegularNonEmptyFileAndAFifoDoesNotHang) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("fleetrate-jaeger-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  EXPECT_EQ(LoadJaegerStrategiesFile(dir.string()).status().message(),
            "'" + dir.string() + "' is a directory, not a regular file");
  const std::string empty = (dir / "empty.json").string();
  { std::ofstream out(empty); }
  EXPECT_NE(LoadJaegerStrategiesFile(empty).status().message().find(": the document is empty"),
            std::string::npos);
  const std::string fifo = (dir / "fifo.json").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto result = std::async(std::launch::async, [&] { return LoadJaegerStrategiesFile(fifo); });
  if (result.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ADD_FAILURE() << "LoadJaegerStrategiesFile blocked on a FIFO";
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // lets open() return
    if (fd >= 0) ::close(fd);
  }
  EXPECT_EQ(result.get().status().message(), "'" + fifo + "' is a FIFO, not a regular file");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fleetrate::server
