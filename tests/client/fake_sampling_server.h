// Test helper: a real in-process fleetrate.v1.SamplingService on 127.0.0.1:<free port> that
// records every Sync request and answers with a scripted response.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fleetrate/threshold.h"
#include "fleetrate/v1/sampling.grpc.pb.h"

namespace fleetrate::testing {

struct RecordedSync {
  v1::SyncRequest request;
  bool ok = false;  // whether the server answered OK (counts were accepted)
};

class FakeSamplingService final : public v1::SamplingService::Service {
 public:
  grpc::Status Sync(grpc::ServerContext* context, const v1::SyncRequest* request,
                    v1::SyncResponse* response) override {
    std::unique_lock<std::mutex> lock(mu_);
    grpc::Status status = grpc::Status::OK;
    if (hang_) {
      ++hung_calls_;
      cv_.notify_all();
      cv_.wait_for(lock, std::chrono::seconds(20),
                   [&] { return !hang_ || context->IsCancelled(); });
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "hung");
    } else if (!failures_.empty()) {
      status = grpc::Status(failures_.front(), "scripted failure");
      failures_.pop_front();
    } else if (request->table_version() == response_.table_version() &&
               response_.table_version() != 0) {
      response->set_table_version(response_.table_version());
      response->set_not_modified(true);
      response->set_next_sync_interval_ms(response_.next_sync_interval_ms());
    } else {
      *response = response_;
    }
    syncs_.push_back({*request, status.ok()});
    cv_.notify_all();
    return status;
  }

  void SetResponse(v1::SyncResponse response) {
    std::lock_guard<std::mutex> lock(mu_);
    response_ = std::move(response);
  }
  void FailNext(int n, grpc::StatusCode code = grpc::StatusCode::UNAVAILABLE) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < n; ++i) failures_.push_back(code);
  }
  void SetHang(bool hang) {
    std::lock_guard<std::mutex> lock(mu_);
    hang_ = hang;
    cv_.notify_all();
  }

  // Waits (generously) until `pred(syncs)` holds; returns whether it did.
  bool WaitFor(const std::function<bool(const std::vector<RecordedSync>&)>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(syncs_); });
  }
  bool WaitForSyncs(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return WaitFor([n](const std::vector<RecordedSync>& s) { return s.size() >= n; }, timeout);
  }
  bool WaitForHungCall(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return hung_calls_ > 0; });
  }

  std::vector<RecordedSync> syncs() {
    std::lock_guard<std::mutex> lock(mu_);
    return syncs_;
  }

  // Per operation, the sums of roots_seen and roots_sampled over the accepted syncs.
  std::map<std::string, std::pair<uint64_t, uint64_t>> AcceptedCounts() {
    std::map<std::string, std::pair<uint64_t, uint64_t>> out;
    for (const RecordedSync& sync : syncs()) {
      if (!sync.ok) continue;
      for (const v1::OperationCounts& c : sync.request.operations()) {
        out[c.operation()].first += c.roots_seen();
        out[c.operation()].second += c.roots_sampled();
      }
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  v1::SyncResponse response_;
  std::deque<grpc::StatusCode> failures_;
  bool hang_ = false;
  int hung_calls_ = 0;
  std::vector<RecordedSync> syncs_;
};

class FakeSamplingServer {
 public:
  // Listens on 127.0.0.1:`port`; 0 picks a free port.
  explicit FakeSamplingServer(int port = 0) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeSamplingServer() {
    service_.SetHang(false);
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  FakeSamplingService& service() { return service_; }

 private:
  FakeSamplingService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

inline v1::OperationRate Rate(const std::string& operation, double p) {
  v1::OperationRate rate;
  rate.set_operation(operation);
  rate.set_probability(p);
  rate.set_threshold(ProbabilityToThreshold(p));
  return rate;
}

// A table: `rates` (operation -> p), default p, next Sync in `next_ms`.
inline v1::SyncResponse TableResponse(uint64_t version,
                                      const std::vector<std::pair<std::string, double>>& rates,
                                      double default_p, uint32_t next_ms = 50) {
  v1::SyncResponse response;
  response.set_table_version(version);
  for (const auto& [op, p] : rates) *response.add_rates() = Rate(op, p);
  *response.mutable_default_rate() = Rate("", default_p);
  response.mutable_batch_profile()->set_name("balanced");
  response.mutable_batch_profile()->set_max_queue_size(2048);
  response.set_next_sync_interval_ms(next_ms);
  return response;
}

}  // namespace fleetrate::testing
