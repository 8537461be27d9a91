#include "server/service/sampling_service.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "server/common/first_repeated_name.h"
#include "server/common/log.h"
#include "server/common/raw_unary.h"
#include "server/common/strings.h"
#include "server/common/utf8.h"

namespace fleetrate::server {
namespace {

grpc::Status Invalid(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

grpc::Status Exhausted(std::string message) {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, std::move(message));
}

// CheckTextField (server/common/utf8.h) as a gRPC status.
template <typename FieldName>
grpc::Status CheckString(const FieldName& field, const std::string& value, size_t max_bytes,
                         bool required) {
  absl::Status status = CheckTextField(field, value, max_bytes, required);
  return status.ok() ? grpc::Status::OK : Invalid(std::string(status.message()));
}

auto Named(const char* name) {
  return [name] { return name; };
}

// The slice fingerprint sees per-client values in steps of about 19 % (a quarter power of two),
// so a value that moves with the number of live clients changes the version only when it moves
// that much.
uint64_t Quantize(double value) {
  if (!(value > 0)) return 0;
  return static_cast<uint64_t>(std::llround(std::log2(value) * 4) + 4096);
}

void Mix(uint64_t* hash, uint64_t value) {
  // FNV-1a over the value's bytes.
  for (int i = 0; i < 8; ++i) {
    *hash ^= (value >> (8 * i)) & 0xff;
    *hash *= 1099511628211ULL;
  }
}

// Writes one rate for a client that gets `even_share` of the scope's per-client values. Nothing
// here depends on the client's own traffic: adaptive caps are computed by the client itself
// (burst × p × its own rate), so traffic noise never changes a client's slice.
void FillRate(const KeyRate& rate, double even_share, v1::OperationRate* out) {
  out->set_probability(rate.probability);
  out->set_threshold(rate.threshold);
  if (rate.reasons & kRateLimited) out->set_local_cap_per_second(rate.local_cap_per_second);
  out->set_lower_bound_per_second(rate.lower_bound_per_second * even_share);
  out->set_burst(rate.burst);
}

// The version a client holds fingerprints its slice: the scope's version (every probability,
// bound and burst) and the values split evenly across the scope's live clients, as FillRate and
// the capture policy write them. Computed before the answer is built, so the common
// not_modified answer builds nothing.
uint64_t SliceVersion(const ServiceRates& rates, double even_share) {
  uint64_t fingerprint = 14695981039346656037ULL;
  Mix(&fingerprint, rates.version);
  for (const auto& [operation, rate] : rates.operations) {
    Mix(&fingerprint, Quantize(rate.lower_bound_per_second * even_share));
  }
  Mix(&fingerprint, Quantize(rates.default_rate.lower_bound_per_second * even_share));
  Mix(&fingerprint, Quantize(rates.capture.errors_per_second * even_share));
  Mix(&fingerprint, Quantize(rates.capture.slow_per_second * even_share));
  return fingerprint == 0 ? 1 : fingerprint;  // 0 means "no table"
}

// A client's string for a log line: printable ASCII, at most 64 bytes (a log line per field).
std::string Printable(std::string_view value) {
  std::string out;
  for (char c : value.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (value.size() > 64) out.append("...");
  return out;
}

}  // namespace

std::string PeerKey(std::string_view grpc_peer) {
  if (grpc_peer.empty()) return {};
  if (grpc_peer.rfind("unix:", 0) == 0) return "unix";
  if (grpc_peer.rfind("ipv4:", 0) == 0) {
    std::string_view host = grpc_peer.substr(5);
    host = host.substr(0, host.rfind(':'));
    in_addr address{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &address) == 1) return std::string(host);
  } else if (grpc_peer.rfind("ipv6:", 0) == 0) {
    // "ipv6:[2001:db8::1]:5000", or with the brackets percent-encoded (newer gRPC).
    std::string host(grpc_peer.substr(5));
    for (const auto& [encoded, plain] : {std::pair{"%5B", "["}, std::pair{"%5D", "]"}}) {
      for (size_t at; (at = host.find(encoded)) != std::string::npos;) host.replace(at, 3, plain);
    }
    const size_t open = host.find('[');
    const size_t close = host.find(']');
    if (open == 0 && close != std::string::npos) {
      host = host.substr(1, close - 1);
      host = host.substr(0, host.find('%'));  // a zone id
      in6_addr address{};
      if (inet_pton(AF_INET6, host.c_str(), &address) == 1) {
        // An IPv4-mapped address is its IPv4 address's host.
        static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        char text[INET6_ADDRSTRLEN] = {};
        if (std::equal(std::begin(kMapped), std::end(kMapped), address.s6_addr)) {
          in_addr v4{};
          std::copy(address.s6_addr + 12, address.s6_addr + 16,
                    reinterpret_cast<unsigned char*>(&v4));
          return inet_ntop(AF_INET, &v4, text, sizeof(text)) != nullptr ? std::string(text)
                                                                        : std::string();
        }
        std::fill(address.s6_addr + 8, address.s6_addr + 16, 0);
        if (inet_ntop(AF_INET6, &address, text, sizeof(text)) != nullptr) {
          return StrCat(text, "/64");
        }
      }
    }
  }
  return std::string(grpc_peer.substr(0, 64));
}

grpc::Status ParseSyncRequest(const grpc::ByteBuffer& bytes, wire::v1::SyncRequest* request) {
  return ParseRawRequest(bytes, request, "fleetrate.v1.SyncRequest");
}

template <typename Request>
grpc::Status ValidateSyncRequest(const Request& request, const SyncLimits& limits) {
  const auto& client = request.client();
  if (auto s = CheckString(Named("client.instance_id"), client.instance_id(),
                           limits.max_instance_id_bytes, true);
      !s.ok()) {
    return s;
  }
  if (auto s =
          CheckString(Named("client.service"), client.service(), limits.max_service_bytes, true);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckString(Named("client.environment"), client.environment(),
                           limits.max_environment_bytes, false);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckString(Named("client.library_version"), client.library_version(),
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
  for (int i = 0; i < request.operations_size(); ++i) {
    const auto& op = request.operations(i);
    if (auto s = CheckString([i] { return StrCat("operations[", i, "].operation"); },
                             op.operation(), limits.max_operation_bytes, true);
        !s.ok()) {
      return s;
    }
    // Counts are unsigned; an absurd rate (a corrupt counter) would swamp the fleet estimate.
    if (static_cast<double>(op.roots_seen()) / static_cast<double>(request.interval_ms()) * 1000 >
        limits.max_roots_per_second) {
      return Invalid(StrCat("operations[", i, "].roots_seen: at most ", limits.max_roots_per_second,
                            " per second of interval_ms (", request.interval_ms(), " ms), got ",
                            op.roots_seen()));
    }
    if (op.roots_sampled() > op.roots_seen()) {
      return Invalid(StrCat("operations[", i, "].roots_sampled: must be <= roots_seen (",
                            op.roots_seen(), "), got ", op.roots_sampled()));
    }
  }
  if (const int i = FirstRepeatedName(
          request.operations_size(),
          [&request](int k) -> std::string_view { return request.operations(k).operation(); });
      i >= 0) {
    return Invalid(StrCat("operations[", i, "].operation: duplicate '",
                          request.operations(i).operation(), "'"));
  }
  return grpc::Status::OK;
}

template grpc::Status ValidateSyncRequest(const v1::SyncRequest&, const SyncLimits&);
template grpc::Status ValidateSyncRequest(const wire::v1::SyncRequest&, const SyncLimits&);

void CopyToReport(const wire::v1::SyncRequest& request, ClientReport* report) {
  report->scope.service.assign(request.client().service());
  report->scope.environment.assign(request.client().environment());
  report->instance_id.assign(request.client().instance_id());
  report->interval = std::chrono::milliseconds(request.interval_ms());
  report->operations.resize(static_cast<size_t>(request.operations_size()));
  for (int i = 0; i < request.operations_size(); ++i) {
    const wire::v1::OperationCounts& in = request.operations(i);
    OperationReport& out = report->operations[static_cast<size_t>(i)];
    out.operation.assign(in.operation());
    out.roots_seen = in.roots_seen();
    out.roots_sampled = in.roots_sampled();
  }
}

SamplingServiceImpl::SamplingServiceImpl(Store& store, RatePublisher& publisher,
                                         ServerMetrics& metrics, const Clock& clock,
                                         SyncLimits limits)
    : store_(store), publisher_(publisher), metrics_(metrics), clock_(clock), limits_(limits) {}

grpc::ServerUnaryReactor* SamplingServiceImpl::Sync(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  // One response per callback thread, reused: Clear keeps its repeated fields' capacity.
  thread_local v1::SyncResponse answer;
  answer.Clear();
  return FinishRawCall(context, Handle(*request, &answer, PeerKey(context->peer())), answer,
                       response);
}

grpc::Status SamplingServiceImpl::Handle(const grpc::ByteBuffer& request,
                                         v1::SyncResponse* response, std::string_view peer) {
  const auto started = std::chrono::steady_clock::now();
  // One parsed request per thread, reused like the response.
  thread_local wire::v1::SyncRequest parsed;
  parsed.Clear();
  grpc::Status status = ParseSyncRequest(request, &parsed);
  if (status.ok()) status = HandleSync(parsed, peer, response);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (status.ok()) {
    metrics_.RecordSyncOk(seconds);
  } else {
    metrics_.RecordSync(
        absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())), seconds);
  }
  return status;
}

grpc::Status SamplingServiceImpl::Refusal(ReportResult result, const ClientReport& report) const {
  switch (result) {
    case ReportResult::kAccepted:
      break;
    case ReportResult::kTooManyClients:
      return Exhausted(StrCat("client.instance_id: the server tracks at most ", limits_.max_clients,
                              " live clients; retry later"));
    case ReportResult::kTooManyRates:
      return Exhausted(StrCat("operations: the server holds at most ", limits_.max_client_key_rates,
                              " per-client operation rates in all; retry later"));
    case ReportResult::kTooFrequent:
      return Exhausted(StrCat("client.instance_id '", report.instance_id, "': more than ",
                              limits_.sync_burst, " Syncs in a row, or one per ",
                              limits_.min_sync_spacing.count(), " ms sustained; retry later"));
    case ReportResult::kTooManyNewClientsFromPeer:
      return Exhausted(StrCat("client.instance_id: peer ", report.peer, " registered more than ",
                              10 * limits_.new_clients_per_peer_per_second,
                              " new clients in a row, or ", limits_.new_clients_per_peer_per_second,
                              " per second sustained; retry later"));
  }
  return grpc::Status::OK;
}

void SamplingServiceImpl::NoteRefusal(ReportResult result, const ClientReport& report,
                                      const grpc::Status& status) {
  metrics_.RecordSyncRefused(ReportResultName(result));
  uint64_t held_back = 0;
  if (!refusal_log_.Allow(clock_.Now(), &held_back)) return;
  FLEETRATE_LOG(kWarning) << "refused a Sync (" << ReportResultName(result) << ") from peer "
                          << Printable(report.peer) << " for service '"
                          << Printable(report.scope.service) << "': " << status.error_message()
                          << (held_back > 0 ? StrCat(" (", held_back,
                                                     " refusals since the previous line were not "
                                                     "logged; fleetrate_sync_refused_total counts "
                                                     "them all)")
                                            : std::string());
}

grpc::Status SamplingServiceImpl::HandleSync(const wire::v1::SyncRequest& request,
                                             std::string_view peer, v1::SyncResponse* response) {
  if (auto status = ValidateSyncRequest(request, limits_); !status.ok()) return status;

  const RatePublisher::Snapshot snapshot = publisher_.snapshot();
  const std::shared_ptr<const Policies>& policies = snapshot.policies;
  const auto sync_interval = std::chrono::duration_cast<Duration>(
      std::chrono::duration<double>(policies->sync_interval_seconds));

  // One report per gRPC thread, reused: its strings and vector keep their capacity, so a Sync
  // in steady state copies the request into it without allocating.
  thread_local ClientReport report;
  CopyToReport(request, &report);
  report.peer.assign(peer);
  const ReportResult result = store_.Report(report, sync_interval, clock_.Now());
  if (result != ReportResult::kAccepted) {
    grpc::Status refusal = Refusal(result, report);
    NoteRefusal(result, report, refusal);
    return refusal;
  }

  const auto next_sync_ms = static_cast<uint32_t>(policies->sync_interval_seconds * 1000);
  response->set_next_sync_interval_ms(next_sync_ms);

  const std::shared_ptr<const RateTables>& tables = snapshot.tables;
  const ServiceRates* found = tables ? tables->Find(report.scope) : nullptr;
  if (found == nullptr && request.table_version() != 0) {
    // No table for this scope yet (a restarted server, before its first recompute with this
    // client): the client's table is better than the policy's initial guess. Keep it.
    response->set_table_version(request.table_version());
    response->set_not_modified(true);
    return grpc::Status::OK;
  }
  // A scope nobody has reported yet gets the policy's rates; its first computed table follows
  // within a recompute.
  std::optional<ServiceRates> fallback;
  if (found == nullptr) fallback = PolicyOnlyRates(*policies, report.scope);
  const ServiceRates& rates = found ? *found : *fallback;

  const double even_share = 1.0 / static_cast<double>(std::max<size_t>(1, rates.live_clients));
  const uint64_t version = SliceVersion(rates, even_share);
  response->set_table_version(version);
  if (request.table_version() == version) {
    response->set_not_modified(true);
    return grpc::Status::OK;
  }
  response->mutable_rates()->Reserve(static_cast<int>(rates.operations.size()));
  for (const auto& [operation, rate] : rates.operations) {
    v1::OperationRate* out = response->add_rates();
    out->set_operation(operation);
    FillRate(rate, even_share, out);
  }
  FillRate(rates.default_rate, even_share, response->mutable_default_rate());
  v1::BatchProfile* profile = response->mutable_batch_profile();
  profile->set_name(rates.batch_profile.name);
  profile->set_max_queue_size(rates.batch_profile.max_queue_size);
  profile->set_max_export_batch_size(rates.batch_profile.max_export_batch_size);
  profile->set_schedule_delay_ms(rates.batch_profile.schedule_delay_ms);
  profile->set_export_timeout_ms(rates.batch_profile.export_timeout_ms);
  v1::CapturePolicy* capture = response->mutable_capture_policy();
  capture->set_errors_per_second(rates.capture.errors_per_second * even_share);
  capture->set_slow_threshold_ms(rates.capture.slow_threshold_ms);
  capture->set_slow_per_second(rates.capture.slow_per_second * even_share);
  return grpc::Status::OK;
}

}  // namespace fleetrate::server
