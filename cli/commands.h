// fleetratectl, the operator CLI, as a function: main() passes argv, the real streams and the
// real environment; tests pass captured streams and a fixed clock and run it in-process against
// a server on port 0.
//
//   CliEnv env = RealCliEnv();
//   return RunCli({"--server", "127.0.0.1:8081", "rates", "--service", "checkout"},
//                 std::cout, std::cerr, env);
//
// Commands talk gRPC to fleetrate.v1.AdminService (proto/fleetrate/v1/admin.proto). Human tables
// go to `out`, one JSON object with --json; errors and notes go to `err`. Exit codes (also in
// --help): kExitOk, kExitServer (unreachable, refused or failed call), kExitUsage (bad command
// line, unreadable file), kExitInvalidPolicy (validate/set of a policy file the server rejects).
#pragma once

#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace fleetrate::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitServer = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInvalidPolicy = 3;

inline constexpr char kDefaultServer[] = "127.0.0.1:8081";

// What the CLI reads from its surroundings, injected so tests are hermetic.
struct CliEnv {
  // An environment variable's value, or null. Null function: no variables.
  std::function<const char*(const char*)> getenv;
  // Wall-clock time for watch's header.
  std::function<std::chrono::system_clock::time_point()> now;
  // Pause between watch refreshes.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// The process's environment, clock and sleep.
[[nodiscard]] CliEnv RealCliEnv();

// Runs one command line (without the program name) and returns its exit code. Never throws.
[[nodiscard]] int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                         const CliEnv& env);

}  // namespace fleetrate::cli
