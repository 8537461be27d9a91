// PolicyWatcher: applies edits of the policy file while the server runs. A valid edit is handed
// to `apply` (and reaches clients at the next recompute); an invalid one is logged with the
// file, field and line, counted, and the last good policies stay in force.
//
// It polls rather than using inotify, so a Kubernetes ConfigMap update — an atomic symlink swap
// of the directory — is seen like any edit. Each poll reads the file with ReadRegularFile
// (server/common/file_read.h): a directory, FIFO, device or a file over kMaxPolicyFileBytes is
// refused (reported once, counted), never read without bound and never blocked on.
//
// A new content is applied only when it is stable: the same bytes and the same fstat stamp
// (size, mtime, inode) on two consecutive polls, one interval apart. So an in-place rewrite
// (truncate, then write; what single-file bind mounts get) is not applied half-written unless
// the writer pauses for a whole interval. A blank document (only whitespace or comments) is
// refused; `{}` means all built-in defaults.
//
//   PolicyWatcher watcher(path, [&](auto p) { publisher.SetPolicies(p); }, on_result);
//   watcher.Start(std::chrono::milliseconds(500));   // a thread, owned and joined by Stop()
//   watcher.CheckNow();                              // tests: one poll, synchronously
//
// CheckNow may be called from any one thread at a time (the watcher's own thread, or a test
// when the thread is not started).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "server/common/file_read.h"
#include "server/policy/policy.h"

namespace fleetrate::server {

class PolicyWatcher {
 public:
  using Apply = std::function<void(std::shared_ptr<const Policies>)>;
  // Told of each load attempt after the first: OK, or the error that was rejected.
  using OnResult = std::function<void(const absl::Status&)>;
  using Parser = PolicyParser;

  // `loaded_text` is the file content already in force (so an unchanged file is not reloaded).
  PolicyWatcher(std::string path, std::string loaded_text, Apply apply, OnResult on_result,
                Parser parser = ParsePolicies);
  ~PolicyWatcher();
  PolicyWatcher(const PolicyWatcher&) = delete;
  PolicyWatcher& operator=(const PolicyWatcher&) = delete;

  void Start(std::chrono::milliseconds interval);
  void Stop();

  // Polls once. Returns true when new policies were applied. A changed file needs two polls:
  // the first notes its content, the second applies it if nothing changed in between.
  bool CheckNow();

 private:
  void Run(std::chrono::milliseconds interval);
  void Reject(const absl::Status& status);

  const std::string path_;
  std::string loaded_text_;  // what is in force, or the last rejected text (not retried)
  std::optional<FileSnapshot> pending_;  // a new content seen once, applied if seen again
  std::string last_read_error_;          // reported once, not on every poll
  const Apply apply_;
  const OnResult on_result_;
  const Parser parser_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace fleetrate::server
