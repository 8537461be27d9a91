#include "fleetrate/tls.h"

#include <grpcpp/security/credentials.h>

#include <fstream>
#include <iterator>

namespace fleetrate {
namespace {

// Reads a whole PEM file; INVALID_ARGUMENT naming `field` and the path when it cannot.
absl::StatusOr<std::string> ReadPemFile(const std::string& field, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(field + ": cannot read '" + path + "'");
  }
  if (text.empty()) {
    return absl::InvalidArgumentError(field + ": '" + path + "' is missing or empty");
  }
  if (text.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(field + ": '" + path + "' is not PEM (no -----BEGIN line)");
  }
  return text;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const TlsOptions& tls) {
  if (!tls.enabled) return grpc::InsecureChannelCredentials();
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "tls.key_file: set together with tls.cert_file (a client certificate needs its key)");
  }
  grpc::SslCredentialsOptions options;
  if (!tls.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile("tls.ca_file", tls.ca_file);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  if (!tls.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadPemFile("tls.cert_file", tls.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPemFile("tls.key_file", tls.key_file);
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

}  // namespace fleetrate
