#include "server/rates/aggregator.h"

#include <algorithm>

namespace fleetrate::server {

Aggregator::KeyState& Aggregator::KeyFor(ScopeState& scope, const std::string& operation) {
  auto it = scope.keys.find(operation);
  if (it != scope.keys.end()) return it->second;
  const bool over_cap =
      scope.keys.size() + 1 >= limits_.max_operations_per_service || keys_ + 1 >= limits_.max_keys;
  // The overflow key itself is always admitted, so folding never fails.
  const bool fold = over_cap && operation != kOverflowOperation;
  if (fold) ++overflowed_reports_;
  auto [slot, inserted] =
      scope.keys.try_emplace(fold ? std::string(kOverflowOperation) : operation);
  if (inserted) ++keys_;
  return slot->second;
}

void Aggregator::Withdraw(ClientState& client) {
  rates_ -= client.contributions.size();
  for (const Contribution& c : client.contributions) {
    c.key->seen_per_second -= c.seen_per_second;
    c.key->sampled_per_second -= c.sampled_per_second;
    --c.key->clients;
  }
  client.contributions.clear();
}

ReportResult Aggregator::Report(const ClientReport& report, Duration sync_interval, Timestamp now) {
  auto scope_it = scopes_.find(report.scope);
  ClientState* existing = nullptr;
  if (scope_it != scopes_.end()) {
    auto it = scope_it->second.clients.find(report.instance_id);
    if (it != scope_it->second.clients.end()) existing = &it->second;
  }
  if (existing == nullptr && clients_ >= limits_.max_clients) return ReportResult::kTooManyClients;
  const Duration spacing = limits_.min_report_spacing;
  if (existing != nullptr && spacing > Duration::zero() &&
      std::max(existing->report_tat, now) - now > spacing * (limits_.report_burst - 1)) {
    return ReportResult::kTooFrequent;
  }
  const size_t previous_rates = existing != nullptr ? existing->contributions.size() : 0;
  if (rates_ - previous_rates + report.operations.size() > limits_.max_client_key_rates) {
    return ReportResult::kTooManyRates;
  }
  ScopeState& scope = scope_it != scopes_.end() ? scope_it->second : scopes_[report.scope];
  ClientState& client = existing != nullptr ? *existing : scope.clients[report.instance_id];
  if (existing == nullptr) ++clients_;
  const Duration lifetime =
      std::max(sync_interval, report.interval) * limits_.missed_intervals_to_expire;
  client.expires_at = now + lifetime;
  if (spacing > Duration::zero()) client.report_tat = std::max(client.report_tat, now) + spacing;
  const double seconds = Seconds(report.interval);
  // A Sync without counts (a client's first, or one sooner than its minimum interval) only
  // registers or refreshes the client: its previous rates stand until it reports new ones.
  if (seconds <= 0) return ReportResult::kAccepted;
  Withdraw(client);
  client.contributions.reserve(report.operations.size());
  for (const OperationReport& op : report.operations) {
    KeyState& key = KeyFor(scope, op.operation);
    key.expires_at = std::max(key.expires_at, client.expires_at);
    const double seen = static_cast<double>(op.roots_seen) / seconds;
    const double sampled = static_cast<double>(op.roots_sampled) / seconds;
    key.seen_per_second += seen;
    key.sampled_per_second += sampled;
    // Several operations may fold into "*": one contribution each, the key counts the client
    // once per contribution and Withdraw undoes exactly what was added.
    ++key.clients;
    client.contributions.push_back({&key, seen, sampled});
  }
  rates_ += client.contributions.size();
  return ReportResult::kAccepted;
}

void Aggregator::Prune(Timestamp now) {
  for (auto scope_it = scopes_.begin(); scope_it != scopes_.end();) {
    ScopeState& scope = scope_it->second;
    for (auto it = scope.clients.begin(); it != scope.clients.end();) {
      if (it->second.expires_at <= now) {
        Withdraw(it->second);
        it = scope.clients.erase(it);
        --clients_;
      } else {
        ++it;
      }
    }
    for (auto it = scope.keys.begin(); it != scope.keys.end();) {
      if (it->second.clients == 0 && it->second.expires_at <= now) {
        it = scope.keys.erase(it);
        --keys_;
      } else {
        ++it;
      }
    }
    scope_it =
        scope.clients.empty() && scope.keys.empty() ? scopes_.erase(scope_it) : std::next(scope_it);
  }
}

void Aggregator::Resum() {
  for (auto& [scope_key, scope] : scopes_) {
    for (auto& [name, key] : scope.keys) {
      key.seen_per_second = 0;
      key.sampled_per_second = 0;
    }
    for (auto& [instance, client] : scope.clients) {
      for (const Contribution& c : client.contributions) {
        c.key->seen_per_second += c.seen_per_second;
        c.key->sampled_per_second += c.sampled_per_second;
      }
    }
  }
}

FleetEstimate Aggregator::Estimate(Timestamp now) {
  Prune(now);
  if (++estimates_since_resum_ >= limits_.exact_resum_every) {
    Resum();
    estimates_since_resum_ = 0;
  }
  FleetEstimate fleet;
  fleet.scopes.reserve(scopes_.size());
  for (const auto& [scope_key, scope] : scopes_) {
    ScopeEstimate estimate;
    estimate.scope = scope_key;
    estimate.live_clients = scope.clients.size();
    fleet.live_clients += scope.clients.size();
    estimate.operations.reserve(scope.keys.size());
    for (const auto& [name, key] : scope.keys) {
      // A key nobody reported this interval stays, at zero traffic, until it ages out: a rare
      // operation keeps its rate instead of flapping to the service default between sightings.
      // Running sums can end a hair below zero after withdrawals; a rate is never negative.
      estimate.operations.push_back({name,
                                     {std::max(0.0, key.seen_per_second),
                                      std::max(0.0, key.sampled_per_second), key.clients}});
    }
    std::sort(estimate.operations.begin(), estimate.operations.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    fleet.keys += estimate.operations.size();
    fleet.scopes.push_back(std::move(estimate));
  }
  std::sort(fleet.scopes.begin(), fleet.scopes.end(),
            [](const ScopeEstimate& a, const ScopeEstimate& b) { return a.scope < b.scope; });
  return fleet;
}

}  // namespace fleetrate::server
