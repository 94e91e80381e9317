#include "mf/project/rational.h"

#include <cctype>
#include <cstdio>
#include <limits>

#include "mf/core/error.h"

namespace mf::project {

using i128 = __int128;

struct RationalAccess {
  static Rational make(std::int64_t num, std::int64_t den) { return Rational::from_reduced(num, den); }
};

namespace {

i128 abs128(i128 v) { return v < 0 ? -v : v; }

i128 gcd128(i128 a, i128 b) {
  a = abs128(a);
  b = abs128(b);
  while (b != 0) {
    const i128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

std::string i128_to_string(i128 v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  std::string digits;
  // Work on the negative side so that the most negative value does not overflow.
  if (!neg) v = -v;
  while (v != 0) {
    digits.insert(digits.begin(), static_cast<char>('0' - static_cast<int>(v % 10)));
    v /= 10;
  }
  return neg ? "-" + digits : digits;
}

constexpr i128 kMax64 = std::numeric_limits<std::int64_t>::max();
constexpr i128 kMin64 = std::numeric_limits<std::int64_t>::min();

bool fits64(i128 v) { return v >= kMin64 && v <= kMax64; }

// Normalises a 128-bit fraction to 64 bits or throws: the one place where overflow is detected.
Rational make128(i128 num, i128 den) {
  mf::check(den != 0, ErrorCode::BadInput, "rational time: denominator is zero (" + i128_to_string(num) + "/0)");
  if (den < 0) {
    num = -num;
    den = -den;
  }
  const i128 g = gcd128(num, den);
  if (g > 1) {
    num /= g;
    den /= g;
  }
  if (num == 0) den = 1;
  mf::check(fits64(num) && fits64(den), ErrorCode::BadInput,
            "rational time: " + i128_to_string(num) + "/" + i128_to_string(den) +
                " does not fit 64 bits; the time or frame rate is unreasonably large");
  return RationalAccess::make(static_cast<std::int64_t>(num), static_cast<std::int64_t>(den));
}

// floor(n / d) for d > 0.
i128 floor_div(i128 n, i128 d) {
  i128 q = n / d;
  if ((n % d != 0) && (n < 0)) --q;
  return q;
}

std::int64_t to64_or_throw(i128 v, const char* what) {
  mf::check(fits64(v), ErrorCode::BadInput, std::string("rational time: ") + what + " does not fit 64 bits");
  return static_cast<std::int64_t>(v);
}

std::int64_t round_fraction(i128 n, i128 d, Rounding rounding) {
  // d > 0 here.
  switch (rounding) {
    case Rounding::Floor: return to64_or_throw(floor_div(n, d), "frame index");
    case Rounding::Ceil: return to64_or_throw(-floor_div(-n, d), "frame index");
    case Rounding::Nearest: {
      // half away from zero: floor((2n + d) / 2d) for n >= 0, mirrored for n < 0.
      if (n >= 0) return to64_or_throw(floor_div(2 * n + d, 2 * d), "frame index");
      return to64_or_throw(-floor_div(-2 * n + d, 2 * d), "frame index");
    }
  }
  return 0;
}

}  // namespace

Rational::Rational(std::int64_t num, std::int64_t den) { *this = make128(num, den); }

Rational Rational::parse(const std::string& text) {
  auto fail = [&](const std::string& why) -> Rational {
    throw Error(ErrorCode::BadInput, "'" + text + "' is not a rational number (" + why +
                                         "); write it as 24, 30000/1001 or 29.97");
  };
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  std::size_t end = text.size();
  while (end > i && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  if (i == end) return fail("empty");
  bool neg = false;
  if (text[i] == '-' || text[i] == '+') {
    neg = text[i] == '-';
    ++i;
  }
  auto read_digits = [&](i128& value, int& count) {
    count = 0;
    while (i < end && std::isdigit(static_cast<unsigned char>(text[i]))) {
      value = value * 10 + (text[i] - '0');
      if (value > kMax64 * 1000) fail("too many digits");
      ++i;
      ++count;
    }
  };
  i128 num = 0;
  int n_digits = 0;
  read_digits(num, n_digits);
  if (n_digits == 0) return fail("no digits");
  i128 den = 1;
  if (i < end && text[i] == '/') {
    ++i;
    den = 0;
    int d_digits = 0;
    read_digits(den, d_digits);
    if (d_digits == 0) return fail("no digits after '/'");
    if (den == 0) return fail("denominator is zero");
  } else if (i < end && text[i] == '.') {
    ++i;
    while (i < end && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (den > kMax64 / 10) fail("too many decimals");
      num = num * 10 + (text[i] - '0');
      den *= 10;
      ++i;
    }
  }
  if (i != end) return fail("unexpected character '" + std::string(1, text[i]) + "'");
  return make128(neg ? -num : num, den);
}

std::string Rational::to_string() const { return std::to_string(num_) + "/" + std::to_string(den_); }

std::int64_t Rational::floor() const { return round_fraction(num_, den_, Rounding::Floor); }
std::int64_t Rational::ceil() const { return round_fraction(num_, den_, Rounding::Ceil); }
std::int64_t Rational::round() const { return round_fraction(num_, den_, Rounding::Nearest); }

Rational operator+(const Rational& a, const Rational& b) {
  return make128(static_cast<i128>(a.num_) * b.den_ + static_cast<i128>(b.num_) * a.den_,
                 static_cast<i128>(a.den_) * b.den_);
}
Rational operator-(const Rational& a, const Rational& b) {
  return make128(static_cast<i128>(a.num_) * b.den_ - static_cast<i128>(b.num_) * a.den_,
                 static_cast<i128>(a.den_) * b.den_);
}
Rational operator*(const Rational& a, const Rational& b) {
  return make128(static_cast<i128>(a.num_) * b.num_, static_cast<i128>(a.den_) * b.den_);
}
Rational operator/(const Rational& a, const Rational& b) {
  mf::check(b.num_ != 0, ErrorCode::BadInput, "rational time: division by zero (" + a.to_string() + " / 0)");
  return make128(static_cast<i128>(a.num_) * b.den_, static_cast<i128>(a.den_) * b.num_);
}
bool operator<(const Rational& a, const Rational& b) {
  // Denominators are positive, so cross-multiplication keeps the order; 64x64 fits 128 bits.
  return static_cast<i128>(a.num_) * b.den_ < static_cast<i128>(b.num_) * a.den_;
}

// --- frames and time ------------------------------------------------------------------------------------------

void check_frame_rate(const Rational& fps) {
  mf::check(fps.num() > 0, ErrorCode::BadInput,
            "frame rate " + fps.to_string() + " is not positive; use e.g. 24, 25, 30000/1001");
}

Rational frame_to_time(std::int64_t frame, const Rational& fps) {
  check_frame_rate(fps);
  // frame / (n/d) = frame * d / n
  return make128(static_cast<i128>(frame) * fps.den(), fps.num());
}

std::int64_t time_to_frame(const Rational& seconds, const Rational& fps, Rounding rounding) {
  check_frame_rate(fps);
  // seconds * fps = (sn * fn) / (sd * fd), computed without reducing to 64 bits first.
  const i128 n = static_cast<i128>(seconds.num()) * fps.num();
  const i128 d = static_cast<i128>(seconds.den()) * fps.den();
  return round_fraction(n, d, rounding);
}

std::int64_t rescale_frame(std::int64_t frame, const Rational& from_fps, const Rational& to_fps,
                           Rounding rounding) {
  check_frame_rate(from_fps);
  check_frame_rate(to_fps);
  // frame * to / from = frame * tn * fd / (td * fn); guard the 3-way product against 128-bit overflow.
  const i128 a = static_cast<i128>(frame) * to_fps.num();
  const i128 limit = std::numeric_limits<i128>::max() / (static_cast<i128>(from_fps.den()) + 1);
  mf::check(abs128(a) < limit, ErrorCode::BadInput, "rescale_frame: frame " + std::to_string(frame) + " too large");
  const i128 n = a * from_fps.den();
  const i128 d = static_cast<i128>(to_fps.den()) * from_fps.num();
  return round_fraction(n, d, rounding);
}

// --- timecode ---------------------------------------------------------------------------------------------

std::int64_t timecode_base(const Rational& fps) {
  check_frame_rate(fps);
  return fps.ceil();
}

bool supports_drop_frame(const Rational& fps) { return fps == Rational(30000, 1001) || fps == Rational(60000, 1001); }

namespace {

std::int64_t dropped_per_minute(const Rational& fps) { return fps == Rational(60000, 1001) ? 4 : 2; }

std::string two_digits(std::int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld", static_cast<long long>(v));
  return buf;
}

}  // namespace

std::string format_timecode(std::int64_t frame, const Rational& fps, TimecodeStyle style) {
  const std::int64_t base = timecode_base(fps);
  const bool drop = style == TimecodeStyle::DropFrame;
  mf::check(!drop || supports_drop_frame(fps), ErrorCode::BadInput,
            "drop-frame timecode exists only at 30000/1001 and 60000/1001 fps, not " + fps.to_string());
  const bool negative = frame < 0;
  // Work in unsigned 128-bit magnitude so that INT64_MIN is fine.
  i128 f = negative ? -static_cast<i128>(frame) : static_cast<i128>(frame);
  if (drop) {
    // Labels 00 and 01 (00-03 at 59.94) are skipped at the start of every minute except each tenth minute;
    // convert the frame count to the label count by adding back the skipped labels.
    const i128 d = dropped_per_minute(fps);
    const i128 per_10min = base * 600 - d * 9;
    const i128 per_min = base * 60 - d;
    const i128 tens = f / per_10min;
    const i128 rem = f % per_10min;
    f += d * 9 * tens;
    if (rem > d) f += d * ((rem - d) / per_min);
  }
  const i128 ff = f % base;
  const i128 total_seconds = f / base;
  const i128 ss = total_seconds % 60;
  const i128 mm = (total_seconds / 60) % 60;
  const i128 hh = total_seconds / 3600;
  std::string out = negative ? "-" : "";
  out += two_digits(static_cast<std::int64_t>(hh)) + ":" + two_digits(static_cast<std::int64_t>(mm)) + ":" +
         two_digits(static_cast<std::int64_t>(ss)) + (drop ? ";" : ":") + two_digits(static_cast<std::int64_t>(ff));
  return out;
}

std::int64_t parse_timecode(const std::string& text, const Rational& fps) {
  const std::int64_t base = timecode_base(fps);
  auto fail = [&](const std::string& why) -> std::int64_t {
    throw Error(ErrorCode::BadInput, "timecode '" + text + "': " + why + " (expected HH:MM:SS:FF at " +
                                         fps.to_string() + " fps, or a frame number)");
  };
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    negative = text[i] == '-';
    ++i;
  }
  std::int64_t fields[4] = {0, 0, 0, 0};
  int n_fields = 0;
  bool drop = false;
  while (true) {
    if (n_fields == 4) return fail("too many fields");
    std::size_t start = i;
    i128 v = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      v = v * 10 + (text[i] - '0');
      if (v > kMax64 / 1000) return fail("number too large");
      ++i;
    }
    if (i == start) return fail("missing digits");
    fields[n_fields++] = static_cast<std::int64_t>(v);
    if (i == text.size()) break;
    const char sep = text[i];
    if (sep == ';' || (sep == '.' && n_fields == 3)) {
      if (n_fields != 3) return fail("';' may only separate seconds and frames");
      drop = true;
    } else if (sep != ':') {
      return fail(std::string("unexpected character '") + sep + "'");
    }
    ++i;
  }
  if (n_fields == 1) return negative ? -fields[0] : fields[0];
  if (n_fields != 4) return fail("expected 4 fields");
  const std::int64_t hh = fields[0], mm = fields[1], ss = fields[2], ff = fields[3];
  if (mm >= 60) return fail("minutes must be below 60");
  if (ss >= 60) return fail("seconds must be below 60");
  if (ff >= base) return fail("frames must be below " + std::to_string(base));
  i128 frame = ((static_cast<i128>(hh) * 60 + mm) * 60 + ss) * base + ff;
  if (drop) {
    if (!supports_drop_frame(fps)) return fail("drop-frame (';') exists only at 30000/1001 and 60000/1001 fps");
    const std::int64_t d = dropped_per_minute(fps);
    if (ss == 0 && ff < d && mm % 10 != 0) return fail("this label is dropped in drop-frame timecode");
    const i128 total_minutes = static_cast<i128>(hh) * 60 + mm;
    frame -= d * (total_minutes - total_minutes / 10);
  }
  if (negative) frame = -frame;
  return to64_or_throw(frame, "timecode");
}

}  // namespace mf::project
