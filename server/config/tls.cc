#include "server/config/tls.h"

#include <grpcpp/security/server_credentials.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>
#include <tuple>

#include "server/common/file_read.h"
#include "server/common/log.h"
#include "server/common/strings.h"

namespace fleetrate::server {
namespace {

// A PEM file's text; INVALID_ARGUMENT naming `flag` and the path if it is unreadable or not PEM.
absl::StatusOr<std::string> ReadPemFile(const char* flag, const std::string& path) {
  absl::StatusOr<FileSnapshot> file = ReadRegularFile(path, kMaxPemFileBytes);
  if (!file.ok()) {
    return absl::InvalidArgumentError(StrCat(flag, ": ", file.status().message()));
  }
  if (file->content.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        StrCat(flag, ": '", path, "' ",
               file->content.empty() ? "is empty" : "is not PEM (no -----BEGIN line)"));
  }
  return std::move(file->content);
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

// OpenSSL's default would ask the terminal for the passphrase of an encrypted key and block the
// start; gRPC cannot use such a key either, so none is given.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

Bio BioOf(const std::string& text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// "2026-01-02 03:04:05 UTC", or "an unreadable date".
std::string DateOf(const ASN1_TIME* time) {
  struct tm tm {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return "an unreadable date";
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

// Seconds from `now` to `time` (negative: in the past); false if the time cannot be read.
bool SecondsUntil(const ASN1_TIME* time, std::chrono::system_clock::time_point now,
                  int64_t* seconds) {
  const time_t now_t = std::chrono::system_clock::to_time_t(now);
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> at_now(ASN1_TIME_set(nullptr, now_t),
                                                               &ASN1_TIME_free);
  int days = 0, secs = 0;
  if (!at_now || time == nullptr || ASN1_TIME_diff(&days, &secs, at_now.get(), time) != 1) {
    return false;
  }
  *seconds = int64_t{days} * 86400 + secs;
  return true;
}

}  // namespace

absl::Status CheckTlsFlags(const TlsFiles& tls) {
  if (tls.cert_file.empty() && !tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-key: needs --tls-cert (the certificate the key belongs to); without --tls-cert "
        "the server would serve plaintext");
  }
  if (!tls.cert_file.empty() && tls.key_file.empty()) {
    return absl::InvalidArgumentError("--tls-key: needed with --tls-cert");
  }
  if (tls.cert_file.empty() && !tls.client_ca_file.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca: needs --tls-cert and --tls-key");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> CheckCertificateAndKey(
    const TlsFiles& tls, const TlsPems& pems, std::chrono::system_clock::time_point now) {
  std::vector<std::string> warnings;
  if (!pems.enabled()) return warnings;
  Bio cert_bio = BioOf(pems.cert_chain);
  std::unique_ptr<X509, X509Free> cert(
      cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  Bio key_bio = BioOf(pems.private_key);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  ERR_clear_error();  // the reasons are in the messages below; keep OpenSSL's queue clean
  if (!cert) {
    return absl::InvalidArgumentError(
        StrCat("--tls-cert: '", tls.cert_file, "' holds no PEM certificate OpenSSL can read"));
  }
  if (!key) {
    return absl::InvalidArgumentError(StrCat(
        "--tls-key: '", tls.key_file, "' holds no unencrypted PEM private key OpenSSL can read"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(StrCat("--tls-key: '", tls.key_file,
                                             "' does not match the certificate in --tls-cert '",
                                             tls.cert_file, "' (its public key differs)"));
  }
  const ASN1_TIME* not_before = X509_get0_notBefore(cert.get());
  const ASN1_TIME* not_after = X509_get0_notAfter(cert.get());
  int64_t until_start = 0, until_end = 0;
  if (!SecondsUntil(not_before, now, &until_start) || !SecondsUntil(not_after, now, &until_end)) {
    warnings.push_back(StrCat("--tls-cert: '", tls.cert_file,
                              "' has validity dates OpenSSL cannot read; clients may refuse it"));
  } else if (until_end < 0) {
    warnings.push_back(StrCat("--tls-cert: '", tls.cert_file, "' expired on ", DateOf(not_after),
                              "; clients that check dates will refuse every handshake"));
  } else if (until_start > 0) {
    warnings.push_back(StrCat("--tls-cert: '", tls.cert_file, "' is not valid before ",
                              DateOf(not_before),
                              "; clients that check dates will refuse every handshake until then"));
  } else if (until_end < int64_t{kTlsExpiryWarningDays} * 86400) {
    warnings.push_back(StrCat("--tls-cert: '", tls.cert_file, "' expires on ", DateOf(not_after),
                              ", in less than ", kTlsExpiryWarningDays, " days; renew it"));
  }
  return warnings;
}

absl::StatusOr<TlsPems> ReadTlsFiles(const TlsFiles& tls,
                                     std::chrono::system_clock::time_point now) {
  TlsPems pems;
  if (absl::Status s = CheckTlsFlags(tls); !s.ok()) return s;
  if (!tls.enabled()) return pems;
  for (auto [flag, path, out] :
       {std::tuple{"--tls-cert", &tls.cert_file, &pems.cert_chain},
        std::tuple{"--tls-key", &tls.key_file, &pems.private_key},
        std::tuple{"--tls-client-ca", &tls.client_ca_file, &pems.client_ca}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> pem = ReadPemFile(flag, *path);
    if (!pem.ok()) return pem.status();
    *out = *std::move(pem);
  }
  absl::StatusOr<std::vector<std::string>> warnings = CheckCertificateAndKey(tls, pems, now);
  if (!warnings.ok()) return warnings.status();
  for (const std::string& warning : *warnings) FLEETRATE_LOG(kWarning) << warning;
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
