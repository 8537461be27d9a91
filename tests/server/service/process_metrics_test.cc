#include "server/service/process_metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace fleetrate::server {
namespace {

namespace fs = std::filesystem;

struct Sample {
  prometheus::MetricType type;
  double value;
};

std::map<std::string, Sample> Collect(const ProcessCollector& collector) {
  std::map<std::string, Sample> out;
  for (const prometheus::MetricFamily& family : collector.Collect()) {
    EXPECT_EQ(family.metric.size(), 1u) << family.name;
    if (family.metric.empty()) continue;
    const prometheus::ClientMetric& m = family.metric.front();
    out[family.name] = {family.type, family.type == prometheus::MetricType::Counter
                                         ? m.counter.value
                                         : m.gauge.value};
  }
  return out;
}

void Write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

class FakeProcTest : public ::testing::Test {
 protected:
  FakeProcTest() {
    char pattern[] = "/tmp/fleetrate_proc_XXXXXX";
    root_ = mkdtemp(pattern);
    fs::create_directories(root_ / "self" / "fd");
  }
  ~FakeProcTest() override { fs::remove_all(root_); }

  fs::path root_;
};

TEST_F(FakeProcTest, ReadsTheStandardMetricsFromProcfs) {
  // Fields 3..24 of proc(5): utime=250 (14), stime=150 (15), num_threads=7 (20),
  // starttime=1000 ticks (22), vsize (23), rss=100 pages (24). The command name has spaces and
  // a ')' to check that parsing starts after the last one.
  Write(root_ / "self" / "stat",
        "4242 (fleet rate) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 7 0 1000 "
        "123456789 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n");
  Write(root_ / "self" / "limits",
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max cpu time              unlimited            unlimited            seconds   \n"
        "Max open files            1024                 4096                 files     \n");
  for (const char* fd : {"0", "1", "2"}) Write(root_ / "self" / "fd" / fd, "");
  Write(root_ / "stat", "cpu  1 2 3 4\nbtime 1700000000\nprocesses 10\n");

  const ProcessCollector collector((root_ / "self").string(), (root_ / "stat").string());
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::map<std::string, Sample> m = Collect(collector);
  ASSERT_EQ(m.size(), 7u);
  EXPECT_EQ(m["process_cpu_seconds_total"].type, prometheus::MetricType::Counter);
  EXPECT_DOUBLE_EQ(m["process_cpu_seconds_total"].value, 400 / ticks);
  EXPECT_EQ(m["process_resident_memory_bytes"].type, prometheus::MetricType::Gauge);
  EXPECT_DOUBLE_EQ(m["process_resident_memory_bytes"].value, 100 * page);
  EXPECT_DOUBLE_EQ(m["process_virtual_memory_bytes"].value, 123456789);
  EXPECT_DOUBLE_EQ(m["process_open_fds"].value, 3);
  EXPECT_DOUBLE_EQ(m["process_max_fds"].value, 1024);
  EXPECT_DOUBLE_EQ(m["process_start_time_seconds"].value, 1700000000 + 1000 / ticks);
  EXPECT_DOUBLE_EQ(m["process_threads"].value, 7);
}

TEST_F(FakeProcTest, MissingOrGarbledFilesDropOnlyTheirMetrics) {
  Write(root_ / "self" / "stat", "garbage without a closing parenthesis\n");
  Write(root_ / "self" / "fd" / "0", "");
  const ProcessCollector collector((root_ / "self").string(), (root_ / "missing").string());
  std::map<std::string, Sample> m = Collect(collector);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_DOUBLE_EQ(m["process_open_fds"].value, 1);
  EXPECT_FALSE(collector.start_time_seconds().has_value());
}

TEST(ProcessCollectorTest, DescribesThisProcess) {
  const ProcessCollector collector;
  std::map<std::string, Sample> m = Collect(collector);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  ASSERT_EQ(m.count("process_start_time_seconds"), 1u);
  // procfs counts in clock ticks, hence the slack of one second.
  EXPECT_LE(m["process_start_time_seconds"].value, now + 1);
  EXPECT_GT(m["process_start_time_seconds"].value, now - 24 * 3600);
  EXPECT_GT(m["process_resident_memory_bytes"].value, 1 << 20);
  EXPECT_GE(m["process_open_fds"].value, 3);  // stdin, stdout, stderr
  EXPECT_GE(m["process_threads"].value, 1);
  EXPECT_GE(m["process_cpu_seconds_total"].value, 0);
}

}  // namespace
}  // namespace fleetrate::server
