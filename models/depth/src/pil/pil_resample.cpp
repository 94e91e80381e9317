// Pillow's convolution resampler (libImaging/Resample.c semantics) for 8-bit images, bicubic filter.
#include "mf/depth/pil_resample.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "mf/core/error.h"

namespace mf::depth {
namespace {

// Fixed-point precision of the 8-bit passes: 32 bits minus 8 for the value minus 2 for the sign and overshoot.
constexpr int kPrecisionBits = 32 - 8 - 2;

// Keys' cubic convolution kernel with a = -0.5 (PIL's BICUBIC), support 2.
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;   // per output pixel: first input index, count
  std::vector<int32_t> kk;   // per output pixel: ksize fixed-point weights
};

// Weights of one axis: in PIL the box is (in0, in1) = (0, in_size) as float, the scale is (in1 - in0) / out_size
// and the filter is stretched by the scale when downsampling.
Coeffs precompute(int in_size, int out_size) {
  const float in0 = 0.f, in1 = static_cast<float>(in_size);
  double scale = static_cast<double>(in1 - in0) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 2.0 * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(out_size) * 2);
  std::vector<double> pre(static_cast<size_t>(out_size) * c.ksize, 0.0);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // PIL rounds with a truncating cast of (value + 0.5); negative values truncate towards zero.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double* k = &pre[static_cast<size_t>(xx) * c.ksize];
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = bicubic_filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
    }
    c.bounds[xx * 2 + 0] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
  c.kk.resize(pre.size());
  for (size_t i = 0; i < pre.size(); ++i) {
    const double v = pre[i] * (1 << kPrecisionBits);
    c.kk[i] = static_cast<int32_t>(pre[i] < 0 ? -0.5 + v : 0.5 + v);
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  const int32_t s = v >> kPrecisionBits;  // arithmetic shift: floor, as PIL's lookup index
  return static_cast<uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

}  // namespace

std::vector<uint8_t> pil_resize_bicubic(const uint8_t* src, int height, int width, int channels, int out_height,
                                        int out_width) {
  mf::check(height > 0 && width > 0 && out_height > 0 && out_width > 0, ErrorCode::BadInput,
            "pil_resize_bicubic: sizes must be positive (got " + std::to_string(height) + "x" +
                std::to_string(width) + " -> " + std::to_string(out_height) + "x" + std::to_string(out_width) + ")");
  mf::check(channels >= 1 && channels <= 4, ErrorCode::BadInput,
            "pil_resize_bicubic: 1 to 4 interleaved channels are supported, got " + std::to_string(channels));
  const size_t C = static_cast<size_t>(channels);
  const bool need_h = out_width != width;
  const bool need_v = out_height != height;
  if (!need_h && !need_v) return std::vector<uint8_t>(src, src + static_cast<size_t>(height) * width * C);

  Coeffs ch = precompute(width, out_width);
  Coeffs cv = precompute(height, out_height);

  // Rows of the input the vertical pass will read; the horizontal pass only produces those.
  const int ybox_first = cv.bounds[0];
  const int ybox_last = cv.bounds[out_height * 2 - 2] + cv.bounds[out_height * 2 - 1];

  const uint8_t* cur = src;
  int cur_w = width;
  std::vector<uint8_t> tmp;
  int row_offset = 0;  // row of `cur` that the vertical bounds refer to
  if (need_h) {
    const int rows = need_v ? ybox_last - ybox_first : height;
    const int first = need_v ? ybox_first : 0;
    tmp.resize(static_cast<size_t>(rows) * out_width * C);
    for (int yy = 0; yy < rows; ++yy) {
      const uint8_t* in_row = src + static_cast<size_t>(yy + first) * width * C;
      uint8_t* out_row = &tmp[static_cast<size_t>(yy) * out_width * C];
      for (int xx = 0; xx < out_width; ++xx) {
        const int xmin = ch.bounds[xx * 2], xmax = ch.bounds[xx * 2 + 1];
        const int32_t* k = &ch.kk[static_cast<size_t>(xx) * ch.ksize];
        for (size_t c = 0; c < C; ++c) {
          int32_t ss = 1 << (kPrecisionBits - 1);
          for (int x = 0; x < xmax; ++x) ss += static_cast<int32_t>(in_row[(x + xmin) * C + c]) * k[x];
          out_row[xx * C + c] = clip8(ss);
        }
      }
    }
    if (!need_v) return tmp;
    cur = tmp.data();
    cur_w = out_width;
    row_offset = ybox_first;
  }

  std::vector<uint8_t> out(static_cast<size_t>(out_height) * cur_w * C);
  for (int yy = 0; yy < out_height; ++yy) {
    const int ymin = cv.bounds[yy * 2] - row_offset, ymax = cv.bounds[yy * 2 + 1];
    const int32_t* k = &cv.kk[static_cast<size_t>(yy) * cv.ksize];
    uint8_t* out_row = &out[static_cast<size_t>(yy) * cur_w * C];
    for (int xx = 0; xx < cur_w; ++xx) {
      for (size_t c = 0; c < C; ++c) {
        int32_t ss = 1 << (kPrecisionBits - 1);
        for (int y = 0; y < ymax; ++y) {
          ss += static_cast<int32_t>(cur[(static_cast<size_t>(y + ymin) * cur_w + xx) * C + c]) * k[y];
        }
        out_row[xx * C + c] = clip8(ss);
      }
    }
  }
  return out;
}

}  // namespace mf::depth
