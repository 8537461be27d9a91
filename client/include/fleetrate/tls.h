// TLS for the client's gRPC channels (fleetrate-server, an OTLP collector): PEM files in, gRPC
// channel credentials out.
//
//   fleetrate::TlsOptions tls;
//   tls.ca_file = "/etc/fleetrate/ca.pem";        // whom to trust; empty: the system roots
//   tls.cert_file = "/etc/fleetrate/client.pem";  // with key_file: a client certificate (mTLS)
//   tls.key_file = "/etc/fleetrate/client.key";
//   absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = ChannelCredentialsFor(tls);
//
// ClientOptions::tls does this for the Client. Files are read once, when credentials are made.
#pragma once

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace fleetrate {

struct TlsOptions {
  bool enabled = false;   // false: plaintext (the other fields are ignored)
  std::string ca_file;    // PEM roots to verify the server with; empty: the system's roots
  std::string cert_file;  // PEM client certificate chain, for servers that require mTLS
  std::string key_file;   // its PEM private key; set both or neither
  // Verify the server's certificate for this name instead of the target's host (e.g. when
  // connecting by IP to a certificate issued for a DNS name). Empty: the target's host.
  std::string server_name;
};

// TLS credentials from `tls` (insecure ones when !tls.enabled). INVALID_ARGUMENT naming the
// field ("tls.ca_file: cannot read '...'", "tls.key_file: set together with tls.cert_file").
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const TlsOptions& tls);

}  // namespace fleetrate
