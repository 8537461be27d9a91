#include "fleetrate/span.h"

#include <cstring>

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

namespace {

// A slot's strings are overwritten with values of the same length most of the time (span
// names, attribute keys and values repeat per call site): copy those straight into the
// existing buffer instead of going through std::string's general replace path, which costs
// more than the copy for strings this short.
inline void CopyString(std::string& out, std::string_view in) {
  if (in.size() == out.size()) {
    if (!in.empty()) std::memcpy(out.data(), in.data(), in.size());
    return;
  }
  out.assign(in.data(), in.size());
}

}  // namespace

void SpanRecord::Assign(const SpanView& view) {
  trace_id = view.trace_id;
  span_id = view.span_id;
  parent_span_id = view.parent_span_id;
  CopyString(trace_state, view.trace_state);
  CopyString(name, view.name);
  kind = view.kind;
  start_unix_nanos = view.start_unix_nanos;
  end_unix_nanos = view.end_unix_nanos;
  status = view.status;
  CopyString(status_message, view.status_message);
  sampled = view.sampled;
  capture = CaptureReason::kNone;
  attribute_count = 0;
  if (attributes.size() < view.attribute_count) attributes.resize(view.attribute_count);
  for (size_t i = 0; i < view.attribute_count; ++i) {
    const AttributeView& in = view.attributes[i];
    Attribute& out = attributes[i];
    CopyString(out.key, in.key);
    out.type = in.type;
    if (in.type == AttributeType::kString) {
      CopyString(out.string_value, in.string_value);
    }
    out.bool_value = in.bool_value;
    out.int_value = in.int_value;
    out.double_value = in.double_value;
  }
  attribute_count = view.attribute_count;
}

}  // namespace fleetrate
