#include "server/store/redis_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace fleetrate::server {
namespace {

TEST(RedisUrlTest, ParsesHostPortPasswordAndDatabase) {
  auto a = ParseRedisUrl("--store", "redis://redis");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "redis");
  EXPECT_EQ(a->port, 6379);
  EXPECT_EQ(a->db, 0);
  EXPECT_EQ(a->password, "");

  auto b = ParseRedisUrl("--store", "redis://:s3cr@t@10.0.0.7:6380/2");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->host, "10.0.0.7");
  EXPECT_EQ(b->port, 6380);
  EXPECT_EQ(b->db, 2);
  EXPECT_EQ(b->password, "s3cr@t");             // the last '@' ends the password
  EXPECT_EQ(b->Describe(), "10.0.0.7:6380/2");  // never the password

  auto c = ParseRedisUrl("--store", "redis://default:pw@redis.svc:7000/");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->password, "pw");
  EXPECT_EQ(c->port, 7000);
}

TEST(RedisUrlTest, ErrorsNameTheFieldAndWhatIsExpected) {
  for (const char* bad : {"http://redis:6379", "redis://", "redis://:6379", "redis://h:0",
                          "redis://h:65536", "redis://h:x", "redis://h/16", "redis://h/-1",
                          "redis://h/db", "redis://:@h", "redis://pw@h", "redis://alice:pw@h"}) {
    auto parsed = ParseRedisUrl("FLEETRATE_STORE", bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    const std::string message(parsed.status().message());
    EXPECT_NE(message.find("FLEETRATE_STORE"), std::string::npos) << message;
    EXPECT_NE(message.find("redis://[:PASSWORD@]HOST[:PORT][/DB]"), std::string::npos) << message;
  }
}

TEST(RedisClientTest, AnUnreachableServerIsUnavailableNotACrash) {
  // Port 1 on loopback: nothing listens there.
  RedisClient client(*ParseRedisUrl("--store", "redis://127.0.0.1:1"),
                     std::chrono::milliseconds(200));
  auto reply = client.Command({"PING"});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(reply.status().message()).find("127.0.0.1:1/0"), std::string::npos);
  EXPECT_FALSE(client.connected());
}

TEST(RedisClientTest, ATimeoutSaysTimedOutAfterTheTimeout) {
  // A listener that never answers: the kernel completes the handshake, nobody replies.
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = "redis://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  RedisClient client(*ParseRedisUrl("--store", url), std::chrono::milliseconds(150));
  auto reply = client.Command({"PING"});
  close(listener);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
  const std::string message(reply.status().message());
  EXPECT_NE(message.find("timed out after 150 ms"), std::string::npos) << message;
  EXPECT_EQ(message.find("Resource temporarily unavailable"), std::string::npos) << message;
  EXPECT_FALSE(client.connected());
}

}  // namespace
}  // namespace fleetrate::server
