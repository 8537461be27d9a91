// HttpGet: a blocking HTTP/1.1 GET against 127.0.0.1 for tests (Boost.Beast), so tests talk to
// the real HTTP endpoints the way Prometheus or curl would.
#pragma once

#include <cstdint>
#include <string>

namespace fleetrate::testing {

struct HttpResult {
  unsigned status = 0;  // 0 when the request failed at the transport level
  std::string content_type;
  std::string body;
  std::string error;  // transport error, if any
};

// `authorization`, when not empty, is sent as the Authorization header.
HttpResult HttpGet(uint16_t port, const std::string& target, const std::string& authorization = "");

}  // namespace fleetrate::testing
