// RedisClient: one synchronous connection to Redis through hiredis, with timeouts, AUTH and
// SELECT from a redis:// URL, pipelining, and reconnection after any error. Used by the
// RedisStore's own thread only.
//
//   absl::StatusOr<RedisAddress> address = ParseRedisUrl("--store", "redis://:pw@redis:6379/0");
//   RedisClient redis(*address, std::chrono::milliseconds(500));
//   std::vector<RedisReply> replies;
//   absl::Status s = redis.Pipeline({{"SET", "k", "v"}, {"GET", "k"}}, &replies);
//
// Not thread-safe: one owner thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct redisContext;

namespace fleetrate::server {

struct RedisAddress {
  std::string host;
  uint16_t port = 6379;
  std::string password;  // empty: no AUTH
  int db = 0;

  // "host:port/db" — never the password (for logs and /debug).
  [[nodiscard]] std::string Describe() const;
};

// redis://[:password@]host[:port][/db]. Errors name `field` and what is expected.
[[nodiscard]] absl::StatusOr<RedisAddress> ParseRedisUrl(std::string_view field,
                                                         std::string_view url);

// One reply, flattened: what the store needs of Redis's reply types.
struct RedisReply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<RedisReply> elements;  // kArray

  [[nodiscard]] bool is_error() const noexcept { return type == Type::kError; }
};

class RedisClient {
 public:
  RedisClient(RedisAddress address, std::chrono::milliseconds timeout);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Sends every command, then reads every reply (one round trip). Connects first if needed.
  // A connection or protocol error closes the connection (the next call reconnects) and is
  // returned as UNAVAILABLE; Redis error replies are returned in `replies` as kError.
  absl::Status Pipeline(const std::vector<std::vector<std::string>>& commands,
                        std::vector<RedisReply>* replies);
  // One command.
  absl::StatusOr<RedisReply> Command(std::vector<std::string> command);

  [[nodiscard]] bool connected() const noexcept { return context_ != nullptr; }
  [[nodiscard]] const RedisAddress& address() const noexcept { return address_; }
  void Disconnect() noexcept;

 private:
  absl::Status Connect();

  const RedisAddress address_;
  const std::chrono::milliseconds timeout_;
  redisContext* context_ = nullptr;
};

}  // namespace fleetrate::server
