#pragma once

// MetricsHandler: serves a prometheus-cpp registry (or any Collectables) in the Prometheus
// text exposition format 0.0.4 — what `/metrics` answers to a Prometheus scrape.
//
//   auto registry = std::make_shared<prometheus::Registry>();
//   http.Handle("/metrics", MetricsHandler(registry));
//
// The handler collects on every request, on the HTTP server's threads; prometheus-cpp's
// Registry and metric families are thread-safe, so the application may update metrics
// concurrently. Note that prometheus-cpp 1.0 emits names exactly as registered: a counter
// family named "fleetrate_syncs_total" is exposed as such, "fleetrate_syncs" would get no
// "_total" suffix (tests/server/http/metrics_handler_test.cc pins this).

#include <memory>
#include <vector>

#include "server/http/http_server.h"

namespace prometheus {
class Collectable;
class Registry;
}  // namespace prometheus

namespace fleetrate::server {

inline constexpr char kPrometheusTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Serves `registry`; the handler shares ownership of it.
[[nodiscard]] HttpHandler MetricsHandler(std::shared_ptr<prometheus::Registry> registry);

// Serves every collectable still alive, in order; expired ones are skipped. Lets components
// that own their metrics outlive or predate the HTTP server without keeping each other alive.
[[nodiscard]] HttpHandler MetricsHandler(
    std::vector<std::weak_ptr<prometheus::Collectable>> collectables);

}  // namespace fleetrate::server
