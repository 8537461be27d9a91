// TLS for the server's gRPC port from PEM files: a certificate chain and key, and optionally a
// client CA, which turns on mutual TLS (clients must present a certificate it signed).
//
//   TlsFiles tls{"/etc/fleetrate/tls.crt", "/etc/fleetrate/tls.key", ""};
//   absl::StatusOr<TlsPems> pems = ReadTlsFiles(tls);            // once, for both ports
//   std::shared_ptr<grpc::ServerCredentials> creds = ServerCredentialsFor(*pems);
//
// ReadTlsFiles checks, before gRPC or Boost.Asio sees the files, what they would otherwise
// report confusingly or not at all: a key that does not belong to the certificate (gRPC's
// BuildAndStart just fails, which used to read "address in use"), and a certificate that is
// expired, not yet valid or expires within kTlsExpiryWarningDays (a warning log, naming the date;
// the server still starts, so a renewal that lands late does not turn into an outage).
//
// Thread-safe (no shared state).
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/common/tls_pems.h"

namespace fleetrate::server {

struct TlsFiles {
  std::string cert_file;       // --tls-cert; empty: plaintext
  std::string key_file;        // --tls-key
  std::string client_ca_file;  // --tls-client-ca; empty: clients are not asked for certificates

  [[nodiscard]] bool enabled() const noexcept { return !cert_file.empty(); }
};

// A certificate that expires within this many days gets a warning at start.
inline constexpr int kTlsExpiryWarningDays = 14;
// PEM files larger than this are refused before they are read.
inline constexpr size_t kMaxPemFileBytes = 1 << 20;

// The flags that go together: a key without a certificate (or the reverse), or a client CA
// without both, is an error naming the flags. OK when TLS is off or complete.
[[nodiscard]] absl::Status CheckTlsFlags(const TlsFiles& tls);

// Reads the files (nothing when no TLS flag is given; server/common/file_read.h: regular files of
// at most kMaxPemFileBytes). Errors name the flag and the file, or the flag that is missing, or
// that the key does not match the certificate. Warnings about the certificate's validity dates
// at `now` are logged.
[[nodiscard]] absl::StatusOr<TlsPems> ReadTlsFiles(
    const TlsFiles& tls,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The checks ReadTlsFiles makes of read PEMs: an error when the first certificate of the chain
// or the key cannot be parsed, or the key does not belong to the certificate; else the warnings
// about validity dates at `now` ("--tls-cert: '<file>' expired on 2026-01-02 03:04:05 UTC ...").
[[nodiscard]] absl::StatusOr<std::vector<std::string>> CheckCertificateAndKey(
    const TlsFiles& tls, const TlsPems& pems, std::chrono::system_clock::time_point now);

// gRPC credentials for `pems`: insecure when !pems.enabled().
[[nodiscard]] std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(const TlsPems& pems);

}  // namespace fleetrate::server
