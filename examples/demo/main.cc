// fleetrate-demo: a small fleet in one process, for watching adaptive rates settle on their
// targets (`scripts/run --demo`, README "See it work").
//
// Three services, each with its own fleetrate::Client (its own service name, Sync and rates):
//
//   frontend  GET /, GET /product, POST /checkout   roots of every user request
//     └─ cart  GET /cart/summary, POST /cart/items, POST /cart/checkout
//          └─ payments  GET /payments/methods, POST /payments/quote, POST /payments/charge
//   cart      cart.expire-sessions                  its own background roots
//   payments  POST /payments/webhook                its own roots (the provider calls back)
//
// The calls are in-process but pass what crosses the wire between real services: the trace
// id, the parent span id, the sampled flag and the `ot` tracestate entry. Cart and payments
// decide their part of a frontend trace parent-based (ParentState::kRemoteSampled or
// kRemoteNotSampled), so a kept trace is kept whole. Root traffic steps between --low-rps and
// --high-rps every --step-s seconds (cart's and payments' own roots at 10 % of the level);
// recorded spans go to --spans as JSON lines through the library's JsonLinesExporter, each
// with a `service.name` attribute. Every --summary-s seconds a line on stderr says what each
// service saw and kept.
//
//   fleetrate-demo [--server HOST:PORT] [--spans FILE] [--step-s N] [--low-rps N]
//                  [--high-rps N] [--duration-s N] [--summary-s N]
//
// Stops after --duration-s (0: until SIGINT or SIGTERM), then shuts the clients down, which
// exports every span they accepted and reports the last counts.
#include <fleetrate/client.h>
#include <fleetrate/json_lines_exporter.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

struct Flags {
  std::string server = "127.0.0.1:8081";
  std::string spans = "fleetrate-demo-spans.jsonl";
  double step_s = 30;
  double low_rps = 200;
  double high_rps = 1000;
  double duration_s = 0;
  double summary_s = 5;
};

void Usage() {
  std::cout << "usage: fleetrate-demo [FLAGS]\n"
               "  --server HOST:PORT  fleetrate-server's gRPC address (127.0.0.1:8081)\n"
               "  --spans FILE        where spans go, as JSON lines (fleetrate-demo-spans.jsonl)\n"
               "  --step-s N          seconds between traffic steps (30)\n"
               "  --low-rps N         frontend requests/s on the low step (200)\n"
               "  --high-rps N        frontend requests/s on the high step (1000)\n"
               "  --duration-s N      stop after N seconds; 0: at SIGINT or SIGTERM (0)\n"
               "  --summary-s N       seconds between summary lines on stderr (5)\n";
}

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      Usage();
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::cerr << "fleetrate-demo: " << arg << " needs a value\n";
      return false;
    }
    const std::string value = argv[++i];
    if (arg == "--server") {
      flags.server = value;
      continue;
    }
    if (arg == "--spans") {
      flags.spans = value;
      continue;
    }
    char* end = nullptr;
    const double number = std::strtod(value.c_str(), &end);
    const bool valid = end != value.c_str() && *end == '\0' && number >= 0;
    double* target = arg == "--step-s"       ? &flags.step_s
                     : arg == "--low-rps"    ? &flags.low_rps
                     : arg == "--high-rps"   ? &flags.high_rps
                     : arg == "--duration-s" ? &flags.duration_s
                     : arg == "--summary-s"  ? &flags.summary_s
                                             : nullptr;
    if (target == nullptr) {
      std::cerr << "fleetrate-demo: unknown flag " << arg << "\n";
      return false;
    }
    if (!valid) {
      std::cerr << "fleetrate-demo: " << arg << " wants a number >= 0, got \"" << value << "\"\n";
      return false;
    }
    *target = number;
  }
  if (flags.step_s <= 0 || flags.summary_s <= 0) {
    std::cerr << "fleetrate-demo: --step-s and --summary-s must be > 0\n";
    return false;
  }
  return true;
}

int64_t NowUnixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The three clients' batchers export from their own threads into one file: one
// JsonLinesExporter behind a mutex keeps lines whole.
class SharedFile {
 public:
  explicit SharedFile(const std::string& path) : file_(path, std::ios::trunc), lines_(file_) {}
  [[nodiscard]] bool ok() const { return file_.good(); }
  fleetrate::ExportResult Export(const fleetrate::SpanBatch& batch, Clock::time_point deadline) {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_.Export(batch, deadline);
  }

 private:
  std::mutex mu_;
  std::ofstream file_;                  // guarded by mu_
  fleetrate::JsonLinesExporter lines_;  // guarded by mu_
};

class SharedFileExporter final : public fleetrate::Exporter {
 public:
  explicit SharedFileExporter(std::shared_ptr<SharedFile> file) : file_(std::move(file)) {}
  [[nodiscard]] fleetrate::ExportResult Export(const fleetrate::SpanBatch& batch,
                                               Clock::time_point deadline) noexcept override {
    return file_->Export(batch, deadline);
  }

 private:
  std::shared_ptr<SharedFile> file_;
};

// What one service passes to the next with a call (traceparent + tracestate).
struct TraceContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};  // the caller's span: the callee's parent
  bool sampled = false;
  std::string ot;  // the `ot` tracestate entry's value, e.g. "th:fd70a4"
};

class Service {
 public:
  Service(std::string name, std::unique_ptr<fleetrate::Client> client)
      : name_(std::move(name)), client_(std::move(client)) {}

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] fleetrate::Client& client() { return *client_; }

  // Handles one request: decides (as a root without `parent`, else parent-based), lets
  // `downstream` make its calls with this span as their parent, and records the span if the
  // trace is recorded. Returns when the simulated request ends.
  template <typename Downstream>
  int64_t Handle(std::string_view operation, const TraceContext* parent, int64_t start_nanos,
                 int64_t own_nanos, std::mt19937_64& random, Downstream&& downstream) {
    fleetrate::SamplingParameters params;
    params.operation = operation;
    if (parent != nullptr) {
      params.trace_id = parent->trace_id;
      params.parent = parent->sampled ? fleetrate::ParentState::kRemoteSampled
                                      : fleetrate::ParentState::kRemoteNotSampled;
      params.ot_tracestate = parent->ot;
    } else {
      for (auto& b : params.trace_id) b = static_cast<uint8_t>(random());
    }
    const fleetrate::SamplingResult result = client_->sampler().ShouldSample(params);
    const bool recorded = result.decision != fleetrate::Decision::kDrop;

    TraceContext context;
    context.trace_id = params.trace_id;
    for (auto& b : context.span_id) b = static_cast<uint8_t>(random());
    context.sampled = result.decision == fleetrate::Decision::kRecordAndSample;
    // The tracestate is only worth building for recorded traces (it allocates).
    if (recorded) context.ot = fleetrate::UpdateOtTraceState(params.ot_tracestate, result);
    const int64_t end_nanos = downstream(context, start_nanos + own_nanos / 2) + own_nanos / 2;
    if (!recorded) return end_nanos;

    const std::string trace_state = context.ot.empty() ? std::string() : "ot=" + context.ot;
    const fleetrate::AttributeView attributes[] = {{"service.name", name_}};
    fleetrate::SpanView span;
    span.trace_id = context.trace_id;
    span.span_id = context.span_id;
    if (parent != nullptr) span.parent_span_id = parent->span_id;
    span.trace_state = trace_state;
    span.name = operation;
    span.kind = fleetrate::SpanKind::kServer;
    span.start_unix_nanos = start_nanos;
    span.end_unix_nanos = end_nanos;
    span.sampled = context.sampled;
    span.attributes = attributes;
    span.attribute_count = 1;
    (void)client_->batcher()->Add(span);  // never blocks; a full queue counts a drop
    return end_nanos;
  }

 private:
  const std::string name_;
  const std::unique_ptr<fleetrate::Client> client_;
};

// The call chain of a frontend request: its operation, and what it calls in cart and payments.
struct Route {
  const char* frontend;
  const char* cart;
  const char* payments;
  double share;  // of frontend requests
};
constexpr Route kRoutes[] = {
    {"GET /", "GET /cart/summary", "GET /payments/methods", 0.50},
    {"GET /product", "POST /cart/items", "POST /payments/quote", 0.35},
    {"POST /checkout", "POST /cart/checkout", "POST /payments/charge", 0.15},
};
constexpr double kOwnRootShare = 0.10;  // cart's and payments' own roots, of the level

constexpr int64_t kMillis = 1'000'000;

struct Fleet {
  Service* frontend;
  Service* cart;
  Service* payments;
};

void FrontendRequest(const Fleet& fleet, std::mt19937_64& random) {
  const double pick = std::uniform_real_distribution<double>(0, 1)(random);
  const Route* route = &kRoutes[0];
  double sum = 0;
  for (const Route& r : kRoutes) {
    sum += r.share;
    route = &r;
    if (pick < sum) break;
  }
  const int64_t start = NowUnixNanos();
  fleet.frontend->Handle(
      route->frontend, nullptr, start, 4 * kMillis, random,
      [&](const TraceContext& to_cart, int64_t cart_start) {
        return fleet.cart->Handle(
            route->cart, &to_cart, cart_start, 3 * kMillis, random,
            [&](const TraceContext& to_payments, int64_t payments_start) {
              return fleet.payments->Handle(
                  route->payments, &to_payments, payments_start, 5 * kMillis, random,
                  [](const TraceContext&, int64_t leaf_start) { return leaf_start; });
            });
      });
}

void OwnRoot(Service& service, const char* operation, std::mt19937_64& random) {
  service.Handle(operation, nullptr, NowUnixNanos(), 2 * kMillis, random,
                 [](const TraceContext&, int64_t leaf_start) { return leaf_start; });
}

// Per-service counts between two summary lines.
struct Totals {
  uint64_t seen = 0;
  uint64_t kept = 0;
};

Totals TotalsOf(const fleetrate::ClientStats& stats) {
  return {stats.sampler.roots_kept + stats.sampler.roots_dropped, stats.sampler.roots_kept};
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    std::cerr << "usage: fleetrate-demo --help\n";
    return 2;
  }
  auto file = std::make_shared<SharedFile>(flags.spans);
  if (!file->ok()) {
    std::cerr << "fleetrate-demo: cannot write --spans " << flags.spans << "\n";
    return 1;
  }

  std::vector<std::unique_ptr<Service>> services;
  for (const char* name : {"frontend", "cart", "payments"}) {
    fleetrate::ClientOptions options;
    options.server_address = flags.server;
    options.service = name;
    options.environment = "demo";
    options.initial_sync_interval = std::chrono::seconds(2);
    options.batcher.profile = fleetrate::LowLatencyProfile();  // until the server sends one
    auto client = fleetrate::Client::Create(options, std::make_unique<SharedFileExporter>(file));
    if (!client.ok()) {
      std::cerr << "fleetrate-demo: " << client.status() << "\n";
      return 2;
    }
    services.push_back(std::make_unique<Service>(name, *std::move(client)));
  }
  const Fleet fleet{services[0].get(), services[1].get(), services[2].get()};

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::cerr << "fleetrate-demo: frontend -> cart -> payments syncing with " << flags.server
            << ", roots stepping " << flags.low_rps << " <-> " << flags.high_rps << "/s every "
            << flags.step_s << " s, spans to " << flags.spans << "\n";

  std::mt19937_64 random(std::random_device{}());
  const Clock::time_point started = Clock::now();
  Clock::time_point last_tick = started;
  Clock::time_point next_summary = started + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(flags.summary_s));
  std::vector<Totals> last(services.size());
  double due_frontend = 0;
  double due_own = 0;
  while (!g_stop.load()) {
    const Clock::time_point now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - started).count();
    if (flags.duration_s > 0 && elapsed >= flags.duration_s) break;
    const bool high = static_cast<int64_t>(elapsed / flags.step_s) % 2 == 1;
    const double level = high ? flags.high_rps : flags.low_rps;
    const double dt = std::chrono::duration<double>(now - last_tick).count();
    last_tick = now;
    due_frontend += level * dt;
    due_own += level * kOwnRootShare * dt;
    for (; due_frontend >= 1; due_frontend -= 1) FrontendRequest(fleet, random);
    for (; due_own >= 1; due_own -= 1) {
      OwnRoot(*fleet.cart, "cart.expire-sessions", random);
      OwnRoot(*fleet.payments, "POST /payments/webhook", random);
    }

    if (now >= next_summary) {
      const double window = flags.summary_s;
      next_summary += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(flags.summary_s));
      char line[512];
      int used =
          std::snprintf(line, sizeof line, "[demo %4.0fs] level %5.0f roots/s |", elapsed, level);
      uint64_t exported = 0;
      uint64_t dropped = 0;
      uint64_t syncs_failed = 0;
      for (size_t i = 0; i < services.size(); ++i) {
        const fleetrate::ClientStats stats = services[i]->client().stats();
        const Totals totals = TotalsOf(stats);
        used += std::snprintf(line + used, sizeof line - static_cast<size_t>(used),
                              " %s kept %5.1f of %6.1f/s |", services[i]->name().c_str(),
                              static_cast<double>(totals.kept - last[i].kept) / window,
                              static_cast<double>(totals.seen - last[i].seen) / window);
        last[i] = totals;
        exported += stats.batcher.exported;
        dropped += stats.batcher.dropped_queue_full + stats.batcher.dropped_export_failed +
                   stats.batcher.dropped_export_timeout;
        syncs_failed += stats.syncs_failed;
      }
      std::snprintf(line + used, sizeof line - static_cast<size_t>(used),
                    " spans exported %llu, dropped %llu, failed syncs %llu",
                    static_cast<unsigned long long>(exported),
                    static_cast<unsigned long long>(dropped),
                    static_cast<unsigned long long>(syncs_failed));
      std::cerr << line << std::endl;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  // Every span is added by now; Shutdown exports them and sends the last counts.
  uint64_t exported = 0;
  for (auto& service : services) {
    service->client().Shutdown();
    exported += service->client().stats().batcher.exported;
  }
  std::cerr << "fleetrate-demo: stopped; " << exported << " spans in " << flags.spans << "\n";
  return 0;
}
