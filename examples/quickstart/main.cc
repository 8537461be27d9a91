// quickstart: one fleetrate::Client, a few thousand root spans, and what was kept.
//   quickstart [SERVER_ADDRESS] [SECONDS]
#include <fleetrate/client.h>
#include <fleetrate/threshold.h>

#include <chrono>
#include <iostream>
#include <random>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  fleetrate::ClientOptions options;
  options.server_address = argc > 1 ? argv[1] : "localhost:8081";
  options.service = "quickstart";
  options.environment = "dev";
  auto client = fleetrate::Client::Create(options);
  if (!client.ok()) {
    std::cerr << "bad options: " << client.status() << "\n";
    return 2;
  }
  const int seconds = argc > 2 ? std::stoi(argv[2]) : 3;

  std::mt19937_64 random(42);
  uint64_t seen = 0;
  uint64_t kept = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 100; ++i) {
      fleetrate::SamplingParameters params;
      params.operation = "GET /hello";  // the root span's name
      for (auto& byte : params.trace_id) byte = static_cast<uint8_t>(random());
      const fleetrate::SamplingResult result = (*client)->sampler().ShouldSample(params);
      ++seen;
      if (result.decision == fleetrate::Decision::kRecordAndSample) {
        ++kept;  // a real tracer would now record the span and put
                 // "ot=th:" + fleetrate::EncodeThreshold(result.threshold) into tracestate
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (*client)->Shutdown();
  const fleetrate::ClientStats stats = (*client)->stats();
  std::cout << "roots seen " << seen << ", kept " << kept << ", syncs ok " << stats.syncs_ok
            << ", failed " << stats.syncs_failed << ", table version " << stats.table_version
            << "\n";
  return 0;
}
