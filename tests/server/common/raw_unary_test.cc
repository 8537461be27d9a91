#include "server/common/raw_unary.h"

#include <gtest/gtest.h>

#include <string>

#include "fleetrate/v1/sampling.pb.h"
#include "fleetrate/wire/v1/sync_request.pb.h"

namespace fleetrate::server {
namespace {

grpc::ByteBuffer BufferOf(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// Bytes as a client with invalid strings would send them: the mirror with `bytes` fields
// serializes without complaint.
std::string RequestWith(const std::string& service, const std::string& second_operation) {
  wire::v1::SyncRequest request;
  request.mutable_client()->set_instance_id("i-1");
  request.mutable_client()->set_service(service);
  request.add_operations()->set_operation("GET /a");
  request.add_operations()->set_operation(second_operation);
  request.mutable_operations(1)->set_roots_seen(7);
  return request.SerializeAsString();
}

TEST(ParseCheckingUtf8Test, NamesTheFirstBadStringWithItsPathAtAnyDepth) {
  v1::SyncRequest parsed;
  grpc::Status s = ParseCheckingUtf8(BufferOf(RequestWith("cart\xff", "GET /b")), &parsed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "client.service: must be valid UTF-8, byte 4 of 5 is not");

  s = ParseCheckingUtf8(BufferOf(RequestWith("cart", "GET /\xe2\x82")), &parsed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "operations[1].operation: must be valid UTF-8, byte 5 of 7 is not");
}

TEST(ParseCheckingUtf8Test, ParsesAValidMessageExactlyAsProtobufDoes) {
  const std::string bytes = RequestWith("k\xc3\xb6rbe", "GET /\xe2\x82\xac");
  v1::SyncRequest parsed;
  ASSERT_TRUE(ParseCheckingUtf8(BufferOf(bytes), &parsed).ok());
  v1::SyncRequest expected;
  ASSERT_TRUE(expected.ParseFromString(bytes));
  EXPECT_EQ(parsed.SerializeAsString(), expected.SerializeAsString());
  EXPECT_EQ(parsed.operations(1).roots_seen(), 7u);
  // Zero bytes: every field at its default.
  EXPECT_TRUE(ParseCheckingUtf8(grpc::ByteBuffer(), &parsed).ok());
}

TEST(ParseCheckingUtf8Test, BytesThatAreNotTheMessageAreInvalidArgument) {
  v1::SyncRequest parsed;
  grpc::Status s = ParseCheckingUtf8(BufferOf("\x0a\xff\xff\xff"), &parsed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "request: not a fleetrate.v1.SyncRequest (4 bytes that do not parse as one)");
  // A nested message that is not one: the check skips it, the parse refuses it.
  s = ParseCheckingUtf8(BufferOf(std::string("\x0a\x02\x0a\xff", 4)), &parsed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "request: not a fleetrate.v1.SyncRequest (4 bytes that do not parse as one)");
}

}  // namespace
}  // namespace fleetrate::server
