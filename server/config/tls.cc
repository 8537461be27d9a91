#include "server/config/tls.h"

#include <grpcpp/security/server_credentials.h>

#include <fstream>
#include <iterator>
#include <tuple>

#include "server/common/strings.h"

namespace fleetrate::server {
namespace {

// A PEM file's text; INVALID_ARGUMENT naming `flag` and the path if it is unreadable or not PEM.
absl::StatusOr<std::string> ReadPemFile(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        StrCat(flag, ": '", path, "' ",
               text.empty() ? "cannot be read" : "is not PEM (no -----BEGIN line)"));
  }
  return text;
}

}  // namespace

absl::StatusOr<TlsPems> ReadTlsFiles(const TlsFiles& tls) {
  TlsPems pems;
  if (!tls.enabled()) {
    if (!tls.client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca: needs --tls-cert and --tls-key");
    }
    return pems;
  }
  if (tls.key_file.empty()) return absl::InvalidArgumentError("--tls-key: needed with --tls-cert");
  for (auto [flag, path, out] :
       {std::tuple{"--tls-cert", &tls.cert_file, &pems.cert_chain},
        std::tuple{"--tls-key", &tls.key_file, &pems.private_key},
        std::tuple{"--tls-client-ca", &tls.client_ca_file, &pems.client_ca}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> pem = ReadPemFile(flag, *path);
    if (!pem.ok()) return pem.status();
    *out = *std::move(pem);
  }
  return pems;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(const TlsPems& pems) {
  if (!pems.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({pems.private_key, pems.cert_chain});
  if (!pems.client_ca.empty()) {
    options.pem_root_certs = pems.client_ca;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace fleetrate::server
