#include "fleetrate/span.h"

namespace fleetrate {

std::string_view CaptureReasonName(CaptureReason reason) noexcept {
  switch (reason) {
    case CaptureReason::kNone:
      return "none";
    case CaptureReason::kError:
      return "error";
    case CaptureReason::kSlow:
      return "slow";
  }
  return "unknown";
}

void SpanRecord::Assign(const SpanView& view) {
  trace_id = view.trace_id;
  span_id = view.span_id;
  parent_span_id = view.parent_span_id;
  trace_state.assign(view.trace_state.data(), view.trace_state.size());
  name.assign(view.name.data(), view.name.size());
  kind = view.kind;
  start_unix_nanos = view.start_unix_nanos;
  end_unix_nanos = view.end_unix_nanos;
  status = view.status;
  status_message.assign(view.status_message.data(), view.status_message.size());
  sampled = view.sampled;
  capture = CaptureReason::kNone;
  attribute_count = 0;
  if (attributes.size() < view.attribute_count) attributes.resize(view.attribute_count);
  for (size_t i = 0; i < view.attribute_count; ++i) {
    const AttributeView& in = view.attributes[i];
    Attribute& out = attributes[i];
    out.key.assign(in.key.data(), in.key.size());
    out.type = in.type;
    if (in.type == AttributeType::kString) {
      out.string_value.assign(in.string_value.data(), in.string_value.size());
    }
    out.bool_value = in.bool_value;
    out.int_value = in.int_value;
    out.double_value = in.double_value;
  }
  attribute_count = view.attribute_count;
}

}  // namespace fleetrate
