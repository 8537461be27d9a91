#include "server/common/grpc_log.h"

#include <grpc/support/log.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>

#include "server/common/log.h"
#include "server/common/protobuf_log.h"

namespace fleetrate::server {
namespace {

std::mutex g_mu;
// Never freed: gRPC may log from its threads while static objects are destroyed at exit.
LogBudget* g_budget = nullptr;  // guarded by g_mu
std::atomic<uint64_t> g_handshake_failures{0};

void HandleGrpcLog(gpr_log_func_args* args) {
  const char* message = args->message != nullptr ? args->message : "";
  if (std::strstr(message, "Handshake failed") != nullptr) {
    g_handshake_failures.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t dropped = 0;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_budget != nullptr && !g_budget->Allow(std::chrono::steady_clock::now(), &dropped)) {
      return;
    }
  }
  const std::string suffix =
      dropped == 0 ? std::string()
                   : " (" + std::to_string(dropped) + " earlier gRPC messages dropped)";
  switch (args->severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      FLEETRATE_LOG(kDebug) << "grpc: " << message << suffix;
      break;
    case GPR_LOG_SEVERITY_INFO:
      FLEETRATE_LOG(kInfo) << "grpc: " << message << suffix;
      break;
    default:
      FLEETRATE_LOG(kWarning) << "grpc: " << message << suffix;
  }
}

}  // namespace

void RouteGrpcLogs(int per_minute) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    delete g_budget;
    g_budget = new LogBudget(per_minute, std::chrono::minutes(1));
  }
  gpr_set_log_function(&HandleGrpcLog);
}

uint64_t GrpcHandshakeFailures() noexcept {
  return g_handshake_failures.load(std::memory_order_relaxed);
}

}  // namespace fleetrate::server
