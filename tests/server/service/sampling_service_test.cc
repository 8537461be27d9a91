#include "server/service/sampling_service.h"

#include <gtest/gtest.h>

#include "fleetrate/threshold.h"
#include "server/store/memory_store.h"

namespace fleetrate::server {
namespace {

v1::SyncRequest ValidRequest() {
  v1::SyncRequest r;
  r.mutable_client()->set_instance_id("host-1");
  r.mutable_client()->set_service("cart");
  r.set_interval_ms(10000);
  auto* op = r.add_operations();
  op->set_operation("GET /cart");
  op->set_roots_seen(10000);
  op->set_roots_sampled(10);
  return r;
}

grpc::ByteBuffer Serialized(const v1::SyncRequest& request) {
  grpc::ByteBuffer bytes;
  bool own_buffer = false;
  EXPECT_TRUE(
      grpc::SerializationTraits<v1::SyncRequest>::Serialize(request, &bytes, &own_buffer).ok());
  return bytes;
}

// What the server checks: the request as the server parses it (strings as bytes), validated.
std::string ErrorOf(const v1::SyncRequest& r) {
  wire::v1::SyncRequest parsed;
  grpc::Status s = ParseSyncRequest(Serialized(r), &parsed);
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = ValidateSyncRequest(parsed, SyncLimits{});
  EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  // The public message's checks are the same ones.
  grpc::Status same = ValidateSyncRequest(r, SyncLimits{});
  EXPECT_EQ(same.error_code(), s.error_code());
  EXPECT_EQ(same.error_message(), s.error_message());
  return s.error_message();
}

TEST(SyncValidationTest, InvalidUtf8IsNamedWithTheFieldAndTheByte) {
  auto r = ValidRequest();
  r.mutable_client()->set_service("cart\xff\xfe");
  EXPECT_EQ(ErrorOf(r), "client.service: must be valid UTF-8, byte 4 of 6 is not");

  r = ValidRequest();
  r.mutable_client()->set_instance_id("host-\xc3");  // a truncated two-byte sequence
  EXPECT_EQ(ErrorOf(r), "client.instance_id: must be valid UTF-8, byte 5 of 6 is not");

  r = ValidRequest();
  r.mutable_client()->set_environment("prod\xed\xa0\x80");  // a surrogate, U+D800
  EXPECT_EQ(ErrorOf(r), "client.environment: must be valid UTF-8, byte 4 of 7 is not");

  r = ValidRequest();
  r.mutable_client()->set_library_version("\xc0\xaf");  // an overlong '/'
  EXPECT_EQ(ErrorOf(r), "client.library_version: must be valid UTF-8, byte 0 of 2 is not");

  r = ValidRequest();
  r.add_operations()->set_operation("GET /k\xc3\xb6rbe/\xf4\x90\x80\x80");  // > U+10FFFF
  EXPECT_EQ(ErrorOf(r), "operations[1].operation: must be valid UTF-8, byte 12 of 16 is not");

  r = ValidRequest();
  r.mutable_client()->set_service("k\xc3\xb6rbe-\xe2\x82\xac-\xf0\x9f\x9b\x92");  // ö € 🛒
  EXPECT_EQ(ErrorOf(r), "");
}

TEST(SyncValidationTest, BytesThatAreNotASyncRequestAreInvalidArgument) {
  const std::string garbage = "\x0a\xff\xff\xff";  // field 1, a length past the end
  grpc::Slice slice(garbage);
  wire::v1::SyncRequest parsed;
  grpc::Status s = ParseSyncRequest(grpc::ByteBuffer(&slice, 1), &parsed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "request: not a fleetrate.v1.SyncRequest (4 bytes that do not parse as one)");
  // Zero bytes are a request with every field at its default, refused by validation.
  parsed.Clear();
  EXPECT_TRUE(ParseSyncRequest(grpc::ByteBuffer(), &parsed).ok());
  EXPECT_EQ(ValidateSyncRequest(parsed, SyncLimits{}).error_message(),
            "client.instance_id: required, got empty");
}

TEST(SyncValidationTest, AcceptsAValidRequestAndAFirstSyncWithoutCounts) {
  EXPECT_EQ(ErrorOf(ValidRequest()), "");
  v1::SyncRequest first;
  first.mutable_client()->set_instance_id("host-1");
  first.mutable_client()->set_service("cart");
  EXPECT_EQ(ErrorOf(first), "");
}

TEST(SyncValidationTest, RejectionsNameTheFieldAndTheLimit) {
  auto r = ValidRequest();
  r.mutable_client()->clear_service();
  EXPECT_EQ(ErrorOf(r), "client.service: required, got empty");

  r = ValidRequest();
  r.mutable_client()->set_instance_id(std::string(129, 'x'));
  EXPECT_EQ(ErrorOf(r), "client.instance_id: at most 128 bytes, got 129");

  r = ValidRequest();
  r.set_interval_ms(-5);
  EXPECT_EQ(ErrorOf(r), "interval_ms: must be >= 0, got -5");

  r = ValidRequest();
  r.set_interval_ms(0);
  EXPECT_EQ(ErrorOf(r), "interval_ms: must be > 0 when operations are reported, got 0");

  r = ValidRequest();
  r.set_interval_ms(3'600'001);
  EXPECT_EQ(ErrorOf(r), "interval_ms: at most 3600000, got 3600001");

  r = ValidRequest();
  r.mutable_operations(0)->set_operation(std::string(257, 'o'));
  EXPECT_EQ(ErrorOf(r), "operations[0].operation: at most 256 bytes, got 257");

  r = ValidRequest();
  *r.add_operations() = r.operations(0);
  EXPECT_EQ(ErrorOf(r), "operations[1].operation: duplicate 'GET /cart'");

  // Many distinct names pass; one repeat far from its first occurrence is named.
  r = ValidRequest();
  for (int i = 0; i < 1500; ++i) {
    v1::OperationCounts* op = r.add_operations();
    op->set_operation("GET /api/v1/resource-" + std::to_string(i));
    op->set_roots_seen(1);
  }
  EXPECT_EQ(ErrorOf(r), "");
  r.add_operations()->set_operation("GET /api/v1/resource-7");
  EXPECT_EQ(ErrorOf(r), "operations[1501].operation: duplicate 'GET /api/v1/resource-7'");

  r = ValidRequest();
  r.set_interval_ms(1);
  r.mutable_operations(0)->set_roots_seen(2'000'000);
  r.mutable_operations(0)->set_roots_sampled(0);
  EXPECT_EQ(
      ErrorOf(r),
      "operations[0].roots_seen: at most 1e+09 per second of interval_ms (1 ms), got 2000000");

  r = ValidRequest();
  r.mutable_operations(0)->set_roots_sampled(10001);
  EXPECT_EQ(ErrorOf(r), "operations[0].roots_sampled: must be <= roots_seen (10000), got 10001");

  r = ValidRequest();
  for (int i = 1; i <= 2000; ++i) r.add_operations()->set_operation("op" + std::to_string(i));
  EXPECT_EQ(ErrorOf(r), "operations: at most 2000 entries, got 2001");
}

class SamplingServiceTest : public ::testing::Test {
 protected:
  SamplingServiceTest()
      : metrics_(std::make_shared<prometheus::Registry>()),
        publisher_(std::make_shared<const Policies>(
                       *ParsePolicies("sync_interval_seconds: 10\n"
                                      "capture:\n  errors_per_second: 6\n  slow_threshold_ms: 500\n"
                                      "defaults:\n  target_traces_per_second: 10\n")),
                   store_, metrics_, 42),
        service_(store_, publisher_, metrics_, clock_) {}

  v1::SyncResponse Sync(const v1::SyncRequest& request,
                        grpc::StatusCode expected = grpc::StatusCode::OK) {
    v1::SyncResponse response;
    grpc::Status s = service_.Handle(Serialized(request), &response);
    EXPECT_EQ(s.error_code(), expected) << s.error_message();
    return response;
  }

  static v1::SyncRequest Client(const std::string& instance, uint64_t seen) {
    v1::SyncRequest r = ValidRequest();
    r.mutable_client()->set_instance_id(instance);
    r.mutable_operations(0)->set_roots_seen(seen);
    r.mutable_operations(0)->set_roots_sampled(0);
    return r;
  }

  ManualClock clock_;
  MemoryStore store_;
  ServerMetrics metrics_;
  RatePublisher publisher_;
  SamplingServiceImpl service_;
};

TEST_F(SamplingServiceTest, UnknownServiceGetsPolicyDefaults) {
  v1::SyncResponse r = Sync(ValidRequest());
  EXPECT_NE(r.table_version(), 0u);
  EXPECT_FALSE(r.not_modified());
  EXPECT_EQ(r.next_sync_interval_ms(), 10000u);
  EXPECT_DOUBLE_EQ(r.default_rate().probability(), 0.001);
  EXPECT_EQ(r.default_rate().threshold(), ProbabilityToThreshold(0.001));
  EXPECT_EQ(r.batch_profile().name(), "balanced");
  EXPECT_EQ(r.batch_profile().max_export_batch_size(), 512u);
  EXPECT_DOUBLE_EQ(r.capture_policy().errors_per_second(), 6);  // the only client: all of it
  EXPECT_EQ(r.capture_policy().slow_threshold_ms(), 500u);
}

TEST_F(SamplingServiceTest, ReturnsTheCallersSliceAndNotModifiedForItsVersion) {
  v1::SyncRequest a = Client("host-1", 10000);  // 1000/s
  v1::SyncRequest b = Client("host-2", 30000);  // 3000/s
  Sync(a);
  Sync(b);
  publisher_.Recompute(clock_.Now());

  v1::SyncResponse r = Sync(b);
  ASSERT_EQ(r.rates_size(), 1);
  EXPECT_EQ(r.rates(0).operation(), "GET /cart");
  EXPECT_DOUBLE_EQ(r.rates(0).probability(), 10.0 / 4000);
  EXPECT_EQ(r.rates(0).threshold(), ProbabilityToThreshold(10.0 / 4000));
  // The client computes its own cap, burst × p × its own rate; the server sends burst.
  EXPECT_DOUBLE_EQ(r.rates(0).burst(), 2);
  EXPECT_DOUBLE_EQ(r.rates(0).local_cap_per_second(), 0);
  EXPECT_DOUBLE_EQ(r.rates(0).lower_bound_per_second(), (1.0 / 60) / 2);  // even across 2 clients
  EXPECT_DOUBLE_EQ(r.capture_policy().errors_per_second(), 3);  // split over 2 live clients

  b.set_table_version(r.table_version());
  v1::SyncResponse again = Sync(b);
  EXPECT_TRUE(again.not_modified());
  EXPECT_EQ(again.table_version(), r.table_version());
  EXPECT_EQ(again.rates_size(), 0);
  EXPECT_EQ(again.next_sync_interval_ms(), 10000u);
}

TEST_F(SamplingServiceTest, TrafficNoiseAndMovingSharesKeepNotModified) {
  // Two clients whose shares of the key move every interval while the fleet total stays put
  // (within the tolerance band): nothing a client applies changes, so every answer after the
  // first is not_modified — the slice does not depend on a client's own traffic.
  v1::SyncRequest a = Client("host-1", 10000);
  v1::SyncRequest b = Client("host-2", 10000);
  Sync(a);
  Sync(b);
  publisher_.Recompute(clock_.Now());
  v1::SyncResponse first = Sync(b);
  ASSERT_FALSE(first.not_modified());
  b.set_table_version(first.table_version());
  for (const uint64_t seen : {12000u, 8000u, 9500u, 11000u}) {
    b.mutable_operations(0)->set_roots_seen(seen);
    Sync(Client("host-1", 20000 - seen));
    Sync(b);  // both report before the recompute: the fleet total stays 2000/s
    publisher_.Recompute(clock_.Now());
    v1::SyncResponse r = Sync(b);
    EXPECT_TRUE(r.not_modified()) << "b's share " << seen / 20000.0;
    EXPECT_EQ(r.table_version(), first.table_version());
  }
}

TEST_F(SamplingServiceTest, ANewcomerGetsAnEvenShareOfTheLowerBound) {
  Sync(Client("host-1", 10000));
  publisher_.Recompute(clock_.Now());
  v1::SyncRequest newcomer = Client("host-2", 0);
  newcomer.clear_operations();
  newcomer.set_interval_ms(0);
  Sync(newcomer);
  publisher_.Recompute(clock_.Now());
  v1::SyncResponse r = Sync(newcomer);
  ASSERT_EQ(r.rates_size(), 1);
  EXPECT_DOUBLE_EQ(r.rates(0).lower_bound_per_second(), (1.0 / 60) / 2);
  EXPECT_DOUBLE_EQ(r.rates(0).burst(), 2);
}

TEST_F(SamplingServiceTest, AfterARestartAClientKeepsItsTableUntilItsScopeIsComputed) {
  v1::SyncRequest r = ValidRequest();
  r.set_table_version(123456789);  // from the server before the restart
  v1::SyncResponse response = Sync(r);
  EXPECT_TRUE(response.not_modified());
  EXPECT_EQ(response.table_version(), 123456789u);
  publisher_.Recompute(clock_.Now());
  response = Sync(r);
  EXPECT_FALSE(response.not_modified());
  EXPECT_EQ(response.rates_size(), 1);
}

TEST_F(SamplingServiceTest, InvalidRequestIsRejectedAndNotCounted) {
  v1::SyncRequest bad = ValidRequest();
  bad.set_interval_ms(0);
  Sync(bad, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(store_.Estimate(clock_.Now()).live_clients, 0u);
}

// The value of one series of the metrics' registry, or -1 if there is no such series.
double SeriesValue(prometheus::Registry& registry, const std::string& name,
                   const std::string& label, const std::string& value) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const auto& l : metric.label) {
        if (l.name == label && l.value == value) return metric.counter.value;
      }
    }
  }
  return -1;
}

// One host minting instance ids is held to its budget of new identities, while a client from
// another host is admitted; every refusal is counted by reason.
TEST_F(SamplingServiceTest, APeerMintingIdentitiesBeyondItsBudgetIsRefusedAndCounted) {
  SyncLimits limits;
  limits.new_clients_per_peer_per_second = 1;  // bursts of 10
  AggregatorLimits store_limits;               // as the Server maps them
  store_limits.new_clients_per_peer_burst = 10;
  store_limits.new_client_spacing_per_peer = std::chrono::seconds(1);
  MemoryStore store(store_limits);
  auto registry = std::make_shared<prometheus::Registry>();
  ServerMetrics metrics(registry);
  SamplingServiceImpl service(store, publisher_, metrics, clock_, limits);
  const auto sync = [&](const std::string& instance, const std::string& peer) {
    v1::SyncResponse response;
    return service.Handle(Serialized(Client(instance, 100)), &response, peer);
  };
  const std::string attacker = PeerKey("ipv4:10.9.9.9:40000");
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(sync("minted-" + std::to_string(i), attacker).ok());
  int refused = 0;
  grpc::Status last;
  for (int i = 10; i < 100; ++i) {
    last = sync("minted-" + std::to_string(i), attacker);
    if (last.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++refused;
  }
  EXPECT_EQ(refused, 90);
  EXPECT_EQ(last.error_message(),
            "client.instance_id: peer 10.9.9.9 registered more than 10 new clients in a row, or 1 "
            "per second sustained; retry later");
  // Another host (another port of the same address is the same host).
  EXPECT_TRUE(sync("real-1", PeerKey("ipv4:10.1.1.1:50000")).ok());
  EXPECT_EQ(sync("minted-x", PeerKey("ipv4:10.9.9.9:40001")).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(sync("minted-0", attacker).ok());  // known ids keep syncing
  EXPECT_EQ(store.Estimate(clock_.Now()).live_clients, 11u);
  EXPECT_EQ(SeriesValue(*registry, "fleetrate_sync_refused_total", "reason", "peer_new_clients"),
            91);
  EXPECT_EQ(SeriesValue(*registry, "fleetrate_sync_refused_total", "reason", "too_many_clients"),
            0);
  EXPECT_EQ(SeriesValue(*registry, "fleetrate_sync_requests_total", "code", "RESOURCE_EXHAUSTED"),
            91);
}

TEST(PeerKeyTest, OneKeyPerHost) {
  EXPECT_EQ(PeerKey("ipv4:10.1.2.3:5000"), "10.1.2.3");
  EXPECT_EQ(PeerKey("ipv6:[2001:db8:1:2:3:4:5:6]:5000"), "2001:db8:1:2::/64");
  EXPECT_EQ(PeerKey("ipv6:%5B2001:db8:1:2::9%5D:5000"), "2001:db8:1:2::/64");
  EXPECT_EQ(PeerKey("ipv6:[::ffff:10.1.2.3]:5000"), "10.1.2.3");
  EXPECT_EQ(PeerKey("ipv6:[::1]:5000"), "::/64");
  EXPECT_EQ(PeerKey("unix:/tmp/socket"), "unix");
  EXPECT_EQ(PeerKey(""), "");
  EXPECT_EQ(PeerKey(std::string(100, 'x')).size(), 64u);
}

}  // namespace
}  // namespace fleetrate::server
