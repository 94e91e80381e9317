// Rational time for the document model: exact fractions, frame <-> time conversion at a rational frame rate
// (24, 25, 30000/1001, ...) and SMPTE timecode (HH:MM:SS:FF, drop-frame HH:MM:SS;FF).
//
// Why rational: float seconds drift (0.1 s is not representable, 29.97 fps accumulates error), so a clip that
// is 1001 frames long at 30000/1001 fps must be exactly 1001 frames after any round trip. Every arithmetic step
// goes through 128-bit intermediates and is reduced by the gcd; a result that does not fit 64 bits throws
// mf::Error(BadInput) instead of silently wrapping.
//
// Threading: value types and pure functions only; safe from any thread.
#pragma once

#include <cstdint>
#include <string>

namespace mf::project {

class Rational {
 public:
  constexpr Rational() = default;
  // Normalised on construction: gcd-reduced, denominator > 0. den == 0 throws mf::Error(BadInput).
  Rational(std::int64_t num, std::int64_t den = 1);  // NOLINT(google-explicit-constructor): 24 -> 24/1

  // "30000/1001", "24", "-3/4", "29.97" (decimal, exact: 2997/100). Throws mf::Error(BadInput).
  static Rational parse(const std::string& text);

  std::int64_t num() const { return num_; }
  std::int64_t den() const { return den_; }

  // "30000/1001"; integers as "24/1" so the JSON form is uniform.
  std::string to_string() const;
  double to_double() const { return static_cast<double>(num_) / static_cast<double>(den_); }

  std::int64_t floor() const;
  std::int64_t ceil() const;
  std::int64_t round() const;  // half away from zero
  bool is_integer() const { return den_ == 1; }
  Rational abs() const { return num_ < 0 ? Rational(-num_, den_) : *this; }
  Rational inverse() const { return Rational(den_, num_); }  // throws for zero

  Rational operator-() const { return Rational(-num_, den_); }
  friend Rational operator+(const Rational& a, const Rational& b);
  friend Rational operator-(const Rational& a, const Rational& b);
  friend Rational operator*(const Rational& a, const Rational& b);
  friend Rational operator/(const Rational& a, const Rational& b);
  Rational& operator+=(const Rational& o) { return *this = *this + o; }
  Rational& operator-=(const Rational& o) { return *this = *this - o; }
  Rational& operator*=(const Rational& o) { return *this = *this * o; }
  Rational& operator/=(const Rational& o) { return *this = *this / o; }

  friend bool operator==(const Rational& a, const Rational& b) { return a.num_ == b.num_ && a.den_ == b.den_; }
  friend bool operator!=(const Rational& a, const Rational& b) { return !(a == b); }
  friend bool operator<(const Rational& a, const Rational& b);
  friend bool operator>(const Rational& a, const Rational& b) { return b < a; }
  friend bool operator<=(const Rational& a, const Rational& b) { return !(b < a); }
  friend bool operator>=(const Rational& a, const Rational& b) { return !(a < b); }

 private:
  // Already reduced with den > 0 (the 128-bit helpers in rational.cpp normalise before calling this).
  static Rational from_reduced(std::int64_t num, std::int64_t den) {
    Rational r;
    r.num_ = num;
    r.den_ = den;
    return r;
  }
  friend struct RationalAccess;

  std::int64_t num_ = 0;
  std::int64_t den_ = 1;
};

// --- frames and time ------------------------------------------------------------------------------------------

enum class Rounding { Floor, Nearest, Ceil };

// fps must be > 0 (throws mf::Error(BadInput) otherwise, naming the value).
void check_frame_rate(const Rational& fps);

// The time (seconds) at which frame `frame` starts: frame / fps.
Rational frame_to_time(std::int64_t frame, const Rational& fps);
// The frame that contains time `seconds` (Floor), the nearest frame boundary (Nearest) or the first frame
// starting at or after it (Ceil).
std::int64_t time_to_frame(const Rational& seconds, const Rational& fps, Rounding rounding = Rounding::Floor);
// A frame index of a stream at `from_fps` expressed at `to_fps` (e.g. a 24 fps source frame on a 30 fps timeline).
std::int64_t rescale_frame(std::int64_t frame, const Rational& from_fps, const Rational& to_fps,
                           Rounding rounding = Rounding::Floor);

// --- timecode ---------------------------------------------------------------------------------------------

// Frames per timecode second: fps rounded up (30000/1001 -> 30, 24000/1001 -> 24, 25 -> 25).
std::int64_t timecode_base(const Rational& fps);
// Drop-frame timecode exists for 30000/1001 and 60000/1001 (2 or 4 labels dropped per minute, except every 10th).
bool supports_drop_frame(const Rational& fps);

enum class TimecodeStyle { NonDrop, DropFrame };

// "HH:MM:SS:FF" (non-drop) or "HH:MM:SS;FF" (drop-frame); negative frames get a leading '-'; hours grow past 99.
// DropFrame at a rate that has none throws mf::Error(BadInput).
std::string format_timecode(std::int64_t frame, const Rational& fps, TimecodeStyle style = TimecodeStyle::NonDrop);
// Parses what format_timecode writes (the ';' separator selects drop-frame) and also a plain frame number
// ("1234"). Rejects out-of-range fields and drop-frame labels that do not exist, naming the problem.
std::int64_t parse_timecode(const std::string& text, const Rational& fps);

}  // namespace mf::project
