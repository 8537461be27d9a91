#include "server/config/settings.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace fleetrate::server {
namespace {

struct Env {
  std::map<std::string, std::string> vars;
  GetEnv fn() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

absl::StatusOr<Settings> Parse(std::vector<const char*> args, const Env& env = {}) {
  args.insert(args.begin(), "fleetrate-server");
  return ParseSettings(static_cast<int>(args.size()), args.data(), env.fn());
}

TEST(SettingsTest, DefaultsAreTheDocumentedPorts) {
  auto s = Parse({});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->grpc_listen, "0.0.0.0:8081");
  EXPECT_EQ(s->http_listen, "0.0.0.0:5778");
  EXPECT_EQ(s->store, "memory");
  EXPECT_EQ(s->config_path, "config/policies.yaml");
  EXPECT_FALSE(s->config_path_given);
  EXPECT_EQ(s->log_level, LogLevel::kInfo);
}

TEST(SettingsTest, EnvironmentOverridesDefaultAndFlagOverridesEnvironment) {
  Env env{{{"FLEETRATE_GRPC_LISTEN", "127.0.0.1:9000"},
           {"FLEETRATE_LOG_LEVEL", "debug"},
           {"FLEETRATE_CONFIG", "/etc/env.yaml"}}};
  auto s = Parse({"--grpc-listen", "127.0.0.1:9001", "--config=/etc/flag.yaml"}, env);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->grpc_listen, "127.0.0.1:9001");
  EXPECT_EQ(s->config_path, "/etc/flag.yaml");
  EXPECT_TRUE(s->config_path_given);
  EXPECT_EQ(s->log_level, LogLevel::kDebug);
}

TEST(SettingsTest, ErrorsNameTheFlagOrVariable) {
  auto bad_port = Parse({"--http-listen", "0.0.0.0:70000"});
  ASSERT_FALSE(bad_port.ok());
  EXPECT_NE(bad_port.status().message().find("--http-listen"), std::string::npos);

  auto bad_store = Parse({}, Env{{{"FLEETRATE_STORE", "cassandra"}}});
  ASSERT_FALSE(bad_store.ok());
  EXPECT_NE(bad_store.status().message().find("FLEETRATE_STORE"), std::string::npos);
  auto bad_redis = Parse({"--store", "redis://redis:99999"});
  ASSERT_FALSE(bad_redis.ok());
  EXPECT_NE(bad_redis.status().message().find("--store: port '99999'"), std::string::npos);
  auto redis = Parse({}, Env{{{"FLEETRATE_STORE", "redis://:pw@redis:6380/1"}}});
  ASSERT_TRUE(redis.ok()) << redis.status();
  EXPECT_EQ(redis->store, "redis://:pw@redis:6380/1");

  auto missing = Parse({"--config"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--config: missing value"), std::string::npos);

  auto unknown = Parse({"--bogus"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--bogus"), std::string::npos);

  EXPECT_FALSE(Parse({"--log-level", "loud"}).ok());
}

TEST(SettingsTest, ATlsKeyWithoutACertificateIsAStartupErrorNotPlaintext) {
  auto key_only = Parse({"--tls-key", "/etc/tls.key"});
  ASSERT_FALSE(key_only.ok());
  EXPECT_NE(key_only.status().message().find("--tls-key: needs --tls-cert"), std::string::npos)
      << key_only.status();
  auto cert_only = Parse({}, Env{{{"FLEETRATE_TLS_CERT", "/etc/tls.crt"}}});
  ASSERT_FALSE(cert_only.ok());
  EXPECT_EQ(cert_only.status().message(), "--tls-key: needed with --tls-cert");
  auto ca_only = Parse({"--tls-client-ca", "/etc/ca.pem"});
  ASSERT_FALSE(ca_only.ok());
  EXPECT_EQ(ca_only.status().message(), "--tls-client-ca: needs --tls-cert and --tls-key");
  EXPECT_TRUE(Parse({"--tls-cert", "/etc/tls.crt", "--tls-key", "/etc/tls.key"}).ok());
}

TEST(SettingsTest, TheAdminTokenFromTheEnvironmentMustBeLongAndOneWord) {
  auto good = Parse({}, Env{{{"FLEETRATE_ADMIN_TOKEN", "0123456789abcdef"}}});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->admin_token, "0123456789abcdef");
  for (const char* bad : {"", "short", "0123456789abcdef 12", "\n0123456789abcdef12"}) {
    auto s = Parse({}, Env{{{"FLEETRATE_ADMIN_TOKEN", bad}}});
    ASSERT_FALSE(s.ok()) << "'" << bad << "'";
    EXPECT_EQ(s.status().message().find("FLEETRATE_ADMIN_TOKEN: the admin token "), 0u)
        << s.status();
  }
}

TEST(SettingsTest, NewClientsPerPeerIsANumberOrZero) {
  EXPECT_EQ(Parse({})->new_clients_per_peer, 100u);
  EXPECT_EQ(Parse({"--new-clients-per-peer", "0"})->new_clients_per_peer, 0u);
  EXPECT_EQ(Parse({}, Env{{{"FLEETRATE_NEW_CLIENTS_PER_PEER", "2500"}}})->new_clients_per_peer,
            2500u);
  for (const char* bad : {"-1", "ten", "", "1000001"}) {
    auto s = Parse({"--new-clients-per-peer", bad});
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("--new-clients-per-peer: '"), std::string::npos)
        << s.status().message();
  }
}

TEST(SettingsTest, HttpConnectionCapsAndSelfProbeIntervalAreWholeNumbersWithLimits) {
  auto defaults = Parse({});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->http_max_connections, 0u);  // sized from the descriptor limit
  EXPECT_EQ(defaults->grpc_self_probe_interval_seconds, 5u);

  Env env{{{"FLEETRATE_HTTP_MAX_IDLE_CONNECTIONS", "16"}}};
  auto s = Parse({"--http-max-connections", "64", "--grpc-self-probe-interval=0"}, env);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->http_max_connections, 64u);
  EXPECT_EQ(s->http_max_idle_connections, 16u);
  EXPECT_EQ(s->grpc_self_probe_interval_seconds, 0u);

  auto bad = Parse({"--http-max-connections", "-1"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--http-max-connections"), std::string::npos);
  EXPECT_NE(bad.status().message().find("[0, 1000000]"), std::string::npos);
  EXPECT_FALSE(Parse({"--grpc-self-probe-interval", "3601"}).ok());
}

TEST(SettingsTest, HelpIsRecognised) {
  auto s = Parse({"--help"});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->help);
  EXPECT_NE(UsageText().find("--grpc-listen"), std::string::npos);
}

TEST(SettingsTest, ParseHostPortAcceptsIpv4Ipv6AndBarePort) {
  auto v4 = ParseHostPort("f", "127.0.0.1:8081");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8081);
  auto v6 = ParseHostPort("f", "[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  auto bare = ParseHostPort("f", ":5778");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->host, "0.0.0.0");
  EXPECT_FALSE(ParseHostPort("f", "localhost").ok());
  EXPECT_FALSE(ParseHostPort("f", "::1:80").ok());
  EXPECT_FALSE(ParseHostPort("f", "host:http").ok());
}

}  // namespace
}  // namespace fleetrate::server
