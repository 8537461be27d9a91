#include "bench/sim/simulator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <unordered_map>

#include "bench/sim/random.h"
#include "bench/sim/token_bucket.h"
#include "fleetrate/rate_table.h"
#include "server/common/clock.h"
#include "server/policy/policy.h"
#include "server/rates/aggregator.h"
#include "server/rates/rate_engine.h"

namespace fleetrate::sim {
namespace {

using server::Aggregator;
using server::ClientReport;
using server::KeyRate;
using server::ManualClock;
using server::RateTables;
using server::Scope;
using server::ServiceRates;

constexpr int kKeyErrorWindow = 300;  // seconds; long enough that Poisson noise is ~5 %
constexpr double kSeedUp = 1.1;
constexpr double kSeedDown = 0.9;
constexpr double kJaegerTolerance = 0.3;
constexpr double kJaegerMaxRise = 2.0;
constexpr double kJaegerInitial = 0.001;
constexpr double kJaegerFloor = 1e-5;
constexpr double kJaegerLowerBound = 1.0 / 60;
constexpr int kJaegerInterval = 60;
constexpr int kJaegerDelay = 120;
constexpr int kJaegerBuckets = 10;  // AggregationBuckets: operations stay known this long
// The fleetrate client's strategy before its first table (ClientOptions' defaults).
constexpr double kClientInitialProbability = 0.001;
constexpr double kClientInitialLowerBound = 1.0;

// One client's state for one operation.
struct Cell {
  uint32_t seen = 0;  // roots since the client's last Sync (fleetrate, seed)
  uint32_t kept = 0;
  double p = 0;
  // GCRA token buckets (client/src/token_bucket.h) in seconds: the theoretical arrival time of
  // the next token; a bucket starts full.
  double cap_tat = kFullBucket;
  double cap_interval = 0;  // 0: no local cap
  double cap_tolerance = 0;
  double bound_tat = kFullBucket;
  double bound_interval = 0;  // 0: no lower bound
};

struct SimClient {
  std::string instance_id;
  double next_sync = 0;  // seconds of virtual time
  double last_sync = 0;
  std::vector<Cell> cells;
};

// FNV-1a: std::hash is implementation-defined, and seeds must not be.
uint64_t NameHash(const std::string& name) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

double IntervalOf(double per_second) { return per_second > 0 ? 1.0 / per_second : 0.0; }

std::string OperationName(size_t k, bool rare) {
  char name[32];
  std::snprintf(name, sizeof(name), rare ? "rare-%04zu" : "op-%04zu", k);
  return name;
}

std::shared_ptr<const server::Policies> FleetratePolicies(const SimOptions& options) {
  // Every field but the target is the shipped default (config/policies.yaml).
  const std::string yaml =
      "sync_interval_seconds: " + std::to_string(options.sync_interval_seconds) +
      "\ndefaults:\n  target_traces_per_second: " + std::to_string(options.target_per_key) + "\n";
  absl::StatusOr<server::Policies> policies = server::ParsePolicies(yaml);
  if (!policies.ok()) throw std::runtime_error(std::string(policies.status().message()));
  return std::make_shared<const server::Policies>(*std::move(policies));
}

class Run {
 public:
  Run(const Scenario& scenario, Algorithm algorithm, const SimOptions& options)
      : scenario_(scenario),
        algorithm_(algorithm),
        options_(options),
        traffic_(MakeTraffic(scenario, options)),
        ops_(traffic_.base_qps.size()),
        // Traffic has a stream of its own so that every algorithm sees the same roots.
        traffic_random_(options.seed * 1000003 + NameHash(scenario.name)),
        random_(options.seed * 7919 + (static_cast<uint64_t>(algorithm) + 1) * 104729 +
                NameHash(scenario.name)) {
    for (size_t k = 0; k < ops_; ++k) names_.push_back(OperationName(k + 1, traffic_.rare[k]));
    fixed_p_ = FixedProbability(options);
    if (algorithm_ == Algorithm::kFleetrate) {
      policies_ = FleetratePolicies(options);
      for (size_t k = 0; k < ops_; ++k) index_[names_[k]] = k;
    }
    jaeger_p_ = std::make_shared<std::vector<double>>(ops_, -1.0);
    jaeger_minute_.assign(ops_, 0);
    key_kept_.assign(ops_, 0);
    key_target_.assign(ops_, 0);
    rare_minute_seen_.assign(ops_, false);
    rare_minute_kept_.assign(ops_, false);
    rare_run_seen_.assign(ops_, false);
    rare_run_kept_.assign(ops_, false);
  }

  RunResult Go() {
    RunResult result;
    result.scenario = scenario_.name;
    result.algorithm = algorithm_;
    AddClients(options_.clients, 0);
    std::vector<double> mean(ops_);
    for (int t = 0; t < scenario_.duration_seconds; ++t) {
      for (const FleetChange& change : scenario_.fleet_changes) {
        if (change.second != t) continue;
        if (change.delta > 0) AddClients(change.delta, t);
        if (change.delta < 0) RemoveClients(-change.delta);
      }
      const double multiplier = scenario_.traffic(t);
      double target = 0;
      for (size_t k = 0; k < ops_; ++k) {
        const double qps = traffic_.base_qps[k] * (traffic_.rare[k] ? 1.0 : multiplier);
        mean[k] = qps / static_cast<double>(clients_.size());
        const double key_target = std::min(options_.target_per_key, qps);
        target += key_target;
        key_target_[k] += key_target;
      }
      kept_this_second_ = 0;
      DrawRoots(mean, t);
      result.target.push_back(target);
      result.achieved.push_back(static_cast<double>(kept_this_second_));

      const int now = t + 1;
      clock_.Advance(std::chrono::seconds(1));
      Syncs(now);
      if (algorithm_ == Algorithm::kFleetrate) Recompute();
      if (algorithm_ == Algorithm::kJaeger && now % kJaegerInterval == 0) JaegerCalculation(now);
      if (now % 60 == 0) CloseRareMinute();
      // Per-operation error in windows that start at the end of warm-up.
      const int after_warmup = now - options_.warmup_seconds;
      if (after_warmup > 0 && after_warmup % kKeyErrorWindow == 0) {
        CloseKeyWindow();
      } else if (after_warmup == 0) {
        std::fill(key_kept_.begin(), key_kept_.end(), 0);
        std::fill(key_target_.begin(), key_target_.end(), 0);
      }
    }
    result.key_error = key_windows_ > 0 ? key_error_sum_ / key_windows_ : 0;
    for (size_t k = 0; k < ops_; ++k) {
      if (!traffic_.rare[k] || !rare_run_seen_[k]) continue;
      ++result.rare_ops_seen;
      if (rare_run_kept_[k]) ++result.rare_ops_kept;
    }
    result.rare_minutes_seen = rare_minutes_seen_;
    result.rare_minutes_kept = rare_minutes_kept_;
    return result;
  }

 private:
  void AddClients(int count, int second) {
    const double interval = algorithm_ == Algorithm::kJaeger ? options_.jaeger_poll_seconds
                                                             : options_.sync_interval_seconds;
    for (int i = 0; i < count; ++i) {
      SimClient client;
      client.instance_id = "host-" + std::to_string(next_client_id_++);
      client.cells.resize(ops_);
      const double initial = algorithm_ == Algorithm::kFixed       ? fixed_p_
                             : algorithm_ == Algorithm::kFleetrate ? kClientInitialProbability
                                                                   : kJaegerInitial;
      for (Cell& cell : client.cells) {
        cell.p = initial;
        if (algorithm_ == Algorithm::kFleetrate) {
          cell.bound_interval = IntervalOf(kClientInitialLowerBound);
        }
      }
      client.last_sync = second;
      // The first fleet is already running, its syncs spread over an interval; a client that
      // joins later syncs as it starts.
      client.next_sync = second == 0 ? random_.Uniform() * interval : second + 1;
      clients_.push_back(std::move(client));
    }
  }

  // Abrupt exits (no final report) of the longest-running clients.
  void RemoveClients(int count) {
    const auto n = static_cast<std::ptrdiff_t>(
        std::min<size_t>(static_cast<size_t>(count), clients_.size() - 1));
    clients_.erase(clients_.begin(), clients_.begin() + n);
  }

  // One second of roots: per client and operation a Poisson count with the client's share of
  // the operation's rate. Where most clients see nothing, the gaps between clients that see
  // something are drawn (geometric) instead of one draw per client. The counts are drawn
  // operation by operation, then decided client by client (each client's state is contiguous).
  void DrawRoots(const std::vector<double>& mean, int t) {
    const size_t live = clients_.size();
    events_.clear();
    for (size_t k = 0; k < ops_; ++k) {
      const double m = mean[k];
      if (!(m > 0)) continue;
      if (m >= Random::kNormalFrom) {
        for (size_t c = 0; c < live; ++c) AddEvent(c, k, traffic_random_.Poisson(m));
        continue;
      }
      const double p0 = std::exp(-m);
      if (p0 < 0.75) {
        // The CDF once, then one uniform and a binary search per client.
        cdf_.clear();
        double term = p0;
        double cdf = p0;
        for (int n = 1; cdf < 1 - 1e-12 && n < 200; ++n) {
          cdf_.push_back(cdf);
          term *= m / n;
          cdf += term;
        }
        for (size_t c = 0; c < live; ++c) {
          const double u = traffic_random_.Uniform();
          AddEvent(
              c, k,
              static_cast<uint64_t>(std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin()));
        }
        continue;
      }
      // log(p0) = -m.
      for (double c = -1;;) {
        c += 1 + std::floor(std::log(traffic_random_.UniformOpen()) / -m);
        if (c >= static_cast<double>(live)) break;
        const double u = p0 + (1 - p0) * traffic_random_.Uniform();  // at least one root
        AddEvent(static_cast<size_t>(c), k,
                 std::max<uint64_t>(1, Random::PoissonFromUniform(m, p0, u)));
      }
    }
    // Counting sort by client, stable, so each client's operations stay in order.
    starts_.assign(live + 1, 0);
    for (const RootsEvent& e : events_) ++starts_[e.client + 1];
    for (size_t c = 0; c < live; ++c) starts_[c + 1] += starts_[c];
    sorted_.resize(events_.size());
    for (const RootsEvent& e : events_) sorted_[starts_[e.client]++] = e;
    for (const RootsEvent& e : sorted_) Roots(e.client, e.op, e.roots, t);
  }

  void AddEvent(size_t c, size_t k, uint64_t n) {
    if (n > 0) events_.push_back({static_cast<uint32_t>(c), static_cast<uint32_t>(k), n});
  }

  // Client c saw n roots of operation k in second t: decide them.
  void Roots(size_t c, size_t k, uint64_t n, int t) {
    Cell& cell = clients_[c].cells[k];
    const double now = t;
    uint64_t kept = 0;
    switch (algorithm_) {
      case Algorithm::kFixed:
        kept = random_.Binomial(n, fixed_p_);
        break;
      case Algorithm::kSeed:
        kept = random_.Binomial(n, cell.p);
        cell.seen += static_cast<uint32_t>(n);
        break;
      case Algorithm::kJaeger:
        // jaeger-client-go's guaranteed-throughput sampler: the lower-bound limiter (balance
        // ≤ 1) is charged by probabilistic keeps too, and keeps a root they did not.
        kept = random_.Binomial(n, cell.p);
        if (cell.bound_interval > 0) {
          const uint64_t bound = TakeTokens(&cell.bound_tat, now, cell.bound_interval, 0, 1);
          if (kept == 0) kept = bound;
        }
        jaeger_minute_[k] += kept;
        break;
      case Algorithm::kFleetrate: {
        // client/src/sampler.cc: a probabilistic keep passes the local cap or is dropped; a
        // root the probability did not keep may be kept by the lower bound.
        const uint64_t by_probability = random_.Binomial(n, cell.p);
        kept = by_probability;
        if (cell.cap_interval > 0) {
          kept = TakeTokens(&cell.cap_tat, now, cell.cap_interval, cell.cap_tolerance, kept);
        }
        if (by_probability < n && cell.bound_interval > 0) {
          kept += TakeTokens(&cell.bound_tat, now, cell.bound_interval, 0, 1);
        }
        cell.seen += static_cast<uint32_t>(n);
        cell.kept += static_cast<uint32_t>(kept);
        break;
      }
    }
    kept_this_second_ += kept;
    key_kept_[k] += kept;
    if (traffic_.rare[k]) {
      rare_minute_seen_[k] = true;
      rare_run_seen_[k] = true;
      if (kept > 0) {
        rare_minute_kept_[k] = true;
        rare_run_kept_[k] = true;
      }
    }
  }

  void Syncs(int now) {
    for (SimClient& client : clients_) {
      if (client.next_sync > now) continue;
      switch (algorithm_) {
        case Algorithm::kFleetrate:
          FleetrateSync(client, now);
          break;
        case Algorithm::kSeed:
          SeedAdjust(client, now);
          break;
        case Algorithm::kJaeger:
          JaegerPoll(client);
          break;
        case Algorithm::kFixed:
          break;
      }
      const double interval = algorithm_ == Algorithm::kJaeger ? options_.jaeger_poll_seconds
                                                               : options_.sync_interval_seconds;
      // The client library jitters each interval by ±10 % (client/src/poller.cc); Jaeger's
      // clients poll on a plain ticker.
      const double jitter = algorithm_ == Algorithm::kJaeger ? 1.0 : 0.9 + 0.2 * random_.Uniform();
      client.last_sync = now;
      client.next_sync = std::max<double>(now + 1, client.next_sync + interval * jitter);
    }
  }

  // What a Sync does: the client's counts into the real Aggregator, then the client applies
  // its slice of the current table (server/service/sampling_service.cc, client/src/poller.cc).
  void FleetrateSync(SimClient& client, int now) {
    const double seconds = now - client.last_sync;
    ClientReport report;
    report.scope = scope_;
    report.instance_id = client.instance_id;
    report.interval = std::chrono::duration_cast<server::Duration>(
        std::chrono::duration<double>(std::max(seconds, 1.0)));
    own_rate_.assign(ops_, 0.0);
    for (size_t k = 0; k < ops_; ++k) {
      Cell& cell = client.cells[k];
      if (cell.seen == 0) continue;
      report.operations.push_back({names_[k], cell.seen, cell.kept});
      own_rate_[k] = seconds > 0 ? cell.seen / seconds : 0;
      cell.seen = 0;
      cell.kept = 0;
    }
    const auto sync_interval = std::chrono::duration_cast<server::Duration>(
        std::chrono::duration<double>(options_.sync_interval_seconds));
    (void)aggregator_.Report(report, sync_interval, clock_.Now());  // far below every limit

    const ServiceRates& rates = CurrentRates();
    const double even_share = 1.0 / static_cast<double>(std::max<size_t>(1, rates.live_clients));
    for (size_t k = 0; k < ops_; ++k) {
      const KeyRate& rate = table_view_[k] != nullptr ? *table_view_[k] : rates.default_rate;
      Cell& cell = client.cells[k];
      cell.p = rate.probability;
      cell.bound_interval = IntervalOf(rate.lower_bound_per_second * even_share);
      double cap = 0;
      if (rate.burst > 0) {
        cap = rate.burst * rate.probability * own_rate_[k];
      } else if (rate.reasons & server::kRateLimited) {
        cap = rate.local_cap_per_second;
      }
      cell.cap_interval = IntervalOf(cap);
      // As the client's Poller and Sampler size the bucket: an adaptive cap holds one second
      // of tokens and at least kMinAdaptiveCapTokens; a rate limit one second, at least one.
      const double min_tokens = rate.burst > 0 ? kMinAdaptiveCapTokens : 1.0;
      const double burst = std::max(min_tokens, std::floor(cap * options_.cap_burst_seconds));
      cell.cap_tolerance = (burst - 1.0) * cell.cap_interval;
    }
  }

  // The scope's rates a Sync would serve now, with table_view_ mapping operation index to its
  // KeyRate (nullptr: the table's default).
  const ServiceRates& CurrentRates() {
    const ServiceRates* rates = tables_ != nullptr ? tables_->Find(scope_) : nullptr;
    if (rates == nullptr) {
      if (!fallback_) {
        fallback_ = std::make_unique<ServiceRates>(server::PolicyOnlyRates(*policies_, scope_));
      }
      rates = fallback_.get();
    }
    // Holding the viewed table keeps its address from being reused by a later one.
    if (rates != viewed_ || tables_ != viewed_tables_) {
      viewed_ = rates;
      viewed_tables_ = tables_;
      table_view_.assign(ops_, nullptr);
      for (const auto& [operation, rate] : rates->operations) {
        auto it = index_.find(operation);
        if (it != index_.end()) table_view_[it->second] = &rate;
      }
    }
    return *rates;
  }

  // The server's recompute thread, every virtual second.
  void Recompute() {
    const server::FleetEstimate estimate = aggregator_.Estimate(clock_.Now());
    tables_ = std::make_shared<const RateTables>(
        server::ComputeRates(policies_, estimate, tables_.get(), ++version_));
  }

  // The seed's reading: from its own call count, each process nudges each operation's
  // probability toward its static share of the target.
  void SeedAdjust(SimClient& client, int now) {
    const double seconds = now - client.last_sync;
    const double target = options_.target_per_key / options_.clients;
    for (Cell& cell : client.cells) {
      if (cell.seen == 0 || !(seconds > 0)) continue;
      const double expected = cell.p * cell.seen / seconds;
      cell.p = std::clamp(cell.p * (expected > target ? kSeedDown : kSeedUp), kJaegerFloor, 1.0);
      cell.seen = 0;
    }
  }

  void JaegerPoll(SimClient& client) {
    const std::vector<double>& p = *jaeger_p_;
    for (size_t k = 0; k < ops_; ++k) {
      Cell& cell = client.cells[k];
      cell.p = p[k] >= 0 ? p[k] : kJaegerInitial;  // unknown: defaultSamplingProbability
      cell.bound_interval = IntervalOf(kJaegerLowerBound);
    }
  }

  // Jaeger's adaptive post-aggregator, once a minute: close the minute's throughput bucket, then
  // compute from the buckets that ended at least `delay` ago (the newest one an operation
  // appears in, BucketsForCalculation = 1).
  void JaegerCalculation(int now) {
    jaeger_buckets_.push_back({now, jaeger_minute_});
    std::fill(jaeger_minute_.begin(), jaeger_minute_.end(), 0);
    std::vector<const JaegerBucket*> usable;  // newest first
    for (auto it = jaeger_buckets_.rbegin(); it != jaeger_buckets_.rend(); ++it) {
      if (it->end <= now - kJaegerDelay && usable.size() < kJaegerBuckets) usable.push_back(&*it);
    }
    while (!jaeger_buckets_.empty() &&
           jaeger_buckets_.front().end <= now - kJaegerDelay - kJaegerBuckets * kJaegerInterval) {
      jaeger_buckets_.erase(jaeger_buckets_.begin());
    }
    auto next = std::make_shared<std::vector<double>>(ops_, -1.0);
    const std::vector<double>& previous = *jaeger_p_;
    for (size_t k = 0; k < ops_; ++k) {
      double qps = -1;
      for (const JaegerBucket* bucket : usable) {
        if (bucket->counts[k] > 0) {
          qps = static_cast<double>(bucket->counts[k]) / kJaegerInterval;
          break;
        }
      }
      if (qps < 0) continue;  // not seen in the buckets kept: back to the default
      const double old_p = previous[k] >= 0 ? previous[k] : kJaegerInitial;
      const double target = options_.target_per_key;
      double p = old_p;
      if (std::abs(qps - target) / target >= kJaegerTolerance) {
        p = std::min(old_p * target / qps, old_p * kJaegerMaxRise);
      }
      (*next)[k] = std::clamp(p, kJaegerFloor, 1.0);
    }
    jaeger_p_ = std::move(next);
  }

  void CloseRareMinute() {
    for (size_t k = 0; k < ops_; ++k) {
      if (!rare_minute_seen_[k]) continue;
      ++rare_minutes_seen_;
      if (rare_minute_kept_[k]) ++rare_minutes_kept_;
      rare_minute_seen_[k] = false;
      rare_minute_kept_[k] = false;
    }
  }

  void CloseKeyWindow() {
    double sum = 0;
    int keys = 0;
    for (size_t k = 0; k < ops_; ++k) {
      if (!traffic_.rare[k] && key_target_[k] > 0) {
        sum += std::abs(static_cast<double>(key_kept_[k]) - key_target_[k]) / key_target_[k];
        ++keys;
      }
      key_kept_[k] = 0;
      key_target_[k] = 0;
    }
    if (keys > 0) {
      key_error_sum_ += sum / keys;
      ++key_windows_;
    }
  }

  struct RootsEvent {
    uint32_t client;
    uint32_t op;
    uint64_t roots;
  };
  std::vector<RootsEvent> events_, sorted_;
  std::vector<size_t> starts_;
  std::vector<double> cdf_;

  struct JaegerBucket {
    int end;
    std::vector<uint64_t> counts;
  };

  const Scenario& scenario_;
  const Algorithm algorithm_;
  const SimOptions options_;
  const Traffic traffic_;
  const size_t ops_;
  Random traffic_random_;
  Random random_;
  std::vector<std::string> names_;
  std::vector<SimClient> clients_;
  int next_client_id_ = 0;
  double fixed_p_ = 0;
  uint64_t kept_this_second_ = 0;

  // kFleetrate: the real server path.
  const Scope scope_{"shop", "production"};
  ManualClock clock_;
  Aggregator aggregator_;
  std::shared_ptr<const server::Policies> policies_;
  std::shared_ptr<const RateTables> tables_;
  uint64_t version_ = 0;
  std::unordered_map<std::string, size_t> index_;
  std::unique_ptr<ServiceRates> fallback_;
  const ServiceRates* viewed_ = nullptr;
  std::shared_ptr<const RateTables> viewed_tables_;
  std::vector<const KeyRate*> table_view_;
  std::vector<double> own_rate_;

  // kJaeger: the collector's buckets and the published probabilities (-1: not listed).
  std::vector<uint64_t> jaeger_minute_;
  std::vector<JaegerBucket> jaeger_buckets_;
  std::shared_ptr<std::vector<double>> jaeger_p_;

  // Metrics.
  std::vector<uint64_t> key_kept_;
  std::vector<double> key_target_;
  double key_error_sum_ = 0;
  int key_windows_ = 0;
  std::vector<bool> rare_minute_seen_, rare_minute_kept_, rare_run_seen_, rare_run_kept_;
  uint64_t rare_minutes_seen_ = 0;
  uint64_t rare_minutes_kept_ = 0;
};

}  // namespace

const char* AlgorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kFleetrate:
      return "fleetrate";
    case Algorithm::kSeed:
      return "seed";
    case Algorithm::kJaeger:
      return "jaeger";
    case Algorithm::kFixed:
      return "fixed";
  }
  return "?";
}

const std::vector<Algorithm>& AllAlgorithms() {
  static const std::vector<Algorithm> all = {Algorithm::kFleetrate, Algorithm::kSeed,
                                             Algorithm::kJaeger, Algorithm::kFixed};
  return all;
}

std::vector<std::string> ScenarioNames() {
  return {"steady", "step", "spike", "diurnal", "churn", "rare"};
}

Scenario MakeScenario(const std::string& name, const SimOptions& options) {
  const int w = options.warmup_seconds;
  Scenario s;
  s.name = name;
  s.duration_seconds = 2 * w;
  s.traffic = [](int) { return 1.0; };
  if (name == "steady") {
    s.description = "steady Zipf traffic";
  } else if (name == "step") {
    s.description = "traffic x10 at warm-up end, back to x1 half-way through the rest";
    s.traffic = [w](int t) { return t >= w && t < w + w / 2 ? 10.0 : 1.0; };
    s.settle_from = {w, w + w / 2};
    s.overshoot_from = {w};
  } else if (name == "spike") {
    s.description = "traffic x100 for 5 s at warm-up end";
    s.traffic = [w](int t) { return t >= w && t < w + 5 ? 100.0 : 1.0; };
    s.settle_from = {w + 5};
    s.overshoot_from = {w};
  } else if (name == "diurnal") {
    s.description = "after warm-up, traffic x(1 + 0.8 sin) with a period of the warm-up";
    s.traffic = [w](int t) {
      return t < w ? 1.0 : 1.0 + 0.8 * std::sin(6.283185307179586 * (t - w) / w);
    };
  } else if (name == "churn") {
    s.description = "+50% clients at warm-up end; 60% of them leave abruptly half-way on";
    s.fleet_changes = {{w, options.clients / 2}, {w + w / 2, -(options.clients * 9 / 10)}};
    s.settle_from = {w, w + w / 2};
  } else if (name == "rare") {
    s.description = "steady traffic plus rare operations (1/hour..1/minute each)";
    s.rare_operations = std::max(10, options.operations / 10);
  } else {
    throw std::invalid_argument("unknown scenario: " + name);
  }
  return s;
}

Traffic MakeTraffic(const Scenario& scenario, const SimOptions& options) {
  Traffic traffic;
  double harmonic = 0;
  for (int k = 1; k <= options.operations; ++k) harmonic += std::pow(k, -options.zipf_exponent);
  for (int k = 1; k <= options.operations; ++k) {
    traffic.base_qps.push_back(options.fleet_qps * std::pow(k, -options.zipf_exponent) / harmonic);
    traffic.rare.push_back(false);
  }
  Random random(options.seed ^ 0x5ca1ab1eULL);
  for (int i = 0; i < scenario.rare_operations; ++i) {
    // Log-uniform between one an hour and one a minute.
    traffic.base_qps.push_back(std::exp(std::log(1.0 / 3600) + random.Uniform() * std::log(60.0)));
    traffic.rare.push_back(true);
  }
  return traffic;
}

double FixedProbability(const SimOptions& options) {
  const Traffic traffic = MakeTraffic(MakeScenario("steady", options), options);
  double target = 0;
  double qps = 0;
  for (double q : traffic.base_qps) {
    target += std::min(options.target_per_key, q);
    qps += q;
  }
  return qps > 0 ? target / qps : 1.0;
}

RunResult RunScenario(const Scenario& scenario, Algorithm algorithm, const SimOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  RunResult result = Run(scenario, algorithm, options).Go();
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace fleetrate::sim
