#include "server/common/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <mutex>
#include <string>

#include "server/common/log.h"

namespace fleetrate::server {

bool LogBudget::Allow(std::chrono::steady_clock::time_point now, uint64_t* dropped) noexcept {
  if (!started_ || now - window_start_ >= window_) {
    started_ = true;
    window_start_ = now;
    written_in_window_ = 0;
  }
  if (written_in_window_ >= per_window_) {
    ++dropped_;
    return false;
  }
  ++written_in_window_;
  *dropped = dropped_;
  dropped_ = 0;
  return true;
}

namespace {

std::mutex g_mu;
// Never freed: protobuf may log while static objects are being destroyed at exit.
LogBudget* g_budget = nullptr;  // guarded by g_mu

void HandleProtobufLog(google::protobuf::LogLevel level, const char* /*filename*/, int /*line*/,
                       const std::string& message) {
  uint64_t dropped = 0;
  if (level != google::protobuf::LOGLEVEL_FATAL) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_budget != nullptr && !g_budget->Allow(std::chrono::steady_clock::now(), &dropped)) {
      return;
    }
  }
  const auto suffix = [dropped] {
    return dropped == 0 ? std::string()
                        : " (" + std::to_string(dropped) + " earlier protobuf messages dropped)";
  };
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      FLEETRATE_LOG(kDebug) << "protobuf: " << message << suffix();
      break;
    case google::protobuf::LOGLEVEL_FATAL:
      FLEETRATE_LOG(kError) << "protobuf: " << message;
      break;
    default:
      FLEETRATE_LOG(kWarning) << "protobuf: " << message << suffix();
  }
}

}  // namespace

void RouteProtobufLogs(int per_minute) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    delete g_budget;
    g_budget = new LogBudget(per_minute, std::chrono::minutes(1));
  }
  google::protobuf::SetLogHandler(&HandleProtobufLog);
}

}  // namespace fleetrate::server
