#include "poller.h"

#include <fcntl.h>
#include <grpcpp/client_context.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <utility>
#include <vector>

#ifndef FLEETRATE_VERSION
#define FLEETRATE_VERSION "unknown"
#endif

namespace fleetrate::internal {
namespace {

BatchProfile ProfileOf(const v1::SyncResponse& response) {
  BatchProfile profile;
  profile.name = response.batch_profile().name();
  profile.max_queue_size = response.batch_profile().max_queue_size();
  profile.max_export_batch_size = response.batch_profile().max_export_batch_size();
  profile.schedule_delay_ms = response.batch_profile().schedule_delay_ms();
  profile.export_timeout_ms = response.batch_profile().export_timeout_ms();
  return profile;
}

CapturePolicy CaptureOf(const v1::SyncResponse& response) {
  CapturePolicy capture;
  capture.errors_per_second = response.capture_policy().errors_per_second();
  capture.slow_threshold_ms = response.capture_policy().slow_threshold_ms();
  capture.slow_per_second = response.capture_policy().slow_per_second();
  return capture;
}

using std::chrono::duration_cast;
using std::chrono::milliseconds;

void Log(const char* what, const std::string& detail) noexcept {
  std::fprintf(stderr, "fleetrate: %s%s\n", what, detail.c_str());
}

// A threshold may differ from (1 - p) * 2^56 by rounding, not by meaning something else.
constexpr double kThresholdTolerance = 1e-4;

absl::Status InvalidTable(const std::string& field, const std::string& rule) {
  return absl::InvalidArgumentError(field + ": " + rule);
}

bool NonNegative(double value) { return std::isfinite(value) && value >= 0; }

absl::Status ValidateRate(const v1::OperationRate& rate, const std::string& field) {
  const double p = rate.probability();
  if (!(std::isfinite(p) && p >= 0 && p <= 1)) {
    return InvalidTable(field + ".probability", "must be in [0, 1], got " + std::to_string(p));
  }
  if (rate.threshold() > kMaxThreshold) {
    return InvalidTable(field + ".threshold",
                        "must be at most 2^56, got " + std::to_string(rate.threshold()));
  }
  if (std::abs(ThresholdToProbability(rate.threshold()) - p) > kThresholdTolerance) {
    return InvalidTable(field + ".threshold", "must encode probability " + std::to_string(p) +
                                                  " (T = (1 - p) * 2^56), got " +
                                                  std::to_string(rate.threshold()));
  }
  const std::pair<const char*, double> amounts[] = {
      {".local_cap_per_second", rate.local_cap_per_second()},
      {".lower_bound_per_second", rate.lower_bound_per_second()},
      {".burst", rate.burst()},
  };
  for (const auto& [name, value] : amounts) {
    if (!NonNegative(value)) {
      return InvalidTable(field + name, "must be finite and >= 0, got " + std::to_string(value));
    }
  }
  return absl::OkStatus();
}

// Closes a file descriptor at scope exit.
struct FileCloser {
  int fd;
  ~FileCloser() {
    if (fd >= 0) ::close(fd);
  }
};

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

absl::Status ValidateTable(const v1::SyncResponse& response) {
  if (response.table_version() == 0) return InvalidTable("table_version", "must be non-zero");
  if (absl::Status s = ValidateRate(response.default_rate(), "default_rate"); !s.ok()) return s;
  for (int i = 0; i < response.rates_size(); ++i) {
    const v1::OperationRate& rate = response.rates(i);
    const std::string field = "rates[" + std::to_string(i) + "]";
    if (rate.operation().empty() || rate.operation().size() > Sampler::kMaxOperationNameBytes) {
      return InvalidTable(field + ".operation",
                          "must be 1 to " + std::to_string(Sampler::kMaxOperationNameBytes) +
                              " bytes, got " + std::to_string(rate.operation().size()));
    }
    if (absl::Status s = ValidateRate(rate, field); !s.ok()) return s;
  }
  const std::pair<const char*, double> quotas[] = {
      {"capture_policy.errors_per_second", response.capture_policy().errors_per_second()},
      {"capture_policy.slow_per_second", response.capture_policy().slow_per_second()},
  };
  for (const auto& [name, value] : quotas) {
    if (!NonNegative(value)) {
      return InvalidTable(name, "must be finite and >= 0, got " + std::to_string(value));
    }
  }
  return absl::OkStatus();
}

Poller::Poller(ClientOptions options, std::unique_ptr<v1::SamplingService::StubInterface> stub,
               Sampler& sampler, Batcher* batcher, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      stub_(std::move(stub)),
      sampler_(sampler),
      batcher_(batcher),
      channel_(std::move(channel)),
      interval_(options_.initial_sync_interval),
      rng_(std::random_device{}()) {}

Poller::~Poller() { Shutdown(std::chrono::seconds(5)); }

void Poller::Start() {
  last_report_ = Clock::now();
  LoadCache();
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
      // The counts were accepted either way; an impossible table is not applied.
      if (response->not_modified() || AcceptTable(*response)) {
        ApplyResponse(*response, /*from_cache=*/false);
      }
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
      ExpireTableIfStale();
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
  // Counts over a very short interval (the Sync right at start) would be read as a huge rate
  // until the next Sync: keep them pending and report them over a longer interval next time.
  const bool counts_too_young = !final && now - last_report_ < options_.min_sync_interval;

  v1::SyncRequest request;
  v1::ClientIdentity* identity = request.mutable_client();
  identity->set_instance_id(options_.instance_id);
  identity->set_service(options_.service);
  identity->set_environment(options_.environment);
  identity->set_library_version(FLEETRATE_VERSION);
  request.set_table_version(sampler_.table_version());
  request.set_interval_ms(
      counts_too_young
          ? 0
          : std::max<int64_t>(1, duration_cast<milliseconds>(now - last_report_).count()));
  request.set_failed_syncs(static_cast<uint32_t>(
      std::min<uint64_t>(consecutive_failures_, std::numeric_limits<uint32_t>::max())));
  if (batcher_ != nullptr) {
    sending_spans_ = batcher_->stats();
    const BatcherStats& now_stats = sending_spans_;
    const BatcherStats& last = reported_spans_;
    v1::SpanCounts* spans = request.mutable_spans();
    spans->set_exported(now_stats.exported - last.exported);
    spans->set_captured_errors(now_stats.captured_errors - last.captured_errors);
    spans->set_captured_slow(now_stats.captured_slow - last.captured_slow);
    const std::pair<v1::DropReason, uint64_t> drops[] = {
        {v1::DROP_REASON_QUEUE_FULL, now_stats.dropped_queue_full - last.dropped_queue_full},
        {v1::DROP_REASON_EXPORT_FAILED,
         now_stats.dropped_export_failed - last.dropped_export_failed},
        {v1::DROP_REASON_EXPORT_TIMEOUT,
         now_stats.dropped_export_timeout - last.dropped_export_timeout},
        {v1::DROP_REASON_SHUTDOWN, now_stats.dropped_shutdown - last.dropped_shutdown},
    };
    for (const auto& [reason, count] : drops) {
      if (count == 0) continue;
      v1::DroppedSpans* dropped = spans->add_dropped();
      dropped->set_reason(reason);
      dropped->set_count(count);
    }
  }
  for (const auto& [operation, pending] : pending_) {
    if (counts_too_young || pending.roots_seen == 0) continue;
    v1::OperationCounts* counts = request.add_operations();
    counts->set_operation(operation);
    counts->set_roots_seen(pending.roots_seen);
    counts->set_roots_sampled(pending.roots_sampled);
  }

  ConnectNow(deadline);
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
  if (batcher_ != nullptr) reported_spans_ = sending_spans_;
  if (!counts_too_young) {
    // This client's own rates: its adaptive local caps are burst × p × these.
    const double seconds = std::chrono::duration<double>(now - last_report_).count();
    own_rates_.clear();
    for (const auto& [operation, pending] : pending_) {
      if (seconds > 0) own_rates_[operation] = static_cast<double>(pending.roots_seen) / seconds;
    }
    pending_.clear();
    last_report_ = now;
  }
  return response;
}

void Poller::ApplyResponse(const v1::SyncResponse& response, bool from_cache) {
  if (response.not_modified()) {
    if (sampler_.table_version() != 0) table_received_ = Clock::now();  // confirmed fresh
    // The rates stand; this client's own traffic may have moved its caps. Re-apply only when
    // one moved by more than a quarter (applying re-arms dormant lower-bound buckets).
    if (applied_response_.has_value() && CapsMoved(*applied_response_)) {
      ApplyRates(*applied_response_);
    }
    return;
  }
  applied_response_ = response;
  BatchProfile profile = ProfileOf(response);
  const CapturePolicy capture = CaptureOf(response);
  if (batcher_ != nullptr) {
    batcher_->SetProfile(profile);
    batcher_->SetCapturePolicy(capture);
  }
  // Unsampled spans are worth recording only if the batcher may capture some of them.
  sampler_.set_record_unsampled(batcher_ != nullptr &&
                                (capture.errors_per_second > 0 ||
                                 (capture.slow_threshold_ms > 0 && capture.slow_per_second > 0)));
  ApplyRates(response);
  table_received_ = Clock::now();
  table_from_cache_.store(from_cache, std::memory_order_relaxed);
  if (!from_cache) SaveCache(response);
}

double Poller::LocalCap(const v1::OperationRate& rate, const std::string& operation) const {
  if (!(rate.burst() > 0)) return rate.local_cap_per_second();  // fixed (e.g. a rate limit)
  auto own = own_rates_.find(operation);
  // An operation this client did not see last interval has no cap until it has a rate.
  if (own == own_rates_.end() || !(own->second > 0)) return 0;
  return rate.burst() * rate.probability() * own->second;
}

bool Poller::CapsMoved(const v1::SyncResponse& response) const {
  for (const v1::OperationRate& rate : response.rates()) {
    if (!(rate.burst() > 0)) continue;
    const double now_cap = LocalCap(rate, rate.operation());
    auto applied = applied_caps_.find(rate.operation());
    const double before = applied == applied_caps_.end() ? 0 : applied->second;
    if ((before > 0) != (now_cap > 0)) return true;
    if (before > 0 && (now_cap > before * 1.25 || now_cap < before / 1.25)) return true;
  }
  return false;
}

void Poller::ApplyRates(const v1::SyncResponse& response) {
  applied_caps_.clear();
  const auto to_rate = [this](const v1::OperationRate& rate, const std::string& operation) {
    OperationRate out;
    out.probability = rate.probability();
    out.threshold = std::min(rate.threshold(), kMaxThreshold);  // the server's value as given
    out.local_cap_per_second = LocalCap(rate, operation);
    if (rate.burst() > 0) {
      out.local_cap_burst = std::max(kMinAdaptiveCapTokens, out.local_cap_per_second);
    }
    out.lower_bound_per_second = rate.lower_bound_per_second();
    return out;
  };
  std::vector<RateTable::Entry> entries;
  entries.reserve(static_cast<size_t>(response.rates_size()));
  for (const v1::OperationRate& rate : response.rates()) {
    entries.push_back({rate.operation(), to_rate(rate, rate.operation())});
    if (rate.burst() > 0)
      applied_caps_[rate.operation()] = entries.back().rate.local_cap_per_second;
  }
  BatchProfile profile = ProfileOf(response);
  const CapturePolicy capture = CaptureOf(response);
  // The default rate applies to operations the table does not list; no own rate is known
  // for it as a whole, so it carries no adaptive cap.
  sampler_.ApplyTable(std::make_shared<const RateTable>(
      response.table_version(), to_rate(response.default_rate(), std::string()), std::move(entries),
      std::move(profile), capture));
}

void Poller::ExpireTableIfStale() {
  if (!table_received_.has_value() || Clock::now() - *table_received_ < options_.table_ttl) {
    return;
  }
  table_received_.reset();
  sampler_.ApplyInitialStrategy();
  sampler_.set_record_unsampled(false);
  if (batcher_ != nullptr) batcher_->SetCapturePolicy(CapturePolicy{});
  tables_expired_.fetch_add(1, std::memory_order_relaxed);
  Log("the last rate table is older than table_ttl and the server is unreachable; using the "
      "initial strategy",
      "");
}

void Poller::ConnectNow(Clock::time_point deadline) {
  if (channel_ == nullptr ||
      channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_TRANSIENT_FAILURE) {
    return;  // idle, connecting or ready: the Sync itself waits for the connection
  }
  // In TRANSIENT_FAILURE the channel fails every call at once until gRPC's reconnect timer
  // fires; reset it, so this attempt connects (its state leaves TRANSIENT_FAILURE at once).
  grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
  const Clock::time_point until =
      std::min<Clock::time_point>(deadline, Clock::now() + milliseconds(100));
  (void)channel_->WaitForStateChange(
      GRPC_CHANNEL_TRANSIENT_FAILURE,
      std::chrono::system_clock::now() +
          std::max<Clock::duration>(until - Clock::now(), Clock::duration::zero()));
}

bool Poller::AcceptTable(const v1::SyncResponse& response) {
  const absl::Status status = ValidateTable(response);
  if (status.ok()) return true;
  tables_rejected_.fetch_add(1, std::memory_order_relaxed);
  // The server sends the same table again on every Sync: log each version once.
  if (response.table_version() != rejected_version_) {
    rejected_version_ = response.table_version();
    Log("rate table from the server is invalid, keeping the current one: ",
        "version " + std::to_string(response.table_version()) + ": " +
            std::string(status.message()));
  }
  return false;
}

void Poller::RejectCache(const std::string& why) {
  tables_rejected_.fetch_add(1, std::memory_order_relaxed);
  Log("table cache ignored, using the initial strategy: ", options_.cache_path + ": " + why);
}

void Poller::LoadCache() {
  if (options_.cache_path.empty()) return;
  // Non-blocking: opening a FIFO for reading would otherwise wait for a writer, forever.
  const int fd = ::open(options_.cache_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno != ENOENT) RejectCache("cannot open: " + ErrnoText());  // ENOENT: no cache yet
    return;
  }
  const FileCloser closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) return RejectCache("cannot stat: " + ErrnoText());
  if (!S_ISREG(info.st_mode)) return RejectCache("not a regular file");
  if (info.st_size > kMaxCacheBytes) {
    return RejectCache("larger than " + std::to_string(kMaxCacheBytes) +
                       " bytes: " + std::to_string(info.st_size));
  }
  const auto modified = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(info.st_mtim.tv_sec) +
          std::chrono::nanoseconds(info.st_mtim.tv_nsec)));
  const auto age = std::max<std::chrono::system_clock::duration>(
      std::chrono::system_clock::now() - modified, std::chrono::system_clock::duration::zero());
  if (age >= options_.table_ttl) {
    Log("table cache is older than table_ttl, ignored: ", options_.cache_path);
    return;
  }
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  size_t read = 0;
  while (read < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + read, bytes.size() - read);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return RejectCache("cannot read: " + ErrnoText());
    if (n == 0) break;  // shrank since fstat
    read += static_cast<size_t>(n);
  }
  bytes.resize(read);
  v1::SyncResponse response;
  if (!response.ParseFromString(bytes)) return RejectCache("not a serialized SyncResponse");
  if (response.not_modified()) return RejectCache("a not_modified answer, not a table");
  if (absl::Status status = ValidateTable(response); !status.ok()) {
    return RejectCache(std::string(status.message()));
  }
  ApplyResponse(response, /*from_cache=*/true);
  // The TTL counts from when the server sent the table, not from now.
  table_received_ = Clock::now() - std::chrono::duration_cast<Clock::duration>(age);
}

void Poller::SaveCache(const v1::SyncResponse& response) {
  if (options_.cache_path.empty()) return;
  // A new file (O_CREAT | O_EXCL): never follows a link or opens a FIFO someone put there.
  std::string temp = options_.cache_path + ".tmp.XXXXXX";
  std::string error;
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) {
    error = temp + ": " + ErrnoText();
  } else {
    std::string bytes;
    bool ok = response.SerializeToString(&bytes);
    for (size_t written = 0; ok && written < bytes.size();) {
      const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = temp + ": " + ErrnoText();
        ok = false;
      } else {
        written += static_cast<size_t>(n);
      }
    }
    if (::close(fd) != 0 && ok) {
      error = temp + ": " + ErrnoText();
      ok = false;
    }
    if (ok && ::rename(temp.c_str(), options_.cache_path.c_str()) != 0) {
      error = options_.cache_path + ": " + ErrnoText();
      ok = false;
    }
    if (!ok) {
      if (error.empty()) error = "cannot serialize the table";
      ::unlink(temp.c_str());
    }
  }
  if (error.empty()) {
    cache_write_failing_ = false;
    return;
  }
  if (!cache_write_failing_) Log("cannot write table cache: ", error);  // once per run of failures
  cache_write_failing_ = true;
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
