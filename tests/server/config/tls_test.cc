#include "server/config/tls.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fleetrate::server {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;

// Certificates from tests/support/make_certs.sh (valid for 2 days from now), made once.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        (fs::temp_directory_path() / ("fleetrate-tls-" + std::to_string(::getpid()))).string());
    const std::string command = std::string(FLEETRATE_SOURCE_DIR) +
                                "/tests/support/make_certs.sh " + *dir_ + " >/dev/null 2>&1";
    made_ = std::system(command.c_str()) == 0;
    // A certificate valid for a year, for "no warning".
    made_ = made_ && std::system(("cd " + *dir_ +
                                  " && openssl req -x509 -newkey ec -pkeyopt "
                                  "ec_paramgen_curve:prime256v1 -nodes -days 365 -subj /CN=year "
                                  "-keyout year.key -out year.pem >/dev/null 2>&1")
                                     .c_str()) == 0;
    // The server's key, encrypted with a passphrase.
    made_ = made_ && std::system(("cd " + *dir_ +
                                  " && openssl pkey -in server.key -aes256 -passout pass:secret "
                                  "-out encrypted.key >/dev/null 2>&1")
                                     .c_str()) == 0;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(made_) << "openssl could not make the test certificates"; }
  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }

  static std::string* dir_;
  static bool made_;
};
std::string* TlsTest::dir_ = nullptr;
bool TlsTest::made_ = false;

TEST_F(TlsTest, FlagsThatGoTogetherAreCheckedNamingTheFlags) {
  EXPECT_TRUE(CheckTlsFlags({}).ok());
  EXPECT_TRUE(CheckTlsFlags({"c.pem", "k.pem", ""}).ok());
  EXPECT_TRUE(CheckTlsFlags({"c.pem", "k.pem", "ca.pem"}).ok());
  const absl::Status key_only = CheckTlsFlags({"", "k.pem", ""});
  EXPECT_EQ(key_only.message(),
            "--tls-key: needs --tls-cert (the certificate the key belongs to); without "
            "--tls-cert the server would serve plaintext");
  EXPECT_EQ(CheckTlsFlags({"c.pem", "", ""}).message(), "--tls-key: needed with --tls-cert");
  EXPECT_EQ(CheckTlsFlags({"", "", "ca.pem"}).message(),
            "--tls-client-ca: needs --tls-cert and --tls-key");
  // ReadTlsFiles makes the same check: a key alone is never silently plaintext.
  EXPECT_FALSE(ReadTlsFiles({"", Path("server.key"), ""}).ok());
}

TEST_F(TlsTest, AMatchingPairIsRead) {
  auto pems = ReadTlsFiles({Path("server.pem"), Path("server.key"), Path("ca.pem")});
  ASSERT_TRUE(pems.ok()) << pems.status();
  EXPECT_TRUE(pems->enabled());
  EXPECT_FALSE(pems->client_ca.empty());
}

TEST_F(TlsTest, AKeyThatIsNotTheCertificatesIsRefusedAsAMismatch) {
  auto pems = ReadTlsFiles({Path("server.pem"), Path("client.key"), ""});
  ASSERT_FALSE(pems.ok());
  EXPECT_EQ(pems.status().message(), "--tls-key: '" + Path("client.key") +
                                         "' does not match the certificate in --tls-cert '" +
                                         Path("server.pem") + "' (its public key differs)");
}

TEST_F(TlsTest, ACertificateOrKeyOpenSslCannotParseIsNamed) {
  auto csr = ReadTlsFiles({Path("server.csr"), Path("server.key"), ""});
  ASSERT_FALSE(csr.ok());
  EXPECT_EQ(csr.status().message(),
            "--tls-cert: '" + Path("server.csr") + "' holds no PEM certificate OpenSSL can read");
  auto key = ReadTlsFiles({Path("server.pem"), Path("server.pem"), ""});
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("--tls-key: '" + Path("server.pem") + "' holds no"),
            std::string::npos)
      << key.status();
}

// OpenSSL would otherwise ask the terminal for the passphrase, and the start would wait on it.
TEST_F(TlsTest, AnEncryptedKeyIsRefusedWithoutAskingForAPassphrase) {
  auto pems = ReadTlsFiles({Path("server.pem"), Path("encrypted.key"), ""});
  ASSERT_FALSE(pems.ok());
  EXPECT_EQ(pems.status().message(), "--tls-key: '" + Path("encrypted.key") +
                                         "' holds no unencrypted PEM private key OpenSSL can read");
}

TEST_F(TlsTest, ADirectoryOrMissingFileIsNamedWithItsFlag) {
  auto dir = ReadTlsFiles({*dir_, Path("server.key"), ""});
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().message(),
            "--tls-cert: '" + *dir_ + "' is a directory, not a regular file");
  auto missing = ReadTlsFiles({Path("server.pem"), Path("server.key"), Path("none.pem")});
  EXPECT_EQ(missing.status().message(), "--tls-client-ca: '" + Path("none.pem") +
                                            "' cannot be read (No such file or directory)");
}

TEST_F(TlsTest, ExpiredNotYetValidAndSoonExpiringCertificatesWarnWithTheDate) {
  const TlsFiles files{Path("server.pem"), Path("server.key"), ""};
  auto pems = ReadTlsFiles(files);
  ASSERT_TRUE(pems.ok()) << pems.status();
  const auto now = std::chrono::system_clock::now();
  const auto warning_at = [&](std::chrono::system_clock::time_point at) {
    auto warnings = CheckCertificateAndKey(files, *pems, at);
    EXPECT_TRUE(warnings.ok()) << warnings.status();
    return warnings.ok() && warnings->size() == 1 ? (*warnings)[0] : std::string("none");
  };
  const std::string expired = warning_at(now + hours(24 * 3));
  EXPECT_EQ(expired.find("--tls-cert: '" + Path("server.pem") + "' expired on 20"), 0u) << expired;
  EXPECT_NE(expired.find(" UTC; clients that check dates will refuse every handshake"),
            std::string::npos)
      << expired;
  const std::string early = warning_at(now - hours(24));
  EXPECT_NE(early.find("' is not valid before 20"), std::string::npos) << early;
  const std::string soon = warning_at(now);  // valid for 2 days: within the 14-day warning
  EXPECT_NE(soon.find("' expires on 20"), std::string::npos) << soon;
  EXPECT_NE(soon.find(", in less than 14 days; renew it"), std::string::npos) << soon;

  const TlsFiles year{Path("year.pem"), Path("year.key"), ""};
  auto year_pems = ReadTlsFiles(year);
  ASSERT_TRUE(year_pems.ok()) << year_pems.status();
  auto none = CheckCertificateAndKey(year, *year_pems, now);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace fleetrate::server
