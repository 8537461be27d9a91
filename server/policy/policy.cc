#include "server/policy/policy.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "server/common/strings.h"
#include "server/policy/glob.h"

namespace fleetrate::server {
namespace {

constexpr double kMinSyncIntervalSeconds = 0.05;
constexpr double kMaxSyncIntervalSeconds = 3600;
constexpr double kMaxTargetTracesPerSecond = 1e6;
constexpr double kMaxBurst = 1000;
constexpr size_t kMaxRules = 10000;

absl::Status FieldError(std::string_view path, std::string_view message) {
  return absl::InvalidArgumentError(StrCat(path, ": ", message));
}

absl::Status CheckKeys(const YAML::Node& node, std::string_view path,
                       const std::set<std::string>& allowed) {
  if (!node.IsMap()) return FieldError(path, "must be a mapping");
  for (const auto& entry : node) {
    const auto key = entry.first.as<std::string>();
    if (allowed.count(key) == 0) {
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      return FieldError(path.empty() ? key : StrCat(path, ".", key),
                        StrCat("unknown field (known: ", known, ")"));
    }
  }
  return absl::OkStatus();
}

// Reads an optional number field into *out, checking [lo, hi].
absl::Status ReadNumber(const YAML::Node& parent, const std::string& key, std::string_view path,
                        double lo, double hi, double* out) {
  const YAML::Node node = parent[key];
  if (!node) return absl::OkStatus();
  const std::string field = path.empty() ? key : StrCat(path, ".", key);
  double value;
  try {
    value = node.as<double>();
  } catch (const YAML::Exception&) {
    return FieldError(field, "must be a number");
  }
  if (!std::isfinite(value) || value < lo || value > hi) {
    return FieldError(field, StrCat("must be in [", lo, ", ", hi, "], got ", value));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status ReadString(const YAML::Node& parent, const std::string& key, std::string_view path,
                        std::string* out) {
  const YAML::Node node = parent[key];
  if (!node) return absl::OkStatus();
  const std::string field = path.empty() ? key : StrCat(path, ".", key);
  if (!node.IsScalar()) return FieldError(field, "must be a string");
  *out = node.as<std::string>();
  if (out->empty() || out->size() > 256) return FieldError(field, "must be 1 to 256 characters");
  return absl::OkStatus();
}

const std::set<std::string> kSamplingFields = {"probability",
                                               "target_traces_per_second",
                                               "min_probability",
                                               "max_probability",
                                               "initial_probability",
                                               "lower_bound_traces_per_second",
                                               "burst"};

// Reads the sampling fields shared by `defaults` and each rule over the values already in *rule.
absl::Status ReadSampling(const YAML::Node& node, std::string_view path, Rule* rule) {
  if (node["probability"] && node["target_traces_per_second"]) {
    return FieldError(path,
                      "set either probability (fixed) or target_traces_per_second "
                      "(adaptive), not both");
  }
  if (node["probability"]) {
    double p = 0;
    if (auto s = ReadNumber(node, "probability", path, 0, 1, &p); !s.ok()) return s;
    rule->probability = p;
  }
  if (node["target_traces_per_second"]) {
    rule->probability.reset();
    if (auto s = ReadNumber(node, "target_traces_per_second", path, 0, kMaxTargetTracesPerSecond,
                            &rule->target_traces_per_second);
        !s.ok()) {
      return s;
    }
    if (rule->target_traces_per_second <= 0) {
      return FieldError(StrCat(path, path.empty() ? "" : ".", "target_traces_per_second"),
                        "must be > 0 (use probability: 0 to sample nothing)");
    }
  }
  for (const auto& [key, out] :
       {std::pair<const char*, double*>{"min_probability", &rule->min_probability},
        {"max_probability", &rule->max_probability},
        {"initial_probability", &rule->initial_probability}}) {
    if (auto s = ReadNumber(node, key, path, 0, 1, out); !s.ok()) return s;
  }
  if (auto s = ReadNumber(node, "lower_bound_traces_per_second", path, 0, kMaxTargetTracesPerSecond,
                          &rule->lower_bound_traces_per_second);
      !s.ok()) {
    return s;
  }
  if (auto s = ReadNumber(node, "burst", path, 1, kMaxBurst, &rule->burst); !s.ok()) return s;
  if (rule->min_probability > rule->max_probability) {
    return FieldError(path.empty() ? "min_probability" : StrCat(path, ".min_probability"),
                      StrCat("must be <= max_probability (", rule->max_probability, "), got ",
                             rule->min_probability));
  }
  return absl::OkStatus();
}

absl::StatusOr<Policies> ParseRoot(const YAML::Node& root) {
  Policies policies;
  policies.defaults.name = "default";
  if (!root || root.IsNull()) return policies;  // an empty file means all defaults
  if (auto s = CheckKeys(root, "", {"sync_interval_seconds", "batch_profile", "defaults", "rules"});
      !s.ok()) {
    return s;
  }
  if (auto s = ReadNumber(root, "sync_interval_seconds", "", kMinSyncIntervalSeconds,
                          kMaxSyncIntervalSeconds, &policies.sync_interval_seconds);
      !s.ok()) {
    return s;
  }
  if (root["batch_profile"]) {
    std::string name;
    if (auto s = ReadString(root, "batch_profile", "", &name); !s.ok()) return s;
    auto profile = BuiltinBatchProfile(name);
    if (!profile) {
      return FieldError("batch_profile", StrCat("unknown profile '", name,
                                                "' (known: balanced, high_throughput, "
                                                "low_latency)"));
    }
    policies.batch_profile = *profile;
  }
  if (const YAML::Node defaults = root["defaults"]) {
    if (auto s = CheckKeys(defaults, "defaults", kSamplingFields); !s.ok()) return s;
    if (auto s = ReadSampling(defaults, "defaults", &policies.defaults); !s.ok()) return s;
  }
  if (const YAML::Node rules = root["rules"]) {
    if (!rules.IsSequence()) return FieldError("rules", "must be a list");
    if (rules.size() > kMaxRules) {
      return FieldError("rules", StrCat("at most ", kMaxRules, " rules, got ", rules.size()));
    }
    std::set<std::string> allowed = kSamplingFields;
    allowed.insert({"name", "service", "operation"});
    for (size_t i = 0; i < rules.size(); ++i) {
      const std::string path = StrCat("rules[", i, "]");
      const YAML::Node node = rules[i];
      if (auto s = CheckKeys(node, path, allowed); !s.ok()) return s;
      Rule rule = policies.defaults;  // a rule inherits every field it does not set
      rule.name = StrCat("rules[", i, "]");
      if (auto s = ReadString(node, "name", path, &rule.name); !s.ok()) return s;
      if (auto s = ReadString(node, "service", path, &rule.service_glob); !s.ok()) return s;
      if (auto s = ReadString(node, "operation", path, &rule.operation_glob); !s.ok()) return s;
      if (auto s = ReadSampling(node, path, &rule); !s.ok()) return s;
      policies.rules.push_back(std::move(rule));
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

const Rule& Policies::Match(std::string_view service, std::string_view operation) const {
  for (const Rule& rule : rules) {
    if (GlobMatch(rule.service_glob, service) && GlobMatch(rule.operation_glob, operation)) {
      return rule;
    }
  }
  return defaults;
}

absl::StatusOr<Policies> ParsePolicies(std::string_view yaml) {
  try {
    return ParseRoot(YAML::Load(std::string(yaml)));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        StrCat("line ", e.mark.line + 1, ", column ", e.mark.column + 1, ": ", e.msg));
  }
}

absl::StatusOr<Policies> LoadPoliciesFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(StrCat("cannot read policy file ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto policies = ParsePolicies(buffer.str());
  if (!policies.ok()) {
    return absl::Status(policies.status().code(), StrCat(path, ": ", policies.status().message()));
  }
  return policies;
}

}  // namespace fleetrate::server
