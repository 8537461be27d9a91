// Test helpers: exporters that record, block or fail, and a manual clock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fleetrate/exporter.h"
#include "fleetrate/sampler.h"

namespace fleetrate::testing {

class ManualClock final : public SamplerClock {
 public:
  int64_t NowNanos() const noexcept override { return now_.load(); }
  void Advance(std::chrono::nanoseconds d) { now_.fetch_add(d.count()); }

 private:
  std::atomic<int64_t> now_{1'000'000'000};
};

struct ExportCall {
  std::vector<std::string> names;
  std::vector<CaptureReason> captures;
  std::chrono::steady_clock::time_point called;
  std::chrono::steady_clock::time_point deadline;
};

// Records every batch. `behaviour` (optional) decides the result and may block.
class RecordingExporter final : public Exporter {
 public:
  using Behaviour =
      std::function<ExportResult(const SpanBatch&, std::chrono::steady_clock::time_point deadline)>;
  explicit RecordingExporter(Behaviour behaviour = nullptr) : behaviour_(std::move(behaviour)) {}

  ExportResult Export(const SpanBatch& batch,
                      std::chrono::steady_clock::time_point deadline) noexcept override {
    ExportCall call;
    call.called = std::chrono::steady_clock::now();
    call.deadline = deadline;
    for (const SpanRecord& span : batch) {
      call.names.push_back(span.name);
      call.captures.push_back(span.capture);
    }
    const ExportResult result = behaviour_ ? behaviour_(batch, deadline) : ExportResult::kSuccess;
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(std::move(call));
    cv_.notify_all();
    return result;
  }
  void Shutdown(std::chrono::steady_clock::time_point) noexcept override { shut_down_ = true; }

  std::vector<ExportCall> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  size_t SpanCount() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const ExportCall& c : calls_) n += c.names.size();
    return n;
  }
  bool WaitForSpans(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      size_t total = 0;
      for (const ExportCall& c : calls_) total += c.names.size();
      return total >= n;
    });
  }
  bool shut_down() const { return shut_down_.load(); }

 private:
  Behaviour behaviour_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ExportCall> calls_;
  std::atomic<bool> shut_down_{false};
};

// A gate a blocking exporter waits on (until opened or its deadline).
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool WaitUntil(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace fleetrate::testing
