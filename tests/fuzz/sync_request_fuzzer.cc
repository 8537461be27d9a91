// Fuzz target: a Sync request's bytes through what the server does with them — protobuf
// parsing (the server's bytes-for-strings reading), boundary validation with UTF-8, the store's
// aggregation and the rate engine.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fleetrate/wire/v1/sync_request.pb.h"
#include "server/policy/policy.h"
#include "server/rates/aggregator.h"
#include "server/rates/rate_engine.h"
#include "server/service/sampling_service.h"

namespace {

using namespace fleetrate::server;  // NOLINT: a fuzz target's one function

const std::shared_ptr<const Policies>& TestPolicies() {
  static const auto* policies = new std::shared_ptr<const Policies>(std::make_shared<Policies>(
      *ParsePolicies("defaults:\n  target_traces_per_second: 2\nbudget_traces_per_second: 50\n"
                     "rules:\n  - name: health\n    operation: 'GET /health*'\n"
                     "    probability: 0\n")));
  return *policies;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fleetrate::wire::v1::SyncRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  SyncLimits limits;
  limits.max_operations = 64;  // keep each input cheap; the logic is the same
  if (!ValidateSyncRequest(request, limits).ok()) return 0;
  ClientReport report;
  CopyToReport(request, &report);
  AggregatorLimits aggregator_limits;
  aggregator_limits.max_operations_per_service = 8;  // the overflow paths too
  Aggregator aggregator(aggregator_limits);
  const Timestamp now{std::chrono::hours(1)};
  (void)aggregator.Report(report, std::chrono::seconds(10), now);
  report.instance_id += "-2";
  (void)aggregator.Report(report, std::chrono::seconds(10), now);
  const FleetEstimate estimate = aggregator.Estimate(now + std::chrono::seconds(1));
  const RateTables first = ComputeRates(TestPolicies(), estimate, nullptr, 1);
  (void)ComputeRates(TestPolicies(), estimate, &first, 2);
  return 0;
}
