// fleetrate-loadgen: simulates N clients x K operations calling fleetrate.v1.SamplingService/Sync
// against a running server and reports achieved Sync/s, latency percentiles and errors.
//
//   fleetrate-loadgen --server 127.0.0.1:8081 --clients 10000 --operations 50 --interval-ms 10000
//   fleetrate-loadgen --mode max --duration-s 20 --empty-baseline
//
// paced: every simulated client Syncs once per interval at a random phase (N / interval Sync/s).
// max:   the clients Sync as fast as the in-flight limit (--concurrency) allows.
// once:  every client Syncs exactly once, as fast as --concurrency allows; each request is built
//        when it is sent, so N x K may be far beyond what fits in memory (scripts/abuse floods
//        the server's client and rate caps with it).
// idle:  no gRPC at all: holds --connections plain TCP connections to --server open and silent
//        for --duration-s, reopening those the server closes (scripts/abuse's descriptor
//        exhaustion against the HTTP port).
// --empty-baseline: after the run against --server, starts an in-process SamplingService whose
// Sync returns an empty response, runs the same max load against it and prints the ratio.
//
// All calls use gRPC's callback API on a few shared channels, so one process keeps many calls
// in flight. Each client sends its own identity, K operations with random counts, interval_ms
// and the table_version of its last response (so the server answers not_modified as in
// production). Progress every 5 s on stderr, one summary block on stdout (also when SIGINT or
// SIGTERM ends the run early). Exit code 1 if any call failed, 2 for bad flags or an
// unreachable server.
#include <arpa/inet.h>
#include <fcntl.h>
#include <google/protobuf/stubs/logging.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "fleetrate/v1/sampling.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

// SIGINT or SIGTERM: stop starting calls, let those in flight end, print the summary.
std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int /*signal*/) { g_stop.store(true); }
using fleetrate::v1::SamplingService;
using fleetrate::v1::SyncRequest;
using fleetrate::v1::SyncResponse;

enum class Mode { kPaced, kMax, kOnce, kIdle };

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kPaced:
      return "paced";
    case Mode::kMax:
      return "max";
    case Mode::kOnce:
      return "once";
    case Mode::kIdle:
      return "idle";
  }
  return "?";
}

struct Options {
  std::string server = "127.0.0.1:8081";
  int64_t clients = 10000;
  int64_t operations = 50;
  int64_t interval_ms = 10000;
  int64_t duration_s = 60;
  int64_t services = 100;
  int64_t channels = 4;
  int64_t concurrency = 256;
  int64_t timeout_ms = 5000;
  int64_t seed = 1;
  Mode mode = Mode::kPaced;
  bool empty_baseline = false;
  int64_t invalid_percent = 0;  // the soak: this share of Syncs is bad input (see Bad below)
  int64_t connections = 1000;   // --mode idle
};

constexpr const char* kUsage =
    "usage: fleetrate-loadgen [flags]\n"
    "  --server HOST:PORT   fleetrate server to load (default 127.0.0.1:8081)\n"
    "  --clients N          simulated clients (default 10000, 1..1000000)\n"
    "  --operations K       operations per client (default 50, 1..2000)\n"
    "  --interval-ms MS     Sync interval of each client (default 10000, 1..3600000)\n"
    "  --duration-s S       length of each run (default 60, 1..3600)\n"
    "  --services S         services the clients are spread over (default 100)\n"
    "  --channels C         gRPC channels shared by all clients (default 4, 1..64)\n"
    "  --concurrency M      max calls in flight (default 256, 1..100000)\n"
    "  --invalid-percent P  send P % of Syncs as bad input instead (empty service, duplicate\n"
    "                       or over-long operation, sampled > seen, an absurd rate, a name\n"
    "                       that is not UTF-8) or from a freshly minted instance id; they\n"
    "                       must be refused (or, minted, be accepted or refused as over\n"
    "                       capacity) and are reported apart\n"
    "  --mode paced|max|once|idle\n"
    "                       paced: one Sync per client per interval; max: as fast as possible;\n"
    "                       once: each client Syncs exactly once, as fast as --concurrency\n"
    "                       allows (requests built per call: clients x operations need not\n"
    "                       fit in memory; stops after --duration-s); idle: open\n"
    "                       --connections TCP connections to --server and hold them silent\n"
    "                       for --duration-s, reopening any the server closes (no gRPC)\n"
    "  --connections N      idle: connections to hold (default 1000, 1..100000)\n"
    "  --timeout-ms MS      deadline of each call (default 5000)\n"
    "  --seed N             random seed for phases and counts (default 1)\n"
    "  --empty-baseline     also run max load against an in-process empty Sync handler and\n"
    "                       print the ratio fleetrate/empty\n"
    "SIGINT or SIGTERM ends a run early: no new calls, those in flight end, then the summary.\n";

bool ParseInt(const std::string& text, int64_t min, int64_t max, int64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || value < min || value > max) return false;
  *out = value;
  return true;
}

// Returns an error message, or "" on success.
std::string ParseFlags(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    bool has_value = false;
    if (const auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
      has_value = true;
    }
    if (flag == "--help" || flag == "-h") return "help";
    if (flag == "--empty-baseline") {
      if (has_value) return "--empty-baseline takes no value";
      options->empty_baseline = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) return flag + " needs a value";
      value = argv[++i];
    }
    struct IntFlag {
      const char* name;
      int64_t* target;
      int64_t min;
      int64_t max;
    };
    const IntFlag int_flags[] = {
        {"--clients", &options->clients, 1, 1'000'000},
        {"--operations", &options->operations, 1, 2000},
        {"--interval-ms", &options->interval_ms, 1, 3'600'000},
        {"--duration-s", &options->duration_s, 1, 3600},
        {"--services", &options->services, 1, 1'000'000},
        {"--channels", &options->channels, 1, 64},
        {"--concurrency", &options->concurrency, 1, 100'000},
        {"--timeout-ms", &options->timeout_ms, 1, 600'000},
        {"--seed", &options->seed, 0, INT64_MAX},
        {"--invalid-percent", &options->invalid_percent, 0, 100},
        {"--connections", &options->connections, 1, 100'000},
    };
    bool matched = false;
    for (const IntFlag& f : int_flags) {
      if (flag != f.name) continue;
      if (!ParseInt(value, f.min, f.max, f.target)) {
        return flag + " must be an integer in [" + std::to_string(f.min) + ", " +
               std::to_string(f.max) + "], not '" + value + "'";
      }
      matched = true;
    }
    if (matched) continue;
    if (flag == "--server") {
      if (value.empty()) return "--server must be HOST:PORT";
      options->server = value;
    } else if (flag == "--mode") {
      if (value == "paced") {
        options->mode = Mode::kPaced;
      } else if (value == "max") {
        options->mode = Mode::kMax;
      } else if (value == "once") {
        options->mode = Mode::kOnce;
      } else if (value == "idle") {
        options->mode = Mode::kIdle;
      } else {
        return "--mode must be 'paced', 'max', 'once' or 'idle', not '" + value + "'";
      }
    } else {
      return "unknown flag " + flag;
    }
  }
  if (options->services > options->clients) return "--services must be at most --clients";
  if (options->empty_baseline && options->mode == Mode::kIdle) {
    return "--empty-baseline compares Sync/s: not with --mode idle";
  }
  return "";
}

// Log-linear latency histogram in nanoseconds: exact below 128 ns, then 64 sub-buckets per
// power of two (at most 1.6% error). Lock-free; recorded from gRPC's callback threads.
class Histogram {
 public:
  void Record(int64_t ns) {
    counts_[Index(ns < 0 ? 0 : static_cast<uint64_t>(ns))].fetch_add(1, std::memory_order_relaxed);
    int64_t seen = max_.load(std::memory_order_relaxed);
    while (ns > seen && !max_.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
    }
  }

  uint64_t Count() const {
    uint64_t total = 0;
    for (const auto& c : counts_) total += c.load(std::memory_order_relaxed);
    return total;
  }

  // The q-quantile (0 < q <= 1) in nanoseconds, as the midpoint of its bucket; 0 when empty.
  double Quantile(double q) const {
    std::vector<uint64_t> snapshot(kBuckets);
    uint64_t total = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      snapshot[i] = counts_[i].load(std::memory_order_relaxed);
      total += snapshot[i];
    }
    if (total == 0) return 0;
    const auto rank = static_cast<uint64_t>(std::max(1.0, q * static_cast<double>(total) + 0.5));
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      cumulative += snapshot[i];
      if (cumulative >= rank) return Midpoint(i);
    }
    return Midpoint(kBuckets - 1);
  }

  int64_t Max() const { return max_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kLinear = 128;
  static constexpr size_t kSub = 64;
  static constexpr int kMaxExponent = 44;  // ~4.9 hours
  static constexpr size_t kBuckets = kLinear + (kMaxExponent - 7 + 1) * kSub;

  static size_t Index(uint64_t v) {
    if (v < kLinear) return static_cast<size_t>(v);
    int e = 63 - __builtin_clzll(v);
    if (e > kMaxExponent) return kBuckets - 1;
    const uint64_t sub = (v >> (e - 6)) & (kSub - 1);
    return kLinear + static_cast<size_t>(e - 7) * kSub + static_cast<size_t>(sub);
  }

  static double Midpoint(size_t index) {
    if (index < kLinear) return static_cast<double>(index);
    const size_t e = (index - kLinear) / kSub + 7;
    const size_t sub = (index - kLinear) % kSub;
    const double width = static_cast<double>(uint64_t{1} << (e - 6));
    return static_cast<double>(kSub + sub) * width + width / 2;
  }

  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
  std::atomic<int64_t> max_{0};
};

constexpr int kStatusCodes = 17;
const char* const kStatusNames[kStatusCodes] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

// One simulated client: its request (identity and operations fixed, counts and table_version
// updated per call) and whether a call of it is in flight. A client never has two calls in
// flight; the request is only touched while `busy` is held.
struct SimClient {
  SyncRequest request;
  size_t channel = 0;
  int64_t phase_ns = 0;
  double traffic = 1;  // this instance's traffic relative to its peers
  std::atomic<bool> busy{false};
};

struct Result {
  std::string label;
  double elapsed_s = 0;
  uint64_t completed = 0;
  uint64_t ok = 0;
  uint64_t not_modified = 0;
  uint64_t errors = 0;
  uint64_t bad_expected = 0;    // --invalid-percent: bad input answered as it should be
  uint64_t bad_unexpected = 0;  // ... and otherwise
  std::array<uint64_t, kStatusCodes> by_code{};
  uint64_t skipped_busy = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
  double lag_p99_ms = 0, lag_max_ms = 0;
  double SyncsPerSecond() const { return elapsed_s > 0 ? completed / elapsed_s : 0; }
};

// One run: fixed clients, one target, one mode, one duration.
class LoadRun {
 public:
  LoadRun(const Options& options, std::string target, std::string label, Mode mode)
      : options_(options), target_(std::move(target)), label_(std::move(label)), mode_(mode) {}

  // Connects the channels; false (with a message on stderr) if the target is unreachable.
  bool Connect() {
    for (int64_t i = 0; i < options_.channels; ++i) {
      grpc::ChannelArguments args;
      // A private subchannel pool per channel, so C channels really are C connections.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      auto channel = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
      if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
        std::cerr << "fleetrate-loadgen: cannot connect to " << target_ << " within 5 s\n";
        return false;
      }
      stubs_.push_back(SamplingService::NewStub(channel));
    }
    return true;
  }

  void BuildClients() {
    std::mt19937_64 rng(static_cast<uint64_t>(options_.seed));
    base_rate_.resize(static_cast<size_t>(options_.operations));
    for (size_t k = 0; k < base_rate_.size(); ++k) {
      // A skewed mix: operation 0 is busy, the tail is rare (mean roots per interval).
      base_rate_[k] = 20000.0 / static_cast<double>(k + 1);
    }
    rng_.seed(static_cast<uint64_t>(options_.seed) + 1);
    if (mode_ == Mode::kOnce) return;  // each call builds its own request
    clients_ = std::vector<SimClient>(static_cast<size_t>(options_.clients));
    std::uniform_int_distribution<int64_t> phase(0, options_.interval_ms * 1'000'000 - 1);
    for (size_t i = 0; i < clients_.size(); ++i) {
      SimClient& c = clients_[i];
      FillIdentity(i, &c.request);
      c.channel = i % stubs_.size();
      c.phase_ns = phase(rng);
      c.traffic = std::uniform_real_distribution<double>(0.5, 1.5)(rng);
    }
    order_.resize(clients_.size());
    std::iota(order_.begin(), order_.end(), size_t{0});
    if (mode_ == Mode::kPaced) {
      std::sort(order_.begin(), order_.end(),
                [this](size_t a, size_t b) { return clients_[a].phase_ns < clients_[b].phase_ns; });
    }
  }

  Result Run() {
    start_ = Clock::now();
    const Clock::time_point end = start_ + std::chrono::seconds(options_.duration_s);
    std::thread dispatcher([this, end] { Dispatch(end); });
    {
      std::unique_lock<std::mutex> lock(mu_);
      Clock::time_point next_progress = start_ + std::chrono::seconds(5);
      while (!dispatch_done_) {
        if (cv_.wait_until(lock, next_progress) == std::cv_status::timeout) {
          lock.unlock();
          PrintProgress();
          lock.lock();
          next_progress += std::chrono::seconds(5);
        }
      }
      // Drain: every call ends by its deadline at the latest.
      cv_.wait(lock, [this] { return in_flight_ == 0; });
    }
    dispatcher.join();
    return Summarize(Clock::now());
  }

 private:
  void Dispatch(Clock::time_point end) {
    if (mode_ == Mode::kPaced) {
      const int64_t interval_ns = options_.interval_ms * 1'000'000;
      for (int64_t cycle = 0;; ++cycle) {
        for (size_t index : order_) {
          const Clock::time_point due =
              start_ + std::chrono::nanoseconds(cycle * interval_ns + clients_[index].phase_ns);
          if (due >= end || g_stop.load()) goto done;
          if (due > Clock::now()) std::this_thread::sleep_until(due);
          AcquireSlot();
          lag_.Record(
              std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - due).count());
          Issue(index);
        }
      }
    } else if (mode_ == Mode::kOnce) {
      for (size_t index = 0; index < static_cast<size_t>(options_.clients); ++index) {
        if (Clock::now() >= end || g_stop.load()) break;
        AcquireSlot();
        IssueOnce(index);
      }
    } else {
      size_t next = 0;
      while (Clock::now() < end && !g_stop.load()) {
        AcquireSlot();
        Issue(order_[next]);
        next = (next + 1) % order_.size();
      }
    }
  done:
    std::lock_guard<std::mutex> lock(mu_);
    dispatch_done_ = true;
    cv_.notify_all();
  }

  void AcquireSlot() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return in_flight_ < options_.concurrency; });
    ++in_flight_;
  }

  void ReleaseSlot() {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    cv_.notify_all();
  }

  struct Call {
    grpc::ClientContext context;
    SyncResponse response;
    size_t client = 0;
    Clock::time_point start;
    int bad = -1;       // >= 0: which bad input this call carries (and `request` holds it)
    bool once = false;  // --mode once: a valid request of its own in `request`, no SimClient
    SyncRequest request;
  };

  // Client `index`'s identity, its K operations (no counts yet) and interval_ms.
  void FillIdentity(size_t index, SyncRequest* request) const {
    auto* id = request->mutable_client();
    id->set_instance_id("loadgen-" + std::to_string(pid_) + "-" + std::to_string(index));
    id->set_service("service-" + std::to_string(static_cast<int64_t>(index) % options_.services));
    id->set_environment("production");
    id->set_library_version("loadgen");
    request->set_interval_ms(options_.interval_ms);
    for (int64_t k = 0; k < options_.operations; ++k) {
      request->add_operations()->set_operation("GET /api/v1/resource-" + std::to_string(k));
    }
  }

  // Fresh counts for one interval of a client with relative traffic `traffic`.
  void FillCounts(double traffic, SyncRequest* request) {
    uint64_t exported = 0;
    for (int i = 0; i < request->operations_size(); ++i) {
      auto* op = request->mutable_operations(i);
      const double base = base_rate_[static_cast<size_t>(i)];
      // Steady traffic with +-10% noise from one interval to the next.
      const auto seen = static_cast<uint64_t>(
          base * traffic * std::uniform_real_distribution<double>(0.9, 1.1)(rng_));
      const uint64_t sampled = std::min<uint64_t>(seen, seen / 500 + (rng_() % 3 == 0 ? 1 : 0));
      op->set_roots_seen(seen);
      op->set_roots_sampled(sampled);
      exported += sampled * 8;
    }
    request->mutable_spans()->set_exported(exported);
  }

  // --mode once: client `index`'s only Sync, its request built now and freed when it returns.
  void IssueOnce(size_t index) {
    auto* call = new Call;
    call->client = index;
    call->once = true;
    FillIdentity(index, &call->request);
    FillCounts(std::uniform_real_distribution<double>(0.5, 1.5)(rng_), &call->request);
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::milliseconds(options_.timeout_ms));
    started_.fetch_add(1, std::memory_order_relaxed);
    call->start = Clock::now();
    stubs_[index % stubs_.size()]->async()->Sync(
        &call->context, &call->request, &call->response,
        [this, call](grpc::Status status) { Done(call, status); });
  }

  // The bad inputs of --invalid-percent, made from a client's valid request. The last kind is
  // valid but from a new instance id every time: a client minting ids must not grow the server.
  static constexpr int kBadKinds = 7;
  void MakeBad(int kind, const SyncRequest& valid, SyncRequest* bad) {
    *bad = valid;
    switch (kind) {
      case 0:
        bad->mutable_client()->clear_service();
        break;
      case 1:
        *bad->add_operations() = valid.operations(0);
        break;
      case 2:
        bad->mutable_operations(0)->set_roots_sampled(valid.operations(0).roots_seen() + 1);
        break;
      case 3:
        bad->mutable_operations(0)->set_operation(std::string(300, 'x'));
        break;
      case 4:
        bad->set_interval_ms(1);
        bad->mutable_operations(0)->set_roots_seen(UINT64_C(1) << 60);
        bad->mutable_operations(0)->set_roots_sampled(0);
        break;
      case 5:
        bad->mutable_operations(0)->mutable_operation()->append("\xc3\x28");  // not UTF-8
        break;
      default:
        bad->mutable_client()->set_instance_id("minted-" + std::to_string(rng_()));
        bad->clear_table_version();
    }
  }

  void Issue(size_t index) {
    SimClient& c = clients_[index];
    if (c.busy.exchange(true, std::memory_order_acq_rel)) {
      // Its previous Sync has not returned yet; a real client would not send a second one.
      skipped_busy_.fetch_add(1, std::memory_order_relaxed);
      ReleaseSlot();
      return;
    }
    FillCounts(c.traffic, &c.request);

    auto* call = new Call;
    call->client = index;
    if (options_.invalid_percent > 0 &&
        static_cast<int64_t>(rng_() % 100) < options_.invalid_percent) {
      call->bad = static_cast<int>(rng_() % kBadKinds);
      MakeBad(call->bad, c.request, &call->request);
    }
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::milliseconds(options_.timeout_ms));
    started_.fetch_add(1, std::memory_order_relaxed);
    call->start = Clock::now();
    stubs_[c.channel]->async()->Sync(&call->context, call->bad >= 0 ? &call->request : &c.request,
                                     &call->response,
                                     [this, call](grpc::Status status) { Done(call, status); });
  }

  void Done(Call* call, const grpc::Status& status) {
    latency_.Record(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - call->start).count());
    SimClient* c = call->once ? nullptr : &clients_[call->client];
    const int code = static_cast<int>(status.error_code());
    const size_t index = static_cast<size_t>(code >= 0 && code < kStatusCodes ? code : 2);
    if (call->bad >= 0) {
      // Bad input must be refused; a minted client may be accepted or refused as over capacity.
      const bool expected = call->bad == kBadKinds - 1
                                ? status.ok() || code == grpc::StatusCode::RESOURCE_EXHAUSTED
                                : code == grpc::StatusCode::INVALID_ARGUMENT;
      (expected ? bad_refused_ : bad_unexpected_).fetch_add(1, std::memory_order_relaxed);
      if (!expected && errors_logged_.fetch_add(1, std::memory_order_relaxed) < 5) {
        std::cerr << "fleetrate-loadgen: bad input kind " << call->bad << " got "
                  << kStatusNames[index] << " " << status.error_message() << "\n";
      }
    } else {
      by_code_[index].fetch_add(1, std::memory_order_relaxed);
      if (status.ok()) {
        if (call->response.not_modified()) not_modified_.fetch_add(1, std::memory_order_relaxed);
        if (c != nullptr) c->request.set_table_version(call->response.table_version());
      } else if (errors_logged_.fetch_add(1, std::memory_order_relaxed) < 5) {
        std::cerr << "fleetrate-loadgen: Sync failed: " << kStatusNames[index] << " "
                  << status.error_message() << "\n";
      }
    }
    delete call;
    if (c != nullptr) c->busy.store(false, std::memory_order_release);
    ReleaseSlot();
  }

  uint64_t Errors() const {
    uint64_t errors = 0;
    for (int i = 1; i < kStatusCodes; ++i) errors += by_code_[i].load(std::memory_order_relaxed);
    return errors;
  }

  void PrintProgress() const {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    char line[256];
    std::snprintf(line, sizeof line, "[%6.1f s] %s: %.0f Sync/s, p99 %.2f ms, errors %llu\n",
                  elapsed, label_.c_str(), static_cast<double>(latency_.Count()) / elapsed,
                  latency_.Quantile(0.99) / 1e6, static_cast<unsigned long long>(Errors()));
    std::cerr << line << std::flush;
  }

  Result Summarize(Clock::time_point finished) const {
    Result r;
    r.label = label_;
    r.elapsed_s = std::chrono::duration<double>(finished - start_).count();
    r.completed = latency_.Count();
    for (size_t i = 0; i < kStatusCodes; ++i) r.by_code[i] = by_code_[i].load();
    r.ok = r.by_code[0];
    r.errors = Errors();
    r.not_modified = not_modified_.load();
    r.bad_expected = bad_refused_.load();
    r.bad_unexpected = bad_unexpected_.load();
    r.errors += r.bad_unexpected;  // the exit code counts them too
    r.skipped_busy = skipped_busy_.load();
    r.p50_ms = latency_.Quantile(0.50) / 1e6;
    r.p99_ms = latency_.Quantile(0.99) / 1e6;
    r.p999_ms = latency_.Quantile(0.999) / 1e6;
    r.max_ms = static_cast<double>(latency_.Max()) / 1e6;
    r.lag_p99_ms = lag_.Quantile(0.99) / 1e6;
    r.lag_max_ms = static_cast<double>(lag_.Max()) / 1e6;
    return r;
  }

  const Options& options_;
  const std::string target_;
  const std::string label_;
  const Mode mode_;
  const pid_t pid_ = getpid();  // in every instance id: each process is a new fleet
  std::vector<std::unique_ptr<SamplingService::Stub>> stubs_;
  std::vector<SimClient> clients_;
  std::vector<size_t> order_;
  std::vector<double> base_rate_;
  std::mt19937_64 rng_;  // dispatcher thread only
  Clock::time_point start_;

  std::mutex mu_;
  std::condition_variable cv_;
  int64_t in_flight_ = 0;       // guarded by mu_
  bool dispatch_done_ = false;  // guarded by mu_

  Histogram latency_;
  Histogram lag_;  // paced: how late a call started after its due time
  std::array<std::atomic<uint64_t>, kStatusCodes> by_code_{};
  std::atomic<uint64_t> started_{0};
  std::atomic<uint64_t> not_modified_{0};
  std::atomic<uint64_t> skipped_busy_{0};
  std::atomic<uint64_t> errors_logged_{0};
  std::atomic<uint64_t> bad_refused_{0};     // bad input answered as it should be
  std::atomic<uint64_t> bad_unexpected_{0};  // bad input answered otherwise
};

// The baseline: a Sync handler that does nothing, on the same server API as fleetrate-server's
// (a raw callback method: the request's bytes in, the response's bytes out) and the default
// ServerBuilder settings. It neither parses the request nor builds an answer: the empty
// SyncResponse is zero bytes.
class EmptySamplingService final
    : public SamplingService::WithRawCallbackMethod_Sync<SamplingService::Service> {
 public:
  grpc::ServerUnaryReactor* Sync(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* /*request*/,
                                 grpc::ByteBuffer* response) override {
    grpc::Slice empty;
    *response = grpc::ByteBuffer(&empty, 1);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// --mode idle: holds options.connections TCP connections to options.server open without sending
// a byte, for options.duration_s; a connection the server closes is reopened a second later,
// one that does not connect within 3 s is retried. Prints "holding X of N" on stderr once all
// are open (or after 10 s), progress every 5 s, and a summary on stdout. Returns the exit code.
int HoldIdleConnections(const Options& options) {
  const std::string& target = options.server;
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    std::cerr << "fleetrate-loadgen: --server must be HOST:PORT, not '" << target << "'\n";
    return 2;
  }
  std::string host = target.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* resolved = nullptr;
  if (getaddrinfo(host.c_str(), target.c_str() + colon + 1, &hints, &resolved) != 0 ||
      resolved == nullptr) {
    std::cerr << "fleetrate-loadgen: cannot resolve " << target << "\n";
    return 2;
  }
  sockaddr_storage address{};
  const socklen_t address_len = resolved->ai_addrlen;
  std::memcpy(&address, resolved->ai_addr, address_len);
  const int family = resolved->ai_family;
  freeaddrinfo(resolved);

  // Room for the connections in this process's own descriptor table.
  const auto wanted = static_cast<size_t>(options.connections);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < wanted + 64) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, wanted + 64);
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < wanted + 64) {
      std::cerr << "fleetrate-loadgen: the descriptor limit (" << limit.rlim_max
                << ") is below --connections; some will fail\n";
    }
  }

  struct Slot {
    int fd = -1;
    bool open = false;  // connected; false with fd >= 0: connecting since `since`
    Clock::time_point since;
    Clock::time_point retry_at;
  };
  std::vector<Slot> slots(wanted);
  uint64_t opened = 0, connect_failures = 0, closed_by_server = 0, bytes_received = 0;
  size_t open_now = 0, peak = 0;
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::seconds(options.duration_s);
  bool announced = false;
  Clock::time_point next_progress = start + std::chrono::seconds(5);
  auto drop = [&](Slot& slot, Clock::time_point retry_at) {
    if (slot.open) --open_now;
    close(slot.fd);
    slot = Slot{};
    slot.retry_at = retry_at;
  };
  std::vector<pollfd> fds;
  std::vector<size_t> fd_slot;
  for (Clock::time_point now = start; now < end && !g_stop.load(); now = Clock::now()) {
    for (Slot& slot : slots) {
      if (slot.fd >= 0 || now < slot.retry_at) continue;
      slot.fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (slot.fd < 0) {
        ++connect_failures;
        slot.retry_at = now + std::chrono::milliseconds(250);
        continue;
      }
      slot.since = now;
      if (connect(slot.fd, reinterpret_cast<const sockaddr*>(&address), address_len) == 0) {
        slot.open = true;
        ++opened;
        ++open_now;
      } else if (errno != EINPROGRESS) {
        ++connect_failures;
        drop(slot, now + std::chrono::milliseconds(250));
      }
    }
    peak = std::max(peak, open_now);
    if (!announced && (open_now == wanted || now - start >= std::chrono::seconds(10))) {
      std::cerr << "fleetrate-loadgen: holding " << open_now << " of " << wanted
                << " idle connections to " << target << "\n"
                << std::flush;
      announced = true;
    }
    if (now >= next_progress) {
      std::cerr << "fleetrate-loadgen: idle: " << open_now << " open, " << closed_by_server
                << " closed by the server, " << connect_failures << " failed connects\n";
      next_progress += std::chrono::seconds(5);
    }
    fds.clear();
    fd_slot.clear();
    for (size_t i = 0; i < slots.size(); ++i) {
      if (slots[i].fd < 0) continue;
      const short events = slots[i].open ? static_cast<short>(POLLIN | POLLRDHUP) : POLLOUT;
      fds.push_back({slots[i].fd, events, 0});
      fd_slot.push_back(i);
    }
    poll(fds.data(), fds.size(), 100);
    now = Clock::now();
    for (size_t j = 0; j < fds.size(); ++j) {
      Slot& slot = slots[fd_slot[j]];
      if (!slot.open) {
        if (fds[j].revents != 0) {
          int error = 0;
          socklen_t len = sizeof error;
          getsockopt(slot.fd, SOL_SOCKET, SO_ERROR, &error, &len);
          if (error == 0) {
            slot.open = true;
            ++opened;
            ++open_now;
            continue;
          }
        } else if (now - slot.since < std::chrono::seconds(3)) {
          continue;
        }
        ++connect_failures;
        drop(slot, now + std::chrono::milliseconds(250));
        continue;
      }
      if (fds[j].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = recv(slot.fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) {
        bytes_received += static_cast<uint64_t>(n);  // the server spoke first; keep listening
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        ++closed_by_server;
        drop(slot, now + std::chrono::seconds(1));  // gently: ~N reconnects a second at most
      }
    }
  }
  const size_t held_at_end = open_now;
  for (Slot& slot : slots) {
    if (slot.fd >= 0) close(slot.fd);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  char buf[512];
  std::cout << "== idle connections (" << target << ") ==\n";
  std::snprintf(buf, sizeof buf, "  held          %zu of %zu open at the end (peak %zu), %.1f s\n",
                held_at_end, wanted, peak, elapsed);
  std::cout << buf;
  std::snprintf(buf, sizeof buf,
                "  opened        %llu connections in all; %llu connects failed or timed out\n",
                static_cast<unsigned long long>(opened),
                static_cast<unsigned long long>(connect_failures));
  std::cout << buf;
  std::snprintf(buf, sizeof buf,
                "  closed        %llu by the server (each reopened); %llu bytes received\n",
                static_cast<unsigned long long>(closed_by_server),
                static_cast<unsigned long long>(bytes_received));
  std::cout << buf;
  return 0;
}

bool RunOnce(const Options& options, const std::string& target, const std::string& label, Mode mode,
             Result* result) {
  LoadRun run(options, target, label, mode);
  if (!run.Connect()) return false;
  run.BuildClients();
  std::cerr << "fleetrate-loadgen: " << label << " " << ModeName(mode) << " run against " << target
            << " for " << options.duration_s << " s\n";
  *result = run.Run();
  return true;
}

void PrintResult(const Options& options, const std::string& target, Mode mode, const Result& r) {
  char buf[512];
  std::cout << "== " << r.label << " (" << target << ") ==\n";
  std::snprintf(buf, sizeof buf,
                "  mode          %s: %lld clients x %lld operations, interval %lld ms, %lld "
                "services, %lld channels, concurrency %lld\n",
                ModeName(mode), static_cast<long long>(options.clients),
                static_cast<long long>(options.operations),
                static_cast<long long>(options.interval_ms),
                static_cast<long long>(options.services), static_cast<long long>(options.channels),
                static_cast<long long>(options.concurrency));
  std::cout << buf;
  std::snprintf(buf, sizeof buf, "  elapsed       %.1f s\n", r.elapsed_s);
  std::cout << buf;
  std::snprintf(
      buf, sizeof buf, "  syncs         %llu completed: %llu ok (%llu not_modified), %llu errors\n",
      static_cast<unsigned long long>(r.completed), static_cast<unsigned long long>(r.ok),
      static_cast<unsigned long long>(r.not_modified), static_cast<unsigned long long>(r.errors));
  std::cout << buf;
  std::snprintf(buf, sizeof buf, "  sync/s        %.1f (%.0f operation updates/s)\n",
                r.SyncsPerSecond(), r.SyncsPerSecond() * static_cast<double>(options.operations));
  std::cout << buf;
  std::snprintf(buf, sizeof buf, "  latency ms    p50 %.3f  p99 %.3f  p999 %.3f  max %.3f\n",
                r.p50_ms, r.p99_ms, r.p999_ms, r.max_ms);
  std::cout << buf;
  if (mode == Mode::kPaced) {
    std::snprintf(buf, sizeof buf, "  start lag ms  p99 %.3f  max %.3f (call start after due)\n",
                  r.lag_p99_ms, r.lag_max_ms);
    std::cout << buf;
  }
  if (options.invalid_percent > 0) {
    std::cout << "  bad input     " << r.bad_expected << " answered as expected, "
              << r.bad_unexpected
              << " otherwise (in completed, Sync/s and latency above; not in ok or errors)\n";
  }
  std::cout << "  skipped       " << r.skipped_busy
            << " (client's previous Sync still in flight)\n";
  std::cout << "  errors        ";
  if (r.errors == 0) {
    std::cout << "none";
  } else {
    for (int i = 1; i < kStatusCodes; ++i) {
      if (r.by_code[static_cast<size_t>(i)] != 0) {
        std::cout << kStatusNames[i] << "=" << r.by_code[static_cast<size_t>(i)] << " ";
      }
    }
  }
  std::cout << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  // As fleetrate-server does (server/main.cc), so the empty-handler baseline runs gRPC alike.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Options options;
  if (const std::string error = ParseFlags(argc, argv, &options); !error.empty()) {
    if (error == "help") {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << "fleetrate-loadgen: " << error << "\n" << kUsage;
    return 2;
  }
  // Protobuf logs an error for each string that is not UTF-8 it serializes; with
  // --invalid-percent that is on purpose, hundreds of times a minute.
  if (options.invalid_percent > 0) google::protobuf::SetLogHandler(nullptr);
  struct sigaction stop_action {};
  stop_action.sa_handler = OnStopSignal;
  sigaction(SIGINT, &stop_action, nullptr);
  sigaction(SIGTERM, &stop_action, nullptr);
  if (options.mode == Mode::kIdle) return HoldIdleConnections(options);

  Result fleetrate_result;
  if (!RunOnce(options, options.server, "fleetrate", options.mode, &fleetrate_result)) return 2;
  PrintResult(options, options.server, options.mode, fleetrate_result);
  uint64_t errors = fleetrate_result.errors;

  if (options.empty_baseline) {
    EmptySamplingService service;
    grpc::ServerBuilder builder;
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server || port == 0) {
      std::cerr << "fleetrate-loadgen: cannot start the empty baseline server\n";
      return 2;
    }
    const std::string target = "127.0.0.1:" + std::to_string(port);
    Result empty_result;
    if (!RunOnce(options, target, "empty handler", Mode::kMax, &empty_result)) return 2;
    server->Shutdown();
    PrintResult(options, target, Mode::kMax, empty_result);
    errors += empty_result.errors;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "== ratio ==\n  fleetrate/empty  %.3f (%.1f / %.1f Sync/s; goal >= 0.8%s)\n",
                  empty_result.SyncsPerSecond() > 0
                      ? fleetrate_result.SyncsPerSecond() / empty_result.SyncsPerSecond()
                      : 0.0,
                  fleetrate_result.SyncsPerSecond(), empty_result.SyncsPerSecond(),
                  options.mode == Mode::kMax ? "" : "; WARNING: fleetrate run was paced, not max");
    std::cout << buf;
  }
  return errors == 0 ? 0 : 1;
}
