// Glob matching for policy rules: `*` matches any run of characters (also none), `?` exactly
// one character; everything else matches itself. Case-sensitive, like service.name.
//
//   GlobMatch("GET /api/*", "GET /api/cart")  // true
//
// Runs in O(pattern × text) worst case, without recursion or allocation.
#pragma once

#include <string_view>

namespace fleetrate::server {

[[nodiscard]] bool GlobMatch(std::string_view pattern, std::string_view text) noexcept;

}  // namespace fleetrate::server
