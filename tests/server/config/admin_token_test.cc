#include "server/config/admin_token.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fleetrate::server {
namespace {

namespace fs = std::filesystem;

TEST(AdminTokenTest, ALongOneWordTokenIsAccepted) {
  EXPECT_TRUE(CheckAdminToken("FLEETRATE_ADMIN_TOKEN", "0123456789abcdef").ok());
  EXPECT_TRUE(CheckAdminToken("FLEETRATE_ADMIN_TOKEN", "s3cret-token/with+symbols=").ok());
}

TEST(AdminTokenTest, ShortEmptyOrSpacedTokensAreRefusedNamingTheRuleNotTheToken) {
  const auto message = [](std::string_view token) {
    return std::string(CheckAdminToken("FLEETRATE_ADMIN_TOKEN", token).message());
  };
  EXPECT_EQ(message("short-token"),
            "FLEETRATE_ADMIN_TOKEN: the admin token is 11 bytes; it must be at least 16 (e.g. "
            "openssl rand -hex 32)");
  EXPECT_EQ(message(""), "FLEETRATE_ADMIN_TOKEN: the admin token is empty");
  EXPECT_EQ(message("0123456789abcdef 0123"),
            "FLEETRATE_ADMIN_TOKEN: the admin token contains whitespace; it must be one word of "
            "at least 16 printable ASCII characters");
  EXPECT_NE(message("0123456789abcdef\t").find("contains whitespace"), std::string::npos);
  EXPECT_NE(message("0123456789abcdef\x01").find("printable ASCII"), std::string::npos);
  EXPECT_NE(message("0123456789abcdef\xc3\xa9").find("printable ASCII"), std::string::npos);
  EXPECT_EQ(message("0123456789abcdef 0123").find("0123456789"), std::string::npos);
}

class AdminTokenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() /
             ("fleetrate-token-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                .string();
  }
  void TearDown() override { fs::remove_all(path_); }
  void Write(const std::string& text) { std::ofstream(path_, std::ios::binary) << text; }

  std::string path_;
};

TEST_F(AdminTokenFileTest, TheFirstLineIsTheTokenWithoutItsLineEnd) {
  Write("0123456789abcdef0123\nsecond line ignored\n");
  auto token = ReadAdminTokenFile(path_);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "0123456789abcdef0123");
  Write("0123456789abcdef0123\r\n");
  EXPECT_EQ(ReadAdminTokenFile(path_).value_or(""), "0123456789abcdef0123");
  Write("0123456789abcdef0123");  // no newline at all (kubectl create secret --from-literal)
  EXPECT_EQ(ReadAdminTokenFile(path_).value_or(""), "0123456789abcdef0123");
}

TEST_F(AdminTokenFileTest, ABlankFirstLineIsAnErrorNotADisabledSetPolicies) {
  Write("\n0123456789abcdef0123\n");
  auto token = ReadAdminTokenFile(path_);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().message(),
            "--admin-token-file: '" + path_ +
                "' has a blank first line; the token must be on the first line");
  Write("");
  EXPECT_NE(ReadAdminTokenFile(path_).status().message().find("is empty"), std::string::npos);
}

TEST_F(AdminTokenFileTest, AShortOrSpacedTokenInTheFileIsAnErrorNamingTheFile) {
  Write("s3cret-token\n");
  auto token = ReadAdminTokenFile(path_);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().message(), "--admin-token-file '" + path_ +
                                          "': the admin token is 12 bytes; it must be at "
                                          "least 16 (e.g. openssl rand -hex 32)");
  Write("0123456789abcdef0123 \n");
  EXPECT_NE(ReadAdminTokenFile(path_).status().message().find("contains whitespace"),
            std::string::npos);
}

TEST_F(AdminTokenFileTest, ADirectoryOrMissingFileIsAnErrorNamingTheFlag) {
  fs::create_directories(path_);
  EXPECT_EQ(ReadAdminTokenFile(path_).status().message(),
            "--admin-token-file: '" + path_ + "' is a directory, not a regular file");
  EXPECT_EQ(ReadAdminTokenFile(path_ + "/none").status().message(),
            "--admin-token-file: '" + path_ + "/none' cannot be read (No such file or directory)");
}

}  // namespace
}  // namespace fleetrate::server
