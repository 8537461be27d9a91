#include "server/service/grpc_self_probe.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace fleetrate::server {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

// A loopback listening socket that accepts nothing until Serve(): what gRPC 1.51 looks like
// after an EMFILE on accept(). Serve() starts a thread that accepts and answers with a byte.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    socklen_t len = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &len);
    port_ = ntohs(address.sin_port);
  }
  ~Listener() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    if (server_.joinable()) server_.join();
    ::close(fd_);
  }

  void Serve() {
    server_ = std::thread([this] {
      while (!stop_) {
        const int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0) return;
        unsigned char first = 0;
        if (::recv(client, &first, 1, 0) == 1) first_byte_ = first;
        (void)::send(client, "\0", 1, MSG_NOSIGNAL);
        ::close(client);
      }
    });
  }

  uint16_t port() const { return port_; }
  // The first byte the last served probe sent: 'P' (HTTP/2 preface) or 0x16 (TLS handshake).
  int first_byte() const { return first_byte_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> first_byte_{-1};
  std::thread server_;
};

GrpcSelfProbeOptions Options(uint16_t port) {
  GrpcSelfProbeOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.timeout = milliseconds(100);
  options.failures_to_unhealthy = 3;
  return options;
}

TEST(GrpcSelfProbeTest, ProbeHostTurnsWildcardsIntoLoopback) {
  EXPECT_EQ(ProbeHost("0.0.0.0"), "127.0.0.1");
  EXPECT_EQ(ProbeHost(""), "127.0.0.1");
  EXPECT_EQ(ProbeHost("::"), "::1");
  EXPECT_EQ(ProbeHost("10.1.2.3"), "10.1.2.3");
}

TEST(GrpcSelfProbeTest, APortThatAcceptsButNeverServesFailsNamingTheAddress) {
  Listener silent;
  const absl::Status status = ProbeGrpcPort("127.0.0.1", silent.port(), milliseconds(100));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("127.0.0.1:" + std::to_string(silent.port())));
  EXPECT_THAT(status.message(), HasSubstr("no answer within 100 ms"));
}

TEST(GrpcSelfProbeTest, SendsTheHttp2PrefaceOrATlsClientHello) {
  Listener listener;
  listener.Serve();
  ASSERT_TRUE(ProbeGrpcPort("127.0.0.1", listener.port(), milliseconds(2000)).ok());
  EXPECT_EQ(listener.first_byte(), 'P');  // "PRI * HTTP/2.0"
  const absl::Status tls = ProbeGrpcPort("127.0.0.1", listener.port(), milliseconds(2000), true);
  ASSERT_TRUE(tls.ok()) << tls;
  EXPECT_EQ(listener.first_byte(), 0x16);  // a TLS handshake record: no plaintext to log about

  Listener silent;
  EXPECT_FALSE(ProbeGrpcPort("127.0.0.1", silent.port(), milliseconds(100), /*tls=*/true).ok());
}

TEST(GrpcSelfProbeTest, AClosedPortFails) {
  uint16_t port = 0;
  {
    Listener gone;
    port = gone.port();
  }
  EXPECT_FALSE(ProbeGrpcPort("127.0.0.1", port, milliseconds(100)).ok());
}

TEST(GrpcSelfProbeTest, UnhealthyAfterThreeFailuresInARowAndHealthyAgainWhenItAnswers) {
  prometheus::Registry registry;
  Listener listener;
  GrpcSelfProbe probe(Options(listener.port()), registry);
  EXPECT_TRUE(probe.healthy());
  EXPECT_FALSE(probe.ProbeOnce().ok());
  EXPECT_FALSE(probe.ProbeOnce().ok());
  EXPECT_TRUE(probe.healthy()) << "one or two failures are tolerated";
  EXPECT_EQ(probe.unhealthy_reason(), "");
  EXPECT_FALSE(probe.ProbeOnce().ok());
  EXPECT_FALSE(probe.healthy());
  EXPECT_THAT(probe.unhealthy_reason(), HasSubstr("failed 3 self-probes in a row"));
  EXPECT_THAT(probe.unhealthy_reason(), HasSubstr("no answer"));

  listener.Serve();
  EXPECT_TRUE(probe.ProbeOnce().ok());
  EXPECT_TRUE(probe.healthy());
  EXPECT_EQ(probe.unhealthy_reason(), "");
}

TEST(GrpcSelfProbeTest, TheThreadProbesEveryInterval) {
  prometheus::Registry registry;
  Listener silent;
  GrpcSelfProbeOptions options = Options(silent.port());
  options.interval = milliseconds(10);
  options.timeout = milliseconds(20);
  options.failures_to_unhealthy = 2;
  GrpcSelfProbe probe(options, registry);
  probe.Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (probe.healthy() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_FALSE(probe.healthy());
  probe.Stop();
  probe.Stop();  // idempotent
}

}  // namespace
}  // namespace fleetrate::server
