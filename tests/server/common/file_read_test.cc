#include "server/common/file_read.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

namespace fleetrate::server {
namespace {

namespace fs = std::filesystem;

class FileReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fleetrate-read-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(FileReadTest, ReadsARegularFileWithItsStamp) {
  std::ofstream(Path("a")) << "hello\n";
  auto file = ReadRegularFile(Path("a"), 100);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->content, "hello\n");
  EXPECT_EQ(file->stamp.size, 6u);
  EXPECT_NE(file->stamp.inode, 0u);
}

TEST_F(FileReadTest, AMissingFileIsNotFound) {
  auto file = ReadRegularFile(Path("none"), 100);
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(absl::IsNotFound(file.status()));
  EXPECT_EQ(file.status().message(),
            "'" + Path("none") + "' cannot be read (No such file or directory)");
}

TEST_F(FileReadTest, ADirectoryIsRefusedNamingWhatItIs) {
  auto file = ReadRegularFile(dir_.string(), 100);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().message(), "'" + dir_.string() + "' is a directory, not a regular file");
}

TEST_F(FileReadTest, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo(Path("fifo").c_str(), 0600), 0);
  // A blocking open of a FIFO with no writer never returns: guard the test with a timeout.
  auto result = std::async(std::launch::async, [&] { return ReadRegularFile(Path("fifo"), 100); });
  ASSERT_EQ(result.wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "ReadRegularFile blocked on a FIFO";
  auto file = result.get();
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().message(), "'" + Path("fifo") + "' is a FIFO, not a regular file");
}

TEST_F(FileReadTest, ASymlinkToDevZeroIsRefusedBeforeAnythingIsRead) {
  fs::create_symlink("/dev/zero", Path("zero"));
  auto file = ReadRegularFile(Path("zero"), 100);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().message(),
            "'" + Path("zero") + "' is a character device, not a regular file");
}

TEST_F(FileReadTest, AFileOverTheLimitIsRefusedByItsSizeNamingTheLimit) {
  // Sparse: 1 GiB of size costs no disk, and the reader must not try to read it.
  { std::ofstream(Path("big")) << "x"; }
  fs::resize_file(Path("big"), uint64_t{1} << 30);
  auto file = ReadRegularFile(Path("big"), 4096);
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(file.status()));
  EXPECT_EQ(file.status().message(),
            "'" + Path("big") + "' is 1073741824 bytes, over the limit of 4096 bytes");
  std::ofstream(Path("exact")) << std::string(4096, 'y');
  EXPECT_TRUE(ReadRegularFile(Path("exact"), 4096).ok());
}

TEST_F(FileReadTest, AnEmptyFileIsReadAsEmpty) {
  { std::ofstream out(Path("empty")); }
  auto file = ReadRegularFile(Path("empty"), 100);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->content, "");
}

TEST_F(FileReadTest, WaitForStableFileReturnsAtOnceForAnOldFile) {
  std::ofstream(Path("old")) << "rules: []\n";
  fs::last_write_time(Path("old"), fs::file_time_type::clock::now() - std::chrono::hours(1));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitForStableFile(Path("old"), 100, std::chrono::milliseconds(300)).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
  EXPECT_TRUE(
      absl::IsNotFound(WaitForStableFile(Path("none"), 100, std::chrono::milliseconds(300))));
}

// A file being written as the server starts: the wait ends only once the writer is done.
TEST_F(FileReadTest, WaitForStableFileWaitsForAWriterThatPauses) {
  std::ofstream out(Path("new"), std::ios::binary);
  out << "rules:\n" << std::flush;
  std::atomic<bool> written{false};
  std::thread writer([&out, &written] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    out << "  - probability: 0\n" << std::flush;
    written = true;
  });
  EXPECT_TRUE(WaitForStableFile(Path("new"), 100, std::chrono::milliseconds(300)).ok());
  EXPECT_TRUE(written) << "returned while the file was still being written";
  writer.join();
  auto file = ReadRegularFile(Path("new"), 100);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->content, "rules:\n  - probability: 0\n");
}

}  // namespace
}  // namespace fleetrate::server
