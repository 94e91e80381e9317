// Rational time, frame <-> time conversion and timecode.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>

#include "mf/core/error.h"
#include "mf/project/rational.h"

using namespace mf::project;

TEST(Rational, NormalisesSignAndGcd) {
  Rational r(6, -4);
  EXPECT_EQ(r.num(), -3);
  EXPECT_EQ(r.den(), 2);
  EXPECT_EQ(Rational(0, -7).den(), 1);
  EXPECT_EQ(Rational(30000, 1001).num(), 30000);  // already reduced
  EXPECT_EQ(Rational(48, 2), Rational(24));
  EXPECT_THROW(Rational(1, 0), mf::Error);
}

TEST(Rational, ArithmeticAndComparison) {
  const Rational a(1, 3), b(1, 6);
  EXPECT_EQ(a + b, Rational(1, 2));
  EXPECT_EQ(a - b, Rational(1, 6));
  EXPECT_EQ(a * b, Rational(1, 18));
  EXPECT_EQ(a / b, Rational(2));
  EXPECT_EQ(-a, Rational(-1, 3));
  EXPECT_LT(b, a);
  EXPECT_GT(Rational(30000, 1001), Rational(2997, 100));
  EXPECT_LT(Rational(-1, 2), Rational(-1, 3));
  EXPECT_EQ(Rational(7, 2).floor(), 3);
  EXPECT_EQ(Rational(-7, 2).floor(), -4);
  EXPECT_EQ(Rational(7, 2).ceil(), 4);
  EXPECT_EQ(Rational(-7, 2).ceil(), -3);
  EXPECT_EQ(Rational(5, 2).round(), 3);
  EXPECT_EQ(Rational(-5, 2).round(), -3);
  EXPECT_THROW(a / Rational(0), mf::Error);
  EXPECT_THROW(Rational(0).inverse(), mf::Error);
}

TEST(Rational, LargeValuesUse128BitIntermediates) {
  const std::int64_t big = std::numeric_limits<std::int64_t>::max() / 3;
  // (big/7) * (7/big) = 1: the 128-bit product reduces back without overflow.
  EXPECT_EQ(Rational(big, 7) * Rational(7, big), Rational(1));
  // Comparison of values whose cross products exceed 64 bits.
  EXPECT_LT(Rational(big - 1, big), Rational(big, big + 1));
  // A result that really does not fit is an error, not a wrapped value.
  EXPECT_THROW(Rational(big) * Rational(big), mf::Error);
  try {
    (void)(Rational(big) * Rational(big));
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("64 bits"), std::string::npos);
  }
}

TEST(Rational, ParseAndPrint) {
  EXPECT_EQ(Rational::parse("30000/1001"), Rational(30000, 1001));
  EXPECT_EQ(Rational::parse(" 24 "), Rational(24));
  EXPECT_EQ(Rational::parse("29.97"), Rational(2997, 100));
  EXPECT_EQ(Rational::parse("-3/6"), Rational(-1, 2));
  EXPECT_EQ(Rational(24).to_string(), "24/1");
  EXPECT_EQ(Rational::parse(Rational(-30000, 1001).to_string()), Rational(-30000, 1001));
  for (const char* bad : {"", "abc", "1/", "/2", "1/0", "1.2.3", "3/4x", "1//2"})
    EXPECT_THROW(Rational::parse(bad), mf::Error) << bad;
}

TEST(FrameTime, ConversionsAtRationalRates) {
  const Rational ntsc(30000, 1001);
  EXPECT_EQ(frame_to_time(30, ntsc), Rational(1001, 1000));
  EXPECT_EQ(time_to_frame(Rational(1001, 1000), ntsc), 30);
  // 1 second at 29.97 is 29.97 frames: floor 29, nearest 30, ceil 30.
  EXPECT_EQ(time_to_frame(Rational(1), ntsc, Rounding::Floor), 29);
  EXPECT_EQ(time_to_frame(Rational(1), ntsc, Rounding::Nearest), 30);
  EXPECT_EQ(time_to_frame(Rational(1), ntsc, Rounding::Ceil), 30);
  EXPECT_EQ(time_to_frame(Rational(-1, 48), Rational(24), Rounding::Floor), -1);
  // Every frame survives frame -> time -> frame exactly, at every common rate.
  for (const Rational fps : {Rational(24), Rational(25), Rational(24000, 1001), ntsc, Rational(60000, 1001)})
    for (std::int64_t f = -50; f < 5000; f += 7) ASSERT_EQ(time_to_frame(frame_to_time(f, fps), fps), f);
  // A frame of a 24 fps source on a 30 fps timeline.
  EXPECT_EQ(rescale_frame(24, Rational(24), Rational(30)), 30);
  EXPECT_EQ(rescale_frame(1, Rational(24), Rational(30), Rounding::Floor), 1);
  EXPECT_EQ(rescale_frame(1, Rational(24), Rational(30), Rounding::Ceil), 2);
  EXPECT_THROW(frame_to_time(1, Rational(0)), mf::Error);
  EXPECT_THROW(frame_to_time(1, Rational(-24)), mf::Error);
}

TEST(Timecode, NonDropFormatting) {
  EXPECT_EQ(format_timecode(0, Rational(24)), "00:00:00:00");
  EXPECT_EQ(format_timecode(24 * 3600 + 24 * 61 + 5, Rational(24)), "01:01:01:05");
  EXPECT_EQ(format_timecode(-25, Rational(25)), "-00:00:01:00");
  // 29.97 non-drop counts 30 labels per timecode second.
  EXPECT_EQ(format_timecode(30, Rational(30000, 1001)), "00:00:01:00");
  EXPECT_EQ(format_timecode(24LL * 3600 * 120, Rational(24)), "120:00:00:00");
}

TEST(Timecode, DropFrameKnownValues) {
  const Rational ntsc(30000, 1001);
  EXPECT_EQ(format_timecode(1799, ntsc, TimecodeStyle::DropFrame), "00:00:59;29");
  EXPECT_EQ(format_timecode(1800, ntsc, TimecodeStyle::DropFrame), "00:01:00;02");  // ;00 and ;01 dropped
  EXPECT_EQ(format_timecode(17982, ntsc, TimecodeStyle::DropFrame), "00:10:00;00");  // tenth minute keeps them
  EXPECT_EQ(format_timecode(107892, ntsc, TimecodeStyle::DropFrame), "01:00:00;00");  // 1 h of real time
  EXPECT_EQ(format_timecode(3600, Rational(60000, 1001), TimecodeStyle::DropFrame), "00:01:00;04");
  EXPECT_THROW(format_timecode(0, Rational(25), TimecodeStyle::DropFrame), mf::Error);
}

TEST(Timecode, RoundTripsEveryFrame) {
  for (const Rational fps : {Rational(24), Rational(25), Rational(30000, 1001), Rational(60000, 1001)}) {
    for (std::int64_t f = 0; f < 40000; ++f) {
      ASSERT_EQ(parse_timecode(format_timecode(f, fps), fps), f);
      if (supports_drop_frame(fps)) {
        ASSERT_EQ(parse_timecode(format_timecode(f, fps, TimecodeStyle::DropFrame), fps), f) << f;
      }
    }
    ASSERT_EQ(parse_timecode(format_timecode(-1234, fps), fps), -1234);
  }
}

TEST(Timecode, ParseRejectsNonsense) {
  const Rational fps(24);
  EXPECT_EQ(parse_timecode("1234", fps), 1234);
  EXPECT_EQ(parse_timecode("00:00:02:03", fps), 51);
  for (const char* bad : {"", "00:00:00:24", "00:60:00:00", "00:00:60:00", "1:2:3", "00:00:00:0a", "00;00:00:00",
                          "00:00:00;01", "1:2:3:4:5"})
    EXPECT_THROW(parse_timecode(bad, fps), mf::Error) << bad;
  // A drop-frame label that does not exist.
  EXPECT_THROW(parse_timecode("00:01:00;00", Rational(30000, 1001)), mf::Error);
  EXPECT_EQ(parse_timecode("00:10:00;00", Rational(30000, 1001)), 17982);
}
