// StrCat for error messages. Debian's abseil has its own absl::string_view, distinct from
// std::string_view, so absl::StrCat does not take std::string_view; this one takes anything
// that streams. Not for hot paths.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace fleetrate::server {

// Equal-length compare that does not stop at the first difference, so response time does not
// reveal how much of a guessed token was right.
[[nodiscard]] inline bool ConstantTimeEquals(std::string_view a, std::string_view b) noexcept {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = a.size() >= b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

template <typename... Args>
[[nodiscard]] std::string StrCat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

}  // namespace fleetrate::server
