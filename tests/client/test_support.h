// Helpers shared by the client tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include "fleetrate/client.h"
#include "fleetrate/sampler.h"

namespace fleetrate::testing {

// A root span of `op` whose trace id carries `randomness` in its 7 rightmost bytes.
inline SamplingParameters Root(std::string_view op, uint64_t randomness) {
  SamplingParameters params;
  params.operation = op;
  for (size_t i = 15; i >= 9; --i, randomness >>= 8) {
    params.trace_id[i] = static_cast<uint8_t>(randomness & 0xff);
  }
  return params;
}

// Options for a client of service "checkout" that syncs every 50-200 ms; tests override the
// rest (backoff, initial probability, batcher) as they need.
inline ClientOptions FastSyncOptions(const std::string& address) {
  ClientOptions options;
  options.server_address = address;
  options.service = "checkout";
  options.initial_sync_interval = std::chrono::milliseconds(50);
  options.min_sync_interval = std::chrono::milliseconds(50);
  options.max_sync_interval = std::chrono::milliseconds(200);
  return options;
}

// Polls `pred` until it holds or `timeout` passes: waits for a condition, never for a time.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace fleetrate::testing
