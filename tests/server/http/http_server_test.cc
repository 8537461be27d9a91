#include "server/http/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace fleetrate::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using Clock = std::chrono::steady_clock;

// Bounds every client operation, so a server that fails to answer or to close fails the test
// instead of hanging it.
constexpr std::chrono::seconds kClientDeadline{5};

// A minimal HTTP/1.1 client on Beast with a deadline on every operation. One connection.
class TestClient {
 public:
  explicit TestClient(uint16_t port) : stream_(ioc_) {
    stream_.expires_after(kClientDeadline);
    stream_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  beast::error_code Write(const http::request<http::string_body>& request) {
    return Run([&](auto handler) { http::async_write(stream_, request, handler); });
  }

  beast::error_code WriteRaw(const std::string& raw) {
    return Run([&](auto handler) { asio::async_write(stream_, asio::buffer(raw), handler); });
  }

  // Reads one response; `head` tells the parser the response to a HEAD has no body.
  beast::error_code Read(http::response<http::string_body>* response, bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    const beast::error_code ec =
        Run([&](auto handler) { http::async_read(stream_, buffer_, parser, handler); });
    if (!ec) *response = parser.release();
    return ec;
  }

  // Sends `request` and reads the response; fails the test on an I/O error.
  http::response<http::string_body> RoundTrip(const http::request<http::string_body>& request) {
    http::response<http::string_body> response;
    const beast::error_code write_ec = Write(request);
    EXPECT_FALSE(write_ec) << write_ec.message();
    const beast::error_code read_ec = Read(&response, request.method() == http::verb::head);
    EXPECT_FALSE(read_ec) << read_ec.message();
    return response;
  }

  // Reads until the server ends the connection and returns what ended it: eof when the server
  // closed it, beast::error::timeout when it did not within the deadline.
  beast::error_code WaitForClose() {
    for (;;) {
      std::array<char, 1024> sink;
      const beast::error_code ec =
          Run([&](auto handler) { stream_.async_read_some(asio::buffer(sink), handler); });
      if (ec) return ec;
    }
  }

 private:
  template <class Initiate>
  beast::error_code Run(Initiate initiate) {
    beast::error_code result = asio::error::would_block;
    stream_.expires_after(kClientDeadline);
    initiate([&result](beast::error_code ec, std::size_t) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

http::request<http::string_body> MakeRequest(http::verb verb, std::string target,
                                             std::string body = "") {
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

HttpServerOptions LocalOptions() {
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.read_timeout = milliseconds(5000);
  return options;
}

HttpHandler Fixed(std::string body) {
  return [body = std::move(body)](const HttpRequest&) { return TextResponse(200, body); };
}

// Starts a server with `options`, lets `routes` register handlers first.
std::unique_ptr<HttpServer> StartServer(HttpServerOptions options,
                                        const std::function<void(HttpServer&)>& routes) {
  auto server = std::make_unique<HttpServer>(std::move(options));
  routes(*server);
  const absl::Status status = server->Start();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_NE(server->port(), 0);
  return server;
}

std::string Header(const http::response<http::string_body>& response, std::string_view name) {
  return std::string(response[beast::string_view(name.data(), name.size())]);
}

TEST(HttpServerTest, RoutesGetToHandlerWithDecodedPathAndQuery) {
  std::mutex mu;
  HttpRequest seen;  // guarded by mu (written on a server thread)
  auto server = StartServer(LocalOptions(), [&](HttpServer& s) {
    s.Handle("/sampling", [&](const HttpRequest& request) {
      std::lock_guard<std::mutex> lock(mu);
      seen = request;
      HttpResponse response;
      response.content_type = "application/json";
      response.body = R"({"service":")" + *SingleQueryValue(request.query, "service") + R"("})";
      response.headers.emplace_back("Cache-Control", "no-store");
      return response;
    });
    s.Handle("/other", Fixed("other"));
  });
  TestClient client(server->port());

  auto response = client.RoundTrip(
      MakeRequest(http::verb::get, "/sampl%69ng?service=my%20svc&x=1&x=a+b&empty="));

  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response.body(), R"({"service":"my svc"})");
  EXPECT_EQ(Header(response, "Content-Type"), "application/json");
  EXPECT_EQ(Header(response, "Content-Length"), std::to_string(response.body().size()));
  EXPECT_EQ(Header(response, "Server"), "fleetrate");
  EXPECT_EQ(Header(response, "Cache-Control"), "no-store");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.path, "/sampling");
  EXPECT_THAT(seen.query, ElementsAre(Pair("service", "my svc"), Pair("x", "1"), Pair("x", "a b"),
                                      Pair("empty", "")));
  EXPECT_THAT(seen.headers, Contains(Pair("Host", "127.0.0.1")));
}

TEST(HttpServerTest, HeadReturnsHeadersWithoutBody) {
  auto server = StartServer(LocalOptions(), [](HttpServer& s) { s.Handle("/h", Fixed("hello")); });
  TestClient client(server->port());

  auto head = client.RoundTrip(MakeRequest(http::verb::head, "/h"));
  EXPECT_EQ(head.result_int(), 200u);
  EXPECT_EQ(Header(head, "Content-Length"), "5");
  EXPECT_EQ(head.body(), "");
  // Had the server sent a body after the HEAD response, this response would not parse.
  auto get = client.RoundTrip(MakeRequest(http::verb::get, "/h"));
  EXPECT_EQ(get.result_int(), 200u);
  EXPECT_EQ(get.body(), "hello");
}

TEST(HttpServerTest, UnknownPathIs404NamingThePath) {
  auto server = StartServer(LocalOptions(), [](HttpServer& s) { s.Handle("/a", Fixed("a")); });
  TestClient client(server->port());

  auto response = client.RoundTrip(MakeRequest(http::verb::get, "/nope/x?y=1"));
  EXPECT_EQ(response.result_int(), 404u);
  EXPECT_THAT(response.body(), HasSubstr("/nope/x"));
  EXPECT_EQ(Header(response, "Server"), "fleetrate");
  // Routing is exact: a prefix or a trailing slash is another path.
  EXPECT_EQ(client.RoundTrip(MakeRequest(http::verb::get, "/a/")).result_int(), 404u);
}

TEST(HttpServerTest, PostToGetRouteIs405WithAllowHeader) {
  std::atomic<int> calls{0};
  auto server = StartServer(LocalOptions(), [&](HttpServer& s) {
    s.Handle("/get-only", [&](const HttpRequest&) {
      ++calls;
      return TextResponse(200, "ok");
    });
  });
  TestClient client(server->port());

  auto response = client.RoundTrip(MakeRequest(http::verb::post, "/get-only", "x=1"));
  EXPECT_EQ(response.result_int(), 405u);
  EXPECT_EQ(Header(response, "Allow"), "GET, HEAD");
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServerTest, RoutesExplicitlyRegisteredMethods) {
  auto server = StartServer(LocalOptions(), [](HttpServer& s) {
    s.Handle("/echo", [](const HttpRequest& request) { return TextResponse(201, request.body); },
             {"POST", "PUT"});
  });
  TestClient client(server->port());

  auto post = client.RoundTrip(MakeRequest(http::verb::post, "/echo", "payload"));
  EXPECT_EQ(post.result_int(), 201u);
  EXPECT_EQ(post.body(), "payload");
  auto get = client.RoundTrip(MakeRequest(http::verb::get, "/echo"));
  EXPECT_EQ(get.result_int(), 405u);
  EXPECT_EQ(Header(get, "Allow"), "POST, PUT");
}

TEST(HttpServerTest, ThrowingHandlerIs500AndServerKeepsServing) {
  std::mutex mu;
  std::vector<std::string> errors;  // guarded by mu
  HttpServerOptions options = LocalOptions();
  options.on_handler_error = [&](const HttpRequest& request, std::string_view what) {
    std::lock_guard<std::mutex> lock(mu);
    errors.push_back(request.path + ": " + std::string(what));
  };
  auto server = StartServer(options, [](HttpServer& s) {
    s.Handle("/throws",
             [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
    s.Handle("/throws-int", [](const HttpRequest&) -> HttpResponse { throw 42; });
    s.Handle("/ok", Fixed("fine"));
  });
  TestClient client(server->port());

  auto failed = client.RoundTrip(MakeRequest(http::verb::get, "/throws"));
  EXPECT_EQ(failed.result_int(), 500u);
  EXPECT_THAT(failed.body(), Not(HasSubstr("boom")));  // internals are not leaked to clients
  EXPECT_EQ(client.RoundTrip(MakeRequest(http::verb::get, "/throws-int")).result_int(), 500u);
  // Same connection, then a new one.
  EXPECT_EQ(client.RoundTrip(MakeRequest(http::verb::get, "/ok")).body(), "fine");
  TestClient other(server->port());
  EXPECT_EQ(other.RoundTrip(MakeRequest(http::verb::get, "/ok")).body(), "fine");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_THAT(errors, ElementsAre("/throws: boom", "/throws-int: unknown exception"));
}

TEST(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  std::atomic<int> calls{0};
  auto server = StartServer(LocalOptions(), [&](HttpServer& s) {
    s.Handle("/n", [&](const HttpRequest&) { return TextResponse(200, std::to_string(++calls)); });
  });
  TestClient client(server->port());

  auto first = client.RoundTrip(MakeRequest(http::verb::get, "/n"));
  EXPECT_TRUE(first.keep_alive());
  auto second = client.RoundTrip(MakeRequest(http::verb::get, "/n"));
  EXPECT_EQ(first.body(), "1");
  EXPECT_EQ(second.body(), "2");
}

TEST(HttpServerTest, ConnectionCloseRequestIsAnsweredThenClosed) {
  auto server = StartServer(LocalOptions(), [](HttpServer& s) { s.Handle("/x", Fixed("x")); });
  TestClient client(server->port());

  auto request = MakeRequest(http::verb::get, "/x");
  request.keep_alive(false);
  auto response = client.RoundTrip(request);
  EXPECT_EQ(response.body(), "x");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_EQ(client.WaitForClose(), asio::error::eof);
}

TEST(HttpServerTest, OversizedHeaderIs431AndConnectionCloses) {
  HttpServerOptions options = LocalOptions();
  options.max_header_bytes = 1024;
  auto server = StartServer(options, [](HttpServer& s) { s.Handle("/x", Fixed("x")); });
  TestClient client(server->port());

  auto request = MakeRequest(http::verb::get, "/x");
  // Far more than the socket buffers hold: the client is still writing when the server has
  // answered, so the server must drain (lingering close) or the client sees a reset.
  // (Beast caps one field at 64 KiB, hence many fields.)
  for (int i = 0; i < 128; ++i) request.insert("X-Big", std::string(8192, 'a'));
  auto response = client.RoundTrip(request);
  EXPECT_EQ(response.result_int(), 431u);
  EXPECT_FALSE(response.keep_alive());
  EXPECT_EQ(client.WaitForClose(), asio::error::eof);

  // A header under the limit still works.
  TestClient small(server->port());
  request.erase("X-Big");
  request.set("X-Big", std::string(100, 'a'));
  EXPECT_EQ(small.RoundTrip(request).result_int(), 200u);
}

TEST(HttpServerTest, OversizedBodyIs413AndHandlerIsNotCalled) {
  std::atomic<int> calls{0};
  HttpServerOptions options = LocalOptions();
  options.max_body_bytes = 1024;
  auto server = StartServer(options, [&](HttpServer& s) {
    s.Handle("/upload",
             [&](const HttpRequest& request) {
               ++calls;
               return TextResponse(200, std::to_string(request.body.size()));
             },
             {"POST"});
  });

  TestClient client(server->port());
  // 8 MiB: far more than the socket buffers hold, so the server must drain what the client
  // still sends (lingering close) for the client to finish writing and read the 413.
  auto response =
      client.RoundTrip(MakeRequest(http::verb::post, "/upload", std::string(8 << 20, 'b')));
  EXPECT_EQ(response.result_int(), 413u);
  EXPECT_EQ(client.WaitForClose(), asio::error::eof);
  EXPECT_EQ(calls.load(), 0);

  TestClient at_limit(server->port());
  auto ok = at_limit.RoundTrip(MakeRequest(http::verb::post, "/upload", std::string(1024, 'b')));
  EXPECT_EQ(ok.result_int(), 200u);
  EXPECT_EQ(ok.body(), "1024");
}

TEST(HttpServerTest, MalformedRequestsAre400) {
  auto server = StartServer(LocalOptions(), [](HttpServer& s) { s.Handle("/x", Fixed("x")); });

  TestClient bad_query(server->port());
  auto response = bad_query.RoundTrip(MakeRequest(http::verb::get, "/x?a=%zz"));
  EXPECT_EQ(response.result_int(), 400u);
  EXPECT_THAT(response.body(), HasSubstr("percent-escape"));

  TestClient garbage(server->port());
  ASSERT_FALSE(garbage.WriteRaw("NOT HTTP AT ALL\r\n\r\n"));
  http::response<http::string_body> garbage_response;
  ASSERT_FALSE(garbage.Read(&garbage_response));
  EXPECT_EQ(garbage_response.result_int(), 400u);
  EXPECT_EQ(garbage.WaitForClose(), asio::error::eof);
}

TEST(HttpServerTest, IdleClientIsClosedAfterReadTimeout) {
  HttpServerOptions options = LocalOptions();
  options.read_timeout = milliseconds(200);
  auto server = StartServer(options, [](HttpServer& s) { s.Handle("/x", Fixed("x")); });

  const auto start = Clock::now();
  TestClient silent(server->port());
  EXPECT_EQ(silent.WaitForClose(), asio::error::eof);
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(150));
  EXPECT_LT(elapsed, milliseconds(3000));
}

TEST(HttpServerTest, TricklingRequestIsClosedAfterReadTimeout) {
  HttpServerOptions options = LocalOptions();
  options.read_timeout = milliseconds(200);
  auto server = StartServer(options, [](HttpServer& s) { s.Handle("/x", Fixed("x")); });
  TestClient slow(server->port());

  const auto start = Clock::now();
  ASSERT_FALSE(slow.WriteRaw("GET /x HTTP/1.1\r\nHost: a\r\n"));  // header never finished
  EXPECT_EQ(slow.WaitForClose(), asio::error::eof);
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
}

TEST(HttpServerTest, StartOnPortInUseFailsNamingTheAddress) {
  auto first = StartServer(LocalOptions(), [](HttpServer&) {});
  HttpServerOptions options = LocalOptions();
  options.port = first->port();
  HttpServer second(options);

  const absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("127.0.0.1:" + std::to_string(first->port())));
  second.Stop();  // a failed Start leaves nothing to stop
}

TEST(HttpServerTest, StartRejectsInvalidOptions) {
  HttpServerOptions options = LocalOptions();
  options.threads = 0;
  HttpServer server(options);
  EXPECT_EQ(server.Start().code(), absl::StatusCode::kInvalidArgument);
  options = LocalOptions();
  options.max_connections = 0;
  HttpServer no_connections(options);
  const absl::Status status = no_connections.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("max_connections"));
}

TEST(HttpServerTest, ReportsBoundPortAndAddress) {
  auto server = StartServer(LocalOptions(), [](HttpServer&) {});
  EXPECT_EQ(server->address(), "127.0.0.1:" + std::to_string(server->port()));
}

TEST(HttpServerTest, StopWithOpenIdleConnectionsReturnsPromptly) {
  HttpServerOptions options = LocalOptions();
  options.read_timeout = milliseconds(60'000);  // Stop must not wait for it
  auto server = StartServer(options, [](HttpServer& s) { s.Handle("/x", Fixed("x")); });
  TestClient kept_alive(server->port());
  EXPECT_EQ(kept_alive.RoundTrip(MakeRequest(http::verb::get, "/x")).body(), "x");
  TestClient silent(server->port());

  const auto start = Clock::now();
  server->Stop();
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  EXPECT_EQ(kept_alive.WaitForClose(), asio::error::eof);
  // The silent connection may or may not have been accepted yet; either way it is closed.
  EXPECT_NE(silent.WaitForClose(), beast::error::timeout);
}

TEST(HttpServerTest, StopIsIdempotentAndServerIsNotRestartable) {
  auto server = StartServer(LocalOptions(), [](HttpServer& s) { s.Handle("/x", Fixed("x")); });
  const uint16_t port = server->port();
  server->Stop();
  server->Stop();
  EXPECT_EQ(server->Start().code(), absl::StatusCode::kFailedPrecondition);

  beast::error_code ec;
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_TRUE(ec) << "still accepting after Stop()";
}

TEST(HttpServerTest, DropsInvalidAndServerOwnedHandlerHeaders) {
  auto server = StartServer(LocalOptions(), [](HttpServer& s) {
    s.Handle("/h", [](const HttpRequest&) {
      HttpResponse response = TextResponse(200, "body");
      response.headers = {{"X-Injected", "a\r\nSet-Cookie: evil=1"},
                          {"Content-Length", "999"},
                          {"Bad Name", "v"},
                          {"X-Fine", "yes"}};
      return response;
    });
  });
  TestClient client(server->port());

  auto response = client.RoundTrip(MakeRequest(http::verb::get, "/h"));
  EXPECT_EQ(response.body(), "body");
  EXPECT_EQ(Header(response, "Content-Length"), "4");
  EXPECT_EQ(Header(response, "X-Fine"), "yes");
  EXPECT_EQ(response.count("X-Injected"), 0u);
  EXPECT_EQ(response.count("Set-Cookie"), 0u);
}

TEST(HttpServerTest, ServesConcurrentClientsOnSeveralThreads) {
  constexpr int kClients = 8;
  constexpr int kRequestsEach = 25;
  HttpServerOptions options = LocalOptions();
  options.threads = 2;
  std::atomic<int> calls{0};
  auto server = StartServer(options, [&](HttpServer& s) {
    s.Handle("/c", [&](const HttpRequest& request) {
      ++calls;
      return TextResponse(200, *SingleQueryValue(request.query, "i"));
    });
  });

  std::atomic<int> correct{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      TestClient client(server->port());
      for (int i = 0; i < kRequestsEach; ++i) {
        const std::string id = std::to_string(c) + "-" + std::to_string(i);
        if (client.RoundTrip(MakeRequest(http::verb::get, "/c?i=" + id)).body() == id) ++correct;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(correct.load(), kClients * kRequestsEach);
  EXPECT_EQ(calls.load(), kClients * kRequestsEach);
}

// A handler that blocks until Release(), so tests can hold connections busy.
class Gate {
 public:
  HttpHandler Handler() {
    return [this](const HttpRequest&) {
      std::unique_lock<std::mutex> lock(mu_);
      ++entered_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return open_; });
      return TextResponse(200, "slow");
    };
  }
  bool WaitEntered(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kClientDeadline, [&] { return entered_ >= n; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool open_ = false;
};

// Polls `condition` until it holds or the client deadline passes.
bool Eventually(const std::function<bool()>& condition) {
  const auto deadline = Clock::now() + kClientDeadline;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

TEST(HttpServerTest, RefusesConnectionsBeyondMaxConnectionsAndServesAgainAfterOthersClose) {
  HttpServerOptions options = LocalOptions();
  options.max_connections = 2;
  options.handler_threads = 2;
  std::atomic<int> refused{0};
  options.on_connection_refused = [&] { ++refused; };
  Gate gate;
  auto server = StartServer(options, [&](HttpServer& s) {
    s.Handle("/slow", gate.Handler());
    s.Handle("/x", Fixed("x"));
  });
  auto first = std::make_unique<TestClient>(server->port());
  TestClient second(server->port());
  ASSERT_FALSE(first->Write(MakeRequest(http::verb::get, "/slow")));
  ASSERT_FALSE(second.Write(MakeRequest(http::verb::get, "/slow")));
  ASSERT_TRUE(gate.WaitEntered(2));
  EXPECT_EQ(server->open_connections(), 2u);

  TestClient extra(server->port());
  EXPECT_NE(extra.WaitForClose(), beast::error::timeout) << "a third connection was kept open";
  EXPECT_TRUE(Eventually([&] { return refused.load() == 1; }));
  EXPECT_EQ(server->open_connections(), 2u);

  gate.Release();
  http::response<http::string_body> response;
  ASSERT_FALSE(first->Read(&response));
  EXPECT_EQ(response.body(), "slow");
  ASSERT_FALSE(second.Read(&response));
  first.reset();  // frees a place
  ASSERT_TRUE(Eventually([&] { return server->open_connections() < 2; }));
  TestClient later(server->port());
  EXPECT_EQ(later.RoundTrip(MakeRequest(http::verb::get, "/x")).body(), "x");
  EXPECT_EQ(refused.load(), 1);
}

TEST(HttpServerTest, ClosesTheLongestIdleConnectionBeyondMaxIdleConnections) {
  HttpServerOptions options = LocalOptions();
  options.max_idle_connections = 2;
  options.read_timeout = milliseconds(60'000);  // only the idle cap may close them
  std::atomic<int> evicted{0};
  options.on_idle_connection_closed = [&] { ++evicted; };
  auto server = StartServer(options, [](HttpServer& s) { s.Handle("/x", Fixed("x")); });

  TestClient oldest(server->port());
  EXPECT_EQ(oldest.RoundTrip(MakeRequest(http::verb::get, "/x")).body(), "x");  // kept alive
  ASSERT_TRUE(Eventually([&] { return server->idle_connections() == 1; }));
  TestClient silent(server->port());  // idle from the start, like an attacker's
  ASSERT_TRUE(Eventually([&] { return server->idle_connections() == 2; }));
  EXPECT_EQ(evicted.load(), 0);

  TestClient newest(server->port());
  EXPECT_EQ(oldest.WaitForClose(), asio::error::eof);
  EXPECT_TRUE(Eventually([&] { return evicted.load() == 1; }));
  EXPECT_EQ(newest.RoundTrip(MakeRequest(http::verb::get, "/x")).body(), "x");
  EXPECT_EQ(silent.RoundTrip(MakeRequest(http::verb::get, "/x")).body(), "x");
}

TEST(HttpServerTest, IoThreadHandlerAnswersWhileSlowHandlersOccupyTheWorkers) {
  HttpServerOptions options = LocalOptions();
  options.threads = 1;
  options.handler_threads = 1;
  Gate gate;
  auto server = StartServer(options, [&](HttpServer& s) {
    s.Handle("/slow", gate.Handler());
    s.HandleOnIoThread("/healthz", Fixed("ok"));
  });
  // One slow request holds the only worker, more wait in its queue.
  std::vector<std::unique_ptr<TestClient>> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(std::make_unique<TestClient>(server->port()));
    ASSERT_FALSE(slow.back()->Write(MakeRequest(http::verb::get, "/slow")));
  }
  ASSERT_TRUE(gate.WaitEntered(1));

  TestClient probe(server->port());
  const auto start = Clock::now();
  EXPECT_EQ(probe.RoundTrip(MakeRequest(http::verb::get, "/healthz")).body(), "ok");
  EXPECT_LT(Clock::now() - start, milliseconds(1000));

  gate.Release();
  for (auto& client : slow) {
    http::response<http::string_body> response;
    ASSERT_FALSE(client->Read(&response));
    EXPECT_EQ(response.body(), "slow");
  }
}

TEST(HttpServerTest, StopFinishesAResponseAHandlerIsComputing) {
  HttpServerOptions options = LocalOptions();
  Gate gate;
  auto server = StartServer(options, [&](HttpServer& s) { s.Handle("/slow", gate.Handler()); });
  TestClient client(server->port());
  ASSERT_FALSE(client.Write(MakeRequest(http::verb::get, "/slow")));
  ASSERT_TRUE(gate.WaitEntered(1));
  std::thread stopper([&] { server->Stop(); });
  std::this_thread::sleep_for(milliseconds(50));
  gate.Release();
  stopper.join();
  http::response<http::string_body> response;
  ASSERT_FALSE(client.Read(&response));
  EXPECT_EQ(response.body(), "slow");
}

}  // namespace
}  // namespace fleetrate::server
