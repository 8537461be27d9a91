// ReadRegularFile: reads a configuration file (policies, Jaeger strategies, the admin token, TLS
// PEMs) without the ways a plain std::ifstream can go wrong on a path an operator controls:
//   - a FIFO at the path never blocks: it is opened with O_NONBLOCK and refused after fstat;
//   - a directory, a device (a symlink to /dev/zero), a socket or a FIFO is refused, naming what
//     it is, before anything is read;
//   - a file above `max_bytes` is refused by its size before it is read, and at most
//     max_bytes + 1 bytes are ever read (a file that grows while read is refused too).
// Errors are whole sentences that start with the quoted path, so callers prefix the flag:
//   "--config: '/etc/fleetrate' is a directory, not a regular file".
// A path that does not exist is NOT_FOUND (the watcher treats it as "keep what is in force").
//
//   absl::StatusOr<FileSnapshot> file = ReadRegularFile(path, kMaxPolicyFileBytes);
//   if (!file.ok()) return file.status();
//   Use(file->content);  // file->stamp: size, mtime, inode and device as fstat saw them
//
// Thread-safe (no shared state); blocks only on the disk read itself.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace fleetrate::server {

// What fstat said of an open file; equal stamps and equal content mean "not being written".
struct FileStamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  uint64_t device = 0;

  friend bool operator==(const FileStamp& a, const FileStamp& b) {
    return a.size == b.size && a.mtime_ns == b.mtime_ns && a.inode == b.inode &&
           a.device == b.device;
  }
  friend bool operator!=(const FileStamp& a, const FileStamp& b) { return !(a == b); }
};

struct FileSnapshot {
  std::string content;
  FileStamp stamp;  // after the read (a file changed during the read differs from its content)
};

// Reads the regular file at `path` (symlinks followed), at most `max_bytes`. Errors:
// NOT_FOUND (no such file), PERMISSION_DENIED, FAILED_PRECONDITION (not a regular file),
// RESOURCE_EXHAUSTED (larger than max_bytes, naming the limit), INTERNAL (a read error).
[[nodiscard]] absl::StatusOr<FileSnapshot> ReadRegularFile(const std::string& path,
                                                           size_t max_bytes);

// For start-up only (it sleeps, and reads the wall clock to compare with the file's mtime):
// returns at once when `path` was last modified at least `settle` ago; else reads it every
// `settle` until two reads agree (content and stamp), at most `tries` times, so a file being
// written as the server starts is loaded whole. Returns ReadRegularFile's error, or OK (also
// when the file kept changing: the caller's load then decides).
[[nodiscard]] absl::Status WaitForStableFile(const std::string& path, size_t max_bytes,
                                             std::chrono::milliseconds settle, int tries = 10);

}  // namespace fleetrate::server
