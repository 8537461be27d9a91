#pragma once

// HttpServer: fleetrate-server's small HTTP/1.1 server (Boost.Beast on Boost.Asio) for
// `/metrics`, `/healthz`, `/readyz`, Jaeger's `/sampling` and the debug views.
//
// Handlers are plain functions from a decoded request to a response; routing is by exact path.
//
//   HttpServerOptions options;
//   options.port = 5778;
//   HttpServer http(std::move(options));
//   http.Handle("/healthz", [](const HttpRequest&) { return TextResponse(200, "ok\n"); });
//   http.Handle("/metrics", MetricsHandler(registry));
//   if (absl::Status s = http.Start(); !s.ok()) { /* "cannot listen on 0.0.0.0:5778: ..." */ }
//   ...
//   http.Stop();  // or let the destructor do it
//
// What the server promises:
//   - GET and HEAD reach a handler registered with Handle(path, handler) (HEAD gets the same
//     headers and Content-Length, no body). Other methods get 405 with `Allow`, unless the
//     route was registered with an explicit method list.
//   - Unknown path -> 404; malformed target or percent-escape -> 400 (see query.h);
//     header larger than max_header_bytes -> 431; body larger than max_body_bytes -> 413;
//     after 400/431/413 the connection is closed (after draining what the client still sends,
//     for at most min(read_timeout, 2 s), so the client can read the answer).
//   - A handler that throws yields 500; the server keeps serving (on_handler_error is told).
//   - HTTP/1.1 keep-alive; a connection idle (or a request trickling in) for read_timeout is
//     closed; writes are bounded by the same timeout.
//   - Every response carries `Server: fleetrate` and `Content-Length`.
//   - At most max_connections connections are open at once: one beyond it is accepted and
//     closed at once (on_connection_refused is told), so HTTP never holds more descriptors than
//     that and cannot starve the process's other listeners (gRPC) of them. A connection is idle
//     while it waits for (the rest of) a request, including a TLS handshake; beyond
//     max_idle_connections idle ones, the one idle longest is closed (on_idle_connection_closed).
//
// Threads: `options.threads` I/O threads run all I/O and the handlers registered with
// HandleOnIoThread (cheap ones: health probes); `options.handler_threads` worker threads run
// every other handler, so a slow handler never delays a probe. All threads are owned by the
// server. The workers' queue is bounded by max_connections (one request per connection at a
// time). Handlers may run concurrently with each other (never two on one connection) and must
// be thread-safe. Handlers must not block for long and must not call Stop().
// Handle() is called before Start(); Start(), Stop(), port() and address() may be called
// from any thread other than the server's own. The object is not restartable: Start() after
// Stop() fails.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "server/common/tls_pems.h"
#include "server/http/query.h"

namespace fleetrate::server {

struct HttpRequest {
  std::string method;  // "GET", "HEAD", ... as sent
  std::string path;    // percent-decoded path without the query, e.g. "/sampling"
  QueryParams query;   // percent-decoded pairs, in order, repeats kept (see query.h)
  // Request headers as sent (names in the client's case; compare case-insensitively).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  unsigned status = 200;  // 200..599; anything else is turned into 500
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra headers (e.g. Cache-Control). Content-Length, Transfer-Encoding, Connection and
  // Server are set by the server and ignored here, as are values containing CR or LF.
  std::vector<std::pair<std::string, std::string>> headers;
};

// A text/plain response; the common case for health checks and errors.
[[nodiscard]] HttpResponse TextResponse(unsigned status, std::string body);

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "0.0.0.0";  // an IPv4/IPv6 literal or a resolvable name
  uint16_t port = 5778;          // 0 picks a free port; see HttpServer::port()
  int threads = 1;               // I/O threads, >= 1
  int handler_threads = 2;       // worker threads for handlers; 0: handlers run on the I/O threads
  size_t max_header_bytes = 8 * 1024;              // request line + headers; larger -> 431
  size_t max_body_bytes = 1024 * 1024;             // larger -> 413
  std::chrono::milliseconds read_timeout{10'000};  // idle/slow clients are closed
  size_t max_connections = 1024;      // open at once, >= 1; beyond: accepted and closed at once
  size_t max_idle_connections = 256;  // idle at once, >= 1; beyond: the longest idle is closed
  std::optional<TlsPems> tls;         // set: HTTPS only (Start fails on bad PEM)
  // Paths starting with one of these prefixes answer 401 unless the request carries
  // "Authorization: Bearer <bearer_token>" (compared in constant time). Empty token: no check.
  std::string bearer_token;
  std::vector<std::string> bearer_protected_prefixes;
  // Called (on a server thread) when a handler throws; e.g. to log and count. Optional.
  std::function<void(const HttpRequest&, std::string_view what)> on_handler_error;
  // Called (on a server thread, must be thread-safe) for each connection closed because
  // max_connections were open, and for each idle connection closed beyond
  // max_idle_connections; e.g. to count and log. Optional.
  std::function<void()> on_connection_refused;
  std::function<void()> on_idle_connection_closed;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // Stop()

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes GET and HEAD on `path` (exact match on the decoded path) to `handler`.
  // Must be called before Start(); later calls are ignored. A second call for the same path
  // replaces the first.
  void Handle(std::string path, HttpHandler handler);
  // Routes exactly `methods` (e.g. {"POST"}; "GET" implies HEAD) on `path` to `handler`.
  void Handle(std::string path, HttpHandler handler, std::vector<std::string> methods);
  // Like Handle(path, handler), but `handler` runs on the I/O thread that read the request,
  // never queued behind slow handlers: for health probes. It must be fast and never block.
  void HandleOnIoThread(std::string path, HttpHandler handler);

  // Binds, listens and starts the threads. Fails with INVALID_ARGUMENT for bad options,
  // UNAVAILABLE naming "host:port" when the address cannot be bound (e.g. port in use), and
  // FAILED_PRECONDITION when called twice or after Stop().
  absl::Status Start();

  // Connections open now (accepted, not yet closed); for tests and metrics.
  [[nodiscard]] size_t open_connections() const;
  // Of those, the ones waiting for a request.
  [[nodiscard]] size_t idle_connections() const;

  // The bound port (useful with port 0); 0 before Start().
  [[nodiscard]] uint16_t port() const;
  // "host:port" with the bound port, e.g. "127.0.0.1:41234" or "[::1]:5778".
  [[nodiscard]] std::string address() const;

  // Stops accepting, closes every connection (a response being computed or written is
  // finished first, bounded by read_timeout) and joins the threads. Idempotent; a no-op before
  // Start().
  void Stop();

 private:
  struct Impl;

  mutable std::mutex lifecycle_mu_;  // serializes Start/Stop/Handle
  std::unique_ptr<Impl> impl_;       // guarded by lifecycle_mu_ where noted in Impl
};

}  // namespace fleetrate::server
