// The admin token: the bearer token AdminService's writes (and, with --protect-reads, its reads
// and /debug/*) require. It comes from the first line of --admin-token-file, or from
// FLEETRATE_ADMIN_TOKEN; either way it must be a usable secret, or the server does not start:
//   - at least kMinAdminTokenBytes bytes (a short token can be guessed);
//   - no whitespace and only printable ASCII (what an `authorization` header can carry; a
//     stray space or tab would otherwise make a token nobody can present);
//   - a file's first line must hold it (a blank first line used to disable SetPolicies
//     silently); only the newline (and a CR before it) ending that line is dropped.
//
//   absl::StatusOr<std::string> token = ReadAdminTokenFile(settings.admin_token_file);
//   absl::Status ok = CheckAdminToken("FLEETRATE_ADMIN_TOKEN", value);
//
// Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fleetrate::server {

inline constexpr size_t kMinAdminTokenBytes = 16;
inline constexpr size_t kMaxAdminTokenFileBytes = 4096;

// OK, or INVALID_ARGUMENT naming `source` (the flag or variable) and the rule broken; the
// message never contains the token.
[[nodiscard]] absl::Status CheckAdminToken(std::string_view source, std::string_view token);

// The checked token from the first line of `path` (read as server/common/file_read.h reads:
// a regular file of at most kMaxAdminTokenFileBytes). Errors name --admin-token-file.
[[nodiscard]] absl::StatusOr<std::string> ReadAdminTokenFile(const std::string& path);

}  // namespace fleetrate::server
