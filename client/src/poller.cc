#include "poller.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <exception>
#include <utility>
#include <vector>

#ifndef FLEETRATE_VERSION
#define FLEETRATE_VERSION "unknown"
#endif

namespace fleetrate::internal {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

void Log(const char* what, const std::string& detail) noexcept {
  std::fprintf(stderr, "fleetrate: %s%s\n", what, detail.c_str());
}

}  // namespace

Poller::Poller(ClientOptions options, std::unique_ptr<v1::SamplingService::StubInterface> stub,
               Sampler& sampler)
    : options_(std::move(options)),
      stub_(std::move(stub)),
      sampler_(sampler),
      interval_(options_.initial_sync_interval),
      rng_(std::random_device{}()) {}

Poller::~Poller() { Shutdown(std::chrono::seconds(5)); }

void Poller::Start() {
  last_report_ = Clock::now();
  work_.emplace(io_.get_executor());
  ScheduleSync(Clock::duration::zero());
  thread_ = std::thread([this] { Run(); });
}

void Poller::Run() noexcept {
  // Handlers catch their own exceptions; this loop is the last line so that nothing escapes
  // the thread (which would terminate the application).
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      Log("poller error: ", e.what());
    } catch (...) {
      Log("poller error", "");
    }
  }
}

void Poller::ScheduleSync(Clock::duration delay) {
  timer_.expires_after(delay);
  timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) OnTimer();
  });
}

void Poller::OnTimer() noexcept {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
  }
  Clock::duration delay = interval_;
  try {
    std::optional<v1::SyncResponse> response =
        SyncOnce(Clock::now() + options_.sync_timeout, /*final=*/false);
    if (response.has_value()) {
      if (consecutive_failures_ > 0) {
        Log("Sync recovered after failures: ", std::to_string(consecutive_failures_));
      }
      consecutive_failures_ = 0;
      backoff_ = Clock::duration::zero();
      ApplyResponse(*response);
      if (response->next_sync_interval_ms() > 0) {
        interval_ = milliseconds(response->next_sync_interval_ms());
      }
      interval_ = std::clamp<Clock::duration>(interval_, options_.min_sync_interval,
                                              options_.max_sync_interval);
      delay = interval_;
    } else {
      ++consecutive_failures_;
      backoff_ = backoff_ == Clock::duration::zero()
                     ? Clock::duration(options_.min_sync_interval)
                     : std::min<Clock::duration>(2 * backoff_, options_.max_backoff);
      backoff_ = std::min<Clock::duration>(backoff_, options_.max_backoff);
      delay = backoff_;
    }
    delay = Jitter(delay);
  } catch (const std::exception& e) {
    Log("Sync error: ", e.what());
  } catch (...) {
    Log("Sync error", "");
  }
  try {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) ScheduleSync(delay);
  } catch (...) {
    Log("cannot schedule the next Sync; polling stops", "");
  }
}

std::optional<v1::SyncResponse> Poller::SyncOnce(Clock::time_point deadline, bool final) {
  for (OperationCounts& counts : sampler_.TakeCounts()) {
    PendingCounts& pending = pending_[std::move(counts.operation)];
    pending.roots_seen += counts.roots_seen;
    pending.roots_sampled += counts.roots_sampled;
  }
  const Clock::time_point now = Clock::now();
  if (now - last_report_ > kMaxReportInterval) {
    // The counts cover more than the wire allows (the server was unreachable for over an
    // hour): keep their rate, which is what the server uses, over the last allowed interval.
    const double scale = static_cast<double>(Clock::duration(kMaxReportInterval).count()) /
                         static_cast<double>((now - last_report_).count());
    for (auto& [operation, pending] : pending_) {
      pending.roots_seen = static_cast<uint64_t>(static_cast<double>(pending.roots_seen) * scale);
      pending.roots_sampled =
          std::min(pending.roots_seen,
                   static_cast<uint64_t>(static_cast<double>(pending.roots_sampled) * scale));
    }
    last_report_ = now - kMaxReportInterval;
  }

  v1::SyncRequest request;
  v1::ClientIdentity* identity = request.mutable_client();
  identity->set_instance_id(options_.instance_id);
  identity->set_service(options_.service);
  identity->set_environment(options_.environment);
  identity->set_library_version(FLEETRATE_VERSION);
  request.set_table_version(sampler_.table_version());
  request.set_interval_ms(
      std::max<int64_t>(1, duration_cast<milliseconds>(now - last_report_).count()));
  for (const auto& [operation, pending] : pending_) {
    if (pending.roots_seen == 0) continue;
    v1::OperationCounts* counts = request.add_operations();
    counts->set_operation(operation);
    counts->set_roots_seen(pending.roots_seen);
    counts->set_roots_sampled(pending.roots_sampled);
  }

  grpc::ClientContext context;
  // gRPC takes system_clock deadlines only; convert the remaining steady time.
  context.set_deadline(std::chrono::system_clock::now() +
                       std::max<Clock::duration>(deadline - Clock::now(), Clock::duration::zero()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !final) return std::nullopt;  // counts stay pending for the final Sync
    in_flight_ = &context;
  }
  v1::SyncResponse response;
  const grpc::Status status = stub_->Sync(&context, request, &response);
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = nullptr;
  }
  if (!status.ok()) {
    syncs_failed_.fetch_add(1, std::memory_order_relaxed);
    // Sparingly: the first failure of a run of failures, and every failure of the final Sync.
    if (consecutive_failures_ == 0 || final) {
      Log(final ? "final Sync failed, unreported counts are lost: " : "Sync failed: ",
          options_.server_address + ": " + std::to_string(status.error_code()) + " " +
              status.error_message());
    }
    return std::nullopt;
  }
  syncs_ok_.fetch_add(1, std::memory_order_relaxed);
  pending_.clear();
  last_report_ = now;
  return response;
}

void Poller::ApplyResponse(const v1::SyncResponse& response) {
  if (response.not_modified()) return;
  const auto to_rate = [](const v1::OperationRate& rate) {
    OperationRate out;
    out.probability = rate.probability();
    out.threshold = std::min(rate.threshold(), kMaxThreshold);  // the server's value as given
    out.local_cap_per_second = rate.local_cap_per_second();
    out.lower_bound_per_second = rate.lower_bound_per_second();
    return out;
  };
  std::vector<RateTable::Entry> entries;
  entries.reserve(static_cast<size_t>(response.rates_size()));
  for (const v1::OperationRate& rate : response.rates()) {
    entries.push_back({rate.operation(), to_rate(rate)});
  }
  BatchProfile profile;
  profile.name = response.batch_profile().name();
  profile.max_queue_size = response.batch_profile().max_queue_size();
  profile.max_export_batch_size = response.batch_profile().max_export_batch_size();
  profile.schedule_delay_ms = response.batch_profile().schedule_delay_ms();
  profile.export_timeout_ms = response.batch_profile().export_timeout_ms();
  sampler_.ApplyTable(std::make_shared<const RateTable>(response.table_version(),
                                                        to_rate(response.default_rate()),
                                                        std::move(entries), std::move(profile)));
}

Poller::Clock::duration Poller::Jitter(Clock::duration d) {
  std::uniform_real_distribution<double> factor(0.9, 1.1);
  return duration_cast<Clock::duration>(std::chrono::duration<double, Clock::duration::period>(
      static_cast<double>(d.count()) * factor(rng_)));
}

void Poller::Shutdown(std::chrono::milliseconds timeout) noexcept {
  try {
    std::lock_guard<std::mutex> shutdown_lock(shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    const Clock::time_point deadline =
        Clock::now() + std::min<Clock::duration>(timeout, options_.sync_timeout);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    if (!thread_.joinable()) return;  // never started
    boost::asio::post(io_, [this, deadline] {
      try {
        timer_.cancel();
        (void)SyncOnce(deadline, /*final=*/true);
      } catch (const std::exception& e) {
        Log("final Sync error: ", e.what());
      } catch (...) {
        Log("final Sync error", "");
      }
      work_.reset();
      io_.stop();
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
      finished_cv_.notify_all();
    });
    {
      // A Sync in flight is left to finish rather than cancelled at once: the server may
      // already have counted it, and a cancelled Sync's counts go into the final one. Only
      // at the deadline is it cancelled, so that Shutdown returns in time.
      std::unique_lock<std::mutex> lock(mu_);
      if (!finished_cv_.wait_until(lock, deadline, [this] { return finished_; }) &&
          in_flight_ != nullptr) {
        in_flight_->TryCancel();
      }
    }
    thread_.join();
  } catch (const std::exception& e) {
    Log("Shutdown error: ", e.what());
  } catch (...) {
    Log("Shutdown error", "");
  }
}

}  // namespace fleetrate::internal
