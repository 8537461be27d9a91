#include "server/config/admin_token.h"

#include "server/common/file_read.h"
#include "server/common/strings.h"

namespace fleetrate::server {

absl::Status CheckAdminToken(std::string_view source, std::string_view token) {
  if (token.empty()) {
    return absl::InvalidArgumentError(StrCat(source, ": the admin token is empty"));
  }
  for (const char c : token) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
      return absl::InvalidArgumentError(
          StrCat(source, ": the admin token contains whitespace; it must be one word of at least ",
                 kMinAdminTokenBytes, " printable ASCII characters"));
    }
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          StrCat(source,
                 ": the admin token must be printable ASCII (what an authorization "
                 "header carries), with no control or non-ASCII bytes"));
    }
  }
  if (token.size() < kMinAdminTokenBytes) {
    return absl::InvalidArgumentError(StrCat(source, ": the admin token is ", token.size(),
                                             " bytes; it must be at least ", kMinAdminTokenBytes,
                                             " (e.g. openssl rand -hex 32)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAdminTokenFile(const std::string& path) {
  constexpr char kFlag[] = "--admin-token-file";
  absl::StatusOr<FileSnapshot> file = ReadRegularFile(path, kMaxAdminTokenFileBytes);
  if (!file.ok()) return absl::InvalidArgumentError(StrCat(kFlag, ": ", file.status().message()));
  std::string_view line = file->content;
  line = line.substr(0, line.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) {
    return absl::InvalidArgumentError(StrCat(
        kFlag, ": '", path, "' ", file->content.empty() ? "is empty" : "has a blank first line",
        "; the token must be on the first line"));
  }
  if (absl::Status s = CheckAdminToken(StrCat(kFlag, " '", path, "'"), line); !s.ok()) return s;
  return std::string(line);
}

}  // namespace fleetrate::server
