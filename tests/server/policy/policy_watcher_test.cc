#include "server/policy/policy_watcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace fleetrate::server {
namespace {

namespace fs = std::filesystem;

class PolicyWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fleetrate-watch-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    path_ = (dir_ / "policies.yaml").string();
    Write("defaults:\n  target_traces_per_second: 1\n");
    watcher_ = std::make_unique<PolicyWatcher>(
        path_, "defaults:\n  target_traces_per_second: 1\n",
        [this](std::shared_ptr<const Policies> p) {
          std::lock_guard<std::mutex> lock(mu_);
          applied_.push_back(std::move(p));
        },
        [this](const absl::Status& s) {
          std::lock_guard<std::mutex> lock(mu_);
          results_.push_back(s);
        });
  }
  void TearDown() override {
    watcher_.reset();
    fs::remove_all(dir_);
  }

  // Writes through a temporary file and rename, as editors and ConfigMap updates do.
  void Write(const std::string& text) {
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    fs::rename(tmp, path_);
  }

  // Rewrites the file in place (truncate, then write), as a single-file bind mount is edited.
  void WriteInPlace(const std::string& text) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << text;
  }

  // CheckNow on another thread: a watcher that blocks (in open() of a FIFO) or reads without
  // end (/dev/zero) fails the test instead of hanging it, or filling the machine's memory.
  bool CheckNowWithin(std::chrono::seconds limit) {
    auto result = std::async(std::launch::async, [this] { return watcher_->CheckNow(); });
    if (result.wait_for(limit) == std::future_status::ready) return result.get();
    ADD_FAILURE() << "CheckNow did not return within " << limit.count() << " s";
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && S_ISFIFO(st.st_mode)) {
      // An open() waiting for a FIFO's writer returns once one comes and goes.
      const int fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) ::close(fd);
      if (result.wait_for(std::chrono::seconds(5)) == std::future_status::ready) {
        return result.get();
      }
    }
    std::fprintf(stderr, "CheckNow is still reading %s; exiting\n", path_.c_str());
    std::_Exit(1);
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<PolicyWatcher> watcher_;
  std::mutex mu_;  // the watcher thread's callbacks write what the test reads
  std::vector<std::shared_ptr<const Policies>> applied_;
  std::vector<absl::Status> results_;
};

TEST_F(PolicyWatcherTest, AValidEditIsAppliedWithItsSource) {
  EXPECT_FALSE(watcher_->CheckNow());  // the content in force: nothing to do
  Write("defaults:\n  target_traces_per_second: 7\n");
  EXPECT_FALSE(watcher_->CheckNow());  // seen once: applied when the next poll sees the same
  EXPECT_TRUE(applied_.empty());
  ASSERT_TRUE(watcher_->CheckNow());
  ASSERT_EQ(applied_.size(), 1u);
  EXPECT_DOUBLE_EQ(applied_[0]->defaults.target_traces_per_second, 7);
  EXPECT_EQ(applied_[0]->source_name, path_);
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_TRUE(results_[0].ok());
  EXPECT_FALSE(watcher_->CheckNow());  // unchanged since
}

TEST_F(PolicyWatcherTest, AnInvalidEditIsRejectedNamingFieldAndLineAndNothingIsApplied) {
  Write("defaults:\n  target_traces_per_second: 1\nrules:\n  - probability: 2\n");
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_TRUE(applied_.empty());
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].message(), "rules[0].probability: must be in [0, 1], got 2 (line 4)");
  // The same broken content is not re-reported on every poll.
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_EQ(results_.size(), 1u);
  // A fix is picked up.
  Write("defaults:\n  target_traces_per_second: 3\n");
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_TRUE(watcher_->CheckNow());
  ASSERT_EQ(applied_.size(), 1u);
  EXPECT_DOUBLE_EQ(applied_[0]->defaults.target_traces_per_second, 3);
}

TEST_F(PolicyWatcherTest, AMissingFileKeepsThePoliciesInForce) {
  fs::remove(path_);
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_TRUE(applied_.empty());
  EXPECT_TRUE(results_.empty());
}

TEST_F(PolicyWatcherTest, TheWatcherThreadPicksUpAnEdit) {
  watcher_->Start(std::chrono::milliseconds(20));
  Write("defaults:\n  target_traces_per_second: 9\n");
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!results_.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  watcher_->Stop();  // joins: applied_ is safe to read after this
  ASSERT_EQ(applied_.size(), 1u);
  EXPECT_DOUBLE_EQ(applied_[0]->defaults.target_traces_per_second, 9);
}

// The case: a service pinned at probability 0 got the defaults' rate while its file was
// rewritten in place. A content is applied only once two polls saw it unchanged.
TEST_F(PolicyWatcherTest, AHalfWrittenFileIsNotAppliedUntilItIsStable) {
  const std::string full =
      "defaults:\n  target_traces_per_second: 1\n"
      "rules:\n  - service: health\n    probability: 0\n  - service: cart\n    probability: 1\n";
  WriteInPlace(full.substr(0, full.find("  - service: health")));  // truncated mid-write
  EXPECT_FALSE(watcher_->CheckNow());
  WriteInPlace(full.substr(0, full.find("  - service: cart")));  // one rule of two
  EXPECT_FALSE(watcher_->CheckNow());
  WriteInPlace(full);
  EXPECT_FALSE(watcher_->CheckNow());  // complete, but only seen once
  EXPECT_TRUE(applied_.empty());
  EXPECT_TRUE(results_.empty());  // nothing half-written was even parsed
  ASSERT_TRUE(watcher_->CheckNow());
  ASSERT_EQ(applied_.size(), 1u);
  ASSERT_EQ(applied_[0]->rules.size(), 2u);
  EXPECT_EQ(applied_[0]->Match("health", "prod", "GET /").probability.value_or(-1), 0.0);
}

TEST_F(PolicyWatcherTest, AnEmptyOrCommentOnlyFileIsRefusedOnReloadButBracesMeanDefaults) {
  WriteInPlace("");
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_TRUE(applied_.empty());
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].message(),
            "the document is empty (only whitespace or comments), as a file being written can "
            "be; write {} to mean all built-in defaults");
  WriteInPlace("# nothing yet\n\n");
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_TRUE(applied_.empty());
  EXPECT_EQ(results_.size(), 2u);
  WriteInPlace("{}\n");
  EXPECT_FALSE(watcher_->CheckNow());
  ASSERT_TRUE(watcher_->CheckNow());
  ASSERT_EQ(applied_.size(), 1u);
  EXPECT_TRUE(applied_[0]->rules.empty());
}

TEST_F(PolicyWatcherTest, ADirectoryAtThePathIsRefusedOnceAndNothingIsApplied) {
  fs::remove(path_);
  fs::create_directory(path_);
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_TRUE(applied_.empty());
  ASSERT_EQ(results_.size(), 1u);  // reported once, not on every poll
  EXPECT_EQ(results_[0].message(), "'" + path_ + "' is a directory, not a regular file");
}

TEST_F(PolicyWatcherTest, AFifoAtThePathNeitherAppliesNorHangs) {
  fs::remove(path_);
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  EXPECT_FALSE(CheckNowWithin(std::chrono::seconds(5)));
  EXPECT_FALSE(CheckNowWithin(std::chrono::seconds(5)));
  EXPECT_TRUE(applied_.empty());
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].message(), "'" + path_ + "' is a FIFO, not a regular file");
  // Stop() joins a thread that is never stuck in open().
  watcher_->Start(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto stopped = std::async(std::launch::async, [this] { watcher_->Stop(); });
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

TEST_F(PolicyWatcherTest, ASymlinkToDevZeroIsRefusedWithoutReadingIt) {
  fs::remove(path_);
  fs::create_symlink("/dev/zero", path_);
  EXPECT_FALSE(CheckNowWithin(std::chrono::seconds(1)));
  EXPECT_FALSE(CheckNowWithin(std::chrono::seconds(1)));
  EXPECT_TRUE(applied_.empty());
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].message(), "'" + path_ + "' is a character device, not a regular file");
}

TEST_F(PolicyWatcherTest, AFileOverTheSizeLimitIsRefusedNamingTheLimit) {
  WriteInPlace("defaults: {}\n");
  fs::resize_file(path_, kMaxPolicyFileBytes + 1);  // sparse
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_TRUE(applied_.empty());
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].message(),
            "'" + path_ + "' is 4194305 bytes, over the limit of 4194304 bytes");
}

}  // namespace
}  // namespace fleetrate::server
