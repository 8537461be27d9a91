#include "server/jaeger/strategies_file.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <set>
#include <vector>

#include "server/common/status.h"
#include "server/common/strings.h"

namespace fleetrate::server {
namespace {

struct Strategy {
  std::string type;  // "probabilistic" or "ratelimiting"
  double param = 0;
};

struct OperationStrategy {
  std::string operation;
  double probability = 0;
};

absl::Status ErrorAt(const YAML::Node& node, const std::string& path, std::string_view message) {
  std::string text = StrCat(path, ": ", message);
  if (node.IsDefined() && node.Mark().line >= 0)
    text += StrCat(" (line ", node.Mark().line + 1, ")");
  return absl::InvalidArgumentError(text);
}

absl::Status CheckKeys(const YAML::Node& node, const std::string& path,
                       const std::set<std::string>& allowed) {
  if (!node.IsMap()) return ErrorAt(node, path, "must be an object");
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) return ErrorAt(entry.first, path, "keys must be strings");
    const auto key = entry.first.as<std::string>();
    if (allowed.count(key) == 0) {
      return ErrorAt(entry.first, path.empty() ? key : path + "." + key, "unknown field");
    }
  }
  return absl::OkStatus();
}

absl::Status ReadStrategy(const YAML::Node& node, const std::string& path, Strategy* out) {
  const YAML::Node type = node["type"];
  if (!type || !type.IsScalar()) return ErrorAt(node, path + ".type", "required");
  out->type = type.as<std::string>();
  if (out->type != "probabilistic" && out->type != "ratelimiting") {
    return ErrorAt(type, path + ".type",
                   StrCat("must be probabilistic or ratelimiting, got '", out->type, "'"));
  }
  const YAML::Node param = node["param"];
  if (!param || !param.IsScalar()) return ErrorAt(node, path + ".param", "required");
  try {
    out->param = param.as<double>();
  } catch (const YAML::Exception&) {
    return ErrorAt(param, path + ".param", "must be a number");
  }
  const double hi = out->type == "probabilistic" ? 1 : 1e6;
  if (!std::isfinite(out->param) || out->param < 0 || out->param > hi) {
    return ErrorAt(param, path + ".param",
                   StrCat("must be in [0, ", hi, "] for ", out->type, ", got ", out->param));
  }
  return absl::OkStatus();
}

absl::Status ReadOperations(const YAML::Node& node, const std::string& path,
                            std::vector<OperationStrategy>* out) {
  const YAML::Node list = node["operation_strategies"];
  if (!list) return absl::OkStatus();
  const std::string list_path = path + ".operation_strategies";
  if (!list.IsSequence()) return ErrorAt(list, list_path, "must be a list");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item = StrCat(list_path, "[", i, "]");
    FLEETRATE_RETURN_IF_ERROR(CheckKeys(list[i], item, {"operation", "type", "param"}));
    const YAML::Node operation = list[i]["operation"];
    if (!operation || !operation.IsScalar() || operation.as<std::string>().empty()) {
      return ErrorAt(list[i], item + ".operation", "required");
    }
    Strategy strategy;
    FLEETRATE_RETURN_IF_ERROR(ReadStrategy(list[i], item, &strategy));
    if (strategy.type != "probabilistic") {
      return ErrorAt(list[i]["type"], item + ".type",
                     "must be probabilistic (Jaeger supports only probabilistic operation "
                     "strategies)");
    }
    out->push_back({operation.as<std::string>(), strategy.param});
  }
  return absl::OkStatus();
}

void EmitMode(YAML::Emitter& e, const Strategy& strategy) {
  if (strategy.type == "ratelimiting") {
    e << YAML::Key << "rate_limit_traces_per_second" << YAML::Value << strategy.param;
  } else {
    e << YAML::Key << "probability" << YAML::Value << strategy.param;
  }
}

void EmitOperationRule(YAML::Emitter& e, const std::string& name, const std::string& service,
                       const OperationStrategy& op, int priority) {
  e << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << name;
  e << YAML::Key << "priority" << YAML::Value << priority;
  e << YAML::Key << "service" << YAML::Value << service;
  e << YAML::Key << "operation" << YAML::Value << op.operation;
  e << YAML::Key << "probability" << YAML::Value << op.probability;
  e << YAML::EndMap;
}

absl::StatusOr<std::string> ConvertStrategies(const YAML::Node& root);

}  // namespace

absl::StatusOr<std::string> JaegerStrategiesToPolicyYaml(std::string_view json) {
  // Any conversion yaml-cpp refuses on the way (a value of an unexpected shape) is a bad
  // document, never an exception out of here: this runs on policy reloads (found by fuzzing).
  try {
    return ConvertStrategies(YAML::Load(std::string(json)));
  } catch (const YAML::DeepRecursion& e) {
    return absl::InvalidArgumentError(StrCat("JSON syntax: nesting deeper than ", kMaxYamlDepth,
                                             " levels (line ", e.mark.line + 1, ", column ",
                                             e.mark.column + 1, ")"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat("JSON syntax: ", e.msg, " (line ", e.mark.line + 1,
                                             ", column ", e.mark.column + 1, ")"));
  }
}

namespace {

absl::StatusOr<std::string> ConvertStrategies(const YAML::Node& root) {
  FLEETRATE_RETURN_IF_ERROR(CheckKeys(root, "", {"service_strategies", "default_strategy"}));

  Strategy fallback{"probabilistic", 0.001};  // Jaeger's default without a default_strategy
  std::vector<OperationStrategy> default_operations;
  if (const YAML::Node node = root["default_strategy"]) {
    FLEETRATE_RETURN_IF_ERROR(
        CheckKeys(node, "default_strategy", {"type", "param", "operation_strategies"}));
    FLEETRATE_RETURN_IF_ERROR(ReadStrategy(node, "default_strategy", &fallback));
    FLEETRATE_RETURN_IF_ERROR(ReadOperations(node, "default_strategy", &default_operations));
  }

  YAML::Emitter e;
  e.SetDoublePrecision(17);
  e << YAML::Comment("Converted from a Jaeger strategies file by fleetrate-server");
  e << YAML::BeginMap;
  e << YAML::Key << "defaults" << YAML::Value << YAML::BeginMap;
  EmitMode(e, fallback);
  e << YAML::EndMap;
  e << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;

  std::set<std::string> services;
  if (const YAML::Node list = root["service_strategies"]) {
    if (!list.IsSequence()) return ErrorAt(list, "service_strategies", "must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string path = StrCat("service_strategies[", i, "]");
      FLEETRATE_RETURN_IF_ERROR(
          CheckKeys(list[i], path, {"service", "type", "param", "operation_strategies"}));
      const YAML::Node service_node = list[i]["service"];
      if (!service_node || !service_node.IsScalar() || service_node.as<std::string>().empty()) {
        return ErrorAt(list[i], path + ".service", "required");
      }
      const std::string service = service_node.as<std::string>();
      if (!services.insert(service).second) {
        return ErrorAt(service_node, path + ".service", StrCat("'", service, "' given twice"));
      }
      Strategy strategy;
      FLEETRATE_RETURN_IF_ERROR(ReadStrategy(list[i], path, &strategy));
      std::vector<OperationStrategy> operations;
      FLEETRATE_RETURN_IF_ERROR(ReadOperations(list[i], path, &operations));
      // A service without operation strategies of its own inherits the default's.
      const auto& effective = operations.empty() ? default_operations : operations;
      for (const OperationStrategy& op : effective) {
        EmitOperationRule(e, StrCat("jaeger ", service, " ", op.operation), service, op, 10);
      }
      e << YAML::BeginMap;
      e << YAML::Key << "name" << YAML::Value << StrCat("jaeger ", service);
      e << YAML::Key << "priority" << YAML::Value << 10;
      e << YAML::Key << "service" << YAML::Value << service;
      EmitMode(e, strategy);
      e << YAML::EndMap;
    }
  }
  for (const OperationStrategy& op : default_operations) {
    EmitOperationRule(e, StrCat("jaeger default ", op.operation), "*", op, 20);
  }
  e << YAML::EndSeq << YAML::EndMap;
  if (!e.good()) return absl::InternalError(StrCat("generating policies: ", e.GetLastError()));
  return std::string(e.c_str()) + "\n";
}

}  // namespace

absl::StatusOr<Policies> ParseJaegerStrategies(std::string_view json) {
  auto yaml = JaegerStrategiesToPolicyYaml(json);
  if (!yaml.ok()) return yaml.status();
  auto policies = ParsePolicies(*yaml);
  if (!policies.ok()) {
    return absl::InvalidArgumentError(StrCat("converted policies: ", policies.status().message()));
  }
  return policies;
}

absl::StatusOr<Policies> LoadJaegerStrategiesFile(const std::string& path) {
  return LoadPoliciesFile(path, ParseJaegerStrategies);
}

}  // namespace fleetrate::server
