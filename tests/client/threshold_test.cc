#include "fleetrate/threshold.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <string>

namespace fleetrate {
namespace {

TEST(ThresholdTest, SpecExamplesEncode) {
  EXPECT_EQ(EncodeThreshold(ProbabilityToThreshold(1.0)), "0");
  EXPECT_EQ(EncodeThreshold(ProbabilityToThreshold(0.5)), "8");
  EXPECT_EQ(EncodeThreshold(ProbabilityToThreshold(0.25)), "c");
  EXPECT_EQ(ProbabilityToThreshold(0.25), uint64_t{0xc0000000000000});
  // 1 % ~ th:fd70a4: the spec's example is rounded to 6 digits; we keep all 14 digits (minus
  // trailing zeros), whose prefix is fd70a3d70a3d7...
  const uint64_t one_percent = ProbabilityToThreshold(0.01);
  EXPECT_EQ(EncodeThreshold(one_percent), "fd70a3d70a3d71");
  EXPECT_EQ((one_percent + (uint64_t{1} << 31)) >> 32, uint64_t{0xfd70a4});  // rounded to 6
}

TEST(ThresholdTest, SpecExamplesDecode) {
  EXPECT_EQ(DecodeThreshold("0"), uint64_t{0});
  EXPECT_EQ(DecodeThreshold("8"), uint64_t{0x80000000000000});
  EXPECT_EQ(DecodeThreshold("c"), uint64_t{0xc0000000000000});
  EXPECT_DOUBLE_EQ(ThresholdToProbability(*DecodeThreshold("8")), 0.5);
  EXPECT_DOUBLE_EQ(ThresholdToProbability(*DecodeThreshold("c")), 0.25);
  EXPECT_NEAR(ThresholdToProbability(*DecodeThreshold("fd70a4")), 0.01, 1e-6);
  EXPECT_EQ(DecodeThreshold("ffffffffffffff"), kMaxThreshold - 1);
}

TEST(ThresholdTest, DecodeRejectsMalformed) {
  EXPECT_FALSE(DecodeThreshold("").has_value());
  EXPECT_FALSE(DecodeThreshold("fffffffffffffff").has_value());  // 15 digits
  EXPECT_FALSE(DecodeThreshold("C").has_value());                // uppercase
  EXPECT_FALSE(DecodeThreshold("0x8").has_value());
}

TEST(ThresholdTest, RoundTrips) {
  for (double p : {1.0, 0.5, 0.25, 0.1, 0.01, 0.001, 1e-5, 1e-9}) {
    const uint64_t t = ProbabilityToThreshold(p);
    EXPECT_EQ(DecodeThreshold(EncodeThreshold(t)), t) << p;
    EXPECT_NEAR(ThresholdToProbability(t), p, p * 1e-9) << p;
  }
}

TEST(ThresholdTest, ZeroProbabilityRejectsEverything) {
  EXPECT_EQ(ProbabilityToThreshold(0.0), kMaxThreshold);
  EXPECT_EQ(ProbabilityToThreshold(-1.0), kMaxThreshold);
  EXPECT_EQ(ProbabilityToThreshold(std::numeric_limits<double>::quiet_NaN()), kMaxThreshold);
  EXPECT_EQ(ThresholdToProbability(kMaxThreshold), 0.0);
  EXPECT_EQ(ProbabilityToThreshold(2.0), uint64_t{0});
  // The largest randomness is still below 2^56.
  EXPECT_LT(kRandomnessMask, ProbabilityToThreshold(0.0));
}

TEST(ThresholdTest, RandomnessIsTheSevenRightmostBytes) {
  std::array<uint8_t, 16> id{};
  for (size_t i = 0; i < 16; ++i) id[i] = static_cast<uint8_t>(0xa0 + i);
  // Bytes 9..15: a9 aa ab ac ad ae af. Byte 8 (a8) and the high half are ignored.
  EXPECT_EQ(RandomnessFromTraceId(id), uint64_t{0xa9aaabacadaeaf});
  id[8] = 0xff;
  id[0] = 0xff;
  EXPECT_EQ(RandomnessFromTraceId(id), uint64_t{0xa9aaabacadaeaf});
  id[15] = 0x00;
  EXPECT_EQ(RandomnessFromTraceId(id), uint64_t{0xa9aaabacadae00});
}

TEST(ThresholdTest, DecodeRandomnessTakesExactlyFourteenLowercaseHexDigits) {
  EXPECT_EQ(DecodeRandomness("ffffffffffffff"), kRandomnessMask);
  EXPECT_EQ(DecodeRandomness("00000000000001"), 1u);
  EXPECT_EQ(DecodeRandomness("1"), std::nullopt);                // rv is never abbreviated
  EXPECT_EQ(DecodeRandomness("fffffffffffffff"), std::nullopt);  // 15 digits
  EXPECT_EQ(DecodeRandomness("FFFFFFFFFFFFFF"), std::nullopt);   // uppercase
  EXPECT_EQ(DecodeRandomness("0000000000000g"), std::nullopt);
}

}  // namespace
}  // namespace fleetrate
