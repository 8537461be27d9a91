#include "fleetrate/json_lines_exporter.h"

#include <cmath>
#include <cstdio>

namespace fleetrate {
namespace {

void AppendHex(std::string& out, const uint8_t* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0xf];
  }
}

// RFC 8259 string escaping.
void AppendString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string_view KindName(SpanKind kind) {
  switch (kind) {
    case SpanKind::kUnspecified:
      return "unspecified";
    case SpanKind::kInternal:
      return "internal";
    case SpanKind::kServer:
      return "server";
    case SpanKind::kClient:
      return "client";
    case SpanKind::kProducer:
      return "producer";
    case SpanKind::kConsumer:
      return "consumer";
  }
  return "unspecified";
}

std::string_view StatusName(StatusCode status) {
  switch (status) {
    case StatusCode::kUnset:
      return "unset";
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kError:
      return "error";
  }
  return "unset";
}

bool AllZero(const uint8_t* bytes, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

void AppendSpan(std::string& out, const SpanRecord& span) {
  out += "{\"trace_id\":\"";
  AppendHex(out, span.trace_id.data(), span.trace_id.size());
  out += "\",\"span_id\":\"";
  AppendHex(out, span.span_id.data(), span.span_id.size());
  out += '"';
  if (!AllZero(span.parent_span_id.data(), span.parent_span_id.size())) {
    out += ",\"parent_span_id\":\"";
    AppendHex(out, span.parent_span_id.data(), span.parent_span_id.size());
    out += '"';
  }
  out += ",\"name\":";
  AppendString(out, span.name);
  out += ",\"kind\":\"";
  out += KindName(span.kind);
  out += "\",\"start_unix_nanos\":" + std::to_string(span.start_unix_nanos);
  out += ",\"end_unix_nanos\":" + std::to_string(span.end_unix_nanos);
  out += ",\"status\":\"";
  out += StatusName(span.status);
  out += '"';
  if (!span.status_message.empty()) {
    out += ",\"status_message\":";
    AppendString(out, span.status_message);
  }
  if (!span.trace_state.empty()) {
    out += ",\"trace_state\":";
    AppendString(out, span.trace_state);
  }
  out += span.sampled ? ",\"sampled\":true" : ",\"sampled\":false";
  out += ",\"attributes\":{";
  bool first = true;
  for (size_t i = 0; i < span.attribute_count; ++i) {
    const Attribute& a = span.attributes[i];
    if (!first) out += ',';
    first = false;
    AppendString(out, a.key);
    out += ':';
    switch (a.type) {
      case AttributeType::kString:
        AppendString(out, a.string_value);
        break;
      case AttributeType::kBool:
        out += a.bool_value ? "true" : "false";
        break;
      case AttributeType::kInt:
        out += std::to_string(a.int_value);
        break;
      case AttributeType::kDouble:
        if (std::isfinite(a.double_value)) {
          char buf[32];
          std::snprintf(buf, sizeof(buf), "%.17g", a.double_value);
          out += buf;
        } else {
          out += "null";
        }
        break;
    }
  }
  if (span.capture != CaptureReason::kNone) {
    if (!first) out += ',';
    AppendString(out, kCaptureReasonAttribute);
    out += ':';
    AppendString(out, CaptureReasonName(span.capture));
  }
  out += "}}";
}

}  // namespace

std::string JsonLinesExporter::ToJson(const SpanRecord& span) {
  std::string out;
  AppendSpan(out, span);
  return out;
}

ExportResult JsonLinesExporter::Export(
    const SpanBatch& batch, std::chrono::steady_clock::time_point /*deadline*/) noexcept {
  try {
    buffer_.clear();
    for (const SpanRecord& span : batch) {
      AppendSpan(buffer_, span);
      buffer_ += '\n';
    }
    out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    out_.flush();
    return out_.good() ? ExportResult::kSuccess : ExportResult::kFailure;
  } catch (...) {
    return ExportResult::kFailure;
  }
}

}  // namespace fleetrate
