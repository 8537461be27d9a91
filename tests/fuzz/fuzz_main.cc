// A main() for the fuzz targets when they are not linked with libFuzzer (the regular GCC build):
// replays every file given (or every file in a directory given) through LLVMFuzzerTestOneInput,
// then `--random N` seeded random mutations of them, so the suite exercises each target on
// its seed corpus and a few thousand variations. The clang build (FLEETRATE_FUZZ) links
// libFuzzer's own main instead, for real coverage-guided runs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> ReadInputs(const std::filesystem::path& path) {
  std::vector<std::string> inputs;
  const auto read = [&](const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    inputs.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  if (std::filesystem::is_directory(path)) {
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.is_regular_file()) read(entry.path());
    }
  } else {
    read(path);
  }
  return inputs;
}

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> corpus;
  long random_runs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--random" && i + 1 < argc) {
      random_runs = std::atol(argv[++i]);
      continue;
    }
    for (std::string& input : ReadInputs(arg)) corpus.push_back(std::move(input));
  }
  if (corpus.empty()) {
    std::cerr << "usage: FUZZER CORPUS_DIR_OR_FILE... [--random N]\n";
    return 2;
  }
  for (const std::string& input : corpus) Run(input);
  // Byte flips, truncations, insertions and splices of seed inputs: shallow, but deterministic.
  std::mt19937_64 rng(1);
  for (long run = 0; run < random_runs; ++run) {
    std::string input = corpus[rng() % corpus.size()];
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      const size_t at = input.empty() ? 0 : rng() % input.size();
      switch (rng() % 4) {
        case 0:
          if (!input.empty()) input[at] = static_cast<char>(rng());
          break;
        case 1:
          input.resize(at);
          break;
        case 2:
          input.insert(at, 1 + rng() % 4, static_cast<char>(rng()));
          break;
        default: {
          const std::string& other = corpus[rng() % corpus.size()];
          input.insert(at, other.substr(0, other.empty() ? 0 : rng() % other.size()));
        }
      }
    }
    Run(input);
  }
  std::cout << "ran " << corpus.size() << " corpus inputs and " << random_runs
            << " mutations without a crash\n";
  return 0;
}
