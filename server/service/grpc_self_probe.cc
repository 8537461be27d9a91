#include "server/service/grpc_self_probe.h"

#include <netdb.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "server/common/log.h"

namespace fleetrate::server {
namespace {

using SteadyClock = std::chrono::steady_clock;

// RFC 9113 3.4: the client connection preface, then a SETTINGS frame with no settings
// (length 0, type 0x4, no flags, stream 0).
constexpr char kPreface[] =
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
constexpr size_t kPrefaceBytes = sizeof(kPreface) - 1;

std::string Where(const std::string& host, uint16_t port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// Closes the descriptor on every path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

// Waits for `events` on `fd` until `deadline`; false on timeout. Retries EINTR.
bool WaitFor(int fd, short events, SteadyClock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let the next call report the error
  }
}

}  // namespace

std::string ProbeHost(std::string_view listen_host) {
  if (listen_host.empty() || listen_host == "0.0.0.0") return "127.0.0.1";
  if (listen_host == "::" || listen_host == "[::]") return "::1";
  return std::string(listen_host);
}

absl::Status ProbeGrpcPort(const std::string& host, uint16_t port,
                           std::chrono::milliseconds timeout, bool tls) {
  const std::string where = Where(host, port);
  const auto deadline = SteadyClock::now() + timeout;
  const auto fail = [&](const std::string& why) {
    return absl::UnavailableError(where + ": " + why);
  };

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
      rc != 0 || found == nullptr) {
    return fail(std::string("cannot resolve: ") + ::gai_strerror(rc));
  }
  const int family = found->ai_family;
  sockaddr_storage address{};
  const socklen_t address_len = found->ai_addrlen;
  std::memcpy(&address, found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);

  // Without descriptors the probe fails too: that is the condition it looks for.
  const Fd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fail(std::string("cannot create a socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), address_len) != 0) {
    if (errno != EINPROGRESS) return fail(std::string("connect: ") + std::strerror(errno));
    if (!WaitFor(fd.get(), POLLOUT, deadline)) {
      return fail("connect did not complete within " + std::to_string(timeout.count()) + " ms");
    }
    int error = 0;
    socklen_t len = sizeof(error);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) return fail(std::string("connect: ") + std::strerror(error));
  }
  if (tls) {
    // A ClientHello, written by OpenSSL's first handshake step on the non-blocking socket; the
    // server's ServerHello (or alert) is the answer. Nothing is verified: only liveness counts.
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                          SSL_CTX_free);
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(ctx ? SSL_new(ctx.get()) : nullptr, SSL_free);
    if (!ssl || SSL_set_fd(ssl.get(), fd.get()) != 1) return fail("cannot set up TLS");
    SSL_set_verify(ssl.get(), SSL_VERIFY_NONE, nullptr);
    // One handshake step: it writes the ClientHello. Wanting to read means no answer yet; any
    // other outcome means the peer already answered (or closed): a server took the connection.
    const int rc = SSL_connect(ssl.get());
    if (rc == 1 || SSL_get_error(ssl.get(), rc) != SSL_ERROR_WANT_READ) return absl::OkStatus();
    if (!WaitFor(fd.get(), POLLIN, deadline)) {
      return fail("no answer within " + std::to_string(timeout.count()) +
                  " ms (the port accepts connections but nothing serves them)");
    }
    return absl::OkStatus();  // a ServerHello, an alert or a close: something accepted it
  }
  // A few bytes into an empty socket buffer: never blocks.
  if (::send(fd.get(), kPreface, kPrefaceBytes, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
    // Reset already: something accepted and closed the connection.
    if (errno == ECONNRESET || errno == EPIPE) return absl::OkStatus();
    return fail(std::string("send: ") + std::strerror(errno));
  }
  for (;;) {
    if (!WaitFor(fd.get(), POLLIN, deadline)) {
      return fail("no answer within " + std::to_string(timeout.count()) +
                  " ms (the port accepts connections but nothing serves them)");
    }
    char byte[64];
    const ssize_t n = ::recv(fd.get(), byte, sizeof(byte), 0);
    // A byte, an orderly close or a reset: a server accepted the connection and answered.
    if (n >= 0 || errno == ECONNRESET) return absl::OkStatus();
    if (errno != EAGAIN && errno != EINTR)
      return fail(std::string("recv: ") + std::strerror(errno));
  }
}

GrpcSelfProbe::GrpcSelfProbe(GrpcSelfProbeOptions options, prometheus::Registry& registry)
    : options_(std::move(options)),
      healthy_gauge_(prometheus::BuildGauge()
                         .Name("fleetrate_grpc_self_probe_healthy")
                         .Help("1 while the server's own probe of its gRPC port succeeds; 0 after "
                               "several failures in a row (then /healthz answers 503)")
                         .Register(registry)
                         .Add({})),
      failures_total_(prometheus::BuildCounter()
                          .Name("fleetrate_grpc_self_probe_failures_total")
                          .Help("Probes of the server's own gRPC port that got no answer")
                          .Register(registry)
                          .Add({})) {
  healthy_gauge_.Set(1);
}

GrpcSelfProbe::~GrpcSelfProbe() { Stop(); }

void GrpcSelfProbe::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void GrpcSelfProbe::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GrpcSelfProbe::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    // The cadence is wall time, like the recompute loop's; the probe itself is bounded by
    // options_.timeout.
    wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    (void)ProbeOnce();
    lock.lock();
  }
}

absl::Status GrpcSelfProbe::ProbeOnce() {
  absl::Status result = ProbeGrpcPort(options_.host, options_.port, options_.timeout, options_.tls);
  Record(result);
  return result;
}

void GrpcSelfProbe::Record(const absl::Status& result) {
  std::lock_guard<std::mutex> lock(mu_);
  const int threshold = std::max(1, options_.failures_to_unhealthy);
  if (result.ok()) {
    if (consecutive_failures_ >= threshold) {
      FLEETRATE_LOG(kInfo) << "gRPC self-probe succeeds again; /healthz is 200";
    }
    consecutive_failures_ = 0;
    last_error_.clear();
    healthy_gauge_.Set(1);
    return;
  }
  failures_total_.Increment();
  ++consecutive_failures_;
  last_error_ = std::string(result.message());
  if (consecutive_failures_ == threshold) {
    FLEETRATE_LOG(kError) << "gRPC port stopped serving (" << threshold
                          << " self-probes failed in a row): " << last_error_
                          << "; /healthz answers 503 so that the process is restarted";
    healthy_gauge_.Set(0);
  } else if (consecutive_failures_ < threshold) {
    FLEETRATE_LOG(kWarning) << "gRPC self-probe failed (" << consecutive_failures_ << " of "
                            << threshold << " before /healthz fails): " << last_error_;
  }
}

bool GrpcSelfProbe::healthy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return consecutive_failures_ < std::max(1, options_.failures_to_unhealthy);
}

std::string GrpcSelfProbe::unhealthy_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  const int threshold = std::max(1, options_.failures_to_unhealthy);
  if (consecutive_failures_ < threshold) return "";
  return "gRPC port " + Where(options_.host, options_.port) + " failed " +
         std::to_string(consecutive_failures_) + " self-probes in a row, last: " + last_error_;
}

}  // namespace fleetrate::server
