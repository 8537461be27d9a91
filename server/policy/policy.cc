#include "server/policy/policy.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "server/common/file_read.h"
#include "server/common/status.h"
#include "server/common/strings.h"
#include "server/policy/glob.h"

namespace fleetrate::server {
namespace {

constexpr double kMinSyncIntervalSeconds = 0.05;
constexpr double kMaxSyncIntervalSeconds = 3600;
constexpr double kMaxTracesPerSecond = 1e6;
constexpr double kMaxWeight = 1e6;
constexpr int kMaxPriority = 100000;
constexpr size_t kMaxServiceEntries = 10000;

// Parsing context: builds field paths and stamps errors with the YAML line.
class Field {
 public:
  Field(const YAML::Node& node, std::string path) : node_(node), path_(std::move(path)) {}

  [[nodiscard]] const YAML::Node& node() const { return node_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] Field Child(const std::string& key) const {
    return Field(node_[key], path_.empty() ? key : path_ + "." + key);
  }
  [[nodiscard]] Field Index(size_t i) const { return Field(node_[i], StrCat(path_, "[", i, "]")); }
  [[nodiscard]] bool present() const { return node_.IsDefined() && !node_.IsNull(); }

  [[nodiscard]] absl::Status Error(std::string_view message) const {
    std::string text = path_.empty() ? std::string(message) : StrCat(path_, ": ", message);
    if (node_.IsDefined() && node_.Mark().line >= 0) {
      text += StrCat(" (line ", node_.Mark().line + 1, ")");
    }
    return absl::InvalidArgumentError(text);
  }

 private:
  YAML::Node node_;
  std::string path_;
};

absl::Status CheckKeys(const Field& field, const std::set<std::string>& allowed) {
  if (!field.node().IsMap()) return field.Error("must be a mapping");
  std::set<std::string> seen;
  for (const auto& entry : field.node()) {
    if (!entry.first.IsScalar())
      return Field(entry.first, field.path()).Error("keys must be strings");
    const auto key = entry.first.as<std::string>();
    if (!seen.insert(key).second) {
      // yaml-cpp keeps the first of two equal keys; an edit that adds a second would be ignored.
      return Field(entry.first, field.path().empty() ? key : field.path() + "." + key)
          .Error("given twice");
    }
    if (allowed.count(key) == 0) {
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      return Field(entry.first, field.path().empty() ? key : field.path() + "." + key)
          .Error(StrCat("unknown field (known: ", known, ")"));
    }
  }
  return absl::OkStatus();
}

// Reads an optional number into *out, checking [lo, hi].
absl::Status ReadNumber(const Field& parent, const std::string& key, double lo, double hi,
                        double* out) {
  const Field field = parent.Child(key);
  if (!field.present()) return absl::OkStatus();
  double value;
  try {
    if (!field.node().IsScalar()) return field.Error("must be a number");
    value = field.node().as<double>();
  } catch (const YAML::Exception&) {
    return field.Error("must be a number");
  }
  if (!std::isfinite(value) || value < lo || value > hi) {
    return field.Error(StrCat("must be in [", lo, ", ", hi, "], got ", value));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status ReadUint(const Field& parent, const std::string& key, uint32_t lo, uint32_t hi,
                      uint32_t* out) {
  double value = *out;
  if (auto s = ReadNumber(parent, key, lo, hi, &value); !s.ok()) return s;
  if (value != std::floor(value)) return parent.Child(key).Error("must be a whole number");
  *out = static_cast<uint32_t>(value);
  return absl::OkStatus();
}

absl::Status ReadString(const Field& parent, const std::string& key, std::string* out) {
  const Field field = parent.Child(key);
  if (!field.present()) return absl::OkStatus();
  if (!field.node().IsScalar()) return field.Error("must be a string");
  *out = field.node().as<std::string>();
  if (out->empty() || out->size() > 256) return field.Error("must be 1 to 256 characters");
  return absl::OkStatus();
}

const std::set<std::string> kSamplingFields = {"probability",
                                               "rate_limit_traces_per_second",
                                               "target_traces_per_second",
                                               "min_probability",
                                               "max_probability",
                                               "initial_probability",
                                               "lower_bound_traces_per_second",
                                               "burst",
                                               "weight"};

// Reads the sampling fields shared by `defaults` and each rule over the values already in *rule.
absl::Status ReadSampling(const Field& field, Rule* rule) {
  const int modes = (field.Child("probability").present() ? 1 : 0) +
                    (field.Child("target_traces_per_second").present() ? 1 : 0) +
                    (field.Child("rate_limit_traces_per_second").present() ? 1 : 0);
  if (modes > 1) {
    return field.Error(
        "set one of probability (fixed), target_traces_per_second (adaptive) and "
        "rate_limit_traces_per_second (rate-limited)");
  }
  if (field.Child("probability").present()) {
    double p = 0;
    FLEETRATE_RETURN_IF_ERROR(ReadNumber(field, "probability", 0, 1, &p));
    rule->probability = p;
    rule->rate_limit_traces_per_second.reset();
  }
  if (field.Child("rate_limit_traces_per_second").present()) {
    double limit = 0;
    FLEETRATE_RETURN_IF_ERROR(
        ReadNumber(field, "rate_limit_traces_per_second", 0, kMaxTracesPerSecond, &limit));
    rule->rate_limit_traces_per_second = limit;
    rule->probability.reset();
  }
  if (field.Child("target_traces_per_second").present()) {
    rule->probability.reset();
    rule->rate_limit_traces_per_second.reset();
    FLEETRATE_RETURN_IF_ERROR(ReadNumber(field, "target_traces_per_second", 0, kMaxTracesPerSecond,
                                         &rule->target_traces_per_second));
    if (rule->target_traces_per_second <= 0) {
      return field.Child("target_traces_per_second")
          .Error("must be > 0 (use probability: 0 to sample nothing)");
    }
  }
  FLEETRATE_RETURN_IF_ERROR(ReadNumber(field, "min_probability", 0, 1, &rule->min_probability));
  FLEETRATE_RETURN_IF_ERROR(ReadNumber(field, "max_probability", 0, 1, &rule->max_probability));
  FLEETRATE_RETURN_IF_ERROR(
      ReadNumber(field, "initial_probability", 0, 1, &rule->initial_probability));
  FLEETRATE_RETURN_IF_ERROR(ReadNumber(field, "lower_bound_traces_per_second", 0,
                                       kMaxTracesPerSecond, &rule->lower_bound_traces_per_second));
  FLEETRATE_RETURN_IF_ERROR(ReadNumber(field, "burst", 1, kMaxBurst, &rule->burst));
  FLEETRATE_RETURN_IF_ERROR(ReadNumber(field, "weight", 0, kMaxWeight, &rule->weight));
  if (field.Child("weight").present() && rule->weight <= 0) {
    return field.Child("weight").Error("must be > 0");
  }
  if (rule->min_probability > rule->max_probability) {
    const Field at = field.Child("min_probability").present() ? field.Child("min_probability")
                                                              : field.Child("max_probability");
    return Field(at.node(),
                 field.path().empty() ? "min_probability" : field.path() + ".min_probability")
        .Error(StrCat("must be <= max_probability (", rule->max_probability, "), got ",
                      rule->min_probability));
  }
  if (rule->initial_probability < rule->min_probability ||
      rule->initial_probability > rule->max_probability) {
    const Field at = field.Child("initial_probability");
    return Field(at.node(), field.path().empty() ? "initial_probability"
                                                 : field.path() + ".initial_probability")
        .Error(StrCat("must be within [min_probability, max_probability] = [",
                      rule->min_probability, ", ", rule->max_probability, "], got ",
                      rule->initial_probability));
  }
  return absl::OkStatus();
}

absl::Status ReadProfile(const Field& field, BatchProfile* profile) {
  FLEETRATE_RETURN_IF_ERROR(CheckKeys(field, {"max_queue_size", "max_export_batch_size",
                                              "schedule_delay_ms", "export_timeout_ms"}));
  FLEETRATE_RETURN_IF_ERROR(
      ReadUint(field, "max_queue_size", 1, kMaxQueueSize, &profile->max_queue_size));
  FLEETRATE_RETURN_IF_ERROR(
      ReadUint(field, "max_export_batch_size", 1, kMaxQueueSize, &profile->max_export_batch_size));
  FLEETRATE_RETURN_IF_ERROR(
      ReadUint(field, "schedule_delay_ms", 1, kMaxDurationMs, &profile->schedule_delay_ms));
  FLEETRATE_RETURN_IF_ERROR(
      ReadUint(field, "export_timeout_ms", 1, kMaxDurationMs, &profile->export_timeout_ms));
  if (profile->max_export_batch_size > profile->max_queue_size) {
    return field.Child("max_export_batch_size")
        .Error(StrCat("must be <= max_queue_size (", profile->max_queue_size, "), got ",
                      profile->max_export_batch_size));
  }
  return absl::OkStatus();
}

absl::Status ReadCapture(const Field& field, CapturePolicy* capture) {
  FLEETRATE_RETURN_IF_ERROR(
      CheckKeys(field, {"errors_per_second", "slow_threshold_ms", "slow_per_second"}));
  FLEETRATE_RETURN_IF_ERROR(
      ReadNumber(field, "errors_per_second", 0, kMaxTracesPerSecond, &capture->errors_per_second));
  FLEETRATE_RETURN_IF_ERROR(
      ReadUint(field, "slow_threshold_ms", 0, kMaxDurationMs, &capture->slow_threshold_ms));
  FLEETRATE_RETURN_IF_ERROR(
      ReadNumber(field, "slow_per_second", 0, kMaxTracesPerSecond, &capture->slow_per_second));
  return absl::OkStatus();
}

// Resolves a batch_profile name against the built-ins and the file's batch_profiles.
absl::Status ReadProfileName(const Field& parent, const Policies& policies, BatchProfile* profile) {
  const Field field = parent.Child("batch_profile");
  if (!field.present()) return absl::OkStatus();
  std::string name;
  FLEETRATE_RETURN_IF_ERROR(ReadString(parent, "batch_profile", &name));
  auto it = policies.batch_profiles.find(name);
  if (it == policies.batch_profiles.end()) {
    std::string known;
    for (const auto& [n, p] : policies.batch_profiles) known += (known.empty() ? "" : ", ") + n;
    return field.Error(StrCat("unknown profile '", name, "' (known: ", known, ")"));
  }
  *profile = it->second;
  return absl::OkStatus();
}

absl::StatusOr<Policies> ParseRoot(const YAML::Node& root_node) {
  Policies policies;
  policies.defaults.name = "default";
  for (const char* name : {"balanced", "high_throughput", "low_latency"}) {
    policies.batch_profiles[name] = *BuiltinBatchProfile(name);
  }
  if (!root_node || root_node.IsNull()) return policies;  // an empty file means all defaults
  const Field root(root_node, "");
  FLEETRATE_RETURN_IF_ERROR(
      CheckKeys(root, {"sync_interval_seconds", "budget_traces_per_second", "batch_profile",
                       "batch_profiles", "capture", "defaults", "rules", "services"}));
  FLEETRATE_RETURN_IF_ERROR(ReadNumber(root, "sync_interval_seconds", kMinSyncIntervalSeconds,
                                       kMaxSyncIntervalSeconds, &policies.sync_interval_seconds));
  if (root.Child("budget_traces_per_second").present()) {
    double budget = 0;
    FLEETRATE_RETURN_IF_ERROR(
        ReadNumber(root, "budget_traces_per_second", 0, kMaxTracesPerSecond, &budget));
    if (budget <= 0) return root.Child("budget_traces_per_second").Error("must be > 0");
    policies.budget_traces_per_second = budget;
  }

  if (const Field profiles = root.Child("batch_profiles"); profiles.present()) {
    if (!profiles.node().IsMap()) return profiles.Error("must be a mapping of name to profile");
    for (const auto& entry : profiles.node()) {
      const auto name = entry.first.as<std::string>();
      const Field field(entry.second, StrCat("batch_profiles.", name));
      if (policies.batch_profiles.count(name) != 0 && BuiltinBatchProfile(name)) {
        return field.Error("redefines a built-in profile; choose another name");
      }
      BatchProfile profile = *BuiltinBatchProfile("balanced");
      profile.name = name;
      FLEETRATE_RETURN_IF_ERROR(ReadProfile(field, &profile));
      policies.batch_profiles[name] = profile;
    }
  }
  FLEETRATE_RETURN_IF_ERROR(
      ReadProfileName(root, policies, &policies.service_defaults.batch_profile));
  if (const Field capture = root.Child("capture"); capture.present()) {
    FLEETRATE_RETURN_IF_ERROR(ReadCapture(capture, &policies.service_defaults.capture));
  }

  if (const Field defaults = root.Child("defaults"); defaults.present()) {
    FLEETRATE_RETURN_IF_ERROR(CheckKeys(defaults, kSamplingFields));
    FLEETRATE_RETURN_IF_ERROR(ReadSampling(defaults, &policies.defaults));
  }

  if (const Field rules = root.Child("rules"); rules.present()) {
    if (!rules.node().IsSequence()) return rules.Error("must be a list");
    if (rules.node().size() > kMaxPolicyRules) {
      return rules.Error(StrCat("at most ", kMaxPolicyRules, " rules, got ", rules.node().size()));
    }
    std::set<std::string> allowed = kSamplingFields;
    allowed.insert({"name", "priority", "service", "environment", "operation"});
    for (size_t i = 0; i < rules.node().size(); ++i) {
      const Field field = rules.Index(i);
      FLEETRATE_RETURN_IF_ERROR(CheckKeys(field, allowed));
      Rule rule = policies.defaults;  // a rule inherits every field it does not set
      rule.name = StrCat("rules[", i, "]");
      FLEETRATE_RETURN_IF_ERROR(ReadString(field, "name", &rule.name));
      double priority = rule.priority;
      FLEETRATE_RETURN_IF_ERROR(ReadNumber(field, "priority", 0, kMaxPriority, &priority));
      if (priority != std::floor(priority)) {
        return field.Child("priority").Error("must be a whole number");
      }
      rule.priority = static_cast<int>(priority);
      FLEETRATE_RETURN_IF_ERROR(ReadString(field, "service", &rule.service_glob));
      FLEETRATE_RETURN_IF_ERROR(ReadString(field, "environment", &rule.environment_glob));
      FLEETRATE_RETURN_IF_ERROR(ReadString(field, "operation", &rule.operation_glob));
      FLEETRATE_RETURN_IF_ERROR(ReadSampling(field, &rule));
      policies.rules.push_back(std::move(rule));
    }
    std::stable_sort(policies.rules.begin(), policies.rules.end(),
                     [](const Rule& a, const Rule& b) { return a.priority < b.priority; });
  }

  if (const Field services = root.Child("services"); services.present()) {
    if (!services.node().IsSequence()) return services.Error("must be a list");
    if (services.node().size() > kMaxServiceEntries) {
      return services.Error(
          StrCat("at most ", kMaxServiceEntries, " entries, got ", services.node().size()));
    }
    for (size_t i = 0; i < services.node().size(); ++i) {
      const Field field = services.Index(i);
      FLEETRATE_RETURN_IF_ERROR(
          CheckKeys(field, {"service", "environment", "batch_profile", "capture"}));
      ServiceSettings settings = policies.service_defaults;
      FLEETRATE_RETURN_IF_ERROR(ReadString(field, "service", &settings.service_glob));
      FLEETRATE_RETURN_IF_ERROR(ReadString(field, "environment", &settings.environment_glob));
      FLEETRATE_RETURN_IF_ERROR(ReadProfileName(field, policies, &settings.batch_profile));
      if (const Field capture = field.Child("capture"); capture.present()) {
        FLEETRATE_RETURN_IF_ERROR(ReadCapture(capture, &settings.capture));
      }
      policies.services.push_back(std::move(settings));
    }
  }
  return policies;
}

}  // namespace

std::optional<BatchProfile> BuiltinBatchProfile(std::string_view name) {
  if (name == "balanced") return BatchProfile{"balanced", 2048, 512, 5000, 30000};
  if (name == "high_throughput") return BatchProfile{"high_throughput", 8192, 2048, 10000, 60000};
  if (name == "low_latency") return BatchProfile{"low_latency", 512, 128, 1000, 10000};
  return std::nullopt;
}

int Policies::MatchIndex(std::string_view service, std::string_view environment,
                         std::string_view operation) const {
  for (size_t i = 0; i < rules.size(); ++i) {
    const Rule& rule = rules[i];
    if (GlobMatch(rule.service_glob, service) && GlobMatch(rule.environment_glob, environment) &&
        GlobMatch(rule.operation_glob, operation)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

const Rule& Policies::Match(std::string_view service, std::string_view environment,
                            std::string_view operation) const {
  const int index = MatchIndex(service, environment, operation);
  return index < 0 ? defaults : rules[static_cast<size_t>(index)];
}

const ServiceSettings& Policies::MatchService(std::string_view service,
                                              std::string_view environment) const {
  for (const ServiceSettings& settings : services) {
    if (GlobMatch(settings.service_glob, service) &&
        GlobMatch(settings.environment_glob, environment)) {
      return settings;
    }
  }
  return service_defaults;
}

absl::StatusOr<Policies> ParsePolicies(std::string_view yaml) {
  if (yaml.size() > kMaxPolicyFileBytes) {
    return absl::InvalidArgumentError(
        StrCat("policy document: at most ", kMaxPolicyFileBytes, " bytes, got ", yaml.size()));
  }
  try {
    auto policies = ParseRoot(YAML::Load(std::string(yaml)));
    if (policies.ok()) policies->source_text = std::string(yaml);
    return policies;
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own message for this is "bad file".
    return absl::InvalidArgumentError(StrCat("YAML syntax: nesting deeper than ", kMaxYamlDepth,
                                             " levels (line ", e.mark.line + 1, ", column ",
                                             e.mark.column + 1, ")"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat("YAML syntax: ", e.msg, " (line ", e.mark.line + 1,
                                             ", column ", e.mark.column + 1, ")"));
  }
}

bool IsBlankDocument(std::string_view text) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    const size_t first = line.find_first_not_of(" \t\r\f\v");
    if (first == std::string_view::npos) continue;
    line = line.substr(first);
    const size_t last = line.find_last_not_of(" \t\r\f\v");
    line = line.substr(0, last + 1);
    if (line.front() == '#' || line == "---" || line == "...") continue;
    return false;
  }
  return true;
}

absl::Status CheckNotBlank(std::string_view text) {
  if (!IsBlankDocument(text)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "the document is empty (only whitespace or comments), as a file being written can be; "
      "write {} to mean all built-in defaults");
}

absl::StatusOr<Policies> LoadPoliciesFile(const std::string& path, const PolicyParser& parse) {
  absl::StatusOr<FileSnapshot> file = ReadRegularFile(path, kMaxPolicyFileBytes);
  if (!file.ok()) return file.status();
  absl::Status blank = CheckNotBlank(file->content);
  absl::StatusOr<Policies> policies =
      blank.ok() ? parse(file->content) : absl::StatusOr<Policies>(blank);
  if (!policies.ok()) {
    return absl::Status(policies.status().code(), StrCat(path, ": ", policies.status().message()));
  }
  policies->source_name = path;
  return policies;
}

}  // namespace fleetrate::server
