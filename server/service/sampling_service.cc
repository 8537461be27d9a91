#include "server/service/sampling_service.h"

#include <chrono>
#include <string>
#include <unordered_set>

#include "absl/status/status.h"
#include "server/common/strings.h"

namespace fleetrate::server {
namespace {

grpc::Status Invalid(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

// A required or optional string field with a byte limit.
grpc::Status CheckString(std::string_view field, const std::string& value, size_t max_bytes,
                         bool required) {
  if (required && value.empty()) return Invalid(StrCat(field, ": required, got empty"));
  if (value.size() > max_bytes) {
    return Invalid(StrCat(field, ": at most ", max_bytes, " bytes, got ", value.size()));
  }
  return grpc::Status::OK;
}

void FillRate(const KeyRate& rate, double share, v1::OperationRate* out) {
  out->set_probability(rate.probability);
  out->set_threshold(rate.threshold);
  out->set_local_cap_per_second(rate.local_cap_per_second * share);
  out->set_lower_bound_per_second(rate.lower_bound_per_second * share);
}

double ShareOf(const ServiceRates& rates, const std::string& operation,
               const std::string& instance_id) {
  auto op = rates.client_share.find(operation);
  if (op == rates.client_share.end()) return 0;
  auto client = op->second.find(instance_id);
  return client == op->second.end() ? 0 : client->second;
}

}  // namespace

grpc::Status ValidateSyncRequest(const v1::SyncRequest& request, const SyncLimits& limits) {
  const v1::ClientIdentity& client = request.client();
  if (auto s = CheckString("client.instance_id", client.instance_id(), limits.max_instance_id_bytes,
                           true);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckString("client.service", client.service(), limits.max_service_bytes, true);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckString("client.environment", client.environment(), limits.max_environment_bytes,
                           false);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckString("client.library_version", client.library_version(),
                           limits.max_library_version_bytes, false);
      !s.ok()) {
    return s;
  }
  if (request.interval_ms() < 0) {
    return Invalid(StrCat("interval_ms: must be >= 0, got ", request.interval_ms()));
  }
  if (request.interval_ms() > limits.max_interval_ms) {
    return Invalid(
        StrCat("interval_ms: at most ", limits.max_interval_ms, ", got ", request.interval_ms()));
  }
  if (request.operations_size() == 0) return grpc::Status::OK;
  if (request.interval_ms() == 0) {
    return Invalid("interval_ms: must be > 0 when operations are reported, got 0");
  }
  if (static_cast<size_t>(request.operations_size()) > limits.max_operations) {
    return Invalid(StrCat("operations: at most ", limits.max_operations, " entries, got ",
                          request.operations_size()));
  }
  std::unordered_set<std::string_view> seen;
  for (int i = 0; i < request.operations_size(); ++i) {
    const v1::OperationCounts& op = request.operations(i);
    const std::string field = StrCat("operations[", i, "]");
    if (auto s = CheckString(StrCat(field, ".operation"), op.operation(),
                             limits.max_operation_bytes, true);
        !s.ok()) {
      return s;
    }
    if (!seen.insert(op.operation()).second) {
      return Invalid(StrCat(field, ".operation: duplicate '", op.operation(), "'"));
    }
    if (op.roots_sampled() > op.roots_seen()) {
      return Invalid(StrCat(field, ".roots_sampled: must be <= roots_seen (", op.roots_seen(),
                            "), got ", op.roots_sampled()));
    }
  }
  return grpc::Status::OK;
}

SamplingServiceImpl::SamplingServiceImpl(Store& store, RatePublisher& publisher,
                                         ServerMetrics& metrics, const Clock& clock,
                                         SyncLimits limits)
    : store_(store), publisher_(publisher), metrics_(metrics), clock_(clock), limits_(limits) {}

grpc::Status SamplingServiceImpl::Sync(grpc::ServerContext* /*context*/,
                                       const v1::SyncRequest* request, v1::SyncResponse* response) {
  const auto started = std::chrono::steady_clock::now();
  grpc::Status status = HandleSync(*request, response);
  metrics_.RecordSync(
      absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return status;
}

grpc::Status SamplingServiceImpl::HandleSync(const v1::SyncRequest& request,
                                             v1::SyncResponse* response) {
  if (auto status = ValidateSyncRequest(request, limits_); !status.ok()) return status;

  const std::shared_ptr<const Policies> policies = publisher_.policies();
  const auto sync_interval = std::chrono::duration_cast<Duration>(
      std::chrono::duration<double>(policies->sync_interval_seconds));

  ClientReport report;
  report.service = request.client().service();
  report.instance_id = request.client().instance_id();
  report.interval = std::chrono::milliseconds(request.interval_ms());
  report.operations.reserve(static_cast<size_t>(request.operations_size()));
  for (const v1::OperationCounts& op : request.operations()) {
    report.operations.push_back({op.operation(), op.roots_seen(), op.roots_sampled()});
  }
  store_.Report(report, sync_interval, clock_.Now());

  response->set_next_sync_interval_ms(
      static_cast<uint32_t>(policies->sync_interval_seconds * 1000));

  const std::shared_ptr<const RateTables> tables = publisher_.Current();
  const ServiceRates* found = tables ? tables->Find(report.service) : nullptr;
  // A service nobody has reported traffic for yet gets the policy's rates, unversioned (0), so
  // the client asks again and picks up the first computed table.
  const ServiceRates fallback = found ? ServiceRates{} : PolicyOnlyRates(*policies, report.service);
  const ServiceRates& rates = found ? *found : fallback;

  response->set_table_version(rates.version);
  if (rates.version != 0 && request.table_version() == rates.version) {
    response->set_not_modified(true);
    return grpc::Status::OK;
  }
  for (const auto& [operation, rate] : rates.operations) {
    v1::OperationRate* out = response->add_rates();
    out->set_operation(operation);
    FillRate(rate, ShareOf(rates, operation, report.instance_id), out);
  }
  // Unknown operations have no traffic share yet: split the lower bound evenly.
  const double even_share = 1.0 / static_cast<double>(std::max<size_t>(1, rates.live_clients));
  FillRate(rates.default_rate, even_share, response->mutable_default_rate());
  v1::BatchProfile* profile = response->mutable_batch_profile();
  profile->set_name(rates.batch_profile.name);
  profile->set_max_queue_size(rates.batch_profile.max_queue_size);
  profile->set_max_export_batch_size(rates.batch_profile.max_export_batch_size);
  profile->set_schedule_delay_ms(rates.batch_profile.schedule_delay_ms);
  profile->set_export_timeout_ms(rates.batch_profile.export_timeout_ms);
  return grpc::Status::OK;
}

}  // namespace fleetrate::server
