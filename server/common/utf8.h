// UTF-8 validity for names that arrive as bytes (the Sync request's strings, see
// proto/fleetrate/wire/v1/sync_request.proto).
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "server/common/strings.h"

namespace fleetrate::server {

// The offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629:
// no overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF, no truncated
// sequence), or std::string_view::npos when all of `text` is valid. ASCII runs are checked
// eight bytes at a time.
[[nodiscard]] size_t FirstInvalidUtf8(std::string_view text) noexcept;

// A required or optional text field with a byte limit, in UTF-8: INVALID_ARGUMENT naming the
// field and the limit, e.g. "client.service: at most 256 bytes, got 300". `field()` is called
// only on error, so valid input builds no strings (Sync validation and the Redis store's check
// of stored reports run this on every name).
template <typename FieldName>
[[nodiscard]] absl::Status CheckTextField(const FieldName& field, std::string_view value,
                                          size_t max_bytes, bool required) {
  if (required && value.empty()) {
    return absl::InvalidArgumentError(StrCat(field(), ": required, got empty"));
  }
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(
        StrCat(field(), ": at most ", max_bytes, " bytes, got ", value.size()));
  }
  if (const size_t bad = FirstInvalidUtf8(value); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        StrCat(field(), ": must be valid UTF-8, byte ", bad, " of ", value.size(), " is not"));
  }
  return absl::OkStatus();
}

}  // namespace fleetrate::server
