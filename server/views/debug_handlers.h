// The debug views on the HTTP port, for operators and support:
//
//   GET /debug/rates[?service=S][&environment=E][&limit=N]
//       The current rate table as JSON: per scope its version, live clients, batch profile,
//       capture policy and default rate, and per operation the probability, the OTel threshold,
//       the fleet's seen and sampled roots per second, the local cap, the lower bound, the rule
//       and the reasons. At most `limit` operations (default 1000, at most 100,000) are listed;
//       when more match, "truncated" is true and "note" says how to narrow the view, so a table
//       of 100,000 keys does not produce a 50 MB page.
//   GET /debug/config[?format=yaml]
//       The policies in force: where they came from, the YAML document, and a parsed summary
//       (rules with their globs and mode, services, budget). format=yaml: the document alone.
//
//   GET /debug/store
//       The store: backend, address (never a password), this replica's id, whether the
//       backend answers, whether this replica leads and who does, the last error, and counts
//       of reports written, read and dropped and of tables published and fetched.
//
//   RegisterDebugHandlers(http, publisher, store);   // before http.Start()
//
// The handlers read the publisher's immutable snapshots; they run on the HTTP server's threads.
#pragma once

#include <cstddef>

#include "server/http/http_server.h"
#include "server/policy/policy.h"
#include "server/rates/rate_table.h"
#include "server/service/rate_publisher.h"
#include "server/store/store.h"

namespace fleetrate::server {

inline constexpr size_t kDebugRatesDefaultLimit = 1000;
inline constexpr size_t kDebugRatesMaxLimit = 100000;

// A JSON body (a newline is appended) that is never cached: the views show live state.
[[nodiscard]] HttpResponse JsonResponse(std::string body);

// /debug/rates for `tables` (null: no table yet, 503). Bad parameters: 400 naming the parameter.
[[nodiscard]] HttpResponse DebugRates(const RateTables* tables, const HttpRequest& request);
// /debug/config for `policies` (null: 503).
[[nodiscard]] HttpResponse DebugConfig(const Policies* policies, const HttpRequest& request);

// /debug/store for `status`.
[[nodiscard]] HttpResponse DebugStore(const StoreStatus& status);

// Routes /debug/rates, /debug/config and /debug/store to `publisher`'s current table and
// policies and to `store`. Both must outlive `http`'s threads.
void RegisterDebugHandlers(HttpServer& http, const RatePublisher& publisher, const Store& store);

}  // namespace fleetrate::server
