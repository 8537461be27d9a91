#include "server/policy/policy_watcher.h"

#include "server/common/log.h"

namespace fleetrate::server {

PolicyWatcher::PolicyWatcher(std::string path, std::string loaded_text, Apply apply,
                             OnResult on_result, Parser parser)
    : path_(std::move(path)),
      loaded_text_(std::move(loaded_text)),
      apply_(std::move(apply)),
      on_result_(std::move(on_result)),
      parser_(std::move(parser)) {}

PolicyWatcher::~PolicyWatcher() { Stop(); }

void PolicyWatcher::Start(std::chrono::milliseconds interval) {
  thread_ = std::thread([this, interval] { Run(interval); });
}

void PolicyWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PolicyWatcher::Run(std::chrono::milliseconds interval) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    try {
      CheckNow();
    } catch (const std::exception& e) {
      FLEETRATE_LOG(kError) << "policy watcher: " << e.what();
    }
    lock.lock();
  }
}

void PolicyWatcher::Reject(const absl::Status& status) {
  FLEETRATE_LOG(kError) << "policy reload rejected, keeping the last good policies: " << path_
                        << ": " << status.message();
  on_result_(status);
}

bool PolicyWatcher::CheckNow() {
  absl::StatusOr<FileSnapshot> file = ReadRegularFile(path_, kMaxPolicyFileBytes);
  if (!file.ok()) {
    pending_.reset();
    if (absl::IsNotFound(file.status())) return false;  // mid-swap or removed: keep what we have
    if (file.status().message() != last_read_error_) {
      last_read_error_ = std::string(file.status().message());
      Reject(file.status());
    }
    return false;
  }
  last_read_error_.clear();
  if (file->content == loaded_text_) {  // touched, not changed (or changed back)
    pending_.reset();
    return false;
  }
  if (!pending_ || pending_->content != file->content || pending_->stamp != file->stamp) {
    pending_ = *std::move(file);  // new, or still being written: look again at the next poll
    return false;
  }
  loaded_text_ = std::move(pending_->content);
  pending_.reset();

  if (absl::Status blank = CheckNotBlank(loaded_text_); !blank.ok()) {
    Reject(blank);
    return false;
  }
  absl::StatusOr<Policies> policies = parser_(loaded_text_);
  if (!policies.ok()) {
    Reject(policies.status());
    return false;
  }
  FLEETRATE_LOG(kInfo) << "policies reloaded from " << path_ << ": " << policies->rules.size()
                       << " rules";
  policies->source_name = path_;
  apply_(std::make_shared<const Policies>(*std::move(policies)));
  on_result_(absl::OkStatus());
  return true;
}

}  // namespace fleetrate::server
