// TLS for the server's gRPC port from PEM files: a certificate chain and key, and optionally a
// client CA, which turns on mutual TLS (clients must present a certificate it signed).
//
//   TlsFiles tls{"/etc/fleetrate/tls.crt", "/etc/fleetrate/tls.key", ""};
//   absl::StatusOr<TlsPems> pems = ReadTlsFiles(tls);            // once, for both ports
//   std::shared_ptr<grpc::ServerCredentials> creds = ServerCredentialsFor(*pems);
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/common/tls_pems.h"

namespace fleetrate::server {

struct TlsFiles {
  std::string cert_file;       // --tls-cert; empty: plaintext
  std::string key_file;        // --tls-key
  std::string client_ca_file;  // --tls-client-ca; empty: clients are not asked for certificates

  [[nodiscard]] bool enabled() const noexcept { return !cert_file.empty(); }
};

// Reads the files (nothing when !tls.enabled()). Errors name the flag and the file, or the flag
// that is missing (a key without a certificate, a client CA without both).
[[nodiscard]] absl::StatusOr<TlsPems> ReadTlsFiles(const TlsFiles& tls);

// gRPC credentials for `pems`: insecure when !pems.enabled().
[[nodiscard]] std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(const TlsPems& pems);

}  // namespace fleetrate::server
