// UTF-8 validity for names that arrive as bytes (the Sync request's strings, see
// proto/fleetrate/wire/v1/sync_request.proto).
#pragma once

#include <cstddef>
#include <string_view>

namespace fleetrate::server {

// The offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629:
// no overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF, no truncated
// sequence), or std::string_view::npos when all of `text` is valid. ASCII runs are checked
// eight bytes at a time.
[[nodiscard]] size_t FirstInvalidUtf8(std::string_view text) noexcept;

}  // namespace fleetrate::server
