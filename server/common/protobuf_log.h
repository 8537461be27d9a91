// Protobuf's own log messages, in fleetrate's log and rate-limited.
//
// Protobuf logs from inside parsing, once per bad message: "String field
// 'grpc.health.v1.HealthCheckRequest.service' contains invalid UTF-8 data when parsing a
// protocol buffer" for each request of a gRPC method whose strings it checks (the gRPC status
// is then INTERNAL; fleetrate's own methods parse their requests themselves and avoid this).
// Written to stderr as they come, anyone could fill the log, and slow the server, with bad
// requests. Routed through here they become warning lines of fleetrate's log, at most `per_minute`
// a minute; the first line let through after a quiet spell says how many were dropped.
//
//   RouteProtobufLogs();  // main, before the server starts
#pragma once

#include <chrono>
#include <cstdint>

namespace fleetrate::server {

// A budget of `per_window` messages per fixed window. Not thread-safe; the caller locks.
class LogBudget {
 public:
  LogBudget(int per_window, std::chrono::steady_clock::duration window) noexcept
      : per_window_(per_window), window_(window) {}

  // Whether a message at `now` may be written. When it may and messages were refused since the
  // last one written, `*dropped` is their count (else 0).
  [[nodiscard]] bool Allow(std::chrono::steady_clock::time_point now, uint64_t* dropped) noexcept;

 private:
  const int per_window_;
  const std::chrono::steady_clock::duration window_;
  bool started_ = false;
  std::chrono::steady_clock::time_point window_start_{};
  int written_in_window_ = 0;
  uint64_t dropped_ = 0;
};

// Installs the handler: protobuf's INFO messages become debug lines, WARNING and ERROR warning
// lines, FATAL an error line (protobuf aborts after it; never dropped), prefixed "protobuf: ".
// Calling it again starts a new budget. Thread-safe.
void RouteProtobufLogs(int per_minute = 10);

}  // namespace fleetrate::server
