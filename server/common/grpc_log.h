// gRPC's own log lines (gpr_log), in fleetrate's log and rate-limited.
//
// gRPC core writes a line to stderr for every TLS handshake that fails ("Handshake failed with
// fatal error SSL_ERROR_SSL: ..."), so anyone who can reach the port — a plaintext client, a
// scanner — could fill the log at will. Routed through here they become lines of fleetrate's log,
// at most `per_minute` a minute (a LogBudget, server/common/protobuf_log.h); the first line let
// through after a quiet spell says how many were dropped, and GrpcHandshakeFailures() counts the
// failed handshakes gRPC reported, written or dropped.
//
//   RouteGrpcLogs();  // main, before the server starts
//
// gRPC's ERROR lines become warning lines (they are mostly about peers), INFO info and DEBUG
// debug, prefixed "grpc: ". Which lines gRPC produces at all is its GRPC_VERBOSITY (default ERROR).
#pragma once

#include <cstdint>

namespace fleetrate::server {

// Installs the handler (gpr_set_log_function). Calling it again starts a new budget. Thread-safe.
void RouteGrpcLogs(int per_minute = 6);

// Failed TLS handshakes gRPC has logged since RouteGrpcLogs was first called, whether the line
// was written or dropped.
[[nodiscard]] uint64_t GrpcHandshakeFailures() noexcept;

}  // namespace fleetrate::server
