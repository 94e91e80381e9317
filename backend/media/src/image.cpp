#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>

#include "mf/core/error.h"
#include "mf/media/image.h"

namespace mf::media {

Rational Rational::reduced() const {
  if (den == 0) return *this;
  int64_t g = std::gcd(num < 0 ? -num : num, den < 0 ? -den : den);
  if (g == 0) g = 1;
  Rational r(num / g, den / g);
  if (r.den < 0) { r.num = -r.num; r.den = -r.den; }
  return r;
}

std::string Rational::str() const {
  Rational r = reduced();
  return r.den == 1 ? std::to_string(r.num) : std::to_string(r.num) + "/" + std::to_string(r.den);
}

bool operator==(const Rational& a, const Rational& b) {
  return static_cast<__int128>(a.num) * b.den == static_cast<__int128>(b.num) * a.den;
}

bool operator<(const Rational& a, const Rational& b) {
  // Normalise signs of denominators so the cross multiplication keeps its direction.
  Rational x = a.den < 0 ? Rational(-a.num, -a.den) : a;
  Rational y = b.den < 0 ? Rational(-b.num, -b.den) : b;
  return static_cast<__int128>(x.num) * y.den < static_cast<__int128>(y.num) * x.den;
}

Rational parse_rational(const std::string& text) {
  auto bad = [&] { return Error(ErrorCode::BadInput, "'" + text + "' is not a rate/time: use 30, 30000/1001 or 29.97"); };
  if (text.empty()) throw bad();
  char* end = nullptr;
  auto slash = text.find('/');
  if (slash != std::string::npos) {
    long long n = std::strtoll(text.c_str(), &end, 10);
    if (end != text.c_str() + slash) throw bad();
    long long d = std::strtoll(text.c_str() + slash + 1, &end, 10);
    if (*end != '\0' || d == 0) throw bad();
    return Rational(n, d).reduced();
  }
  double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || !std::isfinite(v)) throw bad();
  if (v == std::floor(v) && std::fabs(v) < 1e15) return Rational(static_cast<int64_t>(v), 1);
  return Rational(static_cast<int64_t>(std::llround(v * 1000.0)), 1000).reduced();
}

Image Image::make(int width, int height, int channels) {
  check(width > 0 && height > 0 && (channels == 1 || channels == 3), ErrorCode::BadInput,
        "image size must be positive with 1 or 3 channels (got " + std::to_string(width) + "x" +
            std::to_string(height) + "x" + std::to_string(channels) + ")");
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.stride = static_cast<std::size_t>(width) * channels;
  img.data.assign(img.stride * height, 0);
  return img;
}

static void same_shape(const Image& a, const Image& b) {
  check(a.width == b.width && a.height == b.height && a.channels == b.channels, ErrorCode::BadInput,
        "images differ in shape: " + std::to_string(a.width) + "x" + std::to_string(a.height) + "x" +
            std::to_string(a.channels) + " vs " + std::to_string(b.width) + "x" + std::to_string(b.height) +
            "x" + std::to_string(b.channels));
}

double psnr(const Image& a, const Image& b) {
  same_shape(a, b);
  double se = 0;
  const std::size_t n = static_cast<std::size_t>(a.width) * a.channels;
  for (int y = 0; y < a.height; ++y) {
    const uint8_t* pa = a.row(y);
    const uint8_t* pb = b.row(y);
    for (std::size_t i = 0; i < n; ++i) {
      double d = double(pa[i]) - double(pb[i]);
      se += d * d;
    }
  }
  if (se == 0) return std::numeric_limits<double>::infinity();
  double mse = se / (double(n) * a.height);
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

int max_abs_diff(const Image& a, const Image& b) {
  same_shape(a, b);
  int m = 0;
  const std::size_t n = static_cast<std::size_t>(a.width) * a.channels;
  for (int y = 0; y < a.height; ++y)
    for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::abs(int(a.row(y)[i]) - int(b.row(y)[i])));
  return m;
}

Image to_gray(const Image& img) {
  if (img.channels == 1) return img;
  Image g = Image::make(img.width, img.height, 1);
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* s = img.row(y);
    uint8_t* d = g.row(y);
    for (int x = 0; x < img.width; ++x, s += 3)
      d[x] = static_cast<uint8_t>((299 * s[0] + 587 * s[1] + 114 * s[2] + 500) / 1000);
  }
  return g;
}

}  // namespace mf::media
