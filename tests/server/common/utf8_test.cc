#include "server/common/utf8.h"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "fleetrate/v1/sampling.pb.h"
#include "fleetrate/wire/v1/sync_request.pb.h"

namespace fleetrate::server {
namespace {

constexpr size_t kValid = std::string_view::npos;

TEST(Utf8Test, AcceptsWellFormedTextOfEveryLength) {
  EXPECT_EQ(FirstInvalidUtf8(""), kValid);
  EXPECT_EQ(FirstInvalidUtf8("GET /cart/{id}"), kValid);
  EXPECT_EQ(FirstInvalidUtf8("\x7f"), kValid);
  EXPECT_EQ(FirstInvalidUtf8("\xc2\x80 \xdf\xbf"), kValid);  // U+0080, U+07FF
  EXPECT_EQ(FirstInvalidUtf8("\xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80"),
            kValid);                                    // U+0800, U+D7FF, U+E000
  EXPECT_EQ(FirstInvalidUtf8("\xef\xbf\xbf"), kValid);  // U+FFFF
  EXPECT_EQ(FirstInvalidUtf8("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf"), kValid);  // U+10000, U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("eight ch"
                             "\xc3\xa4"
                             "eight ch"),
            kValid);  // across the fast path
}

TEST(Utf8Test, NamesTheFirstByteOfTheFirstBadSequence) {
  EXPECT_EQ(FirstInvalidUtf8("\x80"), 0u);              // a lone continuation byte
  EXPECT_EQ(FirstInvalidUtf8("ab\xc0\x80"), 2u);        // overlong NUL
  EXPECT_EQ(FirstInvalidUtf8("\xc1\xbf"), 0u);          // overlong, two bytes
  EXPECT_EQ(FirstInvalidUtf8("\xe0\x9f\xbf"), 0u);      // overlong, three bytes
  EXPECT_EQ(FirstInvalidUtf8("\xf0\x8f\xbf\xbf"), 0u);  // overlong, four bytes
  EXPECT_EQ(FirstInvalidUtf8("x\xed\xa0\x80"), 1u);     // U+D800, a surrogate
  EXPECT_EQ(FirstInvalidUtf8("\xed\xbf\xbf"), 0u);      // U+DFFF
  EXPECT_EQ(FirstInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // U+110000
  EXPECT_EQ(FirstInvalidUtf8("\xf5\x80\x80\x80"), 0u);  // F5..FF never start a sequence
  EXPECT_EQ(FirstInvalidUtf8("\xff"), 0u);
  EXPECT_EQ(FirstInvalidUtf8("abc\xe2\x82"), 3u);   // truncated at the end
  EXPECT_EQ(FirstInvalidUtf8("abc\xe2\x82z"), 3u);  // a continuation byte missing
  EXPECT_EQ(FirstInvalidUtf8("\xf0\x9f\x9b"), 0u);
  EXPECT_EQ(FirstInvalidUtf8("sixteen bytes ok\xc3\xa4 then \xa4"), 24u);
}

// Protobuf refuses a proto3 `string` that is not valid UTF-8 while parsing; the server reads
// the same bytes as `bytes` and refuses them with this function instead. Both must agree on
// every input, or the server would accept names other clients' protobuf cannot read.
TEST(Utf8Test, AgreesWithProtobufsOwnCheckOnRandomBytes) {
  google::protobuf::LogSilencer quiet;  // protobuf logs every refused string
  std::mt19937_64 random(20261126);
  // Mostly high bytes, so that sequences both nearly and truly well-formed come up often.
  const unsigned char interesting[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                       0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee,
                                       0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff};
  int valid = 0;
  int invalid = 0;
  for (int round = 0; round < 200000; ++round) {
    std::string text(1 + random() % 8, '\0');
    for (char& c : text) {
      c = static_cast<char>(random() % 4 == 0 ? random() % 256
                                              : interesting[random() % sizeof interesting]);
    }
    wire::v1::ClientIdentity as_bytes;
    as_bytes.set_service(text);
    v1::ClientIdentity as_string;
    const bool protobuf_accepts = as_string.ParseFromString(as_bytes.SerializeAsString());
    const bool ours_accepts = FirstInvalidUtf8(text) == kValid;
    ASSERT_EQ(ours_accepts, protobuf_accepts) << testing::PrintToString(text);
    (ours_accepts ? valid : invalid) += 1;
  }
  // Both outcomes are exercised, so the agreement means something.
  EXPECT_GT(valid, 5000);
  EXPECT_GT(invalid, 10000);
}

}  // namespace
}  // namespace fleetrate::server
