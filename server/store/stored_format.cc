#include "server/store/stored_format.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fleetrate/threshold.h"
#include "server/common/first_repeated_name.h"
#include "server/common/strings.h"
#include "server/common/utf8.h"

namespace fleetrate::server {
namespace {

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

template <typename FieldName>
absl::Status CheckRate(const FieldName& field, double value, double max) {
  if (!std::isfinite(value) || value < 0 || value > max) {
    if (max == std::numeric_limits<double>::max()) {
      return Invalid(StrCat(field(), ": must be finite and >= 0, got ", value));
    }
    return Invalid(StrCat(field(), ": must be finite and in [0, ", max, "], got ", value));
  }
  return absl::OkStatus();
}

template <typename FieldName>
absl::Status CheckUint(const FieldName& field, uint64_t value, uint64_t min, uint64_t max) {
  if (value < min || value > max) {
    return Invalid(StrCat(field(), ": must be in [", min, ", ", max, "], got ", value));
  }
  return absl::OkStatus();
}

#define FLEETRATE_CHECK_STORED(expr)                   \
  do {                                                 \
    if (absl::Status s_ = (expr); !s_.ok()) return s_; \
  } while (0)

// No two entries of `ops` share an operation.
template <typename Operations>
absl::Status CheckDistinct(const Operations& ops, std::string_view field) {
  const int i = FirstRepeatedName(
      ops.size(), [&ops](int k) -> std::string_view { return ops.Get(k).operation(); });
  if (i < 0) return absl::OkStatus();
  return Invalid(StrCat(field, "[", i, "].operation: duplicate '", ops.Get(i).operation(), "'"));
}

absl::Status ValidateKeyRate(const std::string& field, const store::v1::StoredKeyRate& in) {
  const auto named = [&field](const char* name) {
    return [&field, name] { return StrCat(field, ".", name); };
  };
  if (!std::isfinite(in.probability()) || in.probability() < 0 || in.probability() > 1) {
    return Invalid(
        StrCat(field, ".probability: must be finite and in [0, 1], got ", in.probability()));
  }
  if (const uint64_t want = ProbabilityToThreshold(in.probability()); in.threshold() != want) {
    return Invalid(StrCat(field, ".threshold: must be (1 - probability) x 2^56 = ", want,
                          " for probability ", in.probability(), " (at most ", kMaxThreshold,
                          "), got ", in.threshold()));
  }
  constexpr double kAny = std::numeric_limits<double>::max();
  FLEETRATE_CHECK_STORED(CheckRate(named("local_cap_per_second"), in.local_cap_per_second(), kAny));
  FLEETRATE_CHECK_STORED(
      CheckRate(named("lower_bound_per_second"), in.lower_bound_per_second(), kAny));
  FLEETRATE_CHECK_STORED(
      CheckRate(named("fleet_seen_per_second"), in.fleet_seen_per_second(), kAny));
  FLEETRATE_CHECK_STORED(
      CheckRate(named("fleet_sampled_per_second"), in.fleet_sampled_per_second(), kAny));
  FLEETRATE_CHECK_STORED(CheckRate(named("wanted_probability"), in.wanted_probability(), kAny));
  FLEETRATE_CHECK_STORED(CheckRate(named("burst"), in.burst(), kMaxBurst));
  if (in.rule() < -1) return Invalid(StrCat(field, ".rule: must be >= -1, got ", in.rule()));
  if (in.reasons() > 0xffff) {
    return Invalid(StrCat(field, ".reasons: at most 16 bits, got ", in.reasons()));
  }
  return absl::OkStatus();
}

int64_t Millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

void ToStored(std::string_view operation, const KeyRate& in, store::v1::StoredKeyRate* out) {
  out->set_operation(std::string(operation));
  out->set_probability(in.probability);
  out->set_threshold(in.threshold);
  out->set_local_cap_per_second(in.local_cap_per_second);
  out->set_lower_bound_per_second(in.lower_bound_per_second);
  out->set_fleet_seen_per_second(in.fleet_seen_per_second);
  out->set_fleet_sampled_per_second(in.fleet_sampled_per_second);
  out->set_wanted_probability(in.wanted_probability);
  out->set_burst(in.burst);
  out->set_rule(in.rule);
  out->set_reasons(in.reasons);
}

KeyRate FromStored(const store::v1::StoredKeyRate& in) {
  KeyRate out;
  out.probability = in.probability();
  out.threshold = in.threshold();
  out.local_cap_per_second = in.local_cap_per_second();
  out.lower_bound_per_second = in.lower_bound_per_second();
  out.fleet_seen_per_second = in.fleet_seen_per_second();
  out.fleet_sampled_per_second = in.fleet_sampled_per_second();
  out.wanted_probability = in.wanted_probability();
  out.burst = in.burst();
  out.rule = in.rule();
  out.reasons = static_cast<uint16_t>(in.reasons());
  return out;
}

}  // namespace

absl::Status ValidateStored(const store::v1::StoredReport& in, const StoredLimits& limits) {
  const auto named = [](const char* name) { return [name] { return name; }; };
  FLEETRATE_CHECK_STORED(
      CheckTextField(named("instance_id"), in.instance_id(), limits.max_instance_id_bytes, true));
  FLEETRATE_CHECK_STORED(
      CheckTextField(named("service"), in.service(), limits.max_service_bytes, true));
  FLEETRATE_CHECK_STORED(
      CheckTextField(named("environment"), in.environment(), limits.max_environment_bytes, false));
  if (in.interval_ms() < 0 || in.interval_ms() > limits.max_interval_ms) {
    return Invalid(StrCat("interval_ms: must be in [0, ", limits.max_interval_ms, "], got ",
                          in.interval_ms()));
  }
  if (in.sync_interval_ms() < 0 || in.sync_interval_ms() > limits.max_interval_ms) {
    return Invalid(StrCat("sync_interval_ms: must be in [0, ", limits.max_interval_ms, "], got ",
                          in.sync_interval_ms()));
  }
  // A report is flushed before its client expires: 3 intervals at most.
  if (in.age_at_flush_ms() < 0 || in.age_at_flush_ms() > 3 * limits.max_interval_ms) {
    return Invalid(StrCat("age_at_flush_ms: must be in [0, ", 3 * limits.max_interval_ms, "], got ",
                          in.age_at_flush_ms()));
  }
  if (in.operations_size() == 0) return absl::OkStatus();
  if (in.interval_ms() == 0) {
    return Invalid("interval_ms: must be > 0 when operations are reported, got 0");
  }
  if (static_cast<size_t>(in.operations_size()) > limits.max_operations) {
    return Invalid(StrCat("operations: at most ", limits.max_operations, " entries, got ",
                          in.operations_size()));
  }
  for (int i = 0; i < in.operations_size(); ++i) {
    const store::v1::StoredOperation& op = in.operations(i);
    FLEETRATE_CHECK_STORED(CheckTextField([i] { return StrCat("operations[", i, "].operation"); },
                                          op.operation(), limits.max_operation_bytes, true));
    if (static_cast<double>(op.roots_seen()) / static_cast<double>(in.interval_ms()) * 1000 >
        limits.max_roots_per_second) {
      return Invalid(StrCat("operations[", i, "].roots_seen: at most ", limits.max_roots_per_second,
                            " per second of interval_ms (", in.interval_ms(), " ms), got ",
                            op.roots_seen()));
    }
    if (op.roots_sampled() > op.roots_seen()) {
      return Invalid(StrCat("operations[", i, "].roots_sampled: must be <= roots_seen (",
                            op.roots_seen(), "), got ", op.roots_sampled()));
    }
  }
  return CheckDistinct(in.operations(), "operations");
}

absl::Status ValidateStored(const store::v1::StoredTables& in, const StoredLimits& limits) {
  constexpr double kAny = std::numeric_limits<double>::max();
  FLEETRATE_CHECK_STORED(
      CheckRate([] { return "budget_demand_per_second"; }, in.budget_demand_per_second(), kAny));
  FLEETRATE_CHECK_STORED(CheckRate([] { return "budget_allocated_per_second"; },
                                   in.budget_allocated_per_second(), kAny));
  if (static_cast<size_t>(in.scopes_size()) > limits.max_scopes) {
    return Invalid(
        StrCat("scopes: at most ", limits.max_scopes, " entries, got ", in.scopes_size()));
  }
  std::set<std::pair<std::string_view, std::string_view>> scopes;
  for (int i = 0; i < in.scopes_size(); ++i) {
    const store::v1::StoredScopeRates& s = in.scopes(i);
    const std::string prefix = StrCat("scopes[", i, "]");
    const auto named = [&prefix](const char* name) {
      return [&prefix, name] { return StrCat(prefix, ".", name); };
    };
    FLEETRATE_CHECK_STORED(
        CheckTextField(named("service"), s.service(), limits.max_service_bytes, true));
    FLEETRATE_CHECK_STORED(
        CheckTextField(named("environment"), s.environment(), limits.max_environment_bytes, false));
    if (!scopes.emplace(s.service(), s.environment()).second) {
      return Invalid(
          StrCat(prefix, ": duplicate scope '", s.service(), "'/'", s.environment(), "'"));
    }
    if (static_cast<size_t>(s.operations_size()) > limits.max_table_operations) {
      return Invalid(StrCat(prefix, ".operations: at most ", limits.max_table_operations,
                            " entries, got ", s.operations_size()));
    }
    for (int j = 0; j < s.operations_size(); ++j) {
      const store::v1::StoredKeyRate& op = s.operations(j);
      const std::string field = StrCat(prefix, ".operations[", j, "]");
      FLEETRATE_CHECK_STORED(CheckTextField([&field] { return StrCat(field, ".operation"); },
                                            op.operation(), limits.max_operation_bytes, true));
      FLEETRATE_CHECK_STORED(ValidateKeyRate(field, op));
    }
    FLEETRATE_CHECK_STORED(CheckDistinct(s.operations(), StrCat(prefix, ".operations")));
    FLEETRATE_CHECK_STORED(ValidateKeyRate(StrCat(prefix, ".default_rate"), s.default_rate()));
    FLEETRATE_CHECK_STORED(CheckTextField(named("batch_profile_name"), s.batch_profile_name(),
                                          limits.max_profile_name_bytes, false));
    FLEETRATE_CHECK_STORED(
        CheckUint(named("max_queue_size"), s.max_queue_size(), 1, kMaxQueueSize));
    FLEETRATE_CHECK_STORED(
        CheckUint(named("max_export_batch_size"), s.max_export_batch_size(), 1, kMaxQueueSize));
    FLEETRATE_CHECK_STORED(
        CheckUint(named("schedule_delay_ms"), s.schedule_delay_ms(), 1, kMaxDurationMs));
    FLEETRATE_CHECK_STORED(
        CheckUint(named("export_timeout_ms"), s.export_timeout_ms(), 1, kMaxDurationMs));
    FLEETRATE_CHECK_STORED(
        CheckRate(named("capture_errors_per_second"), s.capture_errors_per_second(), kAny));
    FLEETRATE_CHECK_STORED(CheckUint(named("capture_slow_threshold_ms"),
                                     s.capture_slow_threshold_ms(), 0, kMaxDurationMs));
    FLEETRATE_CHECK_STORED(
        CheckRate(named("capture_slow_per_second"), s.capture_slow_per_second(), kAny));
  }
  return absl::OkStatus();
}

void ToStored(const ClientReport& report, Duration sync_interval, store::v1::StoredReport* out) {
  out->set_service(report.scope.service);
  out->set_environment(report.scope.environment);
  out->set_instance_id(report.instance_id);
  out->set_interval_ms(Millis(report.interval));
  out->set_sync_interval_ms(Millis(sync_interval));
  out->mutable_operations()->Reserve(static_cast<int>(report.operations.size()));
  for (const OperationReport& op : report.operations) {
    store::v1::StoredOperation* stored = out->add_operations();
    stored->set_operation(op.operation);
    stored->set_roots_seen(op.roots_seen);
    stored->set_roots_sampled(op.roots_sampled);
  }
}

ClientReport FromStored(const store::v1::StoredReport& in, Duration* sync_interval) {
  ClientReport out;
  out.scope = {in.service(), in.environment()};
  out.instance_id = in.instance_id();
  out.interval = std::chrono::milliseconds(in.interval_ms());
  *sync_interval = std::chrono::milliseconds(in.sync_interval_ms());
  out.operations.reserve(static_cast<size_t>(in.operations_size()));
  for (const store::v1::StoredOperation& op : in.operations()) {
    out.operations.push_back({op.operation(), op.roots_seen(), op.roots_sampled()});
  }
  return out;
}

void ToStored(const RateTables& tables, store::v1::StoredTables* out) {
  out->set_budget_demand_per_second(tables.budget_demand_per_second);
  out->set_budget_allocated_per_second(tables.budget_allocated_per_second);
  for (const auto& [scope, rates] : tables.scopes) {
    store::v1::StoredScopeRates* s = out->add_scopes();
    s->set_service(scope.service);
    s->set_environment(scope.environment);
    s->set_version(rates->version);
    for (const auto& [operation, rate] : rates->operations) {
      ToStored(operation, rate, s->add_operations());
    }
    ToStored("", rates->default_rate, s->mutable_default_rate());
    s->set_batch_profile_name(rates->batch_profile.name);
    s->set_max_queue_size(rates->batch_profile.max_queue_size);
    s->set_max_export_batch_size(rates->batch_profile.max_export_batch_size);
    s->set_schedule_delay_ms(rates->batch_profile.schedule_delay_ms);
    s->set_export_timeout_ms(rates->batch_profile.export_timeout_ms);
    s->set_capture_errors_per_second(rates->capture.errors_per_second);
    s->set_capture_slow_threshold_ms(rates->capture.slow_threshold_ms);
    s->set_capture_slow_per_second(rates->capture.slow_per_second);
    s->set_live_clients(rates->live_clients);
  }
}

std::shared_ptr<const RateTables> FromStored(const store::v1::StoredTables& in,
                                             std::shared_ptr<const Policies> policies) {
  auto tables = std::make_shared<RateTables>();
  tables->policies = std::move(policies);
  tables->budget_demand_per_second = in.budget_demand_per_second();
  tables->budget_allocated_per_second = in.budget_allocated_per_second();
  for (const store::v1::StoredScopeRates& s : in.scopes()) {
    auto rates = std::make_shared<ServiceRates>();
    rates->scope = {s.service(), s.environment()};
    rates->version = s.version();
    rates->operations.reserve(static_cast<size_t>(s.operations_size()));
    for (const store::v1::StoredKeyRate& op : s.operations()) {
      rates->operations.emplace_back(op.operation(), FromStored(op));
    }
    // Readers binary-search operations; a table from another writer is not trusted to be sorted.
    std::sort(rates->operations.begin(), rates->operations.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    rates->default_rate = FromStored(s.default_rate());
    rates->batch_profile.name = s.batch_profile_name();
    rates->batch_profile.max_queue_size = s.max_queue_size();
    rates->batch_profile.max_export_batch_size = s.max_export_batch_size();
    rates->batch_profile.schedule_delay_ms = s.schedule_delay_ms();
    rates->batch_profile.export_timeout_ms = s.export_timeout_ms();
    rates->capture.errors_per_second = s.capture_errors_per_second();
    rates->capture.slow_threshold_ms = s.capture_slow_threshold_ms();
    rates->capture.slow_per_second = s.capture_slow_per_second();
    rates->live_clients = static_cast<size_t>(s.live_clients());
    tables->scopes.emplace(rates->scope, std::move(rates));
  }
  return tables;
}

}  // namespace fleetrate::server
