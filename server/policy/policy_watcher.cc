#include "server/policy/policy_watcher.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

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

bool PolicyWatcher::CheckNow() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return false;  // mid-swap or removed: keep what we have
  const Stamp stamp{static_cast<uintmax_t>(st.st_size),
                    static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                    static_cast<uint64_t>(st.st_ino)};
  if (stamp == stamp_) return false;
  stamp_ = stamp;
  std::ifstream in(path_, std::ios::binary);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text == loaded_text_) return false;  // touched, not changed
  loaded_text_ = text;

  auto policies = parser_(text);
  if (!policies.ok()) {
    FLEETRATE_LOG(kError) << "policy reload rejected, keeping the last good policies: " << path_
                          << ": " << policies.status().message();
    on_result_(policies.status());
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
