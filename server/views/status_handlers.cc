#include "server/views/status_handlers.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "server/common/json_writer.h"
#include "server/service/metrics.h"
#include "server/views/debug_handlers.h"

namespace fleetrate::server {
namespace {

struct BusyOperation {
  const std::string* name;
  const KeyRate* rate;
};

void WriteOperations(JsonWriter& w, const ServiceRates& rates) {
  std::vector<BusyOperation> busy;
  busy.reserve(rates.operations.size());
  for (const auto& [operation, rate] : rates.operations) busy.push_back({&operation, &rate});
  const size_t shown = std::min(busy.size(), kStatusMaxOperations);
  std::partial_sort(busy.begin(), busy.begin() + static_cast<ptrdiff_t>(shown), busy.end(),
                    [](const BusyOperation& a, const BusyOperation& b) {
                      if (a.rate->fleet_seen_per_second != b.rate->fleet_seen_per_second) {
                        return a.rate->fleet_seen_per_second > b.rate->fleet_seen_per_second;
                      }
                      return *a.name < *b.name;
                    });
  busy.resize(shown);
  w.Key("operations_total");
  w.Uint(rates.operations.size());
  w.Key("operations");
  w.BeginArray();
  for (const BusyOperation& op : busy) {
    w.BeginObject();
    w.Key("operation");
    w.String(*op.name);
    w.Key("probability");
    w.Double(op.rate->probability);
    w.Key("seen_per_second");
    w.Double(op.rate->fleet_seen_per_second);
    w.Key("target_per_second");
    w.Double(ExpectedSampledPerSecond(*op.rate, rates.live_clients));
    w.Key("achieved_per_second");
    w.Double(op.rate->fleet_sampled_per_second);
    w.EndObject();
  }
  w.EndArray();
}

void WriteHistory(JsonWriter& w, const ServiceHistory* history, Timestamp now) {
  // Columns rather than objects: a service's ten minutes are 120 points of four numbers.
  const std::vector<StatusPoint> none;
  const std::vector<StatusPoint>& points = history != nullptr ? history->points : none;
  w.Key("history");
  w.BeginObject();
  w.Key("age_seconds");
  w.BeginArray();
  for (const StatusPoint& point : points) w.Double(std::max(0.0, Seconds(now - point.at)));
  w.EndArray();
  const std::pair<const char*, double StatusPoint::*> columns[] = {
      {"seen", &StatusPoint::seen},
      {"target", &StatusPoint::target},
      {"achieved", &StatusPoint::achieved}};
  for (const auto& [name, member] : columns) {
    w.Key(name);
    w.BeginArray();
    for (const StatusPoint& point : points) w.Double(point.*member);
    w.EndArray();
  }
  w.EndObject();
}

}  // namespace

HttpResponse StatusData(const RateTables* tables, const std::vector<ServiceHistory>& history,
                        Timestamp now, Duration resolution) {
  if (tables == nullptr) return TextResponse(503, "no rate table yet\n");
  // The busiest services, listed by name.
  std::vector<ScopeTraffic> services = BusiestScopes(*tables, kStatusMaxServices);
  std::sort(services.begin(), services.end(), [](const ScopeTraffic& a, const ScopeTraffic& b) {
    return a.rates->scope < b.rates->scope;
  });

  JsonWriter w;
  w.BeginObject();
  w.Key("resolution_seconds");
  w.Double(Seconds(resolution));
  w.Key("services_total");
  w.Uint(tables->scopes.size());
  w.Key("services");
  w.BeginArray();
  for (const ScopeTraffic& service : services) {
    const ServiceRates& rates = *service.rates;
    w.BeginObject();
    w.Key("service");
    w.String(rates.scope.service);
    w.Key("environment");
    w.String(rates.scope.environment);
    w.Key("version");
    w.Uint(rates.version);
    w.Key("live_clients");
    w.Uint(rates.live_clients);
    w.Key("seen_per_second");
    w.Double(service.traffic.seen);
    w.Key("target_per_second");
    w.Double(service.traffic.target);
    w.Key("achieved_per_second");
    w.Double(service.traffic.sampled);
    w.Key("default_probability");
    w.Double(rates.default_rate.probability);
    WriteOperations(w, rates);
    auto it = std::lower_bound(
        history.begin(), history.end(), rates.scope,
        [](const ServiceHistory& h, const Scope& scope) { return h.scope < scope; });
    WriteHistory(w, it != history.end() && it->scope == rates.scope ? &*it : nullptr, now);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return JsonResponse(w.Take());
}

void RegisterStatusHandlers(HttpServer& http, const RatePublisher& publisher,
                            const StatusHistory& history, const Clock& clock) {
  http.Handle("/ui", [](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "text/html; charset=utf-8";
    response.body = std::string(StatusPageHtml());
    response.headers.emplace_back("Cache-Control", "no-cache");
    return response;
  });
  http.Handle("/ui/data", [&publisher, &history, &clock](const HttpRequest&) {
    const std::shared_ptr<const RateTables> tables = publisher.Current();
    return StatusData(tables.get(), history.Snapshot(), clock.Now(), history.options().resolution);
  });
}

}  // namespace fleetrate::server
