#pragma once

// Query-string and percent-decoding helpers for fleetrate's HTTP handlers.
//
// The HTTP server decodes every request's target with these functions before a handler runs,
// so handlers see `HttpRequest::path` and `HttpRequest::query` already decoded. Handlers use
// `SingleQueryValue` to read a parameter that must appear exactly once:
//
//   absl::StatusOr<std::string> service = SingleQueryValue(request.query, "service");
//   if (!service.ok()) return TextResponse(400, std::string(service.status().message()));
//
// Decoding rules (application/x-www-form-urlencoded, as browsers and Go's net/url do):
//   - pairs are separated by '&'; empty segments ("a=1&&b=2") are skipped;
//   - a segment without '=' is a key with an empty value ("flag" -> {"flag", ""});
//   - '+' decodes to a space in keys and values (not in paths);
//   - "%XX" with two hex digits (either case) decodes to that byte; the result may be any
//     byte string, it is not checked for UTF-8;
//   - a malformed escape ('%' not followed by two hex digits) is REJECTED with
//     INVALID_ARGUMENT rather than kept literally, so that "%zz" and "%25zz" cannot both mean
//     the same thing; the server answers such requests with 400.
//
// All functions are pure and thread-safe.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace fleetrate::server {

// Decoded query parameters in request order; repeated keys are kept.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Percent-decodes `raw`. With `plus_is_space`, '+' becomes ' ' (query strings); without it,
// '+' is kept (paths). Fails with INVALID_ARGUMENT on a malformed escape.
absl::StatusOr<std::string> PercentDecode(std::string_view raw, bool plus_is_space);

// Parses a raw query string (the part after '?', without it) into decoded pairs.
absl::StatusOr<QueryParams> ParseQuery(std::string_view raw);

// Returns the value of parameter `name`, which must appear exactly once. An empty value
// ("service=") counts as present and is returned as "".
//   missing  -> NOT_FOUND         "query parameter 'service' is required"
//   repeated -> INVALID_ARGUMENT  "query parameter 'service' must be given once, got 2"
// Both are client errors (HTTP 400); the codes differ so callers can treat a missing
// optional parameter differently from an ambiguous one.
absl::StatusOr<std::string> SingleQueryValue(const QueryParams& query, std::string_view name);

// Every value of parameter `name`, in request order (empty when missing).
[[nodiscard]] std::vector<std::string> QueryValues(const QueryParams& query, std::string_view name);

}  // namespace fleetrate::server
