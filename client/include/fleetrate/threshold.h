// OpenTelemetry consistent probability sampling: the 56-bit rejection threshold.
//
// A trace carries 56 bits of randomness R (the trace id's 7 rightmost bytes, or the `rv`
// tracestate value). Sampling at probability p keeps the trace iff R >= T, where the rejection
// threshold T = (1 - p) * 2^56. Because the test is a single compare, a trace kept at p is kept
// at every p' > p: traces stay whole across services sampled at different rates.
// Spec: OpenTelemetry "TraceState: Probability Sampling" (th, rv) and "Consistent Probability
// Sampling".
//
//   uint64_t t = fleetrate::ProbabilityToThreshold(0.25);   // 0xc0000000000000
//   bool keep = fleetrate::RandomnessFromTraceId(id) >= t;
//   std::string th = fleetrate::EncodeThreshold(t);         // "c"
//
// All functions are pure and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fleetrate {

// 2^56: the threshold that rejects everything (p = 0). T = 0 keeps everything (p = 1).
inline constexpr uint64_t kMaxThreshold = uint64_t{1} << 56;
// Mask of the 56 randomness bits.
inline constexpr uint64_t kRandomnessMask = kMaxThreshold - 1;

// T = 2^56 - round(p * 2^56); p is clamped to [0, 1] and NaN counts as 0.
[[nodiscard]] uint64_t ProbabilityToThreshold(double probability) noexcept;

// The probability a threshold keeps: (2^56 - T) / 2^56. T is clamped to kMaxThreshold.
[[nodiscard]] double ThresholdToProbability(uint64_t threshold) noexcept;

// R from a W3C trace id (16 bytes, big-endian as on the wire): its 7 rightmost bytes.
[[nodiscard]] inline uint64_t RandomnessFromTraceId(
    const std::array<uint8_t, 16>& trace_id) noexcept {
  uint64_t r = 0;
  for (size_t i = 9; i < 16; ++i) r = (r << 8) | trace_id[i];
  return r;
}

// The tracestate `th` value: 14 lowercase hex digits with trailing zeros dropped ("0" for T=0).
// Precondition: threshold < kMaxThreshold (p = 0 has no encoding; such a trace is not sampled).
[[nodiscard]] std::string EncodeThreshold(uint64_t threshold);

// Parses a `th` value (1-14 lowercase hex digits, right-padded with zeros to 14).
[[nodiscard]] std::optional<uint64_t> DecodeThreshold(std::string_view th) noexcept;

// Parses an `rv` value: exactly 14 lowercase hex digits, the explicit 56-bit randomness.
[[nodiscard]] std::optional<uint64_t> DecodeRandomness(std::string_view rv) noexcept;

}  // namespace fleetrate
