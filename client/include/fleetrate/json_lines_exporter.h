// JsonLinesExporter: writes each span as one JSON object per line to a std::ostream — for
// demos, tests and log pipelines.
//
//   std::ofstream out("spans.jsonl");
//   auto exporter = std::make_unique<fleetrate::JsonLinesExporter>(out);
//
// A line: {"trace_id":"<32 hex>","span_id":"<16 hex>","parent_span_id":"<16 hex>",
// "name":"...","kind":"server","start_unix_nanos":N,"end_unix_nanos":N,"status":"error",
// "status_message":"...","trace_state":"ot=th:8","sampled":true,"attributes":{"k":v,...}}
// (parent_span_id, status_message and trace_state only when non-empty; a captured span has
// the attribute "fleetrate.capture.reason").
//
// Thread safety: Export is called by one Batcher thread; nothing else may write to the stream
// while the Batcher runs. The stream is not owned and must outlive the exporter. Each batch is
// flushed; a stream in a failed state makes Export return kFailure.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "fleetrate/exporter.h"

namespace fleetrate {

class JsonLinesExporter final : public Exporter {
 public:
  explicit JsonLinesExporter(std::ostream& out) : out_(out) {}

  [[nodiscard]] ExportResult Export(
      const SpanBatch& batch, std::chrono::steady_clock::time_point deadline) noexcept override;

  // One span as a JSON object (no newline).
  [[nodiscard]] static std::string ToJson(const SpanRecord& span);

 private:
  std::ostream& out_;
  std::string buffer_;  // reused across batches
};

}  // namespace fleetrate
