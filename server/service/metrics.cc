#include "server/service/metrics.h"

namespace fleetrate::server {
namespace {

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}

}  // namespace

ServerMetrics::ServerMetrics(std::shared_ptr<prometheus::Registry> registry)
    : live_clients(prometheus::BuildGauge()
                       .Name("fleetrate_live_clients")
                       .Help("Clients whose latest Sync has not expired")
                       .Register(*registry)
                       .Add({})),
      keys_tracked(prometheus::BuildGauge()
                       .Name("fleetrate_keys_tracked")
                       .Help("(service, operation) keys with a live traffic estimate")
                       .Register(*registry)
                       .Add({})),
      keys_overflowed(prometheus::BuildCounter()
                          .Name("fleetrate_keys_overflowed_total")
                          .Help("Reported operations folded into a service's '*' key by the "
                                "cardinality caps")
                          .Register(*registry)
                          .Add({})),
      recompute_duration(prometheus::BuildHistogram()
                             .Name("fleetrate_recompute_duration_seconds")
                             .Help("Time to compute the rate table from the fleet estimate")
                             .Register(*registry)
                             .Add({}, LatencyBuckets())),
      recomputes(prometheus::BuildCounter()
                     .Name("fleetrate_recomputes_total")
                     .Help("Rate table recomputations")
                     .Register(*registry)
                     .Add({})),
      registry_(std::move(registry)),
      sync_requests_(prometheus::BuildCounter()
                         .Name("fleetrate_sync_requests_total")
                         .Help("Sync calls by gRPC status code")
                         .Register(*registry_)),
      policy_loads_(prometheus::BuildCounter()
                        .Name("fleetrate_policy_loads_total")
                        .Help("Policy loads after startup (file reloads and SetPolicies) by result")
                        .Register(*registry_)),
      policy_last_load_ok_(prometheus::BuildGauge()
                               .Name("fleetrate_policy_last_load_success")
                               .Help("1 if the last policy load succeeded, 0 if it was rejected "
                                     "(the previous policies stay in force)")
                               .Register(*registry_)
                               .Add({})),
      sync_duration_(prometheus::BuildHistogram()
                         .Name("fleetrate_sync_duration_seconds")
                         .Help("Time to handle one Sync call")
                         .Register(*registry_)
                         .Add({}, LatencyBuckets())) {
  policy_last_load_ok_.Set(1);
  policy_loads_.Add({{"result", "success"}});
  policy_loads_.Add({{"result", "error"}});
  prometheus::BuildGauge()
      .Name("fleetrate_build_info")
      .Help("Always 1; the labels say which build is running")
      .Register(*registry_)
      .Add({{"version", FLEETRATE_VERSION}})
      .Set(1);
}

void ServerMetrics::RecordPolicyLoad(bool ok) {
  policy_loads_.Add({{"result", ok ? "success" : "error"}}).Increment();
  policy_last_load_ok_.Set(ok ? 1 : 0);
}

void ServerMetrics::RecordSync(const std::string& code, double seconds) {
  sync_requests_.Add({{"code", code}}).Increment();
  sync_duration_.Observe(seconds);
}

}  // namespace fleetrate::server
