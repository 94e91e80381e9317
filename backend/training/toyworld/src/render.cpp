#include "mf/toyworld/render.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <opencv2/imgproc.hpp>

#include "mf/core/error.h"
#include "mf/toyworld/caption.h"

namespace mf::toyworld {

namespace {

constexpr int kShift = 4;  // OpenCV drawing with 1/16 pixel precision
constexpr double kOne = 1 << kShift;
constexpr double kPi = 3.14159265358979323846;

struct Rgbf {
  float r, g, b;
};

Rgbf to_float(Colour c) {
  const Rgb v = palette_rgb(c);
  return {float(v.r), float(v.g), float(v.b)};
}

Rgbf lerp(const Rgbf& a, const Rgbf& b, float w) {
  return {a.r + (b.r - a.r) * w, a.g + (b.g - a.g) * w, a.b + (b.b - a.b) * w};
}

// Progress through the clip in [0, 1] (0 for a single frame).
double progress(const Scene& s, int t) { return s.frames > 1 ? double(t) / double(s.frames - 1) : 0.0; }

void camera_offset(const Scene& s, int t, double& ox, double& oy) {
  double px, py;
  direction_vector(s.camera.pan, px, py);
  ox = px * s.camera.speed * t;
  oy = py * s.camera.speed * t;
}

void screen_centre(const Scene& s, const Shape& sh, int t, double& cx, double& cy) {
  double dx, dy, ox, oy;
  direction_vector(sh.direction, dx, dy);
  camera_offset(s, t, ox, oy);
  cx = sh.x0 + dx * sh.speed * t - ox;
  cy = sh.y0 + dy * sh.speed * t - oy;
}

// Share of a one-pixel box around coordinate `c` (pixels along the pattern axis) that lies in the first half
// of a period-P band pair: 1 well inside colour a, 0 well inside colour b, a linear ramp across each edge.
float band(double c, double period) {
  const double half = 0.5 * period;
  const double u = c - period * std::floor(c / period);
  const double d = (u < half) ? std::min(u, half - u) : -std::min(u - half, period - u);
  return float(std::clamp(d + 0.5, 0.0, 1.0));
}

void draw_background(const Scene& s, int t, cv::Mat& buf, cv::Mat& depth) {
  const Background& b = s.background;
  const Rgbf A = to_float(b.colour_a), B = to_float(b.colour_b);
  double ox, oy;
  camera_offset(s, t, ox, oy);
  const int W = s.width, H = s.height;
  const double P = b.period;
  std::vector<float> col_w(W);  // per-column weights where the pattern depends on x only
  if (b.kind == BackgroundKind::GradientHorizontal) {
    for (int x = 0; x < W; ++x) col_w[x] = float(std::clamp((x + 0.5 + ox) / W, 0.0, 1.0));
  } else if (b.kind == BackgroundKind::StripesVertical || b.kind == BackgroundKind::Checker) {
    for (int x = 0; x < W; ++x) col_w[x] = band(x + 0.5 + ox, P);
  }
  constexpr double kInvSqrt2 = 0.70710678118654752440;
  for (int y = 0; y < H; ++y) {
    auto* px = buf.ptr<cv::Vec3f>(y);
    float* pd = depth.ptr<float>(y);
    const double yc = y + 0.5 + oy;
    float row_w = 0.f;  // weight of colour b for patterns that depend on y only
    float dz = float(1.0 / kBackgroundZ);
    switch (b.kind) {
      case BackgroundKind::GradientVertical: {
        const double w = std::clamp(yc / H, 0.0, 1.0);
        row_w = float(w);
        dz = float(1.0 / (kGroundZTop + (kGroundZBottom - kGroundZTop) * w));
        break;
      }
      case BackgroundKind::StripesHorizontal: row_w = 1.f - band(yc, P); break;
      default: break;
    }
    const float ay = (b.kind == BackgroundKind::Checker) ? band(yc, P) : 0.f;
    for (int x = 0; x < W; ++x) {
      float wb;  // weight of colour b
      switch (b.kind) {
        case BackgroundKind::Flat: wb = 0.f; break;
        case BackgroundKind::GradientVertical:
        case BackgroundKind::StripesHorizontal: wb = row_w; break;
        case BackgroundKind::GradientHorizontal: wb = col_w[x]; break;
        case BackgroundKind::StripesVertical: wb = 1.f - col_w[x]; break;
        case BackgroundKind::StripesDiagonal: wb = 1.f - band((x + 0.5 + ox + yc) * kInvSqrt2, P); break;
        case BackgroundKind::Checker: {
          const float ax = col_w[x];
          wb = 1.f - (ax * ay + (1.f - ax) * (1.f - ay));
          break;
        }
        default: wb = 0.f; break;
      }
      const Rgbf c = lerp(A, B, wb);
      px[x] = cv::Vec3f(c.r, c.g, c.b);
      pd[x] = dz;
    }
  }
}

// Shapes are rasterised as hard-edged OpenCV fills on a grid kSuper times finer than the frame and
// box-filtered down: antialiased coverage with the same precision on both axes. (OpenCV's own LINE_AA
// polygon fill rounds y to whole pixels, which would make vertical motion jump pixel by pixel.)
constexpr int kSuper = 4;
constexpr int64_t kMaxSuperPixels = int64_t(1) << 24;  // bigger boxes fall back to OpenCV's LINE_AA at 1x

// A point in frame coordinates (pixel i covers [i, i+1)) as an OpenCV fixed-point coordinate on a grid
// `scale` times finer, whose integer points are cell centres.
cv::Point grid_point(double x, double y, int scale) {
  return {int(std::lround((x * scale - 0.5) * kOne)), int(std::lround((y * scale - 0.5) * kOne))};
}

// Polygon vertices of a shape centred at (cx, cy) (frame coordinates relative to the mask origin).
std::vector<cv::Point> polygon(const Shape& sh, double cx, double cy, int scale) {
  std::vector<cv::Point> pts;
  const double r = sh.size;
  const double a0 = (sh.angle - 90.0) * (kPi / 180.0);  // first vertex straight up at angle 0
  auto add = [&](double radius, double a) {
    pts.push_back(grid_point(cx + radius * std::cos(a), cy + radius * std::sin(a), scale));
  };
  switch (sh.kind) {
    case ShapeKind::Square:
      for (int k = 0; k < 4; ++k) add(r, a0 + kPi / 4 + k * (kPi / 2));  // edges axis-aligned at angle 0
      break;
    case ShapeKind::Triangle:
      for (int k = 0; k < 3; ++k) add(r, a0 + k * (2 * kPi / 3));
      break;
    case ShapeKind::Star:
      for (int k = 0; k < 10; ++k) add((k % 2) ? 0.45 * r : r, a0 + k * (kPi / 5));
      break;
    default: break;
  }
  return pts;
}

// Draws the shape (value 255 inside) into `mask`, a grid `scale` times finer than the frame.
void fill_shape(const Shape& sh, double cx, double cy, int scale, int line_type, cv::Mat& mask) {
  const cv::Point c = grid_point(cx, cy, scale);
  const int radius = int(std::lround(sh.size * scale * kOne));
  switch (sh.kind) {
    case ShapeKind::Circle:
      cv::circle(mask, c, radius, cv::Scalar(255), cv::FILLED, line_type, kShift);
      break;
    case ShapeKind::Ring:
      cv::circle(mask, c, radius, cv::Scalar(255), cv::FILLED, line_type, kShift);
      cv::circle(mask, c, int(std::lround(0.6 * sh.size * scale * kOne)), cv::Scalar(0), cv::FILLED, line_type,
                 kShift);
      break;
    default: {
      const std::vector<cv::Point> pts = polygon(sh, cx, cy, scale);
      const cv::Point* p = pts.data();
      const int n = int(pts.size());
      cv::fillPoly(mask, &p, &n, 1, cv::Scalar(255), line_type, kShift);
      break;
    }
  }
}

// Coverage (0..255) of the shape centred at (cx, cy) over the pixels of `mask` (frame resolution).
void draw_mask(const Shape& sh, double cx, double cy, cv::Mat& mask, cv::Mat& super) {
  mask.setTo(0);
  if (int64_t(mask.rows) * mask.cols * kSuper * kSuper > kMaxSuperPixels) {
    fill_shape(sh, cx, cy, 1, cv::LINE_AA, mask);
    return;
  }
  if (super.rows < mask.rows * kSuper || super.cols < mask.cols * kSuper)
    super.create(std::max(super.rows, mask.rows * kSuper), std::max(super.cols, mask.cols * kSuper), CV_8UC1);
  cv::Mat fine = super(cv::Rect(0, 0, mask.cols * kSuper, mask.rows * kSuper));
  fine.setTo(0);
  fill_shape(sh, cx, cy, kSuper, cv::LINE_8, fine);
  constexpr int n = kSuper * kSuper;
  for (int y = 0; y < mask.rows; ++y) {
    uint8_t* out = mask.ptr<uint8_t>(y);
    for (int x = 0; x < mask.cols; ++x) {
      int sum = 0;
      for (int j = 0; j < kSuper; ++j) {
        const uint8_t* row = fine.ptr<uint8_t>(y * kSuper + j) + x * kSuper;
        for (int i = 0; i < kSuper; ++i) sum += row[i];
      }
      out[x] = uint8_t((sum + n / 2) / n);
    }
  }
}

void draw_shape(const Scene& s, const Shape& sh, int t, cv::Mat& buf, cv::Mat& depth, cv::Mat& mask_storage,
                cv::Mat& super) {
  double cx, cy;
  screen_centre(s, sh, t, cx, cy);
  const double R = sh.size + 2.0;
  const int x0 = std::max(0, int(std::floor(cx - R))), x1 = std::min(s.width, int(std::ceil(cx + R)) + 1);
  const int y0 = std::max(0, int(std::floor(cy - R))), y1 = std::min(s.height, int(std::ceil(cy + R)) + 1);
  if (x0 >= x1 || y0 >= y1) return;  // off-frame
  cv::Mat mask = mask_storage(cv::Rect(0, 0, x1 - x0, y1 - y0));
  draw_mask(sh, cx - x0, cy - y0, mask, super);

  Rgbf col = to_float(sh.colour);
  if (sh.colour_to) col = lerp(col, to_float(*sh.colour_to), float(progress(s, t)));
  const float inv_z = float(1.0 / sh.z);
  for (int y = y0; y < y1; ++y) {
    const uint8_t* m = mask.ptr<uint8_t>(y - y0);
    auto* px = buf.ptr<cv::Vec3f>(y);
    float* pd = depth.ptr<float>(y);
    for (int x = x0; x < x1; ++x) {
      const uint8_t a8 = m[x - x0];
      if (a8 == 0) continue;
      const float a = a8 * (1.f / 255.f);
      cv::Vec3f& p = px[x];
      p[0] += (col.r - p[0]) * a;
      p[1] += (col.g - p[1]) * a;
      p[2] += (col.b - p[2]) * a;
      if (a8 >= 128) pd[x] = inv_z;
    }
  }
}

// Drawing order: farthest first (painter's algorithm), ties in list order.
std::vector<size_t> draw_order(const Scene& s) {
  std::vector<size_t> order(s.shapes.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s.shapes[a].z > s.shapes[b].z; });
  return order;
}

void render_frame_unchecked(const Scene& s, int t, const std::vector<size_t>& order, cv::Mat& buf, cv::Mat& mask,
                            cv::Mat& super, cv::Mat& rgb, cv::Mat& depth) {
  buf.create(s.height, s.width, CV_32FC3);
  depth.create(s.height, s.width, CV_32FC1);
  draw_background(s, t, buf, depth);
  for (size_t i : order) draw_shape(s, s.shapes[i], t, buf, depth, mask, super);
  const double light = s.lighting.start + (s.lighting.end - s.lighting.start) * progress(s, t);
  buf.convertTo(rgb, CV_8UC3, light);
}

}  // namespace

void render_frame(const Scene& scene, int t, cv::Mat& rgb, cv::Mat& depth) {
  validate(scene);
  check(t >= 0 && t < scene.frames, ErrorCode::BadInput,
        "toy render: frame " + std::to_string(t) + " is outside 0.." + std::to_string(scene.frames - 1));
  cv::Mat buf, super, mask(scene.height, scene.width, CV_8UC1);
  render_frame_unchecked(scene, t, draw_order(scene), buf, mask, super, rgb, depth);
}

ToyClip render(const Scene& scene) {
  validate(scene);
  ToyClip clip;
  clip.fps = scene.fps;
  clip.caption = caption(scene);
  clip.frames.resize(scene.frames);
  clip.depth.resize(scene.frames);
  const std::vector<size_t> order = draw_order(scene);
  cv::Mat buf, super, mask(scene.height, scene.width, CV_8UC1);
  for (int t = 0; t < scene.frames; ++t)
    render_frame_unchecked(scene, t, order, buf, mask, super, clip.frames[t], clip.depth[t]);
  return clip;
}

MainShapeTrack main_shape_track(const Scene& scene) {
  validate(scene);
  const Shape& sh = scene.shapes[0];
  MainShapeTrack track;
  track.kind = sh.kind;
  track.direction = sh.speed > 0 ? sh.direction : Direction::Still;
  track.points.resize(scene.frames);
  for (int t = 0; t < scene.frames; ++t) {
    TrackPoint& p = track.points[t];
    screen_centre(scene, sh, t, p.x, p.y);
    p.visible = p.x + sh.size > 0 && p.x - sh.size < scene.width && p.y + sh.size > 0 && p.y - sh.size < scene.height;
    p.colour = (sh.colour_to && progress(scene, t) > 0.5) ? *sh.colour_to : sh.colour;
  }
  return track;
}

}  // namespace mf::toyworld
