// fleetratectl: the operator CLI of fleetrate. Everything but reading the process's arguments,
// streams and environment lives in cli/commands.cc, so tests run it in-process.
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return fleetrate::cli::RunCli(args, std::cout, std::cerr, fleetrate::cli::RealCliEnv());
}
