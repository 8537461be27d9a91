// Fuzz target: the query string of Jaeger's GET /sampling?service=NAME (percent-decoding,
// repeated and missing parameters).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/http/query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const auto query = fleetrate::server::ParseQuery(raw);
  if (query.ok()) (void)fleetrate::server::SingleQueryValue(*query, "service");
  return 0;
}
