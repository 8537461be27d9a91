// AdminServiceImpl: fleetrate.v1.AdminService — read, validate and replace the policies, and
// explain a key's rate (see proto/fleetrate/v1/admin.proto).
//
// SetPolicies requires `authorization: Bearer <admin token>`; with no token configured it is
// disabled. Tokens are compared in constant time.
//
// Thread-safe: gRPC calls it from its thread pool.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>

#include "fleetrate/v1/admin.grpc.pb.h"
#include "server/service/rate_publisher.h"

namespace fleetrate::server {

// The explanation of one key's rate, from the current table (also used by /debug views).
[[nodiscard]] v1::ExplainRateResponse ExplainRate(const RateTables* tables,
                                                  const Policies& policies, const Scope& scope,
                                                  const std::string& operation);

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  // `on_set` is told of each accepted SetPolicies (for metrics).
  AdminServiceImpl(RatePublisher& publisher, std::string admin_token,
                   std::function<void(const absl::Status&)> on_set = nullptr);

  grpc::Status GetPolicies(grpc::ServerContext* context, const v1::GetPoliciesRequest* request,
                           v1::GetPoliciesResponse* response) override;
  grpc::Status ValidatePolicies(grpc::ServerContext* context,
                                const v1::ValidatePoliciesRequest* request,
                                v1::ValidatePoliciesResponse* response) override;
  grpc::Status SetPolicies(grpc::ServerContext* context, const v1::SetPoliciesRequest* request,
                           v1::SetPoliciesResponse* response) override;
  grpc::Status ExplainRate(grpc::ServerContext* context, const v1::ExplainRateRequest* request,
                           v1::ExplainRateResponse* response) override;

 private:
  RatePublisher& publisher_;
  const std::string admin_token_;
  const std::function<void(const absl::Status&)> on_set_;
};

}  // namespace fleetrate::server
