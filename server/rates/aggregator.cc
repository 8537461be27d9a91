#include "server/rates/aggregator.h"

#include <algorithm>

namespace fleetrate::server {
namespace {
const std::string kOverflowKey = kOverflowOperation;
}  // namespace

const std::string& Aggregator::KeyFor(ServiceState& service, const std::string& operation,
                                      Timestamp expires_at) {
  auto it = service.known_operations.find(operation);
  if (it != service.known_operations.end()) {
    it->second = std::max(it->second, expires_at);
    return it->first;
  }
  const bool over_cap = service.known_operations.size() + 1 >= limits_.max_operations_per_service ||
                        keys_ + 1 >= limits_.max_keys;
  // The overflow key itself is always admitted, so folding never fails.
  const std::string& key = (over_cap && operation != kOverflowKey) ? kOverflowKey : operation;
  if (&key == &kOverflowKey && operation != kOverflowKey) ++overflowed_reports_;
  auto [slot, inserted] = service.known_operations.try_emplace(key, expires_at);
  if (inserted) {
    ++keys_;
  } else {
    slot->second = std::max(slot->second, expires_at);
  }
  return slot->first;
}

void Aggregator::Report(const ClientReport& report, Duration sync_interval, Timestamp now) {
  ServiceState& service = services_[report.service];
  const Duration lifetime =
      std::max(sync_interval, report.interval) * limits_.missed_intervals_to_expire;
  ClientState& client = service.clients[report.instance_id];
  client.expires_at = now + lifetime;
  client.operations.clear();
  const double seconds = Seconds(report.interval);
  if (seconds <= 0) return;  // a first Sync carries no counts; it only registers the client
  for (const OperationReport& op : report.operations) {
    const std::string& key = KeyFor(service, op.operation, client.expires_at);
    Rates& rates = client.operations[key];  // several ops may fold into "*": add them up
    rates.seen_per_second += static_cast<double>(op.roots_seen) / seconds;
    rates.sampled_per_second += static_cast<double>(op.roots_sampled) / seconds;
  }
}

void Aggregator::Prune(Timestamp now) {
  for (auto service_it = services_.begin(); service_it != services_.end();) {
    ServiceState& service = service_it->second;
    for (auto it = service.clients.begin(); it != service.clients.end();) {
      it = it->second.expires_at <= now ? service.clients.erase(it) : std::next(it);
    }
    for (auto it = service.known_operations.begin(); it != service.known_operations.end();) {
      if (it->second <= now) {
        it = service.known_operations.erase(it);
        --keys_;
      } else {
        ++it;
      }
    }
    service_it = service.clients.empty() && service.known_operations.empty()
                     ? services_.erase(service_it)
                     : std::next(service_it);
  }
}

FleetEstimate Aggregator::Estimate(Timestamp now) {
  Prune(now);
  FleetEstimate fleet;
  for (const auto& [name, service] : services_) {
    ServiceEstimate& estimate = fleet.services[name];
    estimate.live_clients = service.clients.size();
    fleet.live_clients += service.clients.size();
    for (const auto& [instance, client] : service.clients) {
      for (const auto& [operation, rates] : client.operations) {
        KeyEstimate& key = estimate.operations[operation];
        key.seen_per_second += rates.seen_per_second;
        key.sampled_per_second += rates.sampled_per_second;
        key.client_seen_per_second[instance] = rates.seen_per_second;
      }
    }
    fleet.keys += estimate.operations.size();
  }
  return fleet;
}

}  // namespace fleetrate::server
