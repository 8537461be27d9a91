#include "server/policy/policy_watcher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
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
  EXPECT_TRUE(applied_.empty());
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].message(), "rules[0].probability: must be in [0, 1], got 2 (line 4)");
  // The same broken content is not re-reported on every poll.
  EXPECT_FALSE(watcher_->CheckNow());
  EXPECT_EQ(results_.size(), 1u);
  // A fix is picked up.
  Write("defaults:\n  target_traces_per_second: 3\n");
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

}  // namespace
}  // namespace fleetrate::server
