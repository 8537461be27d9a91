#include "server/http/query.h"

#include <cstddef>

#include "absl/status/status.h"

namespace fleetrate::server {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(std::string_view raw, bool plus_is_space) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '%') {
      const int hi = i + 1 < raw.size() ? HexValue(raw[i + 1]) : -1;
      const int lo = i + 2 < raw.size() ? HexValue(raw[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError("malformed percent-escape at byte " + std::to_string(i) +
                                          " of '" + std::string(raw) +
                                          "': '%' must be followed by two hex digits");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<QueryParams> ParseQuery(std::string_view raw) {
  QueryParams params;
  while (!raw.empty()) {
    const size_t amp = raw.find('&');
    const std::string_view segment = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (segment.empty()) continue;

    const size_t eq = segment.find('=');
    const std::string_view raw_key = segment.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : segment.substr(eq + 1);
    absl::StatusOr<std::string> key = PercentDecode(raw_key, /*plus_is_space=*/true);
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> value = PercentDecode(raw_value, /*plus_is_space=*/true);
    if (!value.ok()) return value.status();
    params.emplace_back(*std::move(key), *std::move(value));
  }
  return params;
}

absl::StatusOr<std::string> SingleQueryValue(const QueryParams& query, std::string_view name) {
  const std::string* found = nullptr;
  size_t count = 0;
  for (const auto& [key, value] : query) {
    if (key != name) continue;
    ++count;
    if (found == nullptr) found = &value;
  }
  if (count == 0) {
    return absl::NotFoundError("query parameter '" + std::string(name) + "' is required");
  }
  if (count > 1) {
    return absl::InvalidArgumentError("query parameter '" + std::string(name) +
                                      "' must be given once, got " + std::to_string(count));
  }
  return *found;
}

std::vector<std::string> QueryValues(const QueryParams& query, std::string_view name) {
  std::vector<std::string> values;
  for (const auto& [key, value] : query) {
    if (key == name) values.push_back(value);
  }
  return values;
}

}  // namespace fleetrate::server
