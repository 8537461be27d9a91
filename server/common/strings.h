// StrCat for error messages. Debian's abseil has its own absl::string_view, distinct from
// std::string_view, so absl::StrCat does not take std::string_view; this one takes anything
// that streams. Not for hot paths.
#pragma once

#include <sstream>
#include <string>

namespace fleetrate::server {

template <typename... Args>
[[nodiscard]] std::string StrCat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

}  // namespace fleetrate::server
