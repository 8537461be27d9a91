// The server parses Sync requests into a mirror of the public message with `bytes` for
// `string` (proto/fleetrate/wire/v1/). The mirror must read every byte sequence the public
// message can carry exactly as the public message does: same fields, numbers and types,
// `bytes` where the public one has `string`, recursively.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include "fleetrate/v1/sampling.pb.h"
#include "fleetrate/wire/v1/sync_request.pb.h"

namespace fleetrate::server {
namespace {

void ExpectMirrors(const google::protobuf::Descriptor& mirror,
                   const google::protobuf::Descriptor& original) {
  using google::protobuf::FieldDescriptor;
  SCOPED_TRACE(original.full_name());
  ASSERT_EQ(mirror.field_count(), original.field_count());
  for (int i = 0; i < original.field_count(); ++i) {
    const FieldDescriptor& want = *original.field(i);
    const FieldDescriptor* got = mirror.FindFieldByNumber(want.number());
    ASSERT_NE(got, nullptr) << want.name();
    EXPECT_EQ(got->name(), want.name());
    EXPECT_EQ(got->is_repeated(), want.is_repeated()) << want.name();
    if (want.type() == FieldDescriptor::TYPE_STRING) {
      EXPECT_EQ(got->type(), FieldDescriptor::TYPE_BYTES) << want.name();
    } else {
      EXPECT_EQ(got->type(), want.type()) << want.name();
    }
    if (want.type() == FieldDescriptor::TYPE_MESSAGE &&
        got->message_type() != want.message_type()) {
      ExpectMirrors(*got->message_type(), *want.message_type());
    }
  }
}

TEST(WireFormatTest, MirrorsTheSyncRequestFieldForField) {
  ExpectMirrors(*wire::v1::SyncRequest::descriptor(), *v1::SyncRequest::descriptor());
}

}  // namespace
}  // namespace fleetrate::server
