#include "server/common/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "server/common/strings.h"

namespace fleetrate::server {
namespace {

// Closes the descriptor on every return path.
class Descriptor {
 public:
  explicit Descriptor(int fd) noexcept : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

FileStamp StampOf(const struct stat& st) {
  return FileStamp{static_cast<uint64_t>(st.st_size),
                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                   static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_dev)};
}

absl::Status TooLarge(const std::string& path, uint64_t size, size_t max_bytes) {
  return absl::ResourceExhaustedError(
      StrCat("'", path, "' is ", size, " bytes, over the limit of ", max_bytes, " bytes"));
}

}  // namespace

absl::StatusOr<FileSnapshot> ReadRegularFile(const std::string& path, size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int error = errno;
    const std::string message = StrCat("'", path, "' cannot be read (", std::strerror(error), ")");
    if (error == ENOENT || error == ENOTDIR) return absl::NotFoundError(message);
    if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(message);
    if (error == ENXIO) {  // a socket, or a FIFO/device that refuses a non-blocking open
      return absl::FailedPreconditionError(StrCat("'", path, "' is not a regular file"));
    }
    return absl::InternalError(message);
  }
  const Descriptor file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return absl::InternalError(StrCat("'", path, "' cannot be read (", std::strerror(errno), ")"));
  }
  if (!S_ISREG(st.st_mode)) {
    const char* kind = KindOf(st.st_mode);
    return absl::FailedPreconditionError(
        std::strcmp(kind, "not a regular file") == 0
            ? StrCat("'", path, "' is not a regular file")
            : StrCat("'", path, "' is ", kind, ", not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return TooLarge(path, static_cast<uint64_t>(st.st_size), max_bytes);
  }
  // Back to blocking reads: a regular file never blocks for long, and EAGAIN is not expected.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  FileSnapshot out;
  // One byte more than fstat said, so a file that grew since is noticed.
  out.content.resize(static_cast<size_t>(st.st_size) + 1);
  size_t filled = 0;
  while (true) {
    if (filled == out.content.size()) {
      if (out.content.size() > max_bytes) break;
      // The file grew since fstat: read on, up to one byte past the limit.
      out.content.resize(std::min(max_bytes + 1, out.content.size() * 2 + 4096));
    }
    const ssize_t n = ::read(fd, out.content.data() + filled, out.content.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(
          StrCat("'", path, "' cannot be read (", std::strerror(errno), ")"));
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  if (filled > max_bytes) {
    return absl::ResourceExhaustedError(
        StrCat("'", path, "' grew over the limit of ", max_bytes, " bytes while being read"));
  }
  out.content.resize(filled);
  struct stat after {};
  out.stamp = ::fstat(fd, &after) == 0 ? StampOf(after) : StampOf(st);
  return out;
}

absl::Status WaitForStableFile(const std::string& path, size_t max_bytes,
                               std::chrono::milliseconds settle, int tries) {
  absl::StatusOr<FileSnapshot> last = ReadRegularFile(path, max_bytes);
  if (!last.ok()) return last.status();
  const auto wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  if (wall_ns - last->stamp.mtime_ns >= std::chrono::nanoseconds(settle).count()) {
    return absl::OkStatus();
  }
  for (int i = 0; i < tries; ++i) {
    std::this_thread::sleep_for(settle);
    absl::StatusOr<FileSnapshot> now = ReadRegularFile(path, max_bytes);
    if (!now.ok()) return now.status();
    if (now->content == last->content && now->stamp == last->stamp) return absl::OkStatus();
    last = std::move(now);
  }
  return absl::OkStatus();
}

}  // namespace fleetrate::server
