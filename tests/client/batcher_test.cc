#include "fleetrate/batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fleetrate/json_lines_exporter.h"
#include "tests/client/test_exporters.h"

namespace fleetrate {
namespace {

using std::chrono::milliseconds;
using testing::Gate;
using testing::ManualClock;
using testing::RecordingExporter;

BatcherOptions Options(uint32_t queue, uint32_t batch, uint32_t delay_ms,
                       uint32_t timeout_ms = 30000) {
  BatcherOptions options;
  options.profile.name = "test";
  options.profile.max_queue_size = queue;
  options.profile.max_export_batch_size = batch;
  options.profile.schedule_delay_ms = delay_ms;
  options.profile.export_timeout_ms = timeout_ms;
  return options;
}

SpanView Span(std::string_view name, bool sampled = true) {
  SpanView span;
  span.name = name;
  span.sampled = sampled;
  span.start_unix_nanos = 1'000;
  span.end_unix_nanos = 2'000;
  return span;
}

// Owned by the batcher; the test keeps a raw pointer that outlives it only via shared state.
struct Harness {
  explicit Harness(BatcherOptions options, RecordingExporter::Behaviour behaviour = nullptr) {
    auto exporter = std::make_unique<RecordingExporter>(std::move(behaviour));
    recorder = exporter.get();
    batcher = std::make_unique<Batcher>(std::move(exporter), std::move(options));
  }
  RecordingExporter* recorder;  // valid while batcher lives
  std::unique_ptr<Batcher> batcher;
};

void ExpectAccountingHolds(const BatcherStats& s) {
  EXPECT_EQ(s.accepted,
            s.exported + s.dropped_export_failed + s.dropped_export_timeout + s.dropped_shutdown);
}

TEST(BatcherTest, AFullBatchLeavesWithoutWaitingForTheDelay) {
  Harness h(Options(1024, 10, /*delay_ms=*/3'600'000));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(h.batcher->Add(Span("s")));
  ASSERT_TRUE(h.recorder->WaitForSpans(100));
  // Woken only for full batches: every batch has exactly max_export_batch_size spans.
  for (const auto& call : h.recorder->calls()) EXPECT_EQ(call.names.size(), 10u);
}

TEST(BatcherTest, LessThanABatchWaitsForTheDelayNotForEachSpan) {
  Harness h(Options(1024, 10, /*delay_ms=*/3'600'000));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h.batcher->Add(Span("s")));
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_TRUE(h.recorder->calls().empty());  // no per-span wake-up
  ASSERT_TRUE(h.batcher->ForceFlush(milliseconds(20000)));
  ASSERT_EQ(h.recorder->calls().size(), 1u);
  EXPECT_EQ(h.recorder->calls()[0].names.size(), 5u);
}

TEST(BatcherTest, APartialBatchLeavesAfterTheScheduleDelay) {
  Harness h(Options(1024, 100, /*delay_ms=*/20));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h.batcher->Add(Span("s")));
  EXPECT_TRUE(h.recorder->WaitForSpans(3));
}

TEST(BatcherTest, ForceFlushExportsEverythingAcceptedBeforeIt) {
  Harness h(Options(1024, 512, 3'600'000));
  for (int i = 0; i < 700; ++i) ASSERT_TRUE(h.batcher->Add(Span("s")));
  ASSERT_TRUE(h.batcher->ForceFlush(milliseconds(20000)));
  EXPECT_EQ(h.recorder->SpanCount(), 700u);
  for (const auto& call : h.recorder->calls()) EXPECT_LE(call.names.size(), 512u);
}

TEST(BatcherTest, AddNeverBlocksAndCountsQueueFullDrops) {
  Gate gate;
  Harness h(Options(16, 8, 3'600'000), [&](const SpanBatch&, auto deadline) {
    gate.WaitUntil(deadline);
    return ExportResult::kSuccess;
  });
  int accepted = 0;
  for (int i = 0; i < 100; ++i) accepted += h.batcher->Add(Span("s")) ? 1 : 0;  // exporter stuck
  const BatcherStats s = h.batcher->stats();
  EXPECT_LE(accepted, 16);
  EXPECT_EQ(s.accepted, static_cast<uint64_t>(accepted));
  EXPECT_EQ(s.dropped_queue_full, static_cast<uint64_t>(100 - accepted));
  gate.Open();
  EXPECT_TRUE(h.batcher->Shutdown(milliseconds(20000)));
  ExpectAccountingHolds(h.batcher->stats());
  EXPECT_EQ(h.batcher->stats().exported, static_cast<uint64_t>(accepted));
}

TEST(BatcherTest, FourProducersAccountExactly) {
  std::atomic<int> call{0};
  // Every fifth export fails: failures must be counted, not lost.
  Harness h(Options(512, 64, 5), [&](const SpanBatch&, auto) {
    return call.fetch_add(1) % 5 == 4 ? ExportResult::kFailure : ExportResult::kSuccess;
  });
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50000;
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string name = "producer-" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        (h.batcher->Add(Span(name)) ? accepted : refused).fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(h.batcher->Shutdown(milliseconds(60000)));
  const BatcherStats s = h.batcher->stats();
  EXPECT_EQ(s.accepted, accepted.load());
  EXPECT_EQ(s.dropped_queue_full, refused.load());
  EXPECT_EQ(s.accepted + s.dropped_queue_full, uint64_t{kThreads} * kPerThread);
  ExpectAccountingHolds(s);
  EXPECT_EQ(s.dropped_shutdown, 0u);
  EXPECT_EQ(h.recorder->SpanCount(), s.exported + s.dropped_export_failed);
  EXPECT_GT(s.exported, 0u);
  EXPECT_EQ(s.queue_depth, 0u);
}

TEST(BatcherTest, ShutdownExportsEverythingAccepted) {
  Harness h(Options(4096, 512, 3'600'000));
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(h.batcher->Add(Span("s")));
  EXPECT_TRUE(h.batcher->Shutdown(milliseconds(20000)));
  EXPECT_EQ(h.recorder->SpanCount(), 3000u);
  EXPECT_EQ(h.batcher->stats().exported, 3000u);
  EXPECT_TRUE(h.recorder->shut_down());
  EXPECT_FALSE(h.batcher->Add(Span("late")));
  EXPECT_EQ(h.batcher->stats().rejected_after_shutdown, 1u);
  EXPECT_TRUE(h.batcher->Shutdown(milliseconds(1)));  // idempotent
}

TEST(BatcherTest, ShutdownTimeoutCountsWhatWasNotExported) {
  // The exporter honours its deadline and never succeeds: Shutdown must still return.
  Harness h(Options(4096, 100, 3'600'000), [](const SpanBatch&, auto deadline) {
    std::this_thread::sleep_until(deadline);
    return ExportResult::kTimeout;
  });
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(h.batcher->Add(Span("s")));
  EXPECT_FALSE(h.batcher->Shutdown(milliseconds(100)));
  const BatcherStats s = h.batcher->stats();
  ExpectAccountingHolds(s);
  EXPECT_GT(s.dropped_shutdown, 0u);
  EXPECT_EQ(s.exported, 0u);
}

TEST(BatcherTest, ShutdownDuringABacklogCapsLaterExportsAtItsDeadline) {
  // The first export blocks until Shutdown has been called, so nine full batches are queued
  // behind it. They must not each get the 30 s export timeout: exports after the Shutdown call
  // end at its deadline and the rest is dropped.
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool released = false;
  Harness h(Options(4096, 100, 3'600'000), [&](const SpanBatch&, auto deadline) {
    std::unique_lock<std::mutex> lock(mu);
    if (!entered) {
      entered = true;
      cv.notify_all();
      cv.wait(lock, [&] { return released; });
      return ExportResult::kSuccess;
    }
    lock.unlock();
    std::this_thread::sleep_until(deadline);  // honours its deadline, never succeeds
    return ExportResult::kTimeout;
  });
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(h.batcher->Add(Span("s")));
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return entered; }));
  }
  const auto started = std::chrono::steady_clock::now();
  std::thread shutdown([&] { (void)h.batcher->Shutdown(milliseconds(200)); });
  std::this_thread::sleep_for(milliseconds(50));  // Shutdown has begun; the backlog is queued
  {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
  shutdown.join();
  // Bounded by the shutdown deadline (plus scheduling), not by 9 x 30 s of export timeouts.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  const BatcherStats s = h.batcher->stats();
  ExpectAccountingHolds(s);
  EXPECT_EQ(s.exported, 100u);
  EXPECT_GT(s.dropped_shutdown, 0u);
}

TEST(BatcherTest, ExportGetsTheTimeoutAsDeadlineAndLateSuccessCountsAsTimeout) {
  Harness h(Options(1024, 4, 3'600'000, /*timeout_ms=*/50), [](const SpanBatch&, auto deadline) {
    std::this_thread::sleep_until(deadline + milliseconds(5));
    return ExportResult::kSuccess;  // too late
  });
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(h.batcher->Add(Span("s")));
  ASSERT_TRUE(h.recorder->WaitForSpans(4));
  const auto call = h.recorder->calls().at(0);
  EXPECT_LE(call.deadline - call.called, milliseconds(50));
  EXPECT_GT(call.deadline, call.called);
  ASSERT_TRUE(h.batcher->Shutdown(milliseconds(20000)));
  EXPECT_EQ(h.batcher->stats().dropped_export_timeout, 4u);
  EXPECT_EQ(h.batcher->stats().exported, 0u);
}

TEST(BatcherTest, ProfileChangesLive) {
  Harness h(Options(1024, 1000, 3'600'000));
  BatchProfile profile;
  profile.name = "low_latency";
  profile.max_export_batch_size = 5;
  h.batcher->SetProfile(profile);
  EXPECT_EQ(h.batcher->profile().name, "low_latency");
  EXPECT_EQ(h.batcher->profile().max_queue_size, 1024u);  // zero keeps the current value
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h.batcher->Add(Span("s")));
  EXPECT_TRUE(h.recorder->WaitForSpans(5));  // a full batch at the new size

  profile = LowLatencyProfile();
  profile.max_queue_size = 100000;  // clamped to the ring
  h.batcher->SetProfile(profile);
  EXPECT_EQ(h.batcher->profile().max_queue_size, h.batcher->capacity());
  EXPECT_EQ(h.batcher->profile().schedule_delay_ms, 1000u);
}

TEST(BatcherTest, EdgeCaptureExportsErrorAndSlowSpansWithinTheQuota) {
  ManualClock clock;
  BatcherOptions options = Options(1024, 512, 3'600'000);
  options.clock = &clock;
  options.capture.errors_per_second = 2;
  options.capture.slow_threshold_ms = 100;
  options.capture.slow_per_second = 1;
  Harness h(options);

  EXPECT_FALSE(h.batcher->Add(Span("unsampled ok", /*sampled=*/false)));
  SpanView error = Span("error", false);
  error.status = StatusCode::kError;
  EXPECT_TRUE(h.batcher->Add(error));
  EXPECT_TRUE(h.batcher->Add(error));
  EXPECT_FALSE(h.batcher->Add(error));  // quota: 2 per second
  SpanView slow = Span("slow", false);
  slow.end_unix_nanos = slow.start_unix_nanos + 100'000'000;
  EXPECT_TRUE(h.batcher->Add(slow));
  EXPECT_FALSE(h.batcher->Add(slow));
  SpanView fast = Span("fast", false);
  fast.end_unix_nanos = fast.start_unix_nanos + 99'999'999;
  EXPECT_FALSE(h.batcher->Add(fast));
  clock.Advance(std::chrono::seconds(1));
  EXPECT_TRUE(h.batcher->Add(error));
  EXPECT_TRUE(h.batcher->Add(slow));
  EXPECT_TRUE(h.batcher->Add(Span("sampled")));  // sampled spans do not use the quota

  ASSERT_TRUE(h.batcher->ForceFlush(milliseconds(20000)));
  const BatcherStats s = h.batcher->stats();
  EXPECT_EQ(s.captured_errors, 3u);
  EXPECT_EQ(s.captured_slow, 2u);
  EXPECT_EQ(s.not_captured, 4u);
  const auto calls = h.recorder->calls();
  ASSERT_EQ(calls.size(), 1u);
  const auto& c = calls[0];
  ASSERT_EQ(c.names.size(), 6u);
  for (size_t i = 0; i < c.names.size(); ++i) {
    const CaptureReason expected = c.names[i] == "error"  ? CaptureReason::kError
                                   : c.names[i] == "slow" ? CaptureReason::kSlow
                                                          : CaptureReason::kNone;
    EXPECT_EQ(c.captures[i], expected) << c.names[i];
  }

  h.batcher->SetCapturePolicy(CapturePolicy{});  // server turned capture off
  clock.Advance(std::chrono::seconds(10));
  EXPECT_FALSE(h.batcher->Add(error));
}

TEST(JsonLinesExporterTest, WritesOneEscapedObjectPerSpanWithTheCaptureMark) {
  std::ostringstream out;
  auto exporter = std::make_unique<JsonLinesExporter>(out);
  BatcherOptions options = Options(64, 64, 3'600'000);
  options.capture.errors_per_second = 10;
  Batcher batcher(std::move(exporter), options);
  const AttributeView attributes[] = {{"http.method", "GET"},
                                      {"http.status_code", 500},
                                      {"ratio", 0.5},
                                      {"retry", true},
                                      {"note", "a \"quoted\"\nline"}};
  SpanView span = Span("GET /users");
  span.trace_id[15] = 0xab;
  span.span_id[0] = 0x01;
  span.parent_span_id[7] = 0x02;
  span.kind = SpanKind::kServer;
  span.trace_state = "ot=th:8";
  span.attributes = attributes;
  span.attribute_count = 5;
  ASSERT_TRUE(batcher.Add(span));
  SpanView error = Span("failing", /*sampled=*/false);
  error.status = StatusCode::kError;
  error.status_message = "boom";
  ASSERT_TRUE(batcher.Add(error));
  ASSERT_TRUE(batcher.Shutdown(milliseconds(20000)));

  std::istringstream lines(out.str());
  std::string first;
  std::string second;
  std::string third;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  EXPECT_FALSE(std::getline(lines, third));
  EXPECT_EQ(first,
            "{\"trace_id\":\"000000000000000000000000000000ab\",\"span_id\":\"0100000000000000\","
            "\"parent_span_id\":\"0000000000000002\",\"name\":\"GET /users\",\"kind\":\"server\","
            "\"start_unix_nanos\":1000,\"end_unix_nanos\":2000,\"status\":\"unset\","
            "\"trace_state\":\"ot=th:8\",\"sampled\":true,\"attributes\":{\"http.method\":\"GET\","
            "\"http.status_code\":500,\"ratio\":0.5,\"retry\":true,"
            "\"note\":\"a \\\"quoted\\\"\\nline\"}}");
  EXPECT_NE(second.find("\"sampled\":false"), std::string::npos);
  EXPECT_NE(second.find("\"status\":\"error\",\"status_message\":\"boom\""), std::string::npos);
  EXPECT_NE(second.find("\"attributes\":{\"fleetrate.capture.reason\":\"error\"}"),
            std::string::npos);
}

}  // namespace
}  // namespace fleetrate
