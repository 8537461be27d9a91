// The status page on the HTTP port, for a person watching rates settle:
//
//   GET /ui
//       One self-contained HTML page (inline CSS and JavaScript, SVG drawn by the script; no
//       external assets, so it works offline and behind a port-forward). It fetches /ui/data
//       every 2 s and shows each service with its fleet-seen roots/s, target and achieved kept
//       traces/s and a 10-minute chart of target against achieved, and below each service its
//       busiest operations with their probability.
//   GET /ui/data
//       The page's data as JSON: per service (the `kStatusMaxServices` busiest, sorted by
//       name) its version, live clients, totals, the `kStatusMaxOperations` busiest operations
//       and the StatusHistory points as ages in seconds. 503 before the first rate table.
//
//   RegisterStatusHandlers(http, publisher, history, clock);   // before http.Start()
//
// The handlers read the publisher's immutable table and a copy of the history; they run on the
// HTTP server's threads. The page's HTML is compiled in from status_page.html (see
// server/CMakeLists.txt).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "server/common/clock.h"
#include "server/http/http_server.h"
#include "server/rates/rate_table.h"
#include "server/service/rate_publisher.h"
#include "server/views/status_history.h"

namespace fleetrate::server {

inline constexpr size_t kStatusMaxServices = 200;
inline constexpr size_t kStatusMaxOperations = 50;

// The page, status_page.html as it was at build time.
[[nodiscard]] std::string_view StatusPageHtml();

// /ui/data for `tables` (null: 503) and `history`, with point ages measured from `now`.
[[nodiscard]] HttpResponse StatusData(const RateTables* tables,
                                      const std::vector<ServiceHistory>& history, Timestamp now,
                                      Duration resolution);

// Routes /ui and /ui/data. `publisher`, `history` and `clock` must outlive `http`'s threads.
void RegisterStatusHandlers(HttpServer& http, const RatePublisher& publisher,
                            const StatusHistory& history, const Clock& clock);

}  // namespace fleetrate::server
