#include "server/common/grpc_log.h"

#include <grpc/support/log.h>
#include <gtest/gtest.h>

#include <string>

namespace fleetrate::server {
namespace {

int CountOf(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// What a plaintext client or a scanner hitting the TLS port does: gRPC logs one ERROR line per
// failed handshake. Routed, the log gets the budget's worth of warning lines, and every failure
// is counted.
TEST(GrpcLogTest, HandshakeFailuresBecomeRateLimitedWarningLinesAndAreCounted) {
  gpr_log_verbosity_init();
  RouteGrpcLogs(3);
  const uint64_t before = GrpcHandshakeFailures();
  testing::internal::CaptureStderr();
  for (int i = 0; i < 10; ++i) {
    gpr_log(GPR_ERROR,
            "Handshake failed with fatal error SSL_ERROR_SSL: error:0A00010B:SSL "
            "routines::wrong version number.");
  }
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(CountOf(log, "\n"), 3) << log;
  EXPECT_EQ(CountOf(log, " warning grpc: Handshake failed with fatal error SSL_ERROR_SSL"), 3)
      << log;
  EXPECT_EQ(GrpcHandshakeFailures() - before, 10u);
  RouteGrpcLogs(100);  // a fresh budget for whatever else the test binary makes gRPC log
}

}  // namespace
}  // namespace fleetrate::server
