// Helpers for gRPC raw callback unary methods: the handler gets the request's bytes and parses
// them itself. The server does this for requests with `string` fields: protobuf refuses a
// string that is not UTF-8 while parsing, so gRPC would answer INTERNAL ("failed to parse")
// before the handler ran. Parsed here, such a request is INVALID_ARGUMENT naming the field.
//
// Two ways: ParseCheckingUtf8 works for any message (it reads the bytes once more, as unknown
// fields, to check the strings first: fine for rare calls); the Sync hot path instead parses
// into a mirror message with `bytes` for `string` (proto/fleetrate/wire/v1/) with
// ParseRawRequest and checks the strings as it validates them.
//
//   grpc::ServerUnaryReactor* Foo(grpc::CallbackServerContext* context,
//                                 const grpc::ByteBuffer* bytes, grpc::ByteBuffer* out) override {
//     v1::FooRequest request;
//     v1::FooResponse response;
//     grpc::Status status = ParseCheckingUtf8(*bytes, &request);
//     if (status.ok()) status = DoFoo(request, &response);
//     return FinishRawCall(context, status, response, out);
//   }
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

namespace fleetrate::server {

// Parses `bytes` into `message`; INVALID_ARGUMENT "request: not a <what> (...)" when they do
// not parse (`what` defaults to the message's type: a mirror names the public type). Zero
// bytes are a message with every field at its default.
[[nodiscard]] grpc::Status ParseRawRequest(const grpc::ByteBuffer& bytes,
                                           google::protobuf::Message* message,
                                           const char* what = nullptr);

// ParseRawRequest, after checking that every string field of `message`'s type in `bytes`, at
// any depth, is UTF-8: otherwise INVALID_ARGUMENT "<path>: must be valid UTF-8, byte N of M is
// not", e.g. "rules[2].name".
[[nodiscard]] grpc::Status ParseCheckingUtf8(const grpc::ByteBuffer& bytes,
                                             google::protobuf::Message* message);

// Serializes `response` into `out` when `status` is OK, then finishes the call.
template <typename Response>
grpc::ServerUnaryReactor* FinishRawCall(grpc::CallbackServerContext* context, grpc::Status status,
                                        const Response& response, grpc::ByteBuffer* out) {
  if (status.ok()) {
    bool own_buffer = false;
    status = grpc::SerializationTraits<Response>::Serialize(response, out, &own_buffer);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace fleetrate::server
