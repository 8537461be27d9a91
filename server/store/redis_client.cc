#include "server/store/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "server/common/strings.h"

namespace fleetrate::server {
namespace {

RedisReply Flatten(const redisReply& in) {
  RedisReply out;
  switch (in.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(in.str, in.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(in.str, in.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(in.str, in.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = in.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(in.elements);
      for (size_t i = 0; i < in.elements; ++i) out.elements.push_back(Flatten(*in.element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

timeval ToTimeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

// hiredis reports a timeout as an I/O error whose text is strerror(EAGAIN), "Resource
// temporarily unavailable" (or ETIMEDOUT while connecting); say what happened instead.
std::string DescribeError(const redisContext& c, std::chrono::milliseconds timeout) {
  bool timed_out =
      c.err == REDIS_ERR_IO && (std::strcmp(c.errstr, std::strerror(EAGAIN)) == 0 ||
                                std::strcmp(c.errstr, std::strerror(EWOULDBLOCK)) == 0 ||
                                std::strcmp(c.errstr, std::strerror(ETIMEDOUT)) == 0);
#ifdef REDIS_ERR_TIMEOUT
  timed_out = timed_out || c.err == REDIS_ERR_TIMEOUT;
#endif
  if (timed_out) return StrCat("timed out after ", timeout.count(), " ms");
  return c.errstr[0] != '\0' ? std::string(c.errstr) : std::string("connection lost");
}

}  // namespace

std::string RedisAddress::Describe() const { return StrCat(host, ":", port, "/", db); }

absl::StatusOr<RedisAddress> ParseRedisUrl(std::string_view field, std::string_view url) {
  const auto error = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat(field, ": ", why, " (expected redis://[:PASSWORD@]HOST[:PORT][/DB])"));
  };
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return error("the URL must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisAddress out;
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    // redis://:password@host (no user) and redis://user:password@host (ACL user "default").
    const size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos || colon + 1 == userinfo.size()) {
      return error("the part before '@' must be ':PASSWORD'");
    }
    if (colon != 0 && userinfo.substr(0, colon) != "default") {
      return error("only the 'default' user is supported before the password");
    }
    out.password = std::string(userinfo.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  std::string_view hostport = rest;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), out.db);
      if (ec != std::errc() || end != db.data() + db.size() || out.db < 0 || out.db > 15) {
        return error(StrCat("database '", db, "' must be a number from 0 to 15"));
      }
    }
  }
  std::string_view host = hostport;
  if (const size_t colon = hostport.rfind(':');
      colon != std::string_view::npos && hostport.find(']') == std::string_view::npos) {
    host = hostport.substr(0, colon);
    const std::string_view port = hostport.substr(colon + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return error(StrCat("port '", port, "' must be a number from 1 to 65535"));
    }
    out.port = static_cast<uint16_t>(value);
  }
  if (host.empty()) return error("the host is missing");
  out.host = std::string(host);
  return out;
}

RedisClient::RedisClient(RedisAddress address, std::chrono::milliseconds timeout)
    : address_(std::move(address)), timeout_(timeout) {}

RedisClient::~RedisClient() { Disconnect(); }

void RedisClient::Disconnect() noexcept {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

absl::Status RedisClient::Connect() {
  if (context_ != nullptr) return absl::OkStatus();
  redisContext* c =
      redisConnectWithTimeout(address_.host.c_str(), address_.port, ToTimeval(timeout_));
  if (c == nullptr) return absl::UnavailableError("cannot allocate a Redis connection");
  if (c->err != 0) {
    absl::Status status = absl::UnavailableError(StrCat(
        "cannot connect to Redis at ", address_.Describe(), ": ", DescribeError(*c, timeout_)));
    redisFree(c);
    return status;
  }
  redisSetTimeout(c, ToTimeval(timeout_));
  context_ = c;
  std::vector<std::vector<std::string>> setup;
  if (!address_.password.empty()) setup.push_back({"AUTH", address_.password});
  if (address_.db != 0) setup.push_back({"SELECT", std::to_string(address_.db)});
  if (setup.empty()) return absl::OkStatus();
  std::vector<RedisReply> replies;
  // Pipeline does not reconnect: context_ is set.
  if (absl::Status s = Pipeline(setup, &replies); !s.ok()) return s;
  for (const RedisReply& r : replies) {
    if (r.is_error()) {
      Disconnect();
      return absl::UnavailableError(
          StrCat("Redis at ", address_.Describe(), " refused the connection setup: ", r.str));
    }
  }
  return absl::OkStatus();
}

absl::Status RedisClient::Pipeline(const std::vector<std::vector<std::string>>& commands,
                                   std::vector<RedisReply>* replies) {
  replies->clear();
  if (absl::Status s = Connect(); !s.ok()) return s;
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::vector<std::string>& command : commands) {
    argv.clear();
    lengths.clear();
    for (const std::string& arg : command) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                               lengths.data()) != REDIS_OK) {
      absl::Status status = absl::UnavailableError(
          StrCat("Redis at ", address_.Describe(), ": ", DescribeError(*context_, timeout_)));
      Disconnect();
      return status;
    }
  }
  replies->reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      absl::Status status = absl::UnavailableError(
          StrCat("Redis at ", address_.Describe(), ": ", DescribeError(*context_, timeout_)));
      if (raw != nullptr) freeReplyObject(raw);
      Disconnect();
      return status;
    }
    replies->push_back(Flatten(*static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisReply> RedisClient::Command(std::vector<std::string> command) {
  std::vector<RedisReply> replies;
  if (absl::Status s = Pipeline({std::move(command)}, &replies); !s.ok()) return s;
  return std::move(replies.front());
}

}  // namespace fleetrate::server
