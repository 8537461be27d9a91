// AdminServiceImpl: fleetrate.v1.AdminService — read, validate and replace the policies, explain
// a key's rate, and report the server's status and rate table with target vs achieved kept
// traces/s (see proto/fleetrate/v1/admin.proto; fleetratectl is its client).
//
// SetPolicies requires `authorization: Bearer <admin token>`; with no token configured it is
// disabled. Tokens are compared in constant time. A blank document (only whitespace or
// comments) is refused by SetPolicies and ValidatePolicies, as for the policy file; `{}` means
// all built-in defaults.
//
// The methods whose requests carry strings are raw callback methods that parse their requests
// themselves (server/common/raw_unary.h), so a string that is not UTF-8 is INVALID_ARGUMENT
// naming the field, not gRPC's INTERNAL. The caller is authorized before the request is read.
//
// Thread-safe: gRPC calls it from its threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>

#include "fleetrate/v1/admin.grpc.pb.h"
#include "server/common/clock.h"
#include "server/service/rate_publisher.h"
#include "server/store/store.h"

namespace fleetrate::server {

// The explanation of one key's rate, from the current table (also used by /debug views).
[[nodiscard]] v1::ExplainRateResponse ExplainRate(const RateTables* tables,
                                                  const Policies& policies, const Scope& scope,
                                                  const std::string& operation);

// GetRates for `tables` (null: no table yet, no scopes). `request.limit()` is checked by the
// caller.
[[nodiscard]] v1::GetRatesResponse RatesOf(const RateTables* tables,
                                           const v1::GetRatesRequest& request);

// What GetStatus reports beyond the rate table. Both pointers outlive the service; null: the
// store section stays empty, the uptime 0.
struct AdminServerInfo {
  const Store* store = nullptr;
  const Clock* clock = nullptr;
  Timestamp started{};
  // The reads (GetPolicies, ExplainRate, GetStatus, GetRates) and ValidatePolicies need the admin
  // token too (--protect-reads). ValidatePolicies reveals nothing of the server, but it parses
  // documents of up to 4 MiB for anyone who asks: a locked-down port keeps it for token holders.
  bool reads_need_token = false;
};

using AdminServiceBase = v1::AdminService::WithRawCallbackMethod_ValidatePolicies<
    v1::AdminService::WithRawCallbackMethod_SetPolicies<
        v1::AdminService::WithRawCallbackMethod_ExplainRate<
            v1::AdminService::WithRawCallbackMethod_GetRates<v1::AdminService::Service>>>>;

class AdminServiceImpl final : public AdminServiceBase {
 public:
  // `on_set` is told of each accepted SetPolicies (for metrics).
  AdminServiceImpl(RatePublisher& publisher, std::string admin_token,
                   std::function<void(const absl::Status&)> on_set = nullptr,
                   AdminServerInfo info = {});

  grpc::Status GetPolicies(grpc::ServerContext* context, const v1::GetPoliciesRequest* request,
                           v1::GetPoliciesResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;
  grpc::ServerUnaryReactor* ValidatePolicies(grpc::CallbackServerContext* context,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* SetPolicies(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ExplainRate(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetRates(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;

 private:
  // Who may call a raw method: anyone, readers (the token under --protect-reads), writers.
  enum class Access { kOpen, kRead, kWrite };
  [[nodiscard]] grpc::Status Authorize(const grpc::ServerContextBase& context) const;
  [[nodiscard]] grpc::Status AuthorizeRead(const grpc::ServerContextBase& context) const;
  [[nodiscard]] grpc::Status Check(Access access, const grpc::ServerContextBase& context) const;
  // A raw method: checks `access`, parses the request (ParseCheckingUtf8), runs `body`, answers.
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Serve(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer& bytes, grpc::ByteBuffer* out,
      Access access, grpc::Status (AdminServiceImpl::*body)(const Request&, Response*));
  grpc::Status DoValidatePolicies(const v1::ValidatePoliciesRequest& request,
                                  v1::ValidatePoliciesResponse* response);
  grpc::Status DoSetPolicies(const v1::SetPoliciesRequest& request,
                             v1::SetPoliciesResponse* response);
  grpc::Status DoExplainRate(const v1::ExplainRateRequest& request,
                             v1::ExplainRateResponse* response);
  grpc::Status DoGetRates(const v1::GetRatesRequest& request, v1::GetRatesResponse* response);

  RatePublisher& publisher_;
  const std::string admin_token_;
  const std::function<void(const absl::Status&)> on_set_;
  const AdminServerInfo info_;
};

}  // namespace fleetrate::server
