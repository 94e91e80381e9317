// Compiled with -ffp-contract=off: the coefficient arithmetic must round exactly as Pillow's C code (built
// without FMA contraction) does, or the quantised coefficients can differ by one unit.
#include "mf/tasks/pil_image.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "mf/core/error.h"

namespace mf::tasks {

namespace {

// Pillow: 8 bits of result, 2 bits of headroom for negative lobes / overshoot.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kBicubicSupport = 2.0;

// Keys' cubic convolution kernel with a = -0.5, written in Pillow's evaluation order.
inline double bicubic_kernel(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Pillow's clip8: arithmetic shift by the precision, then clamp to 0..255.
inline uint8_t clip8(int32_t v) {
  const int32_t s = v >> kPrecisionBits;
  return static_cast<uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

}  // namespace

Image8::Image8(int w, int h, int c, uint8_t fill)
    : width(w), height(h), channels(c), pixels(static_cast<size_t>(w) * h * c, fill) {}

PilBicubicResizer::Pass PilBicubicResizer::make_pass(int in_size, int out_size) {
  Pass p;
  p.needed = in_size != out_size;
  // Box (0, in_size) as floats, like Image.resize's default box.
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kBicubicSupport * filterscale;
  p.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  p.bounds.assign(static_cast<size_t>(out_size) * 2, 0);
  p.coeffs.assign(static_cast<size_t>(out_size) * p.ksize, 0);
  std::vector<double> k(static_cast<size_t>(p.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation toward zero, as the C cast
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; ++x) {
      const double w = bicubic_kernel((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x)
      if (ww != 0.0) k[x] /= ww;
    int32_t* kk = &p.coeffs[static_cast<size_t>(xx) * p.ksize];
    for (int x = 0; x < p.ksize; ++x) {
      const double v = x < xmax ? k[x] : 0.0;
      kk[x] = v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                    : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    p.bounds[xx * 2 + 0] = xmin;
    p.bounds[xx * 2 + 1] = xmax;
  }
  return p;
}

PilBicubicResizer::PilBicubicResizer(int in_width, int in_height, int out_width, int out_height)
    : in_w_(in_width), in_h_(in_height), out_w_(out_width), out_h_(out_height) {
  check(in_width > 0 && in_height > 0 && out_width > 0 && out_height > 0, ErrorCode::BadInput,
        "image resize: sizes must be positive (from " + std::to_string(in_width) + "x" +
            std::to_string(in_height) + " to " + std::to_string(out_width) + "x" + std::to_string(out_height) + ")");
  horiz_ = make_pass(in_width, out_width);
  vert_ = make_pass(in_height, out_height);
}

void PilBicubicResizer::resize(const uint8_t* src, int channels, uint8_t* dst) const {
  check(channels >= 1 && channels <= 4, ErrorCode::BadInput,
        "image resize: 1 to 4 channels supported, found " + std::to_string(channels));
  const int c = channels;
  const int32_t half = 1 << (kPrecisionBits - 1);
  // Horizontal pass: in_h x out_w (or the input itself when the width is unchanged).
  std::vector<uint8_t> tmp;
  const uint8_t* mid = src;
  int mid_w = in_w_;
  if (horiz_.needed) {
    tmp.resize(static_cast<size_t>(in_h_) * out_w_ * c);
    for (int y = 0; y < in_h_; ++y) {
      const uint8_t* in_row = src + static_cast<size_t>(y) * in_w_ * c;
      uint8_t* out_row = tmp.data() + static_cast<size_t>(y) * out_w_ * c;
      for (int xx = 0; xx < out_w_; ++xx) {
        const int xmin = horiz_.bounds[xx * 2], xmax = horiz_.bounds[xx * 2 + 1];
        const int32_t* k = &horiz_.coeffs[static_cast<size_t>(xx) * horiz_.ksize];
        const uint8_t* px = in_row + static_cast<size_t>(xmin) * c;
        if (c == 3) {
          int32_t s0 = half, s1 = half, s2 = half;
          for (int x = 0; x < xmax; ++x, px += 3) {
            s0 += static_cast<int32_t>(px[0]) * k[x];
            s1 += static_cast<int32_t>(px[1]) * k[x];
            s2 += static_cast<int32_t>(px[2]) * k[x];
          }
          out_row[xx * 3 + 0] = clip8(s0);
          out_row[xx * 3 + 1] = clip8(s1);
          out_row[xx * 3 + 2] = clip8(s2);
        } else {
          for (int ch = 0; ch < c; ++ch) {
            int32_t ss = half;
            for (int x = 0; x < xmax; ++x) ss += static_cast<int32_t>(px[x * c + ch]) * k[x];
            out_row[xx * c + ch] = clip8(ss);
          }
        }
      }
    }
    mid = tmp.data();
    mid_w = out_w_;
  }
  // Vertical pass.
  if (vert_.needed) {
    // Integer sums are exact, so accumulating row by row (cache-friendly) equals Pillow's per-pixel loop.
    const size_t row_len = static_cast<size_t>(mid_w) * c;
    std::vector<int32_t> acc(row_len);
    for (int yy = 0; yy < out_h_; ++yy) {
      const int ymin = vert_.bounds[yy * 2], ymax = vert_.bounds[yy * 2 + 1];
      const int32_t* k = &vert_.coeffs[static_cast<size_t>(yy) * vert_.ksize];
      std::fill(acc.begin(), acc.end(), half);
      for (int y = 0; y < ymax; ++y) {
        const uint8_t* in_row = mid + static_cast<size_t>(y + ymin) * row_len;
        const int32_t ky = k[y];
        for (size_t xi = 0; xi < row_len; ++xi) acc[xi] += static_cast<int32_t>(in_row[xi]) * ky;
      }
      uint8_t* out_row = dst + static_cast<size_t>(yy) * row_len;
      for (size_t xi = 0; xi < row_len; ++xi) out_row[xi] = clip8(acc[xi]);
    }
  } else {
    std::copy(mid, mid + static_cast<size_t>(in_h_) * mid_w * c, dst);
  }
}

Image8 PilBicubicResizer::resize(const Image8& in) const {
  check(in.width == in_w_ && in.height == in_h_, ErrorCode::BadInput,
        "image resize: resizer made for " + std::to_string(in_w_) + "x" + std::to_string(in_h_) +
            " got an image of " + std::to_string(in.width) + "x" + std::to_string(in.height));
  Image8 out(out_w_, out_h_, in.channels);
  resize(in.pixels.data(), in.channels, out.pixels.data());
  return out;
}

Image8 pil_resize_bicubic(const Image8& in, int out_width, int out_height) {
  if (in.width == out_width && in.height == out_height) return in;
  return PilBicubicResizer(in.width, in.height, out_width, out_height).resize(in);
}

Image8 pil_rgb_to_l(const Image8& rgb) {
  check(rgb.channels == 3, ErrorCode::BadInput,
        "convert to L: expected an RGB image, found " + std::to_string(rgb.channels) + " channel(s)");
  Image8 out(rgb.width, rgb.height, 1);
  const size_t n = static_cast<size_t>(rgb.width) * rgb.height;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = rgb.pixels[3 * i], g = rgb.pixels[3 * i + 1], b = rgb.pixels[3 * i + 2];
    // Pillow's L24: 0.299/0.587/0.114 scaled by 2^16, rounded.
    out.pixels[i] = static_cast<uint8_t>((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
  }
  return out;
}

Image8 pil_paste_on_black(const Image8& img, int canvas_width, int canvas_height, int x, int y) {
  Image8 out(canvas_width, canvas_height, img.channels, 0);
  const int c = img.channels;
  for (int sy = 0; sy < img.height; ++sy) {
    const int dy = sy + y;
    if (dy < 0 || dy >= canvas_height) continue;
    for (int sx = 0; sx < img.width; ++sx) {
      const int dx = sx + x;
      if (dx < 0 || dx >= canvas_width) continue;
      for (int ch = 0; ch < c; ++ch) out.row(dy)[dx * c + ch] = img.row(sy)[sx * c + ch];
    }
  }
  return out;
}

}  // namespace mf::tasks
