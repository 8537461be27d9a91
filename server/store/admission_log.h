// The stores' warning when a full client table starts evicting idle clients: a degraded mode
// (clients that missed an interval lose their place), which a flood of new identities can
// trigger at will, so the line is throttled. fleetrate_clients_evicted_total counts every one.
//
//   if (evicted_now != evicted_before) LogEviction(eviction_log_, now, evicted_now, clients);
//
// Thread-safe (LogThrottle is).
#pragma once

#include <cstddef>
#include <cstdint>

#include "server/common/clock.h"
#include "server/common/log.h"
#include "server/common/log_throttle.h"

namespace fleetrate::server {

inline void LogEviction(LogThrottle& throttle, Timestamp now, uint64_t evicted_total,
                        size_t clients) {
  uint64_t held_back = 0;
  if (!throttle.Allow(now, &held_back)) return;
  FLEETRATE_LOG(kWarning) << "the client table is full (" << clients
                          << " clients): evicting the least recently reporting idle clients to "
                             "admit new ones; "
                          << evicted_total << " evicted so far (fleetrate_clients_evicted_total)";
}

}  // namespace fleetrate::server
