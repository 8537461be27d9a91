// Exporter: where the Batcher sends batches of finished spans. fleetrate ships
// OtlpGrpcExporter (otlp_grpc_exporter.h) and JsonLinesExporter (json_lines_exporter.h);
// applications may implement their own.
//
//   class MyExporter final : public fleetrate::Exporter {
//    public:
//     fleetrate::ExportResult Export(const fleetrate::SpanBatch& batch,
//                                    std::chrono::steady_clock::time_point deadline) noexcept
//         override {
//       for (const fleetrate::SpanRecord& span : batch) { /* send span.name, ... */ }
//       return fleetrate::ExportResult::kSuccess;
//     }
//   };
//
// Contract: the Batcher calls Export from its single export thread, never concurrently, and
// Shutdown once after the last Export. Export must return by `deadline` (the Batcher's export
// timeout, or a Shutdown/ForceFlush deadline if sooner): a network exporter sets it as its RPC
// deadline. A result returned after the deadline is counted as a timeout. The spans are valid
// only during the call (they live in the Batcher's ring); copy what you keep. Export must not
// throw (it is noexcept).
#pragma once

#include <chrono>
#include <cstddef>

#include "fleetrate/span.h"

namespace fleetrate {

enum class ExportResult { kSuccess, kFailure, kTimeout };

// A read-only view of the spans of one batch; iterates as `const SpanRecord&`.
class SpanBatch {
 public:
  class Iterator {
   public:
    explicit Iterator(const SpanRecord* const* p) : p_(p) {}
    const SpanRecord& operator*() const { return **p_; }
    const SpanRecord* operator->() const { return *p_; }
    Iterator& operator++() {
      ++p_;
      return *this;
    }
    bool operator!=(const Iterator& other) const { return p_ != other.p_; }
    bool operator==(const Iterator& other) const { return p_ == other.p_; }

   private:
    const SpanRecord* const* p_;
  };

  SpanBatch(const SpanRecord* const* spans, size_t size) : spans_(spans), size_(size) {}
  [[nodiscard]] size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] const SpanRecord& operator[](size_t i) const { return *spans_[i]; }
  [[nodiscard]] Iterator begin() const { return Iterator(spans_); }
  [[nodiscard]] Iterator end() const { return Iterator(spans_ + size_); }

 private:
  const SpanRecord* const* spans_;
  size_t size_;
};

class Exporter {
 public:
  virtual ~Exporter() = default;
  [[nodiscard]] virtual ExportResult Export(
      const SpanBatch& batch, std::chrono::steady_clock::time_point deadline) noexcept = 0;
  // Called once, after the last Export; release connections and files here.
  virtual void Shutdown(std::chrono::steady_clock::time_point /*deadline*/) noexcept {}
};

}  // namespace fleetrate
