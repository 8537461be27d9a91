#include "server/http/query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"

namespace fleetrate::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

TEST(QueryTest, DecodesPairsInOrderKeepingRepeats) {
  absl::StatusOr<QueryParams> query = ParseQuery("a=1&b=x%20y&c=+&a=2");
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_THAT(*query,
              ElementsAre(Pair("a", "1"), Pair("b", "x y"), Pair("c", " "), Pair("a", "2")));
}

TEST(QueryTest, KeepsEmptyValuesAndBareKeysAndSkipsEmptySegments) {
  absl::StatusOr<QueryParams> query = ParseQuery("a=&flag&&=v&b=c=d&");
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_THAT(*query,
              ElementsAre(Pair("a", ""), Pair("flag", ""), Pair("", "v"), Pair("b", "c=d")));
}

TEST(QueryTest, EmptyStringHasNoParameters) {
  absl::StatusOr<QueryParams> query = ParseQuery("");
  ASSERT_TRUE(query.ok());
  EXPECT_THAT(*query, IsEmpty());
}

TEST(QueryTest, DecodesEscapesInKeysAndBothHexCases) {
  absl::StatusOr<QueryParams> query = ParseQuery("k%2Bey=%2f%2F%26%3d%25+%e2%82%ac");
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_THAT(*query, ElementsAre(Pair("k+ey", "//&=% \xe2\x82\xac")));
}

TEST(QueryTest, RejectsMalformedEscapes) {
  for (const char* raw : {"a=%", "a=%4", "a=%zz", "a=%4g", "%x=1", "a=1&b=%"}) {
    absl::StatusOr<QueryParams> query = ParseQuery(raw);
    ASSERT_FALSE(query.ok()) << raw;
    EXPECT_EQ(query.status().code(), absl::StatusCode::kInvalidArgument) << raw;
    EXPECT_THAT(query.status().message(), HasSubstr("percent-escape")) << raw;
  }
}

TEST(QueryTest, PathDecodingKeepsPlus) {
  absl::StatusOr<std::string> path = PercentDecode("/a+b%20c", /*plus_is_space=*/false);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, "/a+b c");
  absl::StatusOr<std::string> form = PercentDecode("a+b", /*plus_is_space=*/true);
  ASSERT_TRUE(form.ok());
  EXPECT_EQ(*form, "a b");
}

TEST(QueryTest, SingleValueReturnsTheOnlyValue) {
  const QueryParams query = {{"service", "checkout"}, {"other", "x"}};
  absl::StatusOr<std::string> value = SingleQueryValue(query, "service");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "checkout");
}

TEST(QueryTest, SingleValueAcceptsEmptyValue) {
  absl::StatusOr<std::string> value = SingleQueryValue({{"service", ""}}, "service");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "");
}

TEST(QueryTest, SingleValueMissingIsNotFoundNamingTheParameter) {
  absl::StatusOr<std::string> value = SingleQueryValue({{"services", "x"}}, "service");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(value.status().message(), HasSubstr("'service' is required"));
}

TEST(QueryTest, SingleValueRepeatedIsInvalidArgumentNamingTheParameter) {
  absl::StatusOr<std::string> value =
      SingleQueryValue({{"service", "a"}, {"x", "y"}, {"service", "a"}}, "service");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(value.status().message(), HasSubstr("'service' must be given once, got 2"));
}

TEST(QueryTest, ValuesReturnsAllInOrder) {
  const QueryParams query = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
  EXPECT_THAT(QueryValues(query, "a"), ElementsAre("1", "3"));
  EXPECT_THAT(QueryValues(query, "z"), IsEmpty());
}

}  // namespace
}  // namespace fleetrate::server
