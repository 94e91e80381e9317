// Plain pixel containers and rational time used by every media API.
// Image is an owning, tightly typed 8-bit buffer (RGB8 interleaved or single-channel gray/mask) with an
// explicit row stride, so it can wrap into cv::Mat or a QImage without copying. Rational is exact time and
// frame rate (24000/1001 stays exact). Value types only: safe to copy and move across threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mf::media {

// An exact rational number (time in seconds, frame rate in frames per second).
struct Rational {
  int64_t num = 0;
  int64_t den = 1;

  constexpr Rational() = default;
  constexpr Rational(int64_t n, int64_t d = 1) : num(n), den(d) {}

  double to_double() const { return den == 0 ? 0.0 : static_cast<double>(num) / static_cast<double>(den); }
  bool valid() const { return den != 0 && num > 0; }  // a usable (positive) rate
  Rational reduced() const;
  Rational inverse() const { return Rational(den, num); }
  std::string str() const;  // "24000/1001" or "25"
};

bool operator==(const Rational& a, const Rational& b);  // compares values (2/4 == 1/2)
inline bool operator!=(const Rational& a, const Rational& b) { return !(a == b); }
bool operator<(const Rational& a, const Rational& b);
inline bool operator<=(const Rational& a, const Rational& b) { return !(b < a); }

// Parses "30", "30000/1001" or "29.97" (decimal values become an exact fraction over 1000).
// Throws mf::Error(BadInput) on anything else.
Rational parse_rational(const std::string& text);

enum class PixelFormat {
  Rgb8,   // 3 channels, R G B interleaved
  Gray8,  // 1 channel (masks, luma)
};

// An 8-bit image: `channels` interleaved samples per pixel, rows `stride` bytes apart (stride >= width*channels).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 3;
  std::size_t stride = 0;
  std::vector<uint8_t> data;

  // A zero-filled image with a tight stride.
  static Image make(int width, int height, int channels = 3);

  bool empty() const { return width <= 0 || height <= 0 || data.empty(); }
  PixelFormat format() const { return channels == 1 ? PixelFormat::Gray8 : PixelFormat::Rgb8; }
  std::size_t bytes() const { return data.size(); }
  uint8_t* row(int y) { return data.data() + static_cast<std::size_t>(y) * stride; }
  const uint8_t* row(int y) const { return data.data() + static_cast<std::size_t>(y) * stride; }
  uint8_t* at(int x, int y) { return row(y) + static_cast<std::size_t>(x) * channels; }
  const uint8_t* at(int x, int y) const { return row(y) + static_cast<std::size_t>(x) * channels; }
};

// A frame is an image; the name documents that it came from (or goes to) a video.
using Frame = Image;

// Peak signal-to-noise ratio in dB over all samples of two same-shaped images; +inf when identical.
// Throws mf::Error(BadInput) when shapes differ.
double psnr(const Image& a, const Image& b);

// Largest absolute sample difference (0 = identical). Throws on shape mismatch.
int max_abs_diff(const Image& a, const Image& b);

// RGB8 -> Gray8 with BT.601 luma weights (a mask from a colour image); Gray8 is returned as is.
Image to_gray(const Image& img);

}  // namespace mf::media
