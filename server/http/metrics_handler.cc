#include "server/http/metrics_handler.h"

#include <iterator>
#include <utility>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace fleetrate::server {
namespace {

HttpResponse Render(const std::vector<prometheus::MetricFamily>& families) {
  HttpResponse response;
  response.content_type = kPrometheusTextContentType;
  response.body = prometheus::TextSerializer().Serialize(families);
  // A scrape must never be served from a cache.
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

}  // namespace

HttpHandler MetricsHandler(std::shared_ptr<prometheus::Registry> registry) {
  return [registry = std::move(registry)](const HttpRequest&) {
    return Render(registry != nullptr ? registry->Collect()
                                      : std::vector<prometheus::MetricFamily>());
  };
}

HttpHandler MetricsHandler(std::vector<std::weak_ptr<prometheus::Collectable>> collectables) {
  return [collectables = std::move(collectables)](const HttpRequest&) {
    std::vector<prometheus::MetricFamily> families;
    for (const std::weak_ptr<prometheus::Collectable>& weak : collectables) {
      const std::shared_ptr<prometheus::Collectable> collectable = weak.lock();
      if (collectable == nullptr) continue;
      std::vector<prometheus::MetricFamily> collected = collectable->Collect();
      families.insert(families.end(), std::make_move_iterator(collected.begin()),
                      std::make_move_iterator(collected.end()));
    }
    return Render(families);
  };
}

}  // namespace fleetrate::server
