// End to end: the real server in-process, several real fleetrate::Client instances with
// different traffic for one operation, each syncing over gRPC. The fleet's sampled rate must
// settle on the fleet-wide target, and follow a traffic step within a few sync intervals.
//
// Timing: the server asks for a 200 ms sync interval and recomputes every 100 ms, so the rate
// follows traffic within ~0.5 s. Traffic is paced by elapsed time (not by sleep counts), so a
// slow, shared machine changes nothing but the noise.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "fleetrate/client.h"
#include "server/service/server.h"

namespace fleetrate::server {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr double kTargetPerSecond = 200;
constexpr char kService[] = "checkout";
constexpr char kOperation[] = "GET /cart";

// One application instance: calls ShouldSample at `rate` roots per second on its own thread
// and counts what it kept.
class TrafficSource {
 public:
  TrafficSource(Sampler& sampler, double rate, uint64_t seed)
      : sampler_(sampler), rate_(rate), random_(seed) {}

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void SetRate(double rate) { rate_ = rate; }
  [[nodiscard]] uint64_t seen() const { return seen_.load(); }
  [[nodiscard]] uint64_t sampled() const { return sampled_.load(); }

 private:
  void Run() {
    double owed = 0;
    auto last = Clock::now();
    while (!stop_) {
      std::this_thread::sleep_for(milliseconds(2));
      const auto now = Clock::now();
      owed += rate_.load() * std::chrono::duration<double>(now - last).count();
      last = now;
      for (; owed >= 1; owed -= 1) {
        SamplingParameters params;
        params.operation = kOperation;
        const uint64_t hi = random_();
        const uint64_t lo = random_();
        for (int i = 0; i < 8; ++i) {
          params.trace_id[static_cast<size_t>(i)] = static_cast<uint8_t>(hi >> (8 * i));
          params.trace_id[static_cast<size_t>(8 + i)] = static_cast<uint8_t>(lo >> (8 * i));
        }
        const SamplingResult result = sampler_.ShouldSample(params);
        seen_.fetch_add(1);
        if (result.decision == Decision::kRecordAndSample) sampled_.fetch_add(1);
      }
    }
  }

  Sampler& sampler_;
  std::atomic<double> rate_;
  std::mt19937_64 random_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> seen_{0};
  std::atomic<uint64_t> sampled_{0};
  std::thread thread_;
};

class ConvergenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto policies = ParsePolicies(
        "sync_interval_seconds: 0.2\n"
        "defaults:\n"
        "  target_traces_per_second: 200\n"
        "  min_probability: 0.00001\n"
        "  initial_probability: 0.001\n");
    ASSERT_TRUE(policies.ok()) << policies.status();
    ServerOptions options;
    options.grpc_listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.recompute_interval = milliseconds(100);
    server_ =
        std::make_unique<Server>(options, std::make_shared<const Policies>(*policies), clock_);
    ASSERT_TRUE(server_->Start().ok());

    const double rates[] = {2000, 1000, 400};  // three instances, 3400 roots/s in all
    for (size_t i = 0; i < 3; ++i) {
      ClientOptions client_options;
      client_options.server_address = "127.0.0.1:" + std::to_string(server_->grpc_port());
      client_options.service = kService;
      client_options.instance_id = "instance-" + std::to_string(i);
      client_options.min_sync_interval = milliseconds(50);
      client_options.initial_sync_interval = milliseconds(200);
      auto client = Client::Create(client_options);
      ASSERT_TRUE(client.ok()) << client.status();
      clients_.push_back(*std::move(client));
      sources_.push_back(
          std::make_unique<TrafficSource>(clients_.back()->sampler(), rates[i], 1000 + i));
    }
    for (auto& source : sources_) source->Start();
  }

  void TearDown() override {
    for (auto& source : sources_) source->Stop();
    for (auto& client : clients_) client->Shutdown();
    if (server_) server_->Shutdown();
  }

  struct Window {
    double seen_per_second;
    double sampled_per_second;
  };

  // What the whole fleet saw and kept per second over the next `length`.
  Window Measure(milliseconds length) {
    uint64_t seen0 = 0;
    uint64_t sampled0 = 0;
    for (auto& s : sources_) {
      seen0 += s->seen();
      sampled0 += s->sampled();
    }
    const auto start = Clock::now();
    std::this_thread::sleep_for(length);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    uint64_t seen1 = 0;
    uint64_t sampled1 = 0;
    for (auto& s : sources_) {
      seen1 += s->seen();
      sampled1 += s->sampled();
    }
    return {static_cast<double>(seen1 - seen0) / seconds,
            static_cast<double>(sampled1 - sampled0) / seconds};
  }

  double ServerProbability() {
    auto tables = server_->publisher().Current();
    const ServiceRates* rates = tables ? tables->Find({kService, ""}) : nullptr;
    const KeyRate* rate = rates ? rates->Find(kOperation) : nullptr;
    return rate ? rate->probability : -1;
  }

  RealClock clock_;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<TrafficSource>> sources_;
};

// Tolerance: the expected count in a 4 s window is 800 kept traces (Poisson sd ≈ 3.5 %), and
// the estimate lags traffic by at most one sync interval; ±15 % is > 4 sd.
constexpr double kTolerance = 0.15;

TEST_F(ConvergenceTest, FleetSampledRateSettlesOnTheTargetAndFollowsATrafficStep) {
  std::this_thread::sleep_for(milliseconds(2000));  // first syncs, first recomputes
  const Window settled = Measure(milliseconds(4000));
  std::printf("settled: fleet saw %.0f roots/s, kept %.1f traces/s (target %.0f), p = %.5f\n",
              settled.seen_per_second, settled.sampled_per_second, kTargetPerSecond,
              ServerProbability());
  EXPECT_NEAR(settled.sampled_per_second, kTargetPerSecond, kTolerance * kTargetPerSecond)
      << "fleet saw " << settled.seen_per_second << " roots/s";
  // The server's estimate of fleet traffic matches what the sources produced.
  const double p = ServerProbability();
  EXPECT_NEAR(p, kTargetPerSecond / settled.seen_per_second,
              kTolerance * kTargetPerSecond / settled.seen_per_second);
  for (auto& client : clients_) EXPECT_GT(client->stats().syncs_ok, 5u);

  // Traffic ×3 on every instance: the rate falls at once; within ~1 s the fleet is back on
  // target, where Jaeger's adaptive sampler needs minutes.
  for (size_t i = 0; i < sources_.size(); ++i) {
    const double rates[] = {6000, 3000, 1200};
    sources_[i]->SetRate(rates[i]);
  }
  std::this_thread::sleep_for(milliseconds(1500));
  const Window stepped = Measure(milliseconds(4000));
  std::printf(
      "after a x3 step: fleet saw %.0f roots/s, kept %.1f traces/s (target %.0f), p = %.5f\n",
      stepped.seen_per_second, stepped.sampled_per_second, kTargetPerSecond, ServerProbability());
  EXPECT_GT(stepped.seen_per_second, 2 * settled.seen_per_second);
  EXPECT_NEAR(stepped.sampled_per_second, kTargetPerSecond, kTolerance * kTargetPerSecond)
      << "fleet saw " << stepped.seen_per_second << " roots/s";
  EXPECT_LT(ServerProbability(), p);
}

}  // namespace
}  // namespace fleetrate::server
