#include "fleetrate/threshold.h"

#include <cmath>

namespace fleetrate {
namespace {
constexpr double kTwoPow56 = 72057594037927936.0;  // 2^56, exact in a double
constexpr int kThresholdHexDigits = 14;            // 56 bits

// Up to 16 lowercase hex digits; nullopt for any other character.
std::optional<uint64_t> ParseLowerHex(std::string_view hex) noexcept {
  uint64_t value = 0;
  for (char c : hex) {
    uint64_t digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    value = (value << 4) | digit;
  }
  return value;
}
}  // namespace

uint64_t ProbabilityToThreshold(double probability) noexcept {
  if (!(probability > 0.0)) return kMaxThreshold;  // also NaN
  if (probability >= 1.0) return 0;
  // Round p * 2^56 rather than (1 - p) * 2^56: small probabilities keep their precision.
  const auto kept = static_cast<uint64_t>(std::llround(probability * kTwoPow56));
  return kMaxThreshold - kept;
}

double ThresholdToProbability(uint64_t threshold) noexcept {
  if (threshold >= kMaxThreshold) return 0.0;
  return static_cast<double>(kMaxThreshold - threshold) / kTwoPow56;
}

std::string EncodeThreshold(uint64_t threshold) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (threshold >= kMaxThreshold) threshold = kMaxThreshold - 1;
  std::string out(kThresholdHexDigits, '0');
  for (int i = kThresholdHexDigits - 1; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kHex[threshold & 0xf];
    threshold >>= 4;
  }
  const size_t last = out.find_last_not_of('0');
  out.resize(last == std::string::npos ? 1 : last + 1);
  return out;
}

std::optional<uint64_t> DecodeThreshold(std::string_view th) noexcept {
  if (th.empty() || th.size() > kThresholdHexDigits) return std::nullopt;
  const std::optional<uint64_t> value = ParseLowerHex(th);
  if (!value) return std::nullopt;
  return *value << (4 * (kThresholdHexDigits - th.size()));
}

std::optional<uint64_t> DecodeRandomness(std::string_view rv) noexcept {
  if (rv.size() != kThresholdHexDigits) return std::nullopt;
  return ParseLowerHex(rv);
}

}  // namespace fleetrate
