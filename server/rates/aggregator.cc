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

std::string_view ReportResultName(ReportResult result) noexcept {
  switch (result) {
    case ReportResult::kAccepted:
      return "accepted";
    case ReportResult::kTooManyClients:
      return "too_many_clients";
    case ReportResult::kTooManyRates:
      return "too_many_rates";
    case ReportResult::kTooFrequent:
      return "too_frequent";
    case ReportResult::kTooManyNewClientsFromPeer:
      return "peer_new_clients";
  }
  return "unknown";
}

Duration Aggregator::ClampedInterval(Duration claimed, Duration sync_interval) const noexcept {
  return std::clamp(claimed, sync_interval, std::max(sync_interval, limits_.max_client_interval));
}

void Aggregator::Erase(ScopeState& scope,
                       std::unordered_map<std::string, ClientState>::iterator it) {
  Withdraw(it->second);
  recent_.erase(it->second.recent);
  scope.clients.erase(it);
  --clients_;
}

bool Aggregator::EvictOneIdle(Timestamp now, Duration sync_interval, const ClientState* keep) {
  const Duration idle = sync_interval * limits_.idle_intervals_to_evict;
  // The oldest, or the one after it when the oldest is the client reporting now.
  int looked = 0;
  for (auto it = recent_.begin(); it != recent_.end() && looked < 2; ++it, ++looked) {
    if (now - it->last_report < idle) return false;  // the rest reported more recently
    auto client = it->scope->clients.find(*it->instance_id);
    if (&client->second == keep) continue;
    Erase(*it->scope, client);
    ++evicted_clients_;
    return true;
  }
  return false;
}

bool Aggregator::TakePeerToken(const std::string& peer, Timestamp now) {
  const Duration spacing = limits_.new_client_spacing_per_peer;
  Timestamp* tat = nullptr;
  if (auto it = peers_.find(peer); it != peers_.end()) {
    recent_peers_.splice(recent_peers_.end(), recent_peers_, it->second.recent);
    tat = &it->second.tat;
  } else {
    // A peer whose bucket has refilled holds nothing worth keeping: forget the least recently
    // seen one if so. Otherwise, at max_peers, the newcomer shares the overflow bucket.
    if (peers_.size() >= limits_.max_peers && !recent_peers_.empty() &&
        peers_.at(*recent_peers_.front()).tat <= now) {
      const std::string* oldest = recent_peers_.front();
      recent_peers_.pop_front();
      peers_.erase(*oldest);
    }
    if (peers_.size() < limits_.max_peers) {
      auto [slot, inserted] = peers_.try_emplace(peer);
      slot->second.recent = recent_peers_.insert(recent_peers_.end(), &slot->first);
      tat = &slot->second.tat;
    } else {
      tat = &shared_peer_tat_;
    }
  }
  // GCRA, as for the per-client rate limit.
  if (std::max(*tat, now) - now > spacing * (limits_.new_clients_per_peer_burst - 1)) return false;
  *tat = std::max(*tat, now) + spacing;
  return true;
}

ReportResult Aggregator::Report(const ClientReport& report, Duration sync_interval, Timestamp now) {
  const ReportResult result = Admit(report, sync_interval, now, /*intake=*/true);
  ++refused_[static_cast<size_t>(result)];  // [kAccepted] counts nothing anyone reads
  return result;
}

ReportResult Aggregator::Replicate(const ClientReport& report, Duration sync_interval,
                                   Timestamp received) {
  const ReportResult result = Admit(report, sync_interval, received, /*intake=*/false);
  ++refused_[static_cast<size_t>(result)];
  return result;
}

ReportResult Aggregator::Admit(const ClientReport& report, Duration sync_interval, Timestamp now,
                               bool intake) {
  auto scope_it = scopes_.find(report.scope);
  ClientState* existing = nullptr;
  if (scope_it != scopes_.end()) {
    auto it = scope_it->second.clients.find(report.instance_id);
    if (it != scope_it->second.clients.end()) existing = &it->second;
  }
  const Duration spacing = intake ? limits_.min_report_spacing : Duration::zero();
  if (existing != nullptr && spacing > Duration::zero() &&
      std::max(existing->report_tat, now) - now > spacing * (limits_.report_burst - 1)) {
    return ReportResult::kTooFrequent;
  }
  // A new client from a peer past its budget is refused before it can evict anyone.
  if (existing == nullptr && intake && !report.peer.empty() &&
      limits_.new_client_spacing_per_peer > Duration::zero() && !TakePeerToken(report.peer, now)) {
    return ReportResult::kTooManyNewClientsFromPeer;
  }
  if (existing == nullptr) {
    while (clients_ >= limits_.max_clients) {
      if (!EvictOneIdle(now, sync_interval, nullptr)) return ReportResult::kTooManyClients;
    }
  }
  const size_t previous_rates = existing != nullptr ? existing->contributions.size() : 0;
  // A Sync without counts keeps the client's rates (below): it needs no room for new ones.
  const size_t new_rates = report.interval > Duration::zero() ? report.operations.size() : 0;
  while (new_rates > previous_rates &&
         rates_ - previous_rates + new_rates > limits_.max_client_key_rates) {
    if (!EvictOneIdle(now, sync_interval, existing)) return ReportResult::kTooManyRates;
  }
  // Evictions may have emptied and left the scope; it is erased only by Prune.
  ScopeState& scope = scope_it != scopes_.end() ? scope_it->second : scopes_[report.scope];
  ClientState* client = existing;
  if (client == nullptr) {
    auto [slot, inserted] = scope.clients.try_emplace(report.instance_id);
    client = &slot->second;
    client->recent = recent_.insert(recent_.end(), {&scope, &slot->first, now});
    ++clients_;
  } else {
    // Replicated reports may arrive out of order: the list stays ordered by the newest report.
    RecentClient& recent = *client->recent;
    recent.last_report = std::max(recent.last_report, now);
    recent_.splice(recent_.end(), recent_, client->recent);
  }
  const Duration lifetime =
      ClampedInterval(report.interval, sync_interval) * limits_.missed_intervals_to_expire;
  client->expires_at = now + lifetime;
  if (spacing > Duration::zero()) client->report_tat = std::max(client->report_tat, now) + spacing;
  const double seconds = Seconds(report.interval);
  // A Sync without counts (a client's first, or one sooner than its minimum interval) only
  // registers or refreshes the client: its previous rates stand until it reports new ones.
  if (seconds <= 0) return ReportResult::kAccepted;
  Withdraw(*client);
  client->contributions.reserve(report.operations.size());
  for (const OperationReport& op : report.operations) {
    KeyState& key = KeyFor(scope, op.operation);
    key.expires_at = std::max(key.expires_at, client->expires_at);
    const double seen = static_cast<double>(op.roots_seen) / seconds;
    const double sampled = static_cast<double>(op.roots_sampled) / seconds;
    key.seen_per_second += seen;
    key.sampled_per_second += sampled;
    // Several operations may fold into "*": one contribution each, the key counts the client
    // once per contribution and Withdraw undoes exactly what was added.
    ++key.clients;
    client->contributions.push_back({&key, seen, sampled});
  }
  rates_ += client->contributions.size();
  return ReportResult::kAccepted;
}

void Aggregator::Prune(Timestamp now) {
  for (auto scope_it = scopes_.begin(); scope_it != scopes_.end();) {
    ScopeState& scope = scope_it->second;
    for (auto it = scope.clients.begin(); it != scope.clients.end();) {
      if (it->second.expires_at <= now) {
        Withdraw(it->second);
        recent_.erase(it->second.recent);
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
