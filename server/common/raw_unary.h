// Helpers for gRPC raw callback unary methods: the handler gets the request's bytes and parses
// them itself, into a message of its choosing. The server does this where a public message has
// `string` fields: protobuf refuses invalid UTF-8 while parsing, and gRPC would answer INTERNAL
// ("failed to parse") before the handler ran, with a protobuf error line in the log per call.
// Parsed into a mirror message with `bytes` fields (proto/fleetrate/wire/v1/), the handler
// answers INVALID_ARGUMENT naming the field instead.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <string>

#include "server/common/strings.h"

namespace fleetrate::server {

// Parses `bytes` into `message`; INVALID_ARGUMENT "request: not a <what> (...)" when they do not
// parse. Zero bytes are a message with every field at its default.
[[nodiscard]] inline grpc::Status ParseRawRequest(const grpc::ByteBuffer& bytes, const char* what,
                                                  google::protobuf::Message* message) {
  if (!bytes.Valid()) return grpc::Status::OK;
  grpc::ByteBuffer view(bytes);  // shares the slices; the reader consumes the view
  grpc::ProtoBufferReader reader(&view);
  if (!reader.status().ok() || !message->ParseFromZeroCopyStream(&reader)) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        StrCat("request: not a ", what, " (", bytes.Length(), " bytes that do not parse as one)"));
  }
  return grpc::Status::OK;
}

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
