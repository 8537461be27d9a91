// One log line per event, with a level: `2026-11-25T20:00:00.123Z info listening grpc=...`.
// Lines go to stderr, whole (one write per line), so concurrent threads never interleave.
//
//   FLEETRATE_LOG(kInfo) << "listening grpc=" << address;
//
// SetLogLevel is meant for startup; logging itself is thread-safe.
#pragma once

#include <optional>
#include <sstream>
#include <string_view>

namespace fleetrate::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level) noexcept;
[[nodiscard]] bool LogEnabled(LogLevel level) noexcept;
[[nodiscard]] std::optional<LogLevel> ParseLogLevel(std::string_view name) noexcept;
[[nodiscard]] std::string_view LogLevelName(LogLevel level) noexcept;

// Collects one line and writes it when destroyed.
class LogLine {
 public:
  explicit LogLine(LogLevel level) : level_(level) {}
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  ~LogLine();

  template <typename T>
  LogLine& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Lets FLEETRATE_LOG be one expression (safe inside an unbraced if): `&` binds looser than `<<`.
struct LogVoidify {
  void operator&(const LogLine&) const noexcept {}
};

}  // namespace fleetrate::server

// Arguments are not evaluated when the level is disabled.
#define FLEETRATE_LOG(level)                                             \
  !::fleetrate::server::LogEnabled(::fleetrate::server::LogLevel::level) \
      ? (void)0                                                          \
      : ::fleetrate::server::LogVoidify() &                              \
            ::fleetrate::server::LogLine(::fleetrate::server::LogLevel::level)
