#include "cli/commands.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <thread>

#include "cli/table.h"
#include "fleetrate/tls.h"
#include "fleetrate/v1/admin.grpc.pb.h"
#include "server/common/strings.h"

namespace fleetrate::cli {
namespace {

using fleetrate::server::StrCat;

// ---------------------------------------------------------------------------------------------
// Help texts. README.md ("Operating it: fleetratectl") quotes them; keep the two in step.

constexpr char kExitCodesHelp[] = R"(Exit codes:
  0  success
  1  the server could not be reached, refused the call (e.g. a missing or wrong admin token)
     or failed
  2  usage error: unknown command or flag, missing or bad argument, unreadable file
  3  invalid policy file (policies validate, policies set): the message names field and line
)";

constexpr char kGlobalFlagsHelp[] = R"(Global flags (before or after the command):
  --server HOST:PORT  the server's gRPC address (env FLEETRATE_SERVER; default 127.0.0.1:8081)
  --json              machine-readable output: one JSON object (watch: one line per refresh),
                      proto3 JSON with the field names of proto/fleetrate/v1/admin.proto
  --timeout-ms MS     deadline of each call to the server (default 5000)
  --tls-ca F          connect over TLS, trusting the PEM CA in F (env FLEETRATE_TLS_CA)
  --tls-cert F        with --tls-key: a client certificate, for servers that require mutual
  --tls-key F         TLS (env FLEETRATE_TLS_CERT, FLEETRATE_TLS_KEY)
  -h, --help          this help; 'fleetratectl COMMAND --help' for a command's
)";

constexpr char kMainHelp[] = R"(fleetratectl: operate a fleetrate server (gRPC AdminService).

Usage: fleetratectl [--server HOST:PORT] [--json] [--timeout-ms MS] COMMAND [ARGS]

Commands:
  status                      version, uptime, store, leader, live clients, keys
  rates [--service S]         per operation: fleet QPS, target, achieved, probability, rule
  explain SERVICE OPERATION   why a key has the probability it has
  policies get                print the policy document in force
  policies validate FILE      check a policy file without applying it
  policies set FILE           validate and apply a policy file (needs the admin token)
  watch                       live table of target vs achieved kept traces/s per service
  help [COMMAND]              this text, or a command's

)";

constexpr char kStatusHelp[] = R"(Usage: fleetratectl status [--server HOST:PORT] [--json]

The server's version and uptime, its store (backend, connection, which replica leads), the live
clients, the keys and scopes of the current rate table, where the policies came from, and the
fleet's seen, target and achieved traces per second.

)";

constexpr char kRatesHelp[] =
    R"(Usage: fleetratectl rates [--service S] [--environment E] [--limit N] [--json]

The current rate table, one row per (service, environment, operation):
  FLEET QPS    root spans per second the fleet saw (sampled or not)
  TARGET/S     kept traces per second the published probability aims for
  ACHIEVED/S   root spans per second the clients report they kept
  PROBABILITY  what clients apply now
  RULE         the policy rule that decided ("default": the defaults)
  REASONS      steps that shaped it (clamped_to_min, cut_by_budget, rise_capped, ...)
Rows are sorted by service and environment, then by fleet QPS, busiest first.

Flags:
  --service S      only this service (exact match)
  --environment E  only this environment (exact match)
  --limit N        list at most N operations (default 1000, at most 100000)

)";

constexpr char kExplainHelp[] =
    R"(Usage: fleetratectl explain SERVICE OPERATION [--environment E] [--json]

Why the key (SERVICE, ENVIRONMENT, OPERATION) has its probability: the fleet traffic and live
clients it was computed from, the rule that matched and its parameters, and each step (clamps,
lower bound, budget, rise cap, tolerance band). An operation without traffic gets the service
default, and says so.

Flags:
  --environment E  the clients' environment (default: empty; without it, a key with no
                   traffic is followed by a note naming the environments SERVICE reports under)

)";

constexpr char kPoliciesHelp[] = R"(Usage: fleetratectl policies get
       fleetratectl policies validate FILE
       fleetratectl policies set FILE [--token-file F]

  get            print the YAML document in force (its source goes to stderr), so
                 'fleetratectl policies get > policies.yaml' saves it
  validate FILE  check FILE on the server without applying it; exit 3 naming the field and line
                 if it is invalid
  set FILE       validate FILE (exit 3 if invalid), then apply it: clients get the new rates at
                 their next Sync. Needs the server's admin token, from --token-file F (its first
                 line), else env FLEETRATE_ADMIN_TOKEN_FILE (a file), else env
                 FLEETRATE_ADMIN_TOKEN (the token); a missing or wrong token exits 1. A later
                 edit of the server's policy file replaces what was set here.

Flags:
  --token-file F   file holding the admin token (policies set)

)";

constexpr char kWatchHelp[] =
    R"(Usage: fleetratectl watch [--interval-s S] [--iterations N] [--top N] [--service S]
                         [--environment E] [--json]

A live view, like top: every S seconds the screen is cleared and redrawn with a header (server,
version, store, leader, live clients, UTC time) and one row per (service, environment), busiest
first:
  ROOTS/S     root spans per second the fleet saw
  TARGET/S    kept traces per second the published rates aim for
  ACHIEVED/S  root spans per second the clients report they kept
  ACHIEVED%   achieved / target
A server that goes away shows "unreachable, retrying" and the view resumes when it is back.
Ctrl-C stops it. With --json, one JSON object per refresh and no screen control.

Flags:
  --interval-s S   seconds between refreshes (default 2, at least 0.1)
  --iterations N   stop after N refreshes (default: run until interrupted); the exit code is
                   1 if the last refresh could not reach the server
  --top N          show the N busiest services (default 30)
  --service S      only this service; --environment E only this environment

)";

// ---------------------------------------------------------------------------------------------
// Command line.

struct Flag {
  const char* name;
  bool takes_value;
  // The commands it applies to ("*": all), space-separated keys as in CommandKey().
  const char* commands;
};

constexpr Flag kFlags[] = {
    {"--server", true, "*"},
    {"--json", false, "*"},
    {"--timeout-ms", true, "*"},
    {"--tls-ca", true, "*"},
    {"--tls-cert", true, "*"},
    {"--tls-key", true, "*"},
    {"--help", false, "*"},
    {"--service", true, "rates watch"},
    {"--environment", true, "rates explain watch"},
    {"--limit", true, "rates"},
    {"--token-file", true, "policies-set"},
    {"--interval-s", true, "watch"},
    {"--iterations", true, "watch"},
    {"--top", true, "watch"},
};

struct CommandLine {
  std::vector<std::string> positionals;
  std::vector<std::pair<std::string, std::string>> flags;  // (name, value) in order

  [[nodiscard]] bool Has(const std::string& name) const {
    return std::any_of(flags.begin(), flags.end(), [&](const auto& f) { return f.first == name; });
  }
  // The last value given for `name`, or `fallback`.
  [[nodiscard]] std::string Get(const std::string& name, const std::string& fallback) const {
    std::string value = fallback;
    for (const auto& [flag, v] : flags) {
      if (flag == name) value = v;
    }
    return value;
  }
};

struct UsageError {
  std::string message;
  std::string command;  // for "Run 'fleetratectl COMMAND --help'"
};

bool Applies(const Flag& flag, const std::string& command) {
  const std::string commands = StrCat(" ", flag.commands, " ");
  return commands == " * " || commands.find(StrCat(" ", command, " ")) != std::string::npos;
}

const Flag* FindFlag(const std::string& name) {
  for (const Flag& flag : kFlags) {
    if (name == flag.name) return &flag;
  }
  return nullptr;
}

// Splits args into flags and positionals; "--name=value" and "--name value" both work, and "--"
// ends the flags (an operation named "--x" can follow it).
std::optional<UsageError> Split(const std::vector<std::string>& args, CommandLine& line) {
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      line.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string name = arg == "-h" ? "--help" : arg;
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const Flag* flag = FindFlag(name);
    if (flag == nullptr) return UsageError{StrCat("unknown flag ", name), ""};
    if (flag->takes_value && !value) {
      if (i + 1 >= args.size()) return UsageError{StrCat(name, " needs a value"), ""};
      value = args[++i];
    }
    if (!flag->takes_value && value) {
      return UsageError{StrCat(name, " takes no value, got '", *value, "'"), ""};
    }
    line.flags.emplace_back(name, value.value_or(""));
  }
  return std::nullopt;
}

// "status", "rates", "explain", "watch", "policies-get", "policies-validate", "policies-set";
// "policies" alone when the subcommand is missing; empty when there is no command.
std::string CommandKey(const CommandLine& line) {
  if (line.positionals.empty()) return "";
  const std::string& command = line.positionals[0];
  if (command == "policies" && line.positionals.size() >= 2) {
    return StrCat("policies-", line.positionals[1]);
  }
  return command;
}

const char* HelpFor(const std::string& command) {
  if (command == "status") return kStatusHelp;
  if (command == "rates") return kRatesHelp;
  if (command == "explain") return kExplainHelp;
  if (command.rfind("policies", 0) == 0) return kPoliciesHelp;
  if (command == "watch") return kWatchHelp;
  return nullptr;
}

void PrintHelp(std::ostream& out, const std::string& command) {
  const char* text = HelpFor(command);
  out << (text != nullptr ? text : kMainHelp) << kGlobalFlagsHelp << '\n' << kExitCodesHelp;
}

int Usage(std::ostream& err, const UsageError& error) {
  err << "fleetratectl: " << error.message << "\n";
  err << "Run 'fleetratectl " << (error.command.empty() ? "" : error.command + " ")
      << "--help' for usage.\n";
  return kExitUsage;
}

// A whole number in [min, max], or an error naming the flag.
std::optional<UsageError> ParseCount(const std::string& flag, const std::string& text, int64_t min,
                                     int64_t max, int64_t& value, const std::string& command) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return UsageError{
        StrCat(flag, ": expected a whole number in [", min, ", ", max, "], got '", text, "'"),
        command};
  }
  return std::nullopt;
}

std::optional<UsageError> CheckServer(const std::string& server) {
  // Target URIs (dns:///..., unix:...) go to gRPC as they are.
  if (server.find("://") != std::string::npos || server.rfind("unix:", 0) == 0) {
    return std::nullopt;
  }
  const size_t colon = server.rfind(':');
  int64_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      ParseCount("--server", server.substr(colon + 1), 1, 65535, port, "")) {
    return UsageError{StrCat("--server: expected HOST:PORT, got '", server, "'"), ""};
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Talking to the server.

struct Context {
  Context(std::ostream& out_stream, std::ostream& err_stream, const CliEnv& cli_env)
      : out(out_stream), err(err_stream), env(cli_env) {}

  std::ostream& out;
  std::ostream& err;
  const CliEnv& env;
  std::string server;
  bool json = false;
  int64_t timeout_ms = 5000;
  // From FLEETRATE_ADMIN_TOKEN(_FILE) or --token-file: sent with every call, for servers that
  // protect reads too (--protect-reads).
  std::string admin_token;
  std::unique_ptr<v1::AdminService::Stub> admin;
};

void SetDeadline(const Context& c, grpc::ClientContext& call) {
  call.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(c.timeout_ms));
}

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const auto index = static_cast<size_t>(code);
  return index < std::size(kNames) ? kNames[index] : "UNKNOWN";
}

// One line that says what went wrong with `method` and what to do about it.
std::string DescribeError(const Context& c, const char* method, const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return StrCat("cannot reach fleetrate at ", c.server, " (", status.error_message(),
                    "); is fleetrate-server running there? --server or FLEETRATE_SERVER picks "
                    "another address");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return StrCat("fleetrate at ", c.server, " did not answer ", method, " within ", c.timeout_ms,
                    " ms (--timeout-ms)");
    case grpc::StatusCode::UNIMPLEMENTED:
      return StrCat("the server at ", c.server, " does not offer AdminService/", method,
                    ": is it fleetrate-server ", FLEETRATE_VERSION, " or newer?");
    default:
      return StrCat(method, " failed at ", c.server, ": ", CodeName(status.error_code()), ": ",
                    status.error_message());
  }
}

int RpcError(const Context& c, const char* method, const grpc::Status& status) {
  c.err << "fleetratectl: " << DescribeError(c, method, status) << "\n";
  return kExitServer;
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) return "{}";
  return text;
}

template <typename Request, typename Response>
using AdminMethod = grpc::Status (v1::AdminService::Stub::*)(grpc::ClientContext*, const Request&,
                                                             Response*);

// One AdminService call under the --timeout-ms deadline, with the admin token if given.
template <typename Request, typename Response>
grpc::Status Call(const Context& c, AdminMethod<Request, Response> method, const Request& request,
                  Response& response) {
  grpc::ClientContext call;
  SetDeadline(c, call);
  if (!c.admin_token.empty()) call.AddMetadata("authorization", StrCat("Bearer ", c.admin_token));
  return (c.admin.get()->*method)(&call, request, &response);
}

// Call, then the common endings: a failed call is reported (kExitServer); with --json the
// response is printed (kExitOk). nullopt: the caller renders its table.
template <typename Request, typename Response>
std::optional<int> Fetch(Context& c, const char* name, AdminMethod<Request, Response> method,
                         const Request& request, Response& response) {
  if (grpc::Status s = Call(c, method, request, response); !s.ok()) return RpcError(c, name, s);
  if (!c.json) return std::nullopt;
  c.out << ToJson(response) << "\n";
  return kExitOk;
}

// A JSON string literal (RFC 8259 escapes).
std::string JsonString(const std::string& text) {
  std::string quoted = "\"";
  for (const char ch : text) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      quoted += '\\';
      quoted += ch;
    } else if (u < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\u%04x", u);
      quoted += escape;
    } else {
      quoted += ch;
    }
  }
  return quoted + "\"";
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) return std::nullopt;
  return text;
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

std::string Join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string joined;
  for (const std::string& item : items) joined += (joined.empty() ? "" : ",") + item;
  return OrDash(joined);
}

std::string Plural(uint64_t n, const char* one, const char* many) {
  return StrCat(n, " ", n == 1 ? one : many);
}

std::string StoreText(const v1::StoreInfo& store) {
  if (store.backend() == "memory" || store.backend().empty()) return OrDash(store.backend());
  std::string text = StrCat(store.backend(), " ", store.address());
  if (store.connected()) return text + ", connected";
  return StrCat(text, ", UNREACHABLE",
                store.last_error().empty() ? "" : StrCat(": ", store.last_error()));
}

std::string LeaderText(const v1::StoreInfo& store) {
  if (store.leader()) {
    return store.replica_id().empty() ? "this replica"
                                      : StrCat("this replica (", store.replica_id(), ")");
  }
  if (store.leader_id().empty()) {
    return StrCat("none elected (this replica: ", store.replica_id(), ")");
  }
  return StrCat(store.leader_id(), " (this replica ", store.replica_id(), " follows)");
}

// "2", "0.5": seconds as given.
std::string Seconds(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", seconds);
  return buffer;
}

std::string UtcTime(std::chrono::system_clock::time_point time) {
  const std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// ---------------------------------------------------------------------------------------------
// Commands.

int Status(Context& c) {
  v1::GetStatusResponse status;
  if (auto code = Fetch(c, "GetStatus", &v1::AdminService::Stub::GetStatus, v1::GetStatusRequest(),
                        status)) {
    return *code;
  }
  Table table({{""}, {""}});
  table.AddRow({"server", c.server});
  table.AddRow({"version", status.version()});
  table.AddRow({"uptime", FormatDuration(status.uptime_seconds())});
  table.AddRow({"store", StoreText(status.store())});
  table.AddRow({"leader", LeaderText(status.store())});
  table.AddRow({"live clients", StrCat(status.live_clients())});
  table.AddRow({"keys", StrCat(status.keys())});
  table.AddRow({"scopes", StrCat(status.scopes())});
  table.AddRow({"table version", StrCat(status.table_version())});
  table.AddRow({"policies", StrCat(status.policy_source(), " (",
                                   Plural(status.policy_rules(), "rule", "rules"), ")")});
  table.AddRow(
      {"fleet",
       StrCat(FormatRate(status.fleet_seen_per_second()), " roots/s seen, ",
              FormatRate(status.target_traces_per_second()), " traces/s target, ",
              FormatRate(status.fleet_sampled_per_second()), " traces/s achieved (",
              FormatPercent(status.fleet_sampled_per_second(), status.target_traces_per_second()),
              ")")});
  table.Render(c.out);
  return kExitOk;
}

int Rates(Context& c, const CommandLine& line) {
  v1::GetRatesRequest request;
  request.set_service(line.Get("--service", ""));
  request.set_environment(line.Get("--environment", ""));
  int64_t limit = 0;
  if (line.Has("--limit")) {
    if (auto e = ParseCount("--limit", line.Get("--limit", ""), 1, 100000, limit, "rates")) {
      return Usage(c.err, *e);
    }
  }
  request.set_limit(static_cast<uint32_t>(limit));
  v1::GetRatesResponse rates;
  if (auto code = Fetch(c, "GetRates", &v1::AdminService::Stub::GetRates, request, rates)) {
    return *code;
  }
  if (rates.operations_total() == 0) {
    c.out << (request.service().empty() && request.environment().empty()
                  ? "no rates yet: no client has reported traffic\n"
                  : "no operations match\n");
    return kExitOk;
  }
  using Align = Table::Align;
  Table table({{"SERVICE"},
               {"ENVIRONMENT"},
               {"OPERATION"},
               {"FLEET QPS", Align::kRight},
               {"TARGET/S", Align::kRight},
               {"ACHIEVED/S", Align::kRight},
               {"PROBABILITY", Align::kRight},
               {"RULE"},
               {"REASONS"}});
  for (const v1::ScopeRates& scope : rates.scopes()) {
    std::vector<const v1::OperationRates*> operations;
    for (const v1::OperationRates& o : scope.operations()) operations.push_back(&o);
    std::stable_sort(operations.begin(), operations.end(), [](const auto* a, const auto* b) {
      return a->fleet_seen_per_second() > b->fleet_seen_per_second();
    });
    for (const v1::OperationRates* o : operations) {
      table.AddRow({scope.service(), OrDash(scope.environment()), o->operation(),
                    FormatRate(o->fleet_seen_per_second()),
                    FormatRate(o->target_traces_per_second()),
                    FormatRate(o->fleet_sampled_per_second()), FormatProbability(o->probability()),
                    o->rule(), Join(o->reasons())});
    }
  }
  table.Render(c.out);
  if (rates.truncated()) {
    c.out << "showing " << rates.operations_shown() << " of " << rates.operations_total()
          << " operations; narrow with --service or --environment, or raise --limit (at most "
             "100000)\n";
  }
  return kExitOk;
}

int Explain(Context& c, const CommandLine& line) {
  if (line.positionals.size() != 3) {
    return Usage(c.err, {"explain needs SERVICE and OPERATION", "explain"});
  }
  v1::ExplainRateRequest request;
  request.set_service(line.positionals[1]);
  request.set_operation(line.positionals[2]);
  request.set_environment(line.Get("--environment", ""));
  v1::ExplainRateResponse e;
  if (auto code = Fetch(c, "ExplainRate", &v1::AdminService::Stub::ExplainRate, request, e)) {
    return *code;
  }
  Table table({{""}, {""}});
  table.AddRow({"key", StrCat(request.service(), " / ", OrDash(request.environment()), " / ",
                              request.operation())});
  table.AddRow(
      {"probability",
       StrCat(FormatProbability(e.probability()),
              e.threshold_hex().empty() ? " (never sampled)"
                                        : StrCat(" (tracestate ot=th:", e.threshold_hex(), ")"))});
  table.AddRow({"rule", StrCat(e.rule(), " (", e.mode(), ")")});
  table.AddRow({"traffic", e.known_key()
                               ? StrCat(FormatRate(e.fleet_seen_per_second()), " roots/s seen, ",
                                        FormatRate(e.fleet_sampled_per_second()), " kept/s, ",
                                        Plural(e.live_clients(), "live client", "live clients"))
                               : "no estimate: the service default applies"});
  if (e.mode() == "adaptive") {
    table.AddRow({"target", StrCat(FormatRate(e.target_traces_per_second()),
                                   " traces/s fleet-wide, lower bound ",
                                   FormatRate(e.lower_bound_traces_per_second()), " traces/s")});
    table.AddRow({"bounds", StrCat("[", FormatProbability(e.min_probability()), ", ",
                                   FormatProbability(e.max_probability()), "]")});
    table.AddRow({"wanted", FormatProbability(e.wanted_probability())});
  }
  table.AddRow({"reasons", Join(e.reasons())});
  table.Render(c.out);
  c.out << "\n" << e.explanation() << "\n";
  if (!e.known_key() && !line.Has("--environment")) {
    // The usual slip: the clients report an environment and the key was asked without one.
    v1::GetRatesRequest scopes;
    scopes.set_service(request.service());
    scopes.set_omit_operations(true);
    v1::GetRatesResponse rates;
    std::string environments;
    if (Call(c, &v1::AdminService::Stub::GetRates, scopes, rates).ok()) {
      for (const v1::ScopeRates& scope : rates.scopes()) {
        if (!scope.environment().empty()) environments += " --environment " + scope.environment();
      }
    }
    if (!environments.empty()) {
      c.err << "note: " << request.service()
            << " reports traffic under an environment; try one of:" << environments << "\n";
    }
  }
  return kExitOk;
}

int PoliciesGet(Context& c) {
  v1::GetPoliciesResponse policies;
  if (auto code = Fetch(c, "GetPolicies", &v1::AdminService::Stub::GetPolicies,
                        v1::GetPoliciesRequest(), policies)) {
    return *code;
  }
  c.err << "# policies from " << policies.source() << " ("
        << Plural(policies.rules(), "rule", "rules") << ")\n";
  c.out << policies.yaml();
  if (!policies.yaml().empty() && policies.yaml().back() != '\n') c.out << "\n";
  return kExitOk;
}

// Reads FILE and has the server validate it. Returns the exit code to stop with, or nullopt
// when the document is valid (then `yaml` holds it).
std::optional<int> ValidateFile(Context& c, const std::string& command, const std::string& path,
                                std::string& yaml, v1::ValidatePoliciesResponse& response) {
  std::optional<std::string> text = ReadFile(path);
  if (!text) {
    return Usage(c.err, {StrCat("cannot read ", path, ": ", std::strerror(errno)), command});
  }
  yaml = *std::move(text);
  v1::ValidatePoliciesRequest request;
  request.set_yaml(yaml);
  if (grpc::Status s = Call(c, &v1::AdminService::Stub::ValidatePolicies, request, response);
      !s.ok()) {
    return RpcError(c, "ValidatePolicies", s);
  }
  if (response.valid()) return std::nullopt;
  if (c.json) c.out << ToJson(response) << "\n";
  c.err << "fleetratectl: " << path << " is invalid: " << response.error() << "\n";
  return kExitInvalidPolicy;
}

int PoliciesValidate(Context& c, const CommandLine& line) {
  if (line.positionals.size() != 3) {
    return Usage(c.err, {"policies validate needs FILE", "policies"});
  }
  const std::string& path = line.positionals[2];
  std::string yaml;
  v1::ValidatePoliciesResponse response;
  if (auto code = ValidateFile(c, "policies", path, yaml, response)) return *code;
  if (c.json) {
    c.out << ToJson(response) << "\n";
  } else {
    c.out << path << ": valid (" << Plural(response.rules(), "rule", "rules") << ")\n";
  }
  return kExitOk;
}

// The admin token: --token-file, else FLEETRATE_ADMIN_TOKEN_FILE, else FLEETRATE_ADMIN_TOKEN;
// a file's first line, as the server reads it. Empty when none is given.
std::optional<int> AdminToken(Context& c, const CommandLine& line, std::string& token) {
  const auto env = [&](const char* name) -> std::string {
    const char* value = c.env.getenv ? c.env.getenv(name) : nullptr;
    return value != nullptr ? value : "";
  };
  std::string path = line.Get("--token-file", env("FLEETRATE_ADMIN_TOKEN_FILE"));
  if (path.empty()) {
    token = env("FLEETRATE_ADMIN_TOKEN");
    return std::nullopt;
  }
  std::ifstream file(path);
  if (!file) {
    return Usage(c.err,
                 {StrCat("cannot read the admin token from ", path, ": ", std::strerror(errno)),
                  "policies"});
  }
  std::getline(file, token);
  if (!token.empty() && token.back() == '\r') token.pop_back();
  return std::nullopt;
}

int PoliciesSet(Context& c, const CommandLine& line) {
  if (line.positionals.size() != 3) return Usage(c.err, {"policies set needs FILE", "policies"});
  const std::string& path = line.positionals[2];
  std::string yaml;
  v1::ValidatePoliciesResponse validation;
  // Validation needs no token, so a bad file is reported as such even without one.
  if (auto code = ValidateFile(c, "policies", path, yaml, validation)) return *code;

  v1::SetPoliciesRequest request;
  request.set_yaml(yaml);
  v1::SetPoliciesResponse response;
  const grpc::Status s = Call(c, &v1::AdminService::Stub::SetPolicies, request, response);
  if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    c.err << "fleetratectl: SetPolicies refused by " << c.server << ": "
          << (c.admin_token.empty() ? "no admin token given" : "the admin token was not accepted")
          << " (" << s.error_message()
          << "); pass --token-file FILE, or set FLEETRATE_ADMIN_TOKEN_FILE or "
             "FLEETRATE_ADMIN_TOKEN\n";
    return kExitServer;
  }
  if (s.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    c.err << "fleetratectl: SetPolicies refused by " << c.server << ": " << s.error_message()
          << "\n";
    return kExitServer;
  }
  if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    c.err << "fleetratectl: " << path << " is invalid: " << s.error_message() << "\n";
    return kExitInvalidPolicy;
  }
  if (!s.ok()) return RpcError(c, "SetPolicies", s);
  if (c.json) {
    c.out << ToJson(response) << "\n";
  } else {
    c.out << path << ": applied (" << Plural(response.rules(), "rule", "rules")
          << "); clients get the new rates at their next Sync\n";
  }
  return kExitOk;
}

struct WatchOptions {
  std::chrono::milliseconds interval{2000};
  int64_t iterations = 0;  // 0: until interrupted
  int64_t top = 30;
  v1::GetRatesRequest request;
};

// One refresh; false when the server could not be asked.
bool WatchFrame(Context& c, const WatchOptions& options) {
  const std::string now = UtcTime(c.env.now ? c.env.now() : std::chrono::system_clock::now());
  v1::GetStatusResponse status;
  v1::GetRatesResponse rates;
  const char* method = "GetStatus";
  grpc::Status s = Call(c, &v1::AdminService::Stub::GetStatus, v1::GetStatusRequest(), status);
  if (s.ok()) {
    method = "GetRates";
    s = Call(c, &v1::AdminService::Stub::GetRates, options.request, rates);
  }
  const double interval_s = std::chrono::duration<double>(options.interval).count();
  if (c.json) {
    c.out << "{\"time\":\"" << now << "\",";
    if (s.ok()) {
      c.out << "\"status\":" << ToJson(status) << ",\"rates\":" << ToJson(rates) << "}\n";
    } else {
      c.out << "\"unreachable\":true,\"error\":" << JsonString(DescribeError(c, method, s))
            << "}\n";
    }
    c.out.flush();
    return s.ok();
  }
  // Home, clear screen: each frame replaces the last, as top does.
  c.out << "\x1b[H\x1b[2J";
  if (!s.ok()) {
    c.out << "fleetrate " << c.server << "  unreachable, retrying every " << Seconds(interval_s)
          << " s  " << now << "\n"
          << DescribeError(c, method, s) << "\n";
    c.out.flush();
    return false;
  }
  const v1::StoreInfo& store = status.store();
  c.out << "fleetrate " << c.server << "  v" << status.version() << "  store "
        << (store.backend() == "memory"
                ? "memory"
                : StrCat(store.backend(), store.connected() ? " (connected)" : " (UNREACHABLE)"))
        << "  leader " << (store.leader() ? "this replica" : OrDash(store.leader_id()))
        << "  live clients " << status.live_clients() << "  " << now << "\n\n";
  std::vector<const v1::ScopeRates*> scopes;
  for (const v1::ScopeRates& scope : rates.scopes()) scopes.push_back(&scope);
  std::stable_sort(scopes.begin(), scopes.end(), [](const auto* a, const auto* b) {
    return a->fleet_seen_per_second() > b->fleet_seen_per_second();
  });
  if (scopes.empty()) {
    c.out << "no services have reported traffic yet\n";
  } else {
    using Align = Table::Align;
    Table table({{"SERVICE"},
                 {"ENVIRONMENT"},
                 {"ROOTS/S", Align::kRight},
                 {"TARGET/S", Align::kRight},
                 {"ACHIEVED/S", Align::kRight},
                 {"ACHIEVED%", Align::kRight}});
    double seen = 0, target = 0, sampled = 0;
    for (size_t i = 0; i < scopes.size(); ++i) {
      const v1::ScopeRates& scope = *scopes[i];
      seen += scope.fleet_seen_per_second();
      target += scope.target_traces_per_second();
      sampled += scope.fleet_sampled_per_second();
      if (static_cast<int64_t>(i) >= options.top) continue;
      table.AddRow(
          {scope.service(), OrDash(scope.environment()), FormatRate(scope.fleet_seen_per_second()),
           FormatRate(scope.target_traces_per_second()),
           FormatRate(scope.fleet_sampled_per_second()),
           FormatPercent(scope.fleet_sampled_per_second(), scope.target_traces_per_second())});
    }
    if (static_cast<int64_t>(scopes.size()) > options.top) {
      table.AddRow({StrCat("(", scopes.size() - static_cast<size_t>(options.top), " more)")});
    }
    table.AddRow({"TOTAL", "", FormatRate(seen), FormatRate(target), FormatRate(sampled),
                  FormatPercent(sampled, target)});
    table.Render(c.out);
  }
  c.out << "\nrefreshing every " << Seconds(interval_s) << " s; Ctrl-C to stop\n";
  c.out.flush();
  return true;
}

int Watch(Context& c, const CommandLine& line) {
  WatchOptions options;
  const std::string interval_text = line.Get("--interval-s", "2");
  char* end = nullptr;
  const double interval_s = std::strtod(interval_text.c_str(), &end);
  if (interval_text.empty() || *end != '\0' || !(interval_s >= 0.1 && interval_s <= 3600)) {
    return Usage(
        c.err, {StrCat("--interval-s: expected seconds in [0.1, 3600], got '", interval_text, "'"),
                "watch"});
  }
  options.interval = std::chrono::milliseconds(static_cast<int64_t>(interval_s * 1000));
  if (line.Has("--iterations")) {
    if (auto e = ParseCount("--iterations", line.Get("--iterations", ""), 1, 1000000000,
                            options.iterations, "watch")) {
      return Usage(c.err, *e);
    }
  }
  if (auto e = ParseCount("--top", line.Get("--top", "30"), 1, 100000, options.top, "watch")) {
    return Usage(c.err, *e);
  }
  options.request.set_service(line.Get("--service", ""));
  options.request.set_environment(line.Get("--environment", ""));
  options.request.set_omit_operations(true);
  bool ok = false;
  for (int64_t i = 0; options.iterations == 0 || i < options.iterations; ++i) {
    if (i > 0) {
      if (c.env.sleep) {
        c.env.sleep(options.interval);
      } else {
        std::this_thread::sleep_for(options.interval);
      }
    }
    ok = WatchFrame(c, options);
  }
  return ok ? kExitOk : kExitServer;
}

int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
        const CliEnv& env) {
  CommandLine line;
  if (auto e = Split(args, line)) {
    // Point at the command's help when the command is known.
    for (const std::string& arg : args) {
      if (HelpFor(arg) != nullptr) {
        e->command = arg;
        break;
      }
    }
    return Usage(err, *e);
  }
  std::string command = CommandKey(line);
  if (command == "help") {
    PrintHelp(out, line.positionals.size() >= 2 ? line.positionals[1] : "");
    return kExitOk;
  }
  if (line.Has("--help")) {
    PrintHelp(out, command);
    return kExitOk;
  }
  if (command.empty()) return Usage(err, {"no command given", ""});
  constexpr const char* kCommands[] = {
      "status", "rates", "explain", "watch", "policies-get", "policies-validate", "policies-set"};
  if (std::find(std::begin(kCommands), std::end(kCommands), command) == std::end(kCommands)) {
    if (command == "policies") {
      return Usage(err,
                   {"policies needs a subcommand: get, validate FILE or set FILE", "policies"});
    }
    if (line.positionals[0] == "policies") {
      return Usage(err, {StrCat("unknown policies subcommand '", line.positionals[1],
                                "' (get, validate FILE, set FILE)"),
                         "policies"});
    }
    return Usage(err, {StrCat("unknown command '", command, "'"), ""});
  }
  const std::string help_name = command.rfind("policies", 0) == 0 ? "policies" : command;
  for (const auto& [name, value] : line.flags) {
    if (!Applies(*FindFlag(name), command)) {
      return Usage(err, {StrCat(name, " does not apply to '", help_name, "'"), help_name});
    }
  }
  // The command words and its arguments: explain SERVICE OPERATION, policies validate FILE, ...
  const size_t most =
      command == "explain" || command == "policies-validate" || command == "policies-set" ? 3
      : command == "policies-get"                                                         ? 2
                                                                                          : 1;
  if (line.positionals.size() > most) {
    return Usage(err, {StrCat("unexpected argument '", line.positionals[most], "'"), help_name});
  }

  const char* env_server = env.getenv ? env.getenv("FLEETRATE_SERVER") : nullptr;
  Context c{out, err, env};
  c.server = line.Get("--server",
                      env_server != nullptr && *env_server != '\0' ? env_server : kDefaultServer);
  if (auto e = CheckServer(c.server)) return Usage(err, *e);
  c.json = line.Has("--json");
  if (auto e = ParseCount("--timeout-ms", line.Get("--timeout-ms", "5000"), 1, 3600000,
                          c.timeout_ms, "")) {
    return Usage(err, *e);
  }
  grpc::ChannelArguments channel_args;
  // A rate table of 100,000 keys is larger than gRPC's default 4 MiB.
  channel_args.SetMaxReceiveMessageSize(256 << 20);
  // watch outlives server restarts: reconnect within a refresh or two, not after minutes.
  channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  channel_args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 500);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  const auto flag_or_env = [&](const char* flag, const char* variable) {
    const char* value = env.getenv ? env.getenv(variable) : nullptr;
    return line.Get(flag, value != nullptr ? value : "");
  };
  TlsOptions tls;
  tls.ca_file = flag_or_env("--tls-ca", "FLEETRATE_TLS_CA");
  tls.cert_file = flag_or_env("--tls-cert", "FLEETRATE_TLS_CERT");
  tls.key_file = flag_or_env("--tls-key", "FLEETRATE_TLS_KEY");
  tls.enabled = !tls.ca_file.empty() || !tls.cert_file.empty() || !tls.key_file.empty();
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ChannelCredentialsFor(tls);
  if (!credentials.ok()) {
    return Usage(err, UsageError{std::string(credentials.status().message()), ""});
  }
  c.admin =
      v1::AdminService::NewStub(grpc::CreateCustomChannel(c.server, *credentials, channel_args));

  if (auto code = AdminToken(c, line, c.admin_token)) return *code;
  if (command == "status") return Status(c);
  if (command == "rates") return Rates(c, line);
  if (command == "explain") return Explain(c, line);
  if (command == "watch") return Watch(c, line);
  if (command == "policies-get") return PoliciesGet(c);
  if (command == "policies-validate") return PoliciesValidate(c, line);
  return PoliciesSet(c, line);
}

}  // namespace

CliEnv RealCliEnv() {
  CliEnv env;
  env.getenv = [](const char* name) { return std::getenv(name); };
  env.now = [] { return std::chrono::system_clock::now(); };
  env.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  return env;
}

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
           const CliEnv& env) {
  try {
    return Run(args, out, err, env);
  } catch (const std::exception& e) {
    err << "fleetratectl: " << e.what() << "\n";
    return kExitServer;
  }
}

}  // namespace fleetrate::cli
