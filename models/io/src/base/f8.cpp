#include "mf/io/f8.h"

#include <cmath>
#include <limits>

namespace mf::io {

float f8_e4m3_to_float(uint8_t v) {
  const bool neg = v & 0x80;
  const int e = (v >> 3) & 0xF, m = v & 0x7;
  float r;
  if (e == 0xF && m == 0x7) return std::numeric_limits<float>::quiet_NaN();
  if (e == 0) r = std::ldexp(static_cast<float>(m) / 8.0f, -6);  // subnormal
  else r = std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
  return neg ? -r : r;
}

float f8_e5m2_to_float(uint8_t v) {
  const bool neg = v & 0x80;
  const int e = (v >> 2) & 0x1F, m = v & 0x3;
  float r;
  if (e == 0x1F) r = m ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else if (e == 0) r = std::ldexp(static_cast<float>(m) / 4.0f, -14);
  else r = std::ldexp(1.0f + static_cast<float>(m) / 4.0f, e - 15);
  return neg ? -r : r;
}

namespace {

// Nearest finite code of the given sign by exhaustive search over the 128 magnitudes (ties to the even
// code, i.e. even mantissa). Slow but obviously correct; encoding is rare (tests, quantising writers).
uint8_t nearest(float a, float (*decode)(uint8_t), uint8_t max_finite) {
  uint8_t best = 0;
  float best_err = std::numeric_limits<float>::infinity();
  for (int c = 0; c <= max_finite; ++c) {
    float err = std::fabs(decode(static_cast<uint8_t>(c)) - a);
    if (err < best_err || (err == best_err && (c % 2 == 0))) {
      best = static_cast<uint8_t>(c);
      best_err = err;
    }
  }
  return best;
}

}  // namespace

uint8_t float_to_f8_e4m3(float f) {
  if (std::isnan(f)) return 0x7F;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7E;  // saturate to the largest finite value
  return sign | nearest(a, f8_e4m3_to_float, 0x7E);
}

uint8_t float_to_f8_e5m2(float f) {
  if (std::isnan(f)) return 0x7F;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  if (a >= 61440.0f) return sign | 0x7C;  // halfway past 57344 rounds to infinity
  return sign | nearest(a, f8_e5m2_to_float, 0x7B);
}

}  // namespace mf::io
