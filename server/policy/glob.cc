#include "server/policy/glob.h"

namespace fleetrate::server {

bool GlobMatch(std::string_view pattern, std::string_view text) noexcept {
  // Greedy matching with one backtrack point: the last `*` seen. Sufficient for `*` and `?`
  // because a later `*` can always absorb what an earlier one would have.
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t star_text = 0;
  while (t < text.size()) {
    // `*` first: a `*` in the text is an ordinary character, not a reason to skip the wildcard.
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace fleetrate::server
