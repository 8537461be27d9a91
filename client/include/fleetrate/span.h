// Span data handed to the Batcher: SpanView (what the application passes, borrowed views)
// and SpanRecord (the Batcher's pooled, owning copy that exporters read).
//
//   fleetrate::AttributeView attrs[] = {{"http.method", "GET"}, {"http.status_code", 200}};
//   fleetrate::SpanView span;
//   span.trace_id = trace_id;  span.span_id = span_id;
//   span.name = "GET /users";  span.kind = fleetrate::SpanKind::kServer;
//   span.start_unix_nanos = start;  span.end_unix_nanos = end;
//   span.sampled = true;  // the trace's decision; false for a recorded-only span
//   span.attributes = attrs;  span.attribute_count = 2;
//   batcher.Add(span);  // copies into a preallocated slot
//
// A SpanView borrows everything; it need only be valid during the Add call. A SpanRecord
// belongs to the Batcher's ring; an exporter may read it only during Export.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fleetrate {

// OpenTelemetry SpanKind / StatusCode, same numbering as OTLP.
enum class SpanKind : uint8_t {
  kUnspecified = 0,
  kInternal = 1,
  kServer = 2,
  kClient = 3,
  kProducer = 4,
  kConsumer = 5
};
enum class StatusCode : uint8_t { kUnset = 0, kOk = 1, kError = 2 };

enum class AttributeType : uint8_t { kString, kBool, kInt, kDouble };

// Why edge capture exported a span of an unsampled trace.
enum class CaptureReason : uint8_t { kNone, kError, kSlow };
// The attribute that marks a captured span: "fleetrate.capture.reason" = "error" | "slow".
inline constexpr std::string_view kCaptureReasonAttribute = "fleetrate.capture.reason";
[[nodiscard]] std::string_view CaptureReasonName(CaptureReason reason) noexcept;

struct AttributeView {
  AttributeView() = default;
  AttributeView(std::string_view k, std::string_view v) : key(k), type(AttributeType::kString) {
    string_value = v;
  }
  AttributeView(std::string_view k, const char* v) : AttributeView(k, std::string_view(v)) {}
  AttributeView(std::string_view k, bool v) : key(k), type(AttributeType::kBool), bool_value(v) {}
  AttributeView(std::string_view k, int v) : AttributeView(k, static_cast<int64_t>(v)) {}
  AttributeView(std::string_view k, int64_t v) : key(k), type(AttributeType::kInt), int_value(v) {}
  AttributeView(std::string_view k, double v)
      : key(k), type(AttributeType::kDouble), double_value(v) {}

  std::string_view key;
  AttributeType type = AttributeType::kString;
  std::string_view string_value;
  bool bool_value = false;
  int64_t int_value = 0;
  double double_value = 0.0;
};

struct SpanView {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  std::array<uint8_t, 8> parent_span_id{};  // all zero for a root
  std::string_view trace_state;             // W3C tracestate of the span (e.g. "ot=th:8")
  std::string_view name;
  SpanKind kind = SpanKind::kInternal;
  int64_t start_unix_nanos = 0;
  int64_t end_unix_nanos = 0;
  StatusCode status = StatusCode::kUnset;
  std::string_view status_message;
  // The trace's sampling decision: true for kRecordAndSample, false for kRecordOnly (then
  // only edge capture may export the span).
  bool sampled = true;
  const AttributeView* attributes = nullptr;
  size_t attribute_count = 0;
};

struct Attribute {
  std::string key;
  AttributeType type = AttributeType::kString;
  std::string string_value;
  bool bool_value = false;
  int64_t int_value = 0;
  double double_value = 0.0;
};

// The Batcher's copy of a span. Strings and the attribute vector keep their capacity across
// reuse, so a slot allocates only when a span is larger than any it held before.
struct SpanRecord {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  std::array<uint8_t, 8> parent_span_id{};
  std::string trace_state;
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  int64_t start_unix_nanos = 0;
  int64_t end_unix_nanos = 0;
  StatusCode status = StatusCode::kUnset;
  std::string status_message;
  bool sampled = true;
  CaptureReason capture = CaptureReason::kNone;  // exporters add kCaptureReasonAttribute
  std::vector<Attribute> attributes;             // only [0, attribute_count) are this span's
  size_t attribute_count = 0;

  // Copies `view` (reusing capacity).
  void Assign(const SpanView& view);
};

}  // namespace fleetrate
