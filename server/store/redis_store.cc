#include "server/store/redis_store.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "server/common/log.h"
#include "server/common/strings.h"
#include "server/store/admission_log.h"
#include "server/store/stored_format.h"

namespace fleetrate::server {
namespace {

// Renews the lease only while this replica holds it.
constexpr char kRenewScript[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
// Gives the lease up only if this replica holds it.
constexpr char kReleaseScript[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) else return 0 end";
// Publishes only while this replica holds the lease: a leader that stalled past its lease
// cannot overwrite its successor's table.
constexpr char kPublishScript[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('SET', KEYS[2], ARGV[2]); redis.call('SET', KEYS[3], ARGV[3]); return 1 "
    "else return 0 end";

// Deletes a lease that cannot be anyone's legitimate one: still the value this replica saw
// (any value if it is not a string at all) and no expiry, or one beyond ARGV[2] ms. Checked in
// the script, so a holder that renewed normally in between keeps its lease.
constexpr char kRepairLeaseScript[] =
    "local t = redis.call('TYPE', KEYS[1]).ok "
    "if t == 'none' then return 0 end "
    "if t == 'string' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    "local ttl = redis.call('PTTL', KEYS[1]) "
    "if ttl == -1 or ttl > tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) return 1 end "
    "return 0";
// Refreshes the reports stream's expiry only if the key is our stream: something else written
// under that name by someone else is not kept alive by us.
constexpr char kExpireStreamScript[] =
    "if redis.call('TYPE', KEYS[1]).ok == 'stream' then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[1]) else return 0 end";
// Warnings about what an attacker with Redis access can cause, at most this often.
constexpr auto kLogEvery = std::chrono::seconds(10);

// A value read from Redis, shortened for a log line.
std::string Shown(std::string_view value) {
  constexpr size_t kMax = 120;
  return value.size() <= kMax ? std::string(value) : StrCat(value.substr(0, kMax), "...");
}

std::string DefaultReplicaId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return StrCat(host[0] != '\0' ? host : "replica", "-", getpid());
}

long long EntryMillis(std::string_view id) {
  long long ms = 0;
  std::from_chars(id.data(), id.data() + id.size(), ms);
  return ms;
}

// 0 unless the reply is a whole decimal number.
uint64_t ParseSequence(const RedisReply& reply) {
  uint64_t value = 0;
  if (reply.type != RedisReply::Type::kString) return 0;
  const char* end = reply.str.data() + reply.str.size();
  const auto [ptr, ec] = std::from_chars(reply.str.data(), end, value);
  return ec == std::errc() && ptr == end ? value : 0;
}

// The wire format of store::v1::ReportBatch and StoredReport's age_at_flush_ms, for Flush.
constexpr uint64_t kReplicaIdField = 1;            // ReportBatch.replica_id
constexpr uint64_t kReportsTag = (2 << 3) | 2;     // ReportBatch.reports, length-delimited
constexpr uint64_t kAgeAtFlushTag = (7 << 3) | 0;  // StoredReport.age_at_flush_ms, varint

void AppendVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

void AppendBytesField(std::string* out, uint64_t field, std::string_view bytes) {
  AppendVarint(out, (field << 3) | 2);
  AppendVarint(out, bytes.size());
  out->append(bytes);
}

std::string ClientKey(const ClientReport& report) {
  std::string key;
  key.reserve(report.scope.service.size() + report.scope.environment.size() +
              report.instance_id.size() + 2);
  key.append(report.scope.service).push_back('\0');
  key.append(report.scope.environment).push_back('\0');
  key.append(report.instance_id);
  return key;
}

}  // namespace

RedisStore::RedisStore(RedisStoreOptions options, const Clock& clock)
    : options_([&] {
        if (options.replica_id.empty()) options.replica_id = DefaultReplicaId();
        return std::move(options);
      }()),
      clock_(clock),
      reports_key_(options_.key_prefix + ":reports"),
      leader_key_(options_.key_prefix + ":leader"),
      table_key_(options_.key_prefix + ":table"),
      sequence_key_(options_.key_prefix + ":table:sequence"),
      redis_(options_.address, options_.timeout),
      // The per-client spacing and the per-peer budget apply to this replica's intake (Report)
      // only: stream entries are re-read after a reconnect and arrive out of order (Replicate).
      aggregator_(options_.limits) {
  status_.backend = "redis";
  status_.address = options_.address.Describe();
  status_.replica_id = options_.replica_id;
  status_.connected = false;
  status_.leader = false;
  last_table_at_ = clock_.Now();
  thread_ = std::thread([this] { Run(); });
}

RedisStore::~RedisStore() { Stop(); }

ReportResult RedisStore::Report(const ClientReport& report, Duration sync_interval, Timestamp now) {
  Pending pending;
  {
    // One message per gRPC thread, reused: Clear keeps its operations' capacity.
    thread_local store::v1::StoredReport stored;
    stored.Clear();
    ToStored(report, sync_interval, &stored);
    stored.SerializeToString(&pending.report);
  }
  pending.received = now;
  pending.lifetime = aggregator_.ClampedInterval(report.interval, sync_interval) *
                     options_.limits.missed_intervals_to_expire;
  std::string key = ClientKey(report);
  ReportResult result;
  uint64_t evicted = 0;
  size_t clients = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(key);
    if (it == pending_.end() && pending_.size() >= options_.max_pending_reports) {
      ++status_.reports_dropped;
      return ReportResult::kTooManyClients;
    }
    // Admission against the fleet view (every replica's clients, as read from the stream) with
    // the memory store's rules; an admitted report enters the fleet view at once, so this
    // replica's pending reports count against the limits too.
    result = aggregator_.Report(report, sync_interval, now);
    if (result != ReportResult::kAccepted) return result;
    if (it != pending_.end()) {
      it->second = std::move(pending);  // only a client's latest report matters
    } else {
      pending_.emplace(std::move(key), std::move(pending));
    }
    evicted = aggregator_.evicted_clients();
    clients = aggregator_.clients();
    if (evicted == status_.clients_evicted) return result;
    status_.clients_evicted = evicted;
  }
  LogEviction(eviction_log_, now, evicted, clients);
  return result;
}

void RedisStore::ApplyReplicated(const ClientReport& report, Duration sync_interval,
                                 Timestamp received) {
  // Another replica admitted it against its own view of the fleet, which may lag this one's by
  // a round: at this view's limits the entry is dropped (and counted), memory stays bounded.
  if (aggregator_.Replicate(report, sync_interval, received) != ReportResult::kAccepted) {
    ++status_.reports_refused;
  }
  status_.clients_evicted = aggregator_.evicted_clients();
}

FleetEstimate RedisStore::Estimate(Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  return aggregator_.Estimate(now);
}

uint64_t RedisStore::overflowed_reports() const {
  std::lock_guard<std::mutex> lock(mu_);
  return aggregator_.overflowed_reports();
}

bool RedisStore::IsLeader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leader_ && clock_.Now() < lease_valid_until_;
}

void RedisStore::Publish(const RateTables& tables, uint64_t sequence) {
  store::v1::StoredTables stored;
  ToStored(tables, &stored);
  stored.set_leader(options_.replica_id);
  stored.set_sequence(sequence);
  std::string blob = stored.SerializeAsString();
  {
    std::lock_guard<std::mutex> lock(mu_);
    to_publish_ = std::move(blob);
    to_publish_sequence_ = sequence;
    round_requested_ = true;  // followers should not wait a whole round for it
  }
  wake_.notify_all();
}

PublishedTables RedisStore::LatestPublished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

StoreStatus RedisStore::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  StoreStatus s = status_;
  s.leader = leader_ && clock_.Now() < lease_valid_until_;
  FillDegraded(&s);
  return s;
}

void RedisStore::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RedisStore::Run() {
  int failures = 0;
  for (;;) {
    const bool ok = Round();
    failures = ok ? 0 : std::min(failures + 1, 3);
    std::unique_lock<std::mutex> lock(mu_);
    // Back off while Redis fails: 0.25, 0.5, 1, 2 s (with the default flush interval).
    const auto wait = options_.flush_interval * (1 << failures);
    wake_.wait_for(lock, wait, [&] { return stopping_ || (round_requested_ && ok); });
    round_requested_ = false;
    if (stopping_) break;
  }
  // Shutdown: write what this replica's clients reported, and let another replica lead now
  // rather than when the lease runs out.
  std::vector<std::vector<std::string>> commands;
  PendingMap batch;
  Flush(&commands, &batch);
  std::vector<RedisReply> replies;
  if (!commands.empty() && redis_.Pipeline(commands, &replies).ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    status_.reports_written += batch.size();
  } else if (!batch.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    status_.reports_dropped += batch.size();
  }
  ReleaseLease();
}

size_t RedisStore::Flush(std::vector<std::vector<std::string>>* commands, PendingMap* batch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch->swap(pending_);
  }
  if (batch->empty()) return 0;
  const Timestamp now = clock_.Now();
  // A ReportBatch written field by field from the serialized reports, so a flush holds one
  // more copy of the bytes rather than a parsed copy of every report.
  std::string entry;
  AppendBytesField(&entry, kReplicaIdField, options_.replica_id);
  size_t reports = 0;
  uint64_t expired = 0;
  for (auto it = batch->begin(); it != batch->end();) {
    Pending& p = it->second;
    if (p.received + p.lifetime <= now) {
      ++expired;  // its client has expired by now anyway
      it = batch->erase(it);
      continue;
    }
    const auto age = static_cast<uint64_t>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(now - p.received).count()));
    // age_at_flush_ms follows the report's other fields: for a scalar field protobuf keeps the
    // last value it parses.
    std::string age_field;
    AppendVarint(&age_field, kAgeAtFlushTag);
    AppendVarint(&age_field, age);
    AppendVarint(&entry, kReportsTag);
    AppendVarint(&entry, p.report.size() + age_field.size());
    entry.append(p.report).append(age_field);
    ++reports;
    ++it;
  }
  if (expired > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    status_.reports_dropped += expired;
  }
  if (reports == 0) return 0;
  std::vector<std::string> xadd = {"XADD", reports_key_};
  if (redis_now_ms_ > 0) {
    // Trim in the same command: entries older than the retention are never needed again.
    const long long min_ms = redis_now_ms_ - options_.retention.count();
    xadd.insert(xadd.end(), {"MINID", "~", std::to_string(std::max(0LL, min_ms))});
  }
  xadd.insert(xadd.end(), {"*", "r", std::move(entry)});
  const size_t xadd_index = commands->size();
  commands->push_back(std::move(xadd));
  // The stream of a fleet that is gone disappears on its own; something else under its name is
  // not kept alive by us (the script checks the key's type).
  commands->push_back({"EVAL", kExpireStreamScript, "1", reports_key_,
                       std::to_string(options_.retention.count() * 2)});
  return xadd_index;
}

bool RedisStore::Round() {
  const bool was_connected = redis_.connected();
  std::vector<std::vector<std::string>> commands;
  commands.push_back({"TIME"});
  PendingMap batch;
  const size_t xadd_index = Flush(&commands, &batch);
  const size_t lease_index = commands.size();
  bool was_leader;
  std::string publish;
  uint64_t publish_sequence = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    was_leader = leader_ && clock_.Now() < lease_valid_until_;
    if (leader_ && !was_leader) {
      leader_ = false;
      ++status_.leader_changes;
      FLEETRATE_LOG(kWarning) << "replica " << options_.replica_id
                              << " could not renew its lease in time and no longer leads";
    }
    if (was_leader && !to_publish_.empty()) {
      publish = to_publish_;
      publish_sequence = to_publish_sequence_;
    }
  }
  const std::string lease_ms = std::to_string(options_.lease.count());
  if (was_leader) {
    commands.push_back({"EVAL", kRenewScript, "1", leader_key_, options_.replica_id, lease_ms});
  } else {
    commands.push_back({"SET", leader_key_, options_.replica_id, "NX", "PX", lease_ms});
  }
  commands.push_back({"GET", leader_key_});
  commands.push_back({"GET", sequence_key_});
  const size_t pttl_index = commands.size();
  commands.push_back({"PTTL", leader_key_});
  const size_t publish_index = commands.size();
  if (!publish.empty()) {
    commands.push_back({"EVAL", kPublishScript, "3", leader_key_, table_key_, sequence_key_,
                        options_.replica_id, publish, std::to_string(publish_sequence)});
  }
  const Timestamp asked_at = clock_.Now();
  std::vector<RedisReply> replies;
  if (absl::Status s = redis_.Pipeline(commands, &replies); !s.ok()) {
    Restore(std::move(batch));
    NoteFailure(s);
    return false;
  }
  if (!was_connected) {
    // A new connection may be a restarted Redis: read the retained stream from its start.
    // Re-reading is harmless, as each report replaces its client's previous one.
    last_id_ = "0";
    FLEETRATE_LOG(kInfo) << "connected to Redis at " << options_.address.Describe()
                         << " as replica " << options_.replica_id;
    ever_connected_ = true;
    logged_unreachable_ = false;
    // Table age counts while connected: an outage is reported as such, and the first table
    // after it is a round or two away.
    std::lock_guard<std::mutex> lock(mu_);
    last_table_at_ = clock_.Now();
  }
  const RedisReply& time = replies[0];
  if (time.type == RedisReply::Type::kArray && time.elements.size() == 2) {
    redis_now_ms_ =
        EntryMillis(time.elements[0].str) * 1000 + EntryMillis(time.elements[1].str) / 1000;
  }
  std::string error;
  for (size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].is_error() && i != xadd_index) error = replies[i].str;
  }
  if (xadd_index != 0 && replies[xadd_index].is_error()) {
    // Not written (the reports key is not a stream, or holds an entry from the future): keep
    // the reports as during an outage; not a Redis failure, so no backoff that could cost a
    // leader its lease.
    Restore(std::move(batch));
    batch.clear();
    std::lock_guard<std::mutex> lock(mu_);
    if (reports_write_error_.empty()) {
      FLEETRATE_LOG(kWarning) << "replica " << options_.replica_id << ": cannot append to "
                              << reports_key_ << " (" << Shown(replies[xadd_index].str)
                              << "); keeping the reports buffered";
    }
    reports_write_error_ = StrCat("cannot append to ", reports_key_, " (",
                                  Shown(replies[xadd_index].str), "); reports are buffered");
    ++status_.errors;
    status_.last_error = reports_write_error_;
  } else if (xadd_index != 0) {
    std::lock_guard<std::mutex> lock(mu_);
    reports_write_error_.clear();
  }
  UpdateLease(replies[lease_index], asked_at);
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_.connected = true;
    if (error.empty() && reports_write_error_.empty()) status_.last_error.clear();
    status_.reports_written += batch.size();
    const RedisReply& holder = replies[lease_index + 1];
    status_.leader_id = holder.type == RedisReply::Type::kString ? holder.str : "";
    if (!publish.empty() && replies[publish_index].type == RedisReply::Type::kInteger &&
        replies[publish_index].integer == 1) {
      ++status_.tables_published;
      last_table_at_ = clock_.Now();
      table_error_.clear();
      if (to_publish_sequence_ == publish_sequence) to_publish_.clear();
    }
    if (!error.empty()) {
      ++status_.errors;
      status_.last_error = StrCat("Redis refused a command: ", error);
    }
  }
  if (!error.empty()) {
    FLEETRATE_LOG(kWarning) << "Redis at " << options_.address.Describe()
                            << " refused a command: " << error;
  }
  RepairLease(replies[lease_index + 1], replies[pttl_index]);
  const uint64_t sequence = ParseSequence(replies[lease_index + 2]);
  bool ok = error.empty();
  if (sequence != 0 && sequence != fetched_sequence_ && !IsLeader()) {
    ok = FetchTable(sequence) && ok;
  }
  ok = ReadStream(redis_now_ms_) && ok;
  // Rates stop moving when no leader publishes (a wedged or foreign lease holder): say so.
  StoreStatus now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    now.connected = status_.connected;
    now.leader_id = status_.leader_id;
    FillDegraded(&now);
  }
  const bool stale = now.connected && now.table_age_seconds > Seconds(stale_after());
  if (stale && !logged_stale_) {
    FLEETRATE_LOG(kWarning) << "replica " << options_.replica_id << ": no new rate table for "
                            << now.table_age_seconds << " s while '" << Shown(now.leader_id)
                            << "' holds " << leader_key_ << "; serving the last table (degraded)";
  } else if (!stale && logged_stale_) {
    FLEETRATE_LOG(kInfo) << "replica " << options_.replica_id << ": rate tables move again";
  }
  logged_stale_ = stale;
  return ok;
}

void RedisStore::UpdateLease(const RedisReply& reply, Timestamp asked_at) {
  // SET NX answers +OK when acquired; the renew script answers 1.
  const bool holds = (reply.type == RedisReply::Type::kStatus && reply.str == "OK") ||
                     (reply.type == RedisReply::Type::kInteger && reply.integer == 1);
  std::lock_guard<std::mutex> lock(mu_);
  if (holds) {
    // Counted from before the request, less one timeout, so this replica stops leading before
    // Redis could let another one lead.
    lease_valid_until_ = asked_at + options_.lease - options_.timeout;
    if (!leader_) {
      ++status_.leader_changes;
      FLEETRATE_LOG(kInfo) << "replica " << options_.replica_id << " now leads (lease "
                           << options_.lease.count() << " ms in " << leader_key_ << ")";
    }
    leader_ = true;
  } else {
    if (leader_) {
      ++status_.leader_changes;
      FLEETRATE_LOG(kWarning) << "replica " << options_.replica_id
                              << " lost the lease; following the new leader";
    }
    leader_ = false;
  }
}

bool RedisStore::FetchTable(uint64_t sequence) {
  absl::StatusOr<RedisReply> reply = redis_.Command({"GET", table_key_});
  if (!reply.ok()) {
    NoteFailure(reply.status());
    return false;
  }
  if (reply->type == RedisReply::Type::kNil) return true;  // not published yet
  // Whatever it holds, this sequence is not fetched again: a refused table is not re-read and
  // re-logged every round; the next publication has a new sequence.
  fetched_sequence_ = sequence;
  store::v1::StoredTables stored;
  std::string why;
  if (reply->type != RedisReply::Type::kString) {
    why = StrCat("it is not a string (", Shown(reply->str), ")");
  } else if (!stored.ParseFromString(reply->str)) {
    why = "it does not hold a fleetrate table";
  } else if (absl::Status s = ValidateStored(stored, options_.stored_limits); !s.ok()) {
    why = std::string(s.message());
  }
  std::shared_ptr<const RateTables> tables;
  if (why.empty()) tables = FromStored(stored, nullptr);
  if (why.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    // A version that goes back would make clients keep a newer table they already hold.
    if (latest_.tables != nullptr) {
      for (const auto& [scope, rates] : tables->scopes) {
        const ServiceRates* before = latest_.tables->Find(scope);
        if (before != nullptr && rates->version < before->version) {
          why = StrCat("the version of '", scope.service, "'/'", scope.environment,
                       "' must not go back: served ", before->version, ", got ", rates->version);
          break;
        }
      }
    }
    if (why.empty()) {
      latest_ = PublishedTables{stored.sequence(), std::move(tables)};
      ++status_.tables_fetched;
      last_table_at_ = clock_.Now();
      table_error_.clear();
      return true;
    }
  }
  why = StrCat(table_key_, " (sequence ", sequence, "): ", why);
  {
    std::lock_guard<std::mutex> lock(mu_);
    table_error_ = why;
    ++status_.errors;
  }
  NoteInvalid(&StoreStatus::invalid_tables, StrCat("refused the table in ", why));
  return true;
}

bool RedisStore::ReadStream(long long redis_now_ms) {
  const std::string count = std::to_string(options_.max_entries_per_read);
  // Bounded per round: a replica catching up on a long stream still renews its lease on time.
  for (int batch = 0; batch < 16; ++batch) {
    absl::StatusOr<RedisReply> reply =
        redis_.Command({"XREAD", "COUNT", count, "STREAMS", reports_key_, last_id_});
    if (!reply.ok()) {
      NoteFailure(reply.status());
      return false;
    }
    if (reply->is_error()) {
      // Someone else's key under our stream's name: nothing to read, nothing can be written.
      std::string why = StrCat(reports_key_, " is not a fleetrate report stream (",
                               Shown(reply->str), "); reports are not shared until it is gone");
      bool first;
      {
        std::lock_guard<std::mutex> lock(mu_);
        first = reports_error_.empty();
        ++status_.errors;
        status_.last_error = why;
        reports_error_ = why;
      }
      if (first) FLEETRATE_LOG(kWarning) << "replica " << options_.replica_id << ": " << why;
      return true;
    }
    if (batch == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!reports_error_.empty()) {
        FLEETRATE_LOG(kInfo) << "replica " << options_.replica_id << ": " << reports_key_
                             << " is a report stream again";
      }
      reports_error_.clear();
    }
    if (reply->type != RedisReply::Type::kArray || reply->elements.empty()) return true;
    const RedisReply& stream = reply->elements[0];
    if (stream.type != RedisReply::Type::kArray || stream.elements.size() != 2) return true;
    const std::vector<RedisReply>& entries = stream.elements[1].elements;
    for (const RedisReply& entry : entries) ApplyEntry(entry, redis_now_ms);
    if (entries.size() < options_.max_entries_per_read) return true;
  }
  return true;
}

void RedisStore::ApplyEntry(const RedisReply& entry, long long redis_now_ms) {
  if (entry.type != RedisReply::Type::kArray || entry.elements.size() != 2 ||
      entry.elements[0].type != RedisReply::Type::kString) {
    NoteInvalid(&StoreStatus::invalid_entries,
                StrCat(reports_key_, " holds an entry that is not [id, fields]"));
    return;
  }
  last_id_ = entry.elements[0].str;
  const std::vector<RedisReply>& fields = entry.elements[1].elements;
  store::v1::ReportBatch batch;
  int batches = 0;
  bool parsed = false;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    if (fields[i].str == "r") {
      ++batches;
      parsed = batch.ParseFromString(fields[i + 1].str);
    }
  }
  if (!parsed || batches != 1) {
    NoteInvalid(&StoreStatus::invalid_entries,
                StrCat("stream entry ", last_id_, " is not a fleetrate report batch"));
    return;
  }
  // One replica's flush holds at most its pending bound.
  if (static_cast<size_t>(batch.reports_size()) > options_.max_pending_reports) {
    NoteInvalid(&StoreStatus::invalid_entries,
                StrCat("stream entry ", last_id_, ": reports: at most ",
                       options_.max_pending_reports, " entries, got ", batch.reports_size()));
    return;
  }
  std::vector<const store::v1::StoredReport*> valid;
  valid.reserve(static_cast<size_t>(batch.reports_size()));
  for (int i = 0; i < batch.reports_size(); ++i) {
    if (absl::Status s = ValidateStored(batch.reports(i), options_.stored_limits); !s.ok()) {
      NoteInvalid(&StoreStatus::invalid_reports,
                  StrCat("stream entry ", last_id_, " reports[", i, "].", s.message()));
      continue;
    }
    valid.push_back(&batch.reports(i));
  }
  const Timestamp now = clock_.Now();
  const long long entry_age_ms = std::max(0LL, redis_now_ms - EntryMillis(last_id_));
  std::lock_guard<std::mutex> lock(mu_);
  for (const store::v1::StoredReport* valid_report : valid) {
    const store::v1::StoredReport& stored = *valid_report;
    Duration sync_interval{};
    const ClientReport report = FromStored(stored, &sync_interval);
    const auto age = std::chrono::milliseconds(entry_age_ms + stored.age_at_flush_ms());
    ApplyReplicated(report, sync_interval, now - age);
    ++status_.reports_read;
  }
}

void RedisStore::ReleaseLease() {
  if (!redis_.connected()) return;
  absl::StatusOr<RedisReply> reply =
      redis_.Command({"EVAL", kReleaseScript, "1", leader_key_, options_.replica_id});
  if (reply.ok() && reply->type == RedisReply::Type::kInteger && reply->integer == 1) {
    FLEETRATE_LOG(kInfo) << "replica " << options_.replica_id << " released the lease";
  }
  std::lock_guard<std::mutex> lock(mu_);
  leader_ = false;
}

void RedisStore::Restore(PendingMap batch) {
  // Reports that reached Redis before the connection broke are written again: harmless, a
  // report replaces its client's previous one. A newer report of the same client wins.
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, p] : batch) {
    if (pending_.size() >= options_.max_pending_reports) {
      ++status_.reports_dropped;
      continue;
    }
    pending_.emplace(key, std::move(p));
  }
}

std::optional<LeaseRepair> LeaseToRepair(const RedisReply& holder, const RedisReply& pttl,
                                         bool holds, std::chrono::milliseconds lease) {
  // Ours: the renew script sets its expiry every round.
  if (holds || pttl.type != RedisReply::Type::kInteger) return std::nullopt;
  // A holder that follows the protocol never sets more than its lease.
  const long long max_ms = 2 * lease.count();
  if (pttl.integer == -2 || (pttl.integer >= 0 && pttl.integer <= max_ms)) return std::nullopt;
  return LeaseRepair{holder.type == RedisReply::Type::kString ? holder.str : "", max_ms};
}

void RedisStore::RepairLease(const RedisReply& holder, const RedisReply& pttl) {
  bool holds;
  {
    std::lock_guard<std::mutex> lock(mu_);
    holds = leader_;
  }
  const std::optional<LeaseRepair> repair = LeaseToRepair(holder, pttl, holds, options_.lease);
  if (!repair) return;
  const std::string& seen = repair->seen;
  const long long max_ms = repair->max_pttl_ms;
  absl::StatusOr<RedisReply> repaired =
      redis_.Command({"EVAL", kRepairLeaseScript, "1", leader_key_, seen, std::to_string(max_ms)});
  if (!repaired.ok()) {
    NoteFailure(repaired.status());
    return;
  }
  if (repaired->type != RedisReply::Type::kInteger || repaired->integer != 1) return;
  const Timestamp now = clock_.Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++status_.lease_repairs;
  }
  if (last_repair_log_ == Timestamp{} || now - last_repair_log_ >= kLogEvery) {
    last_repair_log_ = now;
    FLEETRATE_LOG(kWarning) << "replica " << options_.replica_id << ": the lease " << leader_key_
                            << " held by '" << Shown(seen) << "' "
                            << (pttl.integer == -1 ? std::string("had no expiry")
                                                   : StrCat("expired in ", pttl.integer, " ms"))
                            << ", beyond 2 x lease (" << max_ms
                            << " ms): no replica holds it that way; deleted it and contending";
  }
  // Contend now rather than a round later.
  const Timestamp asked_at = clock_.Now();
  absl::StatusOr<RedisReply> set = redis_.Command({"SET", leader_key_, options_.replica_id, "NX",
                                                   "PX", std::to_string(options_.lease.count())});
  if (!set.ok()) {
    NoteFailure(set.status());
    return;
  }
  UpdateLease(*set, asked_at);
  std::lock_guard<std::mutex> lock(mu_);
  if (leader_) status_.leader_id = options_.replica_id;
}

void RedisStore::NoteInvalid(uint64_t StoreStatus::*counter, std::string why) {
  const Timestamp now = clock_.Now();
  const bool log = last_invalid_log_ == Timestamp{} || now - last_invalid_log_ >= kLogEvery;
  if (log) {
    FLEETRATE_LOG(kWarning) << "replica " << options_.replica_id << ": " << why
                            << (invalid_unlogged_ > 0
                                    ? StrCat(" (and ", invalid_unlogged_,
                                             " more refusals since the last such warning)")
                                    : std::string())
                            << "; not applied";
    last_invalid_log_ = now;
    invalid_unlogged_ = 0;
  } else {
    ++invalid_unlogged_;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++(status_.*counter);
  status_.last_invalid = std::move(why);
}

std::chrono::milliseconds RedisStore::stale_after() const {
  if (options_.stale_after.count() > 0) return options_.stale_after;
  return std::max<std::chrono::milliseconds>(3 * options_.lease, std::chrono::seconds(10));
}

void RedisStore::FillDegraded(StoreStatus* s) const {
  const Duration age = clock_.Now() - last_table_at_;
  s->table_age_seconds = Seconds(age);
  if (!s->connected) {
    s->degraded_reason = StrCat("Redis is unreachable: ", status_.last_error);
  } else if (!reports_error_.empty()) {
    s->degraded_reason = reports_error_;
  } else if (!reports_write_error_.empty()) {
    s->degraded_reason = reports_write_error_;
  } else if (!table_error_.empty()) {
    s->degraded_reason =
        StrCat("refused the last table: ", table_error_, "; serving the previous one");
  } else if (age > stale_after()) {
    s->degraded_reason =
        StrCat("no new rate table for ", static_cast<long long>(Seconds(age)), " s (bound ",
               stale_after().count() / 1000.0, " s); lease holder '", s->leader_id, "'");
  } else {
    s->degraded_reason.clear();
  }
  s->degraded = !s->degraded_reason.empty();
}

void RedisStore::NoteFailure(const absl::Status& status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++status_.errors;
    status_.connected = false;
    status_.last_error = std::string(status.message());
  }
  if (logged_unreachable_) return;
  logged_unreachable_ = true;
  if (!ever_connected_) {
    FLEETRATE_LOG(kError) << "cannot reach Redis at " << options_.address.Describe() << " ("
                          << status.message()
                          << "); serving policy-only rates and retrying every few seconds";
  } else {
    FLEETRATE_LOG(kWarning) << "lost Redis at " << options_.address.Describe() << " ("
                            << status.message()
                            << "); serving the last table, keeping reports, retrying";
  }
}

}  // namespace fleetrate::server
