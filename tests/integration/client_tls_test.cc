// The client library over TLS to the real server (in-process), with certificates made by
// openssl for this test (tests/support/make_certs.sh): ClientOptions::tls with the CA, with a
// client certificate for a server that requires one, and the failures a user must see.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "fleetrate/client.h"
#include "server/service/server.h"
#include "tests/client/test_support.h"

namespace fleetrate::server {
namespace {

class ClientTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("fleetrate-tls-" + std::to_string(::getpid()));
    const std::string command = std::string(FLEETRATE_SOURCE_DIR) +
                                "/tests/support/make_certs.sh " + dir_.string() + " 2>&1";
    made_ = std::system(command.c_str()) == 0;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  void SetUp() override { ASSERT_TRUE(made_) << "openssl could not make the test certificates"; }

  static std::string File(const char* name) { return (dir_ / name).string(); }

  std::unique_ptr<Server> StartServer(bool mutual) {
    ServerOptions options;
    options.grpc_listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.tls = {File("server.pem"), File("server.key"), mutual ? File("ca.pem") : ""};
    auto server = std::make_unique<Server>(
        options, std::make_shared<const Policies>(*ParsePolicies("")), clock_);
    EXPECT_TRUE(server->Start().ok());
    return server;
  }

  static ClientOptions Options(const Server& server) {
    ClientOptions options =
        fleetrate::testing::FastSyncOptions("127.0.0.1:" + std::to_string(server.grpc_port()));
    options.tls.enabled = true;
    options.tls.ca_file = File("ca.pem");
    return options;
  }

  static inline std::filesystem::path dir_;
  static inline bool made_ = false;
  RealClock clock_;
};

TEST_F(ClientTlsTest, SyncsOverTlsWithTheCaAndFailsWithAnother) {
  auto server = StartServer(/*mutual=*/false);
  auto client = Client::Create(Options(*server));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(fleetrate::testing::Eventually([&] { return (*client)->stats().syncs_ok > 0; }));

  ClientOptions wrong_ca = Options(*server);
  wrong_ca.tls.ca_file = File("other-ca.pem");
  auto untrusting = Client::Create(wrong_ca);
  ASSERT_TRUE(untrusting.ok()) << untrusting.status();
  EXPECT_TRUE(
      fleetrate::testing::Eventually([&] { return (*untrusting)->stats().syncs_failed > 0; }));
  EXPECT_EQ((*untrusting)->stats().syncs_ok, 0u);
}

TEST_F(ClientTlsTest, MutualTlsNeedsTheClientCertificate) {
  auto server = StartServer(/*mutual=*/true);
  ClientOptions without = Options(*server);
  auto anonymous = Client::Create(without);
  ASSERT_TRUE(anonymous.ok());
  EXPECT_TRUE(
      fleetrate::testing::Eventually([&] { return (*anonymous)->stats().syncs_failed > 0; }));
  EXPECT_EQ((*anonymous)->stats().syncs_ok, 0u);

  ClientOptions with = Options(*server);
  with.tls.cert_file = File("client.pem");
  with.tls.key_file = File("client.key");
  auto client = Client::Create(with);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(fleetrate::testing::Eventually([&] { return (*client)->stats().syncs_ok > 0; }));
}

TEST_F(ClientTlsTest, BadTlsOptionsAreRefusedAtCreateNamingTheField) {
  ClientOptions options = fleetrate::testing::FastSyncOptions("127.0.0.1:1");
  options.tls.enabled = true;
  options.tls.ca_file = File("missing.pem");
  auto missing = Client::Create(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("ClientOptions.tls.ca_file"),
            std::string::npos)
      << missing.status();

  options.tls.ca_file = File("ca.pem");
  options.tls.cert_file = File("client.pem");  // without its key
  auto half = Client::Create(options);
  ASSERT_FALSE(half.ok());
  EXPECT_NE(std::string(half.status().message()).find("tls.key_file"), std::string::npos);

  options.tls.key_file = File("client.csr");  // not a key, not even PEM of one
  options.tls.cert_file = File("client.ext");
  auto not_pem = Client::Create(options);
  ASSERT_FALSE(not_pem.ok());
  EXPECT_NE(std::string(not_pem.status().message()).find("is not PEM"), std::string::npos);
}

}  // namespace
}  // namespace fleetrate::server
