// The PEM text of a server's TLS files, read once and shared by the gRPC port
// (server/config/tls.h) and the HTTPS port (server/http/http_server.h).
#pragma once

#include <string>

namespace fleetrate::server {

struct TlsPems {
  std::string cert_chain;  // empty: plaintext
  std::string private_key;
  std::string client_ca;  // non-empty: mutual TLS (clients must present a certificate it signed)

  [[nodiscard]] bool enabled() const noexcept { return !cert_chain.empty(); }
};

}  // namespace fleetrate::server
