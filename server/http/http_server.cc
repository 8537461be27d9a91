#include "server/http/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <thread>

#include "absl/status/status.h"

namespace fleetrate::server {

// Not an anonymous namespace: HttpServer::Impl (declared in the header) holds these types.
namespace http_internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// After an error response the server keeps reading (and discarding) for at most this long
// before closing, so that the client does not get a TCP reset before it reads the answer.
constexpr std::chrono::milliseconds kMaxLinger{2000};
// accept() can fail transiently (EMFILE, ENOBUFS); retry after a pause instead of spinning.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};

struct Route {
  HttpHandler handler;
  std::vector<std::string> methods;  // "GET" implies HEAD
};

using RouteMap = std::map<std::string, Route, std::less<>>;

// Immutable once the server has started; shared by the listener and every session.
struct Config {
  HttpServerOptions options;
  RouteMap routes;
};

std::string HostPort(const std::string& host, uint16_t port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Rejects header names/values that would corrupt the response (header injection).
bool IsValidHeader(std::string_view name, std::string_view value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) return false;
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool IsServerOwnedHeader(std::string_view name) {
  for (std::string_view owned :
       {"content-length", "transfer-encoding", "connection", "server", "content-type"}) {
    if (EqualsIgnoreCase(name, owned)) return true;
  }
  return false;
}

// Splits an origin-form ("/p?q") or absolute-form ("http://h/p?q") request target.
bool SplitTarget(std::string_view target, std::string_view* path, std::string_view* query) {
  const size_t hash = target.find('#');  // never sent by conforming clients; be lenient
  target = target.substr(0, hash);
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() &&
        EqualsIgnoreCase(target.substr(0, scheme.size()), scheme)) {
      target.remove_prefix(scheme.size());
      const size_t path_start = target.find_first_of("/?");
      if (path_start == std::string_view::npos) {
        *path = "/";
        *query = {};
        return true;
      }
      target.remove_prefix(path_start);
      if (target.front() == '?') {
        *path = "/";
        *query = target.substr(1);
        return true;
      }
      break;
    }
  }
  if (target.empty() || target.front() != '/') return false;
  const size_t question = target.find('?');
  *path = target.substr(0, question);
  *query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  return true;
}

bool RouteAllows(const Route& route, std::string_view method) {
  for (const std::string& allowed : route.methods) {
    if (allowed == method || (allowed == "GET" && method == "HEAD")) return true;
  }
  return false;
}

std::string AllowHeader(const Route& route) {
  std::string allow;
  for (const std::string& method : route.methods) {
    if (!allow.empty()) allow += ", ";
    allow += method;
    if (method == "GET") allow += ", HEAD";
  }
  return allow;
}

HttpResponse CallHandler(const Config& config, const Route& route, const HttpRequest& request) {
  std::string what;
  try {
    return route.handler(request);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  if (config.options.on_handler_error) {
    try {
      config.options.on_handler_error(request, what);
    } catch (...) {  // a failing error hook must not take the server down either
    }
  }
  return TextResponse(500, "internal server error\n");
}

// Decodes, routes and runs one request. Never throws for bad input.
HttpResponse Serve(const Config& config, http::request<http::string_body>&& req) {
  std::string_view raw_path;
  std::string_view raw_query;
  const std::string_view target(req.target().data(), req.target().size());
  if (!SplitTarget(target, &raw_path, &raw_query)) {
    return TextResponse(400, "malformed request target\n");
  }
  absl::StatusOr<std::string> path = PercentDecode(raw_path, /*plus_is_space=*/false);
  if (!path.ok())
    return TextResponse(400, "bad path: " + std::string(path.status().message()) + "\n");
  absl::StatusOr<QueryParams> query = ParseQuery(raw_query);
  if (!query.ok()) {
    return TextResponse(400, "bad query: " + std::string(query.status().message()) + "\n");
  }

  HttpRequest request;
  request.method = std::string(req.method_string());
  request.path = *std::move(path);
  request.query = *std::move(query);

  const auto route = config.routes.find(request.path);
  if (route == config.routes.end()) return TextResponse(404, "not found: " + request.path + "\n");
  if (!RouteAllows(route->second, request.method)) {
    HttpResponse response =
        TextResponse(405, "method " + request.method + " not allowed on " + request.path + "\n");
    response.headers.emplace_back("Allow", AllowHeader(route->second));
    return response;
  }

  for (const auto& field : req) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(req.body());
  return CallHandler(config, route->second, request);
}

http::response<http::string_body> ToBeast(HttpResponse response, unsigned version, bool keep_alive,
                                          bool head) {
  if (response.status < 200 || response.status > 599 ||
      !IsValidHeader("Content-Type", response.content_type)) {
    response = TextResponse(500, "handler returned an invalid response\n");
  }
  http::response<http::string_body> res;
  res.version(version);
  res.result(response.status);
  res.set(http::field::server, "fleetrate");
  res.set(http::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) {
    if (IsValidHeader(name, value) && !IsServerOwnedHeader(name)) res.insert(name, value);
  }
  res.keep_alive(keep_alive);
  if (response.status == 204 || response.status == 304) {
    return res;  // no body and, for these statuses, no Content-Length (RFC 9110 8.6)
  }
  if (head) {
    res.content_length(response.body.size());  // what GET would send, without the body
  } else {
    res.body() = std::move(response.body);
    res.prepare_payload();
  }
  return res;
}

// One HTTP/1.1 connection. All members are touched only on the connection's strand, so the
// session needs no lock; the server reaches it only through Close(), which posts.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<const Config> config)
      : stream_(std::move(socket)), config_(std::move(config)) {}

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadRequest(); });
  }

  // Closes the connection soon: at once when idle, after the current response otherwise.
  void Close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      if (!self->writing_) self->Shutdown();
    });
  }

 private:
  const HttpServerOptions& options() const { return config_->options; }

  void ReadRequest() {
    if (closing_) return Shutdown();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options().max_header_bytes));
    parser_->body_limit(static_cast<std::uint64_t>(options().max_body_bytes));
    stream_.expires_after(options().read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t /*bytes*/) {
    if (closing_) return Shutdown();
    if (ec == http::error::header_limit) {
      return WriteError(431, "request header larger than " +
                                 std::to_string(options().max_header_bytes) + " bytes\n");
    }
    if (ec == http::error::body_limit) {
      return WriteError(
          413, "request body larger than " + std::to_string(options().max_body_bytes) + " bytes\n");
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return Shutdown();  // the client went away (possibly mid-request)
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_target).category()) {
      return WriteError(400, "malformed HTTP request: " + ec.message() + "\n");
    }
    if (ec) return Shutdown();  // timeout (the stream is already closed), reset, ...

    http::request<http::string_body> req = parser_->release();
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    const bool head = req.method() == http::verb::head;
    Write(ToBeast(Serve(*config_, std::move(req)), version, keep_alive, head));
  }

  void WriteError(unsigned status, std::string body) {
    Write(ToBeast(TextResponse(status, std::move(body)), 11, /*keep_alive=*/false, false));
  }

  void Write(http::response<http::string_body>&& res) {
    const bool close = res.need_eof();
    response_.emplace(std::move(res));
    writing_ = true;
    stream_.expires_after(options().read_timeout);
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this(), close));
  }

  void OnWrite(bool close, beast::error_code ec, std::size_t /*bytes*/) {
    writing_ = false;
    response_.reset();
    if (ec || closing_) return Shutdown();
    if (close) return LingeringClose();
    ReadRequest();
  }

  // Half-closes, then discards what the client still sends until it closes or the linger
  // time passes. Closing with unread input would make the kernel send RST, and the client
  // could lose the error response it has not read yet (the classic "lingering close").
  void LingeringClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::min<std::chrono::milliseconds>(options().read_timeout, kMaxLinger));
    Drain();
  }

  void Drain() {
    // The expiry set in LingeringClose bounds the whole drain, not each read.
    stream_.async_read_some(asio::buffer(drain_),
                            beast::bind_front_handler(&Session::OnDrain, shared_from_this()));
  }

  void OnDrain(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec || closing_) return Shutdown();
    Drain();
  }

  void Shutdown() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  const std::shared_ptr<const Config> config_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;  // alive while being written
  std::array<char, 4096> drain_{};
  bool writing_ = false;
  bool closing_ = false;
};

// The live sessions, so that Stop() can close them. Guarded by mu.
class SessionRegistry {
 public:
  // False once CloseAll() ran: the caller drops the session (its socket closes).
  bool Add(const std::shared_ptr<Session>& session) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return false;
    if (sessions_.size() >= prune_at_) {
      sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(),
                                     [](const std::weak_ptr<Session>& s) { return s.expired(); }),
                      sessions_.end());
      prune_at_ = std::max<size_t>(64, 2 * sessions_.size());
    }
    sessions_.push_back(session);
    return true;
  }

  void CloseAll() {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
      for (const std::weak_ptr<Session>& weak : sessions_) {
        if (std::shared_ptr<Session> session = weak.lock()) live.push_back(std::move(session));
      }
      sessions_.clear();
    }
    for (const std::shared_ptr<Session>& session : live) session->Close();
  }

 private:
  std::mutex mu_;
  bool closing_ = false;                          // guarded by mu_
  std::vector<std::weak_ptr<Session>> sessions_;  // guarded by mu_
  size_t prune_at_ = 64;                          // guarded by mu_
};

// Accepts connections. Its acceptor and timer live on one strand; Close() posts onto it.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, tcp::acceptor&& acceptor, std::shared_ptr<const Config> config,
           std::shared_ptr<SessionRegistry> registry)
      : ioc_(ioc),
        acceptor_(std::move(acceptor)),
        retry_timer_(acceptor_.get_executor()),
        config_(std::move(config)),
        registry_(std::move(registry)) {}

  void Start() {
    asio::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->Accept(); });
  }

  void Close() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      self->closed_ = true;
      beast::error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_timer_.cancel();
    });
  }

 private:
  void Accept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (closed_) return;
    if (ec) {
      retry_timer_.expires_after(kAcceptRetryDelay);
      retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
        if (!wait_ec && !self->closed_) self->Accept();
      });
      return;
    }
    auto session = std::make_shared<Session>(std::move(socket), config_);
    if (registry_->Add(session)) session->Start();
    Accept();
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  const std::shared_ptr<const Config> config_;
  const std::shared_ptr<SessionRegistry> registry_;
  bool closed_ = false;  // acceptor strand only
};

void RunIoContext(asio::io_context& ioc) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (...) {
      // Handlers catch their own exceptions; anything reaching here is a bug in a completion
      // handler. Keep the thread serving rather than terminate the process.
    }
  }
}

}  // namespace http_internal

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions opts)
      : ioc(std::max(1, opts.threads)), options(std::move(opts)) {}

  // First, so that it is destroyed last: sockets and timers must not outlive it.
  asio::io_context ioc;

  // Guarded by HttpServer::lifecycle_mu_.
  HttpServerOptions options;
  http_internal::RouteMap routes;  // moved into the Config at Start()
  bool started = false;
  bool stopped = false;
  std::shared_ptr<http_internal::Listener> listener;
  std::shared_ptr<http_internal::SessionRegistry> registry;
  std::vector<std::thread> threads;

  std::atomic<uint16_t> port{0};  // written once in Start()
};

HttpResponse TextResponse(unsigned status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(std::string path, HttpHandler handler) {
  Handle(std::move(path), std::move(handler), {"GET"});
}

void HttpServer::Handle(std::string path, HttpHandler handler, std::vector<std::string> methods) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (impl_->started) return;  // routes are immutable once threads read them
  impl_->routes[std::move(path)] = http_internal::Route{std::move(handler), std::move(methods)};
}

absl::Status HttpServer::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  Impl& impl = *impl_;
  if (impl.stopped)
    return absl::FailedPreconditionError("HTTP server was stopped; not restartable");
  if (impl.started) return absl::FailedPreconditionError("HTTP server already started");

  const HttpServerOptions& options = impl.options;
  const std::string where = http_internal::HostPort(options.host, options.port);
  if (options.threads < 1) {
    return absl::InvalidArgumentError("HTTP threads must be >= 1, got " +
                                      std::to_string(options.threads));
  }
  if (options.read_timeout.count() <= 0) {
    return absl::InvalidArgumentError("HTTP read_timeout must be positive, got " +
                                      std::to_string(options.read_timeout.count()) + " ms");
  }
  if (options.max_header_bytes == 0 ||
      options.max_header_bytes > std::numeric_limits<std::uint32_t>::max()) {
    return absl::InvalidArgumentError("HTTP max_header_bytes must be in [1, 2^32), got " +
                                      std::to_string(options.max_header_bytes));
  }

  beast::error_code ec;
  tcp::resolver resolver(impl.ioc);
  const auto results =
      resolver.resolve(options.host, std::to_string(options.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return absl::InvalidArgumentError("cannot resolve HTTP listen address " + where + ": " +
                                      (ec ? ec.message() : "no addresses"));
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();

  tcp::acceptor acceptor(asio::make_strand(impl.ioc));
  const auto fail = [&](const char* step) {
    return absl::UnavailableError("cannot listen on " + where + ": " + step + ": " + ec.message());
  };
  if (acceptor.open(endpoint.protocol(), ec); ec) return fail("open");
  // Lets a restarted server bind while old connections sit in TIME_WAIT. On Linux this does
  // not allow two listeners on one port, so "address in use" is still reported.
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec)
    return fail("setsockopt");
  if (acceptor.bind(endpoint, ec); ec) return fail("bind");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen");
  const tcp::endpoint bound = acceptor.local_endpoint(ec);
  if (ec) return fail("getsockname");
  impl.port.store(bound.port(), std::memory_order_release);

  auto config = std::make_shared<const http_internal::Config>(
      http_internal::Config{options, std::move(impl.routes)});
  impl.registry = std::make_shared<http_internal::SessionRegistry>();
  impl.listener = std::make_shared<http_internal::Listener>(impl.ioc, std::move(acceptor),
                                                            std::move(config), impl.registry);
  impl.listener->Start();  // queues the first accept, so run() has work from the start
  impl.started = true;
  impl.threads.reserve(static_cast<size_t>(options.threads));
  for (int i = 0; i < options.threads; ++i) {
    impl.threads.emplace_back([&ioc = impl.ioc] { http_internal::RunIoContext(ioc); });
  }
  return absl::OkStatus();
}

uint16_t HttpServer::port() const { return impl_->port.load(std::memory_order_acquire); }

std::string HttpServer::address() const {
  return http_internal::HostPort(impl_->options.host, port());
}

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  Impl& impl = *impl_;
  if (!impl.started || impl.stopped) return;
  impl.stopped = true;
  // Both post onto the I/O threads; once the acceptor and every socket are closed, no work is
  // left and run() returns in every thread.
  impl.listener->Close();
  impl.registry->CloseAll();
  for (std::thread& thread : impl.threads) thread.join();
  impl.threads.clear();
  impl.listener.reset();
  impl.registry.reset();
}

}  // namespace fleetrate::server
