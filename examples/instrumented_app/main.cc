// instrumented_app: a toy HTTP-ish service traced with fleetrate. Each request is a root span
// ("GET /cart" or "POST /checkout") with a child span ("db.query"); some fail, some are slow.
// The sampler decides per trace, the batcher ships finished spans to a JSON-lines file (or an
// OTLP/gRPC collector), and edge capture exports failed or slow spans of unsampled traces
// when the server's capture policy allows.
//
//   instrumented_app [SERVER_ADDRESS] [SECONDS] [OUTPUT.jsonl | otlp://HOST:PORT]
#include <fleetrate/client.h>
#include <fleetrate/json_lines_exporter.h>
#include <fleetrate/otlp_grpc_exporter.h>

#include <array>
#include <chrono>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>

namespace {

int64_t NowUnixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <size_t N>
std::array<uint8_t, N> RandomBytes(std::mt19937_64& random) {
  std::array<uint8_t, N> out{};
  for (auto& b : out) b = static_cast<uint8_t>(random());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string server = argc > 1 ? argv[1] : "localhost:8081";
  const int seconds = argc > 2 ? std::stoi(argv[2]) : 3;
  const std::string output = argc > 3 ? argv[3] : "spans.jsonl";

  std::ofstream file;
  std::unique_ptr<fleetrate::Exporter> exporter;
  if (output.rfind("otlp://", 0) == 0) {
    fleetrate::OtlpGrpcExporterOptions otlp;
    otlp.endpoint = output.substr(7);
    otlp.service_name = "instrumented-app";
    exporter = std::make_unique<fleetrate::OtlpGrpcExporter>(std::move(otlp));
  } else {
    file.open(output, std::ios::trunc);
    exporter = std::make_unique<fleetrate::JsonLinesExporter>(file);
  }

  fleetrate::ClientOptions options;
  options.server_address = server;
  options.service = "instrumented-app";
  options.batcher.profile = fleetrate::LowLatencyProfile();  // until the server sends one
  auto client = fleetrate::Client::Create(options, std::move(exporter));
  if (!client.ok()) {
    std::cerr << "bad options: " << client.status() << "\n";
    return 2;
  }
  fleetrate::Sampler& sampler = (*client)->sampler();
  fleetrate::Batcher& batcher = *(*client)->batcher();
  // Hot call sites resolve their operation once.
  const fleetrate::OperationHandle cart = sampler.Handle("GET /cart");
  const fleetrate::OperationHandle checkout = sampler.Handle("POST /checkout");

  std::mt19937_64 random(7);
  uint64_t requests = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    ++requests;
    const bool is_checkout = random() % 4 == 0;
    fleetrate::SamplingParameters params;
    params.trace_id = RandomBytes<16>(random);
    const fleetrate::SamplingResult decision =
        sampler.ShouldSample(is_checkout ? checkout : cart, params);
    if (decision.decision == fleetrate::Decision::kDrop) continue;  // not recorded at all

    // Recorded (sampled, or recorded-only for edge capture): build the spans.
    const std::string trace_state = "ot=" + fleetrate::UpdateOtTraceState("", decision);
    const bool sampled = decision.decision == fleetrate::Decision::kRecordAndSample;
    const bool failed = random() % 50 == 0;
    const int64_t start = NowUnixNanos();
    const int64_t db_ms = random() % 100 == 0 ? 1500 : 2;  // now and then a slow query

    fleetrate::SpanView root;
    root.trace_id = params.trace_id;
    root.span_id = RandomBytes<8>(random);
    root.trace_state = trace_state == "ot=" ? std::string_view() : trace_state;
    root.name = is_checkout ? "POST /checkout" : "GET /cart";
    root.kind = fleetrate::SpanKind::kServer;
    root.sampled = sampled;

    fleetrate::SpanView db = root;
    db.parent_span_id = root.span_id;
    db.span_id = RandomBytes<8>(random);
    db.name = "db.query";
    db.kind = fleetrate::SpanKind::kClient;
    db.start_unix_nanos = start;
    db.end_unix_nanos = start + db_ms * 1'000'000;  // simulated duration
    const fleetrate::AttributeView db_attributes[] = {{"db.system", "postgresql"}};
    db.attributes = db_attributes;
    db.attribute_count = 1;
    (void)batcher.Add(db);

    const fleetrate::AttributeView attributes[] = {
        {"http.request.method", is_checkout ? "POST" : "GET"},
        {"http.response.status_code", failed ? 500 : 200}};
    root.start_unix_nanos = start;
    root.end_unix_nanos = db.end_unix_nanos + 100'000;
    root.status = failed ? fleetrate::StatusCode::kError : fleetrate::StatusCode::kUnset;
    root.attributes = attributes;
    root.attribute_count = 2;
    (void)batcher.Add(root);  // never blocks; false means dropped (counted)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }

  (*client)->Shutdown();
  const fleetrate::ClientStats stats = (*client)->stats();
  std::cout << "requests " << requests << ", roots kept " << stats.sampler.roots_kept
            << ", spans exported " << stats.batcher.exported << ", captured errors "
            << stats.batcher.captured_errors << ", captured slow " << stats.batcher.captured_slow
            << ", dropped (queue full) " << stats.batcher.dropped_queue_full << ", syncs ok "
            << stats.syncs_ok << ", failed " << stats.syncs_failed << "\n";
  return 0;
}
