#include "server/common/raw_unary.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "server/common/strings.h"
#include "server/common/utf8.h"

namespace fleetrate::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

grpc::Status NotA(const std::string& what, const grpc::ByteBuffer& bytes) {
  return grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT,
      StrCat("request: not a ", what, " (", bytes.Length(), " bytes that do not parse as one)"));
}

// The first string field of `type` in `fields` that is not UTF-8, as "path: ..."; empty when
// there is none. `fields` holds the message as unknown fields, which protobuf does not check.
std::string FirstBadString(const UnknownFieldSet& fields, const Descriptor& type,
                           const std::string& prefix, int depth) {
  std::map<int, int> seen;  // occurrences of each field number so far: the repeated index
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& field = fields.field(i);
    const int index = seen[field.number()]++;
    if (field.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const FieldDescriptor* declared = type.FindFieldByNumber(field.number());
    if (declared == nullptr) continue;
    std::string path = prefix + declared->name();
    if (declared->is_repeated()) path += StrCat("[", index, "]");
    const std::string& value = field.length_delimited();
    if (declared->type() == FieldDescriptor::TYPE_STRING) {
      if (const size_t bad = FirstInvalidUtf8(value); bad != std::string_view::npos) {
        return StrCat(path, ": must be valid UTF-8, byte ", bad, " of ", value.size(), " is not");
      }
    } else if (declared->type() == FieldDescriptor::TYPE_MESSAGE && depth < 32) {
      UnknownFieldSet nested;
      // A nested message that does not parse fails the whole parse later.
      if (!nested.ParseFromString(value)) continue;
      std::string found = FirstBadString(nested, *declared->message_type(), path + ".", depth + 1);
      if (!found.empty()) return found;
    }
  }
  return {};
}

}  // namespace

grpc::Status ParseRawRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* message,
                             const char* what) {
  if (!bytes.Valid()) return grpc::Status::OK;  // zero bytes: every field at its default
  grpc::ByteBuffer view(bytes);                 // shares the slices; the reader consumes it
  grpc::ProtoBufferReader reader(&view);
  if (!reader.status().ok() || !message->ParseFromZeroCopyStream(&reader)) {
    return NotA(what != nullptr ? what : message->GetDescriptor()->full_name(), bytes);
  }
  return grpc::Status::OK;
}

grpc::Status ParseCheckingUtf8(const grpc::ByteBuffer& bytes, google::protobuf::Message* message) {
  if (bytes.Valid()) {
    grpc::ByteBuffer view(bytes);
    grpc::ProtoBufferReader reader(&view);
    UnknownFieldSet fields;
    if (!reader.status().ok() || !fields.ParseFromZeroCopyStream(&reader)) {
      return NotA(message->GetDescriptor()->full_name(), bytes);
    }
    if (std::string bad = FirstBadString(fields, *message->GetDescriptor(), "", 0); !bad.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(bad));
    }
  }
  return ParseRawRequest(bytes, message);
}

}  // namespace fleetrate::server
