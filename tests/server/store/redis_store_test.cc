#include "server/store/redis_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace fleetrate::server {
namespace {

RedisReply Str(std::string value) {
  RedisReply r;
  r.type = RedisReply::Type::kString;
  r.str = std::move(value);
  return r;
}

RedisReply Int(long long value) {
  RedisReply r;
  r.type = RedisReply::Type::kInteger;
  r.integer = value;
  return r;
}

RedisReply Error(std::string text) {
  RedisReply r;
  r.type = RedisReply::Type::kError;
  r.str = std::move(text);
  return r;
}

constexpr std::chrono::milliseconds kLease{3000};

TEST(LeaseToRepairTest, ALeaseWithoutExpiryOrBeyondTwiceTheLeaseIsRepaired) {
  // SET fleetrate:leader x (no TTL).
  auto repair = LeaseToRepair(Str("x"), Int(-1), false, kLease);
  ASSERT_TRUE(repair.has_value());
  EXPECT_EQ(repair->seen, "x");
  EXPECT_EQ(repair->max_pttl_ms, 6000);
  // SET fleetrate:leader x PX 86400000.
  repair = LeaseToRepair(Str("x"), Int(86'400'000), false, kLease);
  ASSERT_TRUE(repair.has_value());
  EXPECT_EQ(repair->seen, "x");
  // A hash under the lease's name without expiry: any value, the script checks the type.
  repair = LeaseToRepair(Error("WRONGTYPE Operation against a key"), Int(-1), false, kLease);
  ASSERT_TRUE(repair.has_value());
  EXPECT_EQ(repair->seen, "");
}

TEST(LeaseToRepairTest, ALeaseThatExpiresInTimeOursOrNoneIsLeftAlone) {
  EXPECT_FALSE(LeaseToRepair(Str("replica-2"), Int(2999), false, kLease).has_value());
  EXPECT_FALSE(LeaseToRepair(Str("x"), Int(6000), false, kLease).has_value());  // at the bound
  EXPECT_FALSE(LeaseToRepair(Str("x"), Int(0), false, kLease).has_value());
  EXPECT_FALSE(LeaseToRepair(RedisReply{}, Int(-2), false, kLease).has_value());  // no key
  // This replica holds it: its renew script sets the expiry every round.
  EXPECT_FALSE(LeaseToRepair(Str("me"), Int(-1), true, kLease).has_value());
  // PTTL refused or missing: nothing known, nothing done.
  EXPECT_FALSE(LeaseToRepair(Str("x"), Error("ERR"), false, kLease).has_value());
}

using std::chrono::milliseconds;
using std::chrono::seconds;

ClientReport Report(const std::string& instance, size_t operations = 1) {
  ClientReport r{{"cart", "prod"}, instance, seconds(10), {}};
  for (size_t i = 0; i < operations; ++i) r.operations.push_back({"op" + std::to_string(i), 10, 0});
  return r;
}

// A fleet's limits, small enough to reach in a test.
AggregatorLimits SmallLimits() {
  AggregatorLimits limits;
  limits.max_clients = 3;
  limits.max_client_key_rates = 5;
  limits.min_report_spacing = milliseconds(100);
  limits.report_burst = 2;
  limits.new_client_spacing_per_peer = seconds(1);
  limits.new_clients_per_peer_burst = 2;
  return limits;
}

// Redis mode's intake refuses what the memory store refuses, before anything reaches Redis (here
// unreachable: everything admitted would wait in the replica's buffer), and the replica's memory
// stays at the limits however many clients try.
TEST(RedisStoreTest, IntakeRefusesBeyondTheMemoryStoresLimits) {
  ManualClock clock;
  RedisStoreOptions options;
  options.address = *ParseRedisUrl("--store", "redis://127.0.0.1:1");  // nothing listens
  options.limits = SmallLimits();
  RedisStore store(options, clock);
  const auto report = [&](const ClientReport& r) {
    return store.Report(r, seconds(10), clock.Now());
  };
  EXPECT_EQ(report(Report("a", 2)), ReportResult::kAccepted);
  EXPECT_EQ(report(Report("b", 2)), ReportResult::kAccepted);
  // Rates: 4 held, a third client's 2 would make 6.
  EXPECT_EQ(report(Report("c", 2)), ReportResult::kTooManyRates);
  EXPECT_EQ(report(Report("c", 1)), ReportResult::kAccepted);
  // Clients: 3 live.
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(report(Report("flood-" + std::to_string(i))), ReportResult::kTooManyClients);
  }
  // The per-client Sync rate: a burst of 2, then one per 100 ms.
  EXPECT_EQ(report(Report("a", 2)), ReportResult::kAccepted);
  EXPECT_EQ(report(Report("a", 2)), ReportResult::kTooFrequent);
  clock.Advance(milliseconds(100));
  EXPECT_EQ(report(Report("a", 2)), ReportResult::kAccepted);
  EXPECT_EQ(store.Estimate(clock.Now()).live_clients, 3u);
  // A peer's budget of new identities: two, then one a second (the table has room again once
  // the three above are idle).
  clock.Advance(seconds(25));
  ClientReport minted = Report("m1");
  minted.peer = "10.9.9.9";
  EXPECT_EQ(report(minted), ReportResult::kAccepted);
  minted.instance_id = "m2";
  EXPECT_EQ(report(minted), ReportResult::kAccepted);
  minted.instance_id = "m3";
  EXPECT_EQ(report(minted), ReportResult::kTooManyNewClientsFromPeer);
  ClientReport other = Report("o1");
  other.peer = "10.1.1.1";
  EXPECT_EQ(report(other), ReportResult::kAccepted);
  EXPECT_EQ(store.Estimate(clock.Now()).live_clients, 3u);
  EXPECT_EQ(store.status().clients_evicted, 3u);  // a, b and c were idle
}

// A real redis-server on a free loopback port, for the life of a test.
class RedisServer {
 public:
  RedisServer() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
    close(fd);
    const std::string port = std::to_string(port_);
    std::vector<std::string> args = {"redis-server", "--port",     port,     "--bind",
                                     "127.0.0.1",    "--save",     "",       "--appendonly",
                                     "no",           "--loglevel", "warning"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (port_ == 0 ||
        posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = 0;
      return;
    }
    RedisClient client(redis_address(), milliseconds(200));
    for (int i = 0; i < 100 && !ready_; ++i) {
      auto reply = client.Command({"PING"});
      ready_ = reply.ok() && reply->str == "PONG";
      if (!ready_) std::this_thread::sleep_for(milliseconds(50));
    }
  }
  ~RedisServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  [[nodiscard]] bool ready() const { return ready_; }
  [[nodiscard]] RedisAddress redis_address() const {
    return *ParseRedisUrl("--store", "redis://127.0.0.1:" + std::to_string(port_));
  }

 private:
  uint16_t port_ = 0;
  pid_t pid_ = 0;
  bool ready_ = false;
};

// Another replica's reports beyond this replica's limits (its view of the fleet lagged, or it is
// configured larger) are dropped and counted; they do not grow this replica's memory.
TEST(RedisStoreTest, StreamEntriesBeyondTheFleetViewsLimitsAreDroppedAndCounted) {
  RedisServer redis;
  if (!redis.ready()) GTEST_SKIP() << "no redis-server to start on loopback";
  RealClock clock;
  RedisStoreOptions big;
  big.address = redis.redis_address();
  big.key_prefix = "test";
  big.flush_interval = milliseconds(20);
  big.replica_id = "big";
  RedisStoreOptions small = big;
  small.replica_id = "small";
  small.limits.max_clients = 3;
  RedisStore a(big, clock);
  RedisStore b(small, clock);
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(a.Report(Report("c" + std::to_string(i)), seconds(10), clock.Now()),
              ReportResult::kAccepted);
  }
  // B's intake refuses a fourth client once it has read three from the stream.
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (b.status().reports_read < 50 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_EQ(b.status().reports_read, 50u);
  EXPECT_EQ(b.status().reports_refused, 47u);
  EXPECT_EQ(b.Estimate(clock.Now()).live_clients, 3u);
  EXPECT_EQ(b.Report(Report("new"), seconds(10), clock.Now()), ReportResult::kTooManyClients);
  EXPECT_EQ(a.Estimate(clock.Now()).live_clients, 50u);
}

}  // namespace
}  // namespace fleetrate::server
