#include "server/service/process_metrics.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

namespace fleetrate::server {
namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The fields of /proc/<pid>/stat from field 3 (state) on; proc(5) numbers fields from 1. The
// command name (field 2) may contain spaces and parentheses, so parsing starts after the last ')'.
std::optional<std::vector<std::string>> StatFields(const std::string& proc_self) {
  const std::optional<std::string> text = ReadFile(proc_self + "/stat");
  if (!text) return std::nullopt;
  const size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(text->substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; in >> field;) fields.push_back(std::move(field));
  return fields;
}

// Field `n` (proc(5) numbering) as a number.
std::optional<double> StatField(const std::vector<std::string>& fields, size_t n) {
  if (n < 3 || n - 3 >= fields.size()) return std::nullopt;
  try {
    return std::stod(fields[n - 3]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> BootTimeSeconds(const std::string& proc_stat) {
  const std::optional<std::string> text = ReadFile(proc_stat);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) {
      try {
        return std::stod(line.substr(6));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

// The soft limit from the "Max open files" line of /proc/<pid>/limits.
std::optional<double> MaxOpenFiles(const std::string& proc_self) {
  const std::optional<std::string> text = ReadFile(proc_self + "/limits");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  constexpr std::string_view kPrefix = "Max open files";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(kPrefix, 0) != 0) continue;
    std::istringstream values(line.substr(kPrefix.size()));
    std::string soft;
    values >> soft;
    if (soft == "unlimited") return std::nullopt;
    try {
      return std::stod(soft);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<double> OpenFds(const std::string& proc_self) {
  std::error_code error;
  std::filesystem::directory_iterator it(proc_self + "/fd", error);
  if (error) return std::nullopt;
  double count = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) return std::nullopt;
    ++count;
  }
  return count;
}

void Add(std::vector<prometheus::MetricFamily>& out, const char* name, const char* help,
         prometheus::MetricType type, std::optional<double> value) {
  if (!value) return;
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = *value;
  } else {
    metric.gauge.value = *value;
  }
  family.metric.push_back(std::move(metric));
  out.push_back(std::move(family));
}

}  // namespace

ProcessCollector::ProcessCollector(std::string proc_self, const std::string& proc_stat)
    : proc_self_(std::move(proc_self)),
      ticks_per_second_(static_cast<double>(sysconf(_SC_CLK_TCK))),
      page_bytes_(static_cast<double>(sysconf(_SC_PAGESIZE))) {
  const std::optional<std::vector<std::string>> fields = StatFields(proc_self_);
  const std::optional<double> boot = BootTimeSeconds(proc_stat);
  if (fields && boot && ticks_per_second_ > 0) {
    if (const std::optional<double> start_ticks = StatField(*fields, 22)) {
      start_time_seconds_ = *boot + *start_ticks / ticks_per_second_;
    }
  }
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  std::optional<double> cpu, resident, virtual_bytes, threads;
  if (const std::optional<std::vector<std::string>> fields = StatFields(proc_self_)) {
    const std::optional<double> utime = StatField(*fields, 14);
    const std::optional<double> stime = StatField(*fields, 15);
    if (utime && stime && ticks_per_second_ > 0) cpu = (*utime + *stime) / ticks_per_second_;
    if (const std::optional<double> rss = StatField(*fields, 24)) resident = *rss * page_bytes_;
    virtual_bytes = StatField(*fields, 23);
    threads = StatField(*fields, 20);
  }
  Add(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
      MetricType::Counter, cpu);
  Add(out, "process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
      resident);
  Add(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
      virtual_bytes);
  Add(out, "process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
      OpenFds(proc_self_));
  Add(out, "process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
      MaxOpenFiles(proc_self_));
  Add(out, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
      MetricType::Gauge, start_time_seconds_);
  Add(out, "process_threads", "Number of OS threads in the process.", MetricType::Gauge, threads);
  return out;
}

}  // namespace fleetrate::server
