#include "server/http/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <exception>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/common/strings.h"

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
  bool on_io_thread = false;         // HandleOnIoThread: never queued behind the workers
};

using RouteMap = std::map<std::string, Route, std::less<>>;

// Immutable once the server has started; shared by the listener and every session.
struct Config {
  HttpServerOptions options;
  RouteMap routes;
  std::shared_ptr<asio::ssl::context> ssl;  // null: plaintext
  asio::io_context* ioc = nullptr;          // the I/O threads' (kept running by worker jobs)
  asio::thread_pool* workers = nullptr;     // null: handlers run on the I/O threads
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

bool Authorized(const HttpServerOptions& options, std::string_view path,
                beast::string_view authorization) {
  if (options.bearer_token.empty()) return true;
  const bool protected_path = std::any_of(
      options.bearer_protected_prefixes.begin(), options.bearer_protected_prefixes.end(),
      [&](const std::string& prefix) { return path.substr(0, prefix.size()) == prefix; });
  return !protected_path ||
         ConstantTimeEquals(std::string_view(authorization.data(), authorization.size()),
                            "Bearer " + options.bearer_token);
}

// A decoded request and its route, or the answer when it has no handler to run (bad target,
// 404, 405, 401).
struct Prepared {
  std::optional<HttpResponse> answer;
  const Route* route = nullptr;  // points into Config::routes
  HttpRequest request;
};

Prepared Answer(HttpResponse response) {
  Prepared prepared;
  prepared.answer = std::move(response);
  return prepared;
}

Prepared Prepare(const Config& config, http::request<http::string_body>&& req) {
  std::string_view raw_path;
  std::string_view raw_query;
  const std::string_view target(req.target().data(), req.target().size());
  if (!SplitTarget(target, &raw_path, &raw_query)) {
    return Answer(TextResponse(400, "malformed request target\n"));
  }
  absl::StatusOr<std::string> path = PercentDecode(raw_path, /*plus_is_space=*/false);
  if (!path.ok()) {
    return Answer(TextResponse(400, "bad path: " + std::string(path.status().message()) + "\n"));
  }
  absl::StatusOr<QueryParams> query = ParseQuery(raw_query);
  if (!query.ok()) {
    return Answer(TextResponse(400, "bad query: " + std::string(query.status().message()) + "\n"));
  }

  HttpRequest request;
  request.method = std::string(req.method_string());
  request.path = *std::move(path);
  request.query = *std::move(query);

  const auto route = config.routes.find(request.path);
  if (route == config.routes.end()) {
    return Answer(TextResponse(404, "not found: " + request.path + "\n"));
  }
  if (!RouteAllows(route->second, request.method)) {
    HttpResponse response =
        TextResponse(405, "method " + request.method + " not allowed on " + request.path + "\n");
    response.headers.emplace_back("Allow", AllowHeader(route->second));
    return Answer(std::move(response));
  }

  for (const auto& field : req) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  if (!Authorized(config.options, request.path, req[http::field::authorization])) {
    HttpResponse response = TextResponse(401, "authorization: expected 'Bearer <admin token>'\n");
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    return Answer(std::move(response));
  }
  request.body = std::move(req.body());
  Prepared prepared;
  prepared.route = &route->second;
  prepared.request = std::move(request);
  return prepared;
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

// What the registry closes on Stop() or evicts when idle, whatever the stream.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection soon: at once when idle, after the current response otherwise.
  virtual void Close() = 0;
};

// The open sessions: their number (max_connections) and which of them are idle, oldest first
// (max_idle_connections), so that Stop() can close them all and the listener can refuse or
// evict. Sessions register when accepted and deregister in their destructor, once their socket
// is closed, so the count bounds the descriptors HTTP holds. Thread-safe (one mutex).
class SessionRegistry {
 public:
  explicit SessionRegistry(const HttpServerOptions& options)
      : max_connections_(options.max_connections),
        max_idle_(options.max_idle_connections),
        on_idle_closed_(options.on_idle_connection_closed) {}

  // False when max_connections are open or CloseAll() ran. Only the listener adds, so a true
  // answer holds until its Add().
  bool HasRoom() const {
    std::lock_guard<std::mutex> lock(mu_);
    return !closing_ && sessions_.size() < max_connections_;
  }

  // Registers an accepted session; returns its id, or 0 once CloseAll() ran (the caller drops
  // the session and its socket closes).
  uint64_t Add(const std::shared_ptr<SessionBase>& session) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return 0;
    const uint64_t id = ++last_id_;
    sessions_.emplace(id, Entry{session, idle_.end()});
    return id;
  }

  // Called by the session's destructor: its socket is closed.
  void Remove(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    if (it->second.idle != idle_.end()) idle_.erase(it->second.idle);
    sessions_.erase(it);
  }

  // A session waits for a request (idle = true) or has one to answer (false). Going idle may
  // close the session idle longest, when more than max_idle_connections are.
  void SetIdle(uint64_t id, bool idle) {
    std::shared_ptr<SessionBase> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto it = sessions_.find(id);
      if (it == sessions_.end()) return;
      Entry& entry = it->second;
      if (!idle) {
        if (entry.idle != idle_.end()) idle_.erase(entry.idle);
        entry.idle = idle_.end();
        return;
      }
      if (entry.idle != idle_.end()) return;  // still idle; keeps its place
      entry.idle = idle_.insert(idle_.end(), id);
      if (idle_.size() <= max_idle_) return;
      Entry& oldest = sessions_.at(idle_.front());
      idle_.pop_front();
      oldest.idle = idle_.end();
      evicted = oldest.session.lock();
    }
    // Outside the lock: Close() posts, and the last reference may run the destructor (Remove).
    if (evicted != nullptr) {
      evicted->Close();
      if (on_idle_closed_) on_idle_closed_();
    }
  }

  [[nodiscard]] size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sessions_.size();
  }

  [[nodiscard]] size_t idle() const {
    std::lock_guard<std::mutex> lock(mu_);
    return idle_.size();
  }

  void CloseAll() {
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
      for (const auto& [id, entry] : sessions_) {
        if (std::shared_ptr<SessionBase> session = entry.session.lock()) {
          live.push_back(std::move(session));
        }
      }
    }
    for (const std::shared_ptr<SessionBase>& session : live) session->Close();
  }

 private:
  struct Entry {
    std::weak_ptr<SessionBase> session;
    std::list<uint64_t>::iterator idle;  // idle_.end() when not idle
  };

  const size_t max_connections_;
  const size_t max_idle_;
  const std::function<void()> on_idle_closed_;
  mutable std::mutex mu_;
  bool closing_ = false;                          // guarded by mu_
  uint64_t last_id_ = 0;                          // guarded by mu_
  std::unordered_map<uint64_t, Entry> sessions_;  // guarded by mu_
  std::list<uint64_t> idle_;                      // guarded by mu_; longest idle first
};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One HTTP/1.1 connection over a plain TCP stream or TLS (TlsStream). All members are touched
// only on the connection's strand, so the session needs no lock; the server reaches it only
// through Close(), which posts, and handlers on the worker pool hand their response back by
// posting onto the strand.
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Session(tcp::socket&& socket, std::shared_ptr<const Config> config,
          std::shared_ptr<SessionRegistry> registry)
      : stream_(MakeStream(std::move(socket), *config)),
        config_(std::move(config)),
        registry_(std::move(registry)) {}

  ~Session() override {
    if (id_ != 0) registry_->Remove(id_);
  }

  // Registers with the registry and starts reading; false once the server stops.
  bool Start() {
    id_ = registry_->Add(this->shared_from_this());
    if (id_ == 0) return false;
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        // The handshake shares the read timeout: a client that connects and says nothing is
        // closed like an idle one, and counts as idle.
        self->registry_->SetIdle(self->id_, true);
        self->Lowest().expires_after(self->options().read_timeout);
        self->stream_.async_handshake(
            asio::ssl::stream_base::server,
            beast::bind_front_handler(&Session::OnHandshake, self->shared_from_this()));
      } else {
        self->ReadRequest();
      }
    });
    return true;
  }

  void Close() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->closing_ = true;
      if (!self->writing_) self->Shutdown();
    });
  }

 private:
  static Stream MakeStream(tcp::socket&& socket, const Config& config) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *config.ssl);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void OnHandshake(beast::error_code ec) {
    if (ec || closing_) return Shutdown();  // not TLS, an untrusted client certificate, ...
    ReadRequest();
  }

  const HttpServerOptions& options() const { return config_->options; }

  void ReadRequest() {
    if (closing_) return Shutdown();
    registry_->SetIdle(id_, true);
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options().max_header_bytes));
    parser_->body_limit(static_cast<std::uint64_t>(options().max_body_bytes));
    Lowest().expires_after(options().read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, this->shared_from_this()));
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

    registry_->SetIdle(id_, false);
    http::request<http::string_body> req = parser_->release();
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    const bool head = req.method() == http::verb::head;
    Prepared prepared = Prepare(*config_, std::move(req));
    if (prepared.route == nullptr) {
      return Write(ToBeast(*std::move(prepared.answer), version, keep_alive, head));
    }
    if (prepared.route->on_io_thread || config_->workers == nullptr) {
      return Write(ToBeast(CallHandler(*config_, *prepared.route, prepared.request), version,
                           keep_alive, head));
    }
    // A response is on its way: Close() lets it finish, as it does a write.
    writing_ = true;
    asio::post(*config_->workers, [self = this->shared_from_this(), prepared = std::move(prepared),
                                   version, keep_alive, head,
                                   work = asio::make_work_guard(*config_->ioc)]() mutable {
      auto res = ToBeast(CallHandler(*self->config_, *prepared.route, prepared.request), version,
                         keep_alive, head);
      Stream& stream = self->stream_;
      asio::post(stream.get_executor(), [self = std::move(self), res = std::move(res)]() mutable {
        self->Write(std::move(res));
      });
    });
  }

  void WriteError(unsigned status, std::string body) {
    registry_->SetIdle(id_, false);
    Write(ToBeast(TextResponse(status, std::move(body)), 11, /*keep_alive=*/false, false));
  }

  void Write(http::response<http::string_body>&& res) {
    const bool close = res.need_eof();
    response_.emplace(std::move(res));
    writing_ = true;
    Lowest().expires_after(options().read_timeout);
    http::async_write(
        stream_, *response_,
        beast::bind_front_handler(&Session::OnWrite, this->shared_from_this(), close));
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
  // Over TLS there is no half-close: the connection just closes.
  void LingeringClose() {
    if constexpr (kTls) {
      Shutdown();
    } else {
      beast::error_code ignored;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Lowest().expires_after(
          std::min<std::chrono::milliseconds>(options().read_timeout, kMaxLinger));
      Drain();
    }
  }

  void Drain() {
    // The expiry set in LingeringClose bounds the whole drain, not each read.
    stream_.async_read_some(asio::buffer(drain_),
                            beast::bind_front_handler(&Session::OnDrain, this->shared_from_this()));
  }

  void OnDrain(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec || closing_) return Shutdown();
    Drain();
  }

  // Over TLS without close_notify: responses are length-delimited, so a truncation shows.
  void Shutdown() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }

  Stream stream_;
  const std::shared_ptr<const Config> config_;
  const std::shared_ptr<SessionRegistry> registry_;
  uint64_t id_ = 0;  // the registry's; 0 until Start()
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;  // alive while being written
  std::array<char, 4096> drain_{};
  bool writing_ = false;  // a response is being computed or written
  bool closing_ = false;
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
    if (!ec && !registry_->HasRoom()) {
      // Closed before it costs more than its descriptor; the client sees the connection end.
      beast::error_code ignored;
      socket.close(ignored);
      if (config_->options.on_connection_refused) config_->options.on_connection_refused();
      return Accept();
    }
    if (ec) {
      retry_timer_.expires_after(kAcceptRetryDelay);
      retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
        if (!wait_ec && !self->closed_) self->Accept();
      });
      return;
    }
    if (config_->ssl != nullptr) {
      std::make_shared<Session<TlsStream>>(std::move(socket), config_, registry_)->Start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(std::move(socket), config_, registry_)->Start();
    }
    Accept();
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  const std::shared_ptr<const Config> config_;
  const std::shared_ptr<SessionRegistry> registry_;
  bool closed_ = false;  // acceptor strand only
};

// The TLS context of HttpServerOptions::tls: TLS 1.2 and later, the certificate chain and key,
// and with a client CA, client certificates required and verified.
absl::StatusOr<std::shared_ptr<asio::ssl::context>> MakeSslContext(const TlsPems& tls) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  beast::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1,
                   ec);
  const auto fail = [&](const char* what) {
    return absl::InvalidArgumentError(std::string("HTTP TLS: ") + what + ": " + ec.message());
  };
  if (ec) return fail("cannot set the protocol versions");
  if (ctx->use_certificate_chain(asio::buffer(tls.cert_chain), ec); ec) {
    return fail("cannot use the certificate chain");
  }
  if (ctx->use_private_key(asio::buffer(tls.private_key), asio::ssl::context::pem, ec); ec) {
    return fail("cannot use the private key");
  }
  if (!tls.client_ca.empty()) {
    if (ctx->add_certificate_authority(asio::buffer(tls.client_ca), ec); ec) {
      return fail("cannot use the client CA");
    }
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return fail("cannot require client certificates");
  }
  return ctx;
}

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
  std::unique_ptr<asio::thread_pool> workers;  // null with handler_threads == 0
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
  impl_->routes[std::move(path)] =
      http_internal::Route{std::move(handler), std::move(methods), /*on_io_thread=*/false};
}

void HttpServer::HandleOnIoThread(std::string path, HttpHandler handler) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (impl_->started) return;
  impl_->routes[std::move(path)] =
      http_internal::Route{std::move(handler), {"GET"}, /*on_io_thread=*/true};
}

size_t HttpServer::open_connections() const {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return impl_->registry ? impl_->registry->size() : 0;
}

size_t HttpServer::idle_connections() const {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return impl_->registry ? impl_->registry->idle() : 0;
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
  if (options.handler_threads < 0) {
    return absl::InvalidArgumentError("HTTP handler_threads must be >= 0, got " +
                                      std::to_string(options.handler_threads));
  }
  if (options.max_connections < 1 || options.max_idle_connections < 1) {
    return absl::InvalidArgumentError(
        "HTTP max_connections and max_idle_connections must be >= 1, got " +
        std::to_string(options.max_connections) + " and " +
        std::to_string(options.max_idle_connections));
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

  std::shared_ptr<asio::ssl::context> ssl;
  if (options.tls.has_value()) {
    absl::StatusOr<std::shared_ptr<asio::ssl::context>> made =
        http_internal::MakeSslContext(*options.tls);
    if (!made.ok()) return made.status();
    ssl = *std::move(made);
  }
  if (options.handler_threads > 0) {
    impl.workers = std::make_unique<asio::thread_pool>(options.handler_threads);
  }
  auto config = std::make_shared<const http_internal::Config>(http_internal::Config{
      options, std::move(impl.routes), std::move(ssl), &impl.ioc, impl.workers.get()});
  impl.registry = std::make_shared<http_internal::SessionRegistry>(options);
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
  // Handlers still running finish and hand their response to the I/O threads (their work
  // guard keeps run() going until it is written).
  if (impl.workers) impl.workers->join();
  for (std::thread& thread : impl.threads) thread.join();
  impl.threads.clear();
  impl.listener.reset();
  impl.registry.reset();
  impl.workers.reset();
}

}  // namespace fleetrate::server
