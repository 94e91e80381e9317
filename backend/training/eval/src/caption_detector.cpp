#include "mf/eval/caption_detector.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>

#include <opencv2/imgproc.hpp>

#include "mf/core/error.h"

namespace mf::eval {

using toyworld::Colour;
using toyworld::Direction;

namespace {

void require(bool cond, const std::string& msg) { check(cond, ErrorCode::BadInput, "caption detector: " + msg); }

struct Vec3 {
  double r = 0, g = 0, b = 0;
};

Vec3 rgb_of(Colour c) {
  const toyworld::Rgb v = toyworld::palette_rgb(c);
  return {double(v.r), double(v.g), double(v.b)};
}

Vec3 lerp(const Vec3& a, const Vec3& b, double w) {
  return {a.r + (b.r - a.r) * w, a.g + (b.g - a.g) * w, a.b + (b.b - a.b) * w};
}

double dist2(const uint8_t* p, const Vec3& c, double g) {
  const double dr = p[0] - g * c.r, dg = p[1] - g * c.g, db = p[2] - g * c.b;
  return dr * dr + dg * dg + db * db;
}

// Reference colours of one frame; the first n_target are the target colours.
struct References {
  std::vector<Vec3> colours;
  size_t n_target = 0;
};

References references_for(const CaptionTarget& target, int t, int frames) {
  References refs;
  const Vec3 a = rgb_of(target.colour);
  if (target.colour_to && *target.colour_to != target.colour) {
    const double w = frames > 1 ? double(t) / double(frames - 1) : 0.0;
    refs.colours.push_back(lerp(a, rgb_of(*target.colour_to), w));     // as rendered
    refs.colours.push_back(w > 0.5 ? rgb_of(*target.colour_to) : a);  // the nearer end
  } else {
    refs.colours.push_back(a);
  }
  refs.n_target = refs.colours.size();
  for (int c = 0; c < toyworld::kNumColours; ++c) {
    const Colour col = static_cast<Colour>(c);
    if (col == target.colour || (target.colour_to && col == *target.colour_to)) continue;
    refs.colours.push_back(rgb_of(col));
  }
  if (target.background.size() == 2 && target.background[0] != target.background[1]) {
    const Vec3 p = rgb_of(target.background[0]), q = rgb_of(target.background[1]);
    for (int k = 1; k < 8; ++k) refs.colours.push_back(lerp(p, q, k / 8.0));
  }
  return refs;
}

// One frame: classify every pixel, open, pick the largest component of a plausible size.
FrameDetection detect_frame(const cv::Mat& f, const References& refs, const DetectorOptions& o) {
  const size_t n_refs = refs.colours.size();
  std::vector<double> inv_norm2(n_refs);
  for (size_t k = 0; k < n_refs; ++k) {
    const Vec3& c = refs.colours[k];
    inv_norm2[k] = 1.0 / std::max(c.r * c.r + c.g * c.g + c.b * c.b, 1.0);
  }
  const double tol2 = o.tolerance * o.tolerance;
  cv::Mat mask(f.size(), CV_8UC1, cv::Scalar(0));
  cv::Mat gains(f.size(), CV_32FC1, cv::Scalar(1.0f));
  for (int y = 0; y < f.rows; ++y) {
    const uint8_t* p = f.ptr<uint8_t>(y);
    uint8_t* m = mask.ptr<uint8_t>(y);
    float* pg = gains.ptr<float>(y);
    for (int x = 0; x < f.cols; ++x, p += 3) {
      double best = 1e300, best_g = 1.0;
      size_t arg = 0;
      for (size_t k = 0; k < n_refs; ++k) {
        const Vec3& c = refs.colours[k];
        double g = 1.0;
        if (o.brightness_invariant)
          g = std::clamp((p[0] * c.r + p[1] * c.g + p[2] * c.b) * inv_norm2[k], o.min_gain, o.max_gain);
        const double dd = dist2(p, c, g) / (g * g);
        if (dd < best) {
          best = dd;
          best_g = g;
          arg = k;
        }
      }
      if (arg < refs.n_target && best <= tol2) {
        m[x] = 255;
        pg[x] = float(best_g);
      }
    }
  }
  cv::morphologyEx(mask, mask, cv::MORPH_OPEN, cv::getStructuringElement(cv::MORPH_CROSS, cv::Size(3, 3)));
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
  const double area = double(f.total());
  const int min_px = std::max(8, int(std::ceil(o.min_blob_fraction * area)));
  const int max_px = int(o.max_blob_fraction * area);
  int best = -1, best_px = 0;
  for (int i = 1; i < n; ++i) {
    const int px = stats.at<int>(i, cv::CC_STAT_AREA);
    if (px < min_px || px > max_px) continue;
    if (px > best_px) {
      best_px = px;
      best = i;
    }
  }
  FrameDetection d;
  if (best > 0) {
    d.found = true;
    d.pixels = best_px;
    d.x = centroids.at<double>(best, 0) + 0.5;
    d.y = centroids.at<double>(best, 1) + 0.5;
    double sum = 0.0;
    for (int y = 0; y < labels.rows; ++y) {
      const int* l = labels.ptr<int>(y);
      const float* pg = gains.ptr<float>(y);
      for (int x = 0; x < labels.cols; ++x)
        if (l[x] == best) sum += pg[x];
    }
    d.gain = sum / best_px;
  }
  return d;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) m = 0.5 * (m + *std::max_element(v.begin(), v.begin() + mid));
  return m;
}

// Theil-Sen slope of v over t (median of pairwise slopes); 0 for fewer than two points.
double theil_sen(const std::vector<double>& t, const std::vector<double>& v) {
  std::vector<double> slopes;
  for (size_t i = 0; i < t.size(); ++i)
    for (size_t j = i + 1; j < t.size(); ++j) slopes.push_back((v[j] - v[i]) / (t[j] - t[i]));
  return median(std::move(slopes));
}

int sign_of(double v, double m) { return v >= m ? 1 : (v <= -m ? -1 : 0); }

Direction direction_of(int sx, int sy) {
  if (sx == 0 && sy == 0) return Direction::Still;
  if (sy == 0) return sx < 0 ? Direction::Left : Direction::Right;
  if (sx == 0) return sy < 0 ? Direction::Up : Direction::Down;
  if (sy < 0) return sx < 0 ? Direction::UpLeft : Direction::UpRight;
  return sx < 0 ? Direction::DownLeft : Direction::DownRight;
}

void expected_signs(Direction d, int& sx, int& sy) {
  double dx, dy;
  toyworld::direction_vector(d, dx, dy);
  sx = dx > 0 ? 1 : (dx < 0 ? -1 : 0);
  sy = dy > 0 ? 1 : (dy < 0 ? -1 : 0);
}

Colour colour_word(const std::vector<std::string>& w, size_t i) {
  require(i < w.size(), "the caption ends where a colour was expected");
  try {
    return toyworld::colour_from_string(w[i]);
  } catch (const Error&) {
    throw Error(ErrorCode::BadInput, "caption detector: expected a colour at word " + std::to_string(i + 1) +
                                         ", got '" + w[i] + "'");
  }
}

Direction axis_word(const std::string& s) {
  if (s == "left") return Direction::Left;
  if (s == "right") return Direction::Right;
  if (s == "up") return Direction::Up;
  if (s == "down") return Direction::Down;
  return Direction::Still;
}

}  // namespace

Direction opposite(Direction d) {
  switch (d) {
    case Direction::Still: return Direction::Still;
    case Direction::Left: return Direction::Right;
    case Direction::Right: return Direction::Left;
    case Direction::Up: return Direction::Down;
    case Direction::Down: return Direction::Up;
    case Direction::UpLeft: return Direction::DownRight;
    case Direction::UpRight: return Direction::DownLeft;
    case Direction::DownLeft: return Direction::UpRight;
    case Direction::DownRight: return Direction::UpLeft;
  }
  return Direction::Still;
}

CaptionTarget caption_target(const toyworld::Scene& scene) {
  toyworld::validate(scene);
  const toyworld::Shape& sh = scene.shapes[0];
  CaptionTarget t;
  t.colour = sh.colour;
  if (sh.colour_to && *sh.colour_to != sh.colour) t.colour_to = sh.colour_to;
  const bool moves = sh.direction != Direction::Still && sh.speed > 0.0;
  const bool pans = scene.camera.pan != Direction::Still && scene.camera.speed > 0.0;
  t.direction = moves ? sh.direction : (pans ? opposite(scene.camera.pan) : Direction::Still);
  t.background.push_back(scene.background.colour_a);
  if (scene.background.kind != toyworld::BackgroundKind::Flat &&
      scene.background.colour_b != scene.background.colour_a)
    t.background.push_back(scene.background.colour_b);
  return t;
}

CaptionTarget parse_caption(const std::string& caption) {
  std::istringstream in(caption);
  std::vector<std::string> w;
  for (std::string s; in >> s;) w.push_back(s);
  require(!w.empty(), "empty caption");
  auto word = [&](size_t i) -> const std::string& {
    require(i < w.size(), "the caption '" + caption + "' ends too early");
    return w[i];
  };
  CaptionTarget t;
  size_t i = 0;
  require(word(i) == "a" || word(i) == "an", "the caption must start with 'a' or 'an', got '" + w[0] + "'");
  ++i;
  if (word(i) == "small" || word(i) == "big") ++i;
  t.colour = colour_word(w, i++);
  toyworld::shape_kind_from_string(word(i++));  // throws BadInput for an unknown shape
  Direction dir = Direction::Still;
  if (word(i) == "stays") {
    require(word(i + 1) == "still", "expected 'stays still', got 'stays " + word(i + 1) + "'");
    i += 2;
  } else {
    require(word(i) == "moves", "expected 'moves' or 'stays' at word " + std::to_string(i + 1) + ", got '" +
                                    word(i) + "'");
    ++i;
    dir = axis_word(word(i));
    require(dir != Direction::Still, "expected a direction after 'moves', got '" + word(i) + "'");
    ++i;
    if ((dir == Direction::Up || dir == Direction::Down) && i + 1 < w.size() && w[i] == "and" &&
        (w[i + 1] == "left" || w[i + 1] == "right")) {
      const bool left = w[i + 1] == "left";
      dir = dir == Direction::Up ? (left ? Direction::UpLeft : Direction::UpRight)
                                 : (left ? Direction::DownLeft : Direction::DownRight);
      i += 2;
    }
    if (i < w.size() && (w[i] == "into" || w[i] == "out")) {
      while (i < w.size() && w[i] != "frame") ++i;
      require(i < w.size(), "'into/out of the frame' without 'frame'");
      ++i;
    }
  }
  if (i + 1 < w.size() && w[i] == "and" && w[i + 1] == "turns") {
    t.colour_to = colour_word(w, i + 2);
    i += 3;
  }
  require(word(i) == "over", "expected 'over' after the main shape, got '" + word(i) + "'");
  ++i;
  if (word(i) == "a" || word(i) == "an") ++i;
  if (word(i) == "plain") {
    t.background.push_back(colour_word(w, i + 1));
  } else {
    t.background.push_back(colour_word(w, i));
    require(word(i + 1) == "to" || word(i + 1) == "and",
            "expected 'to' or 'and' between background colours, got '" + word(i + 1) + "'");
    const Colour b = colour_word(w, i + 2);
    if (b != t.background[0]) t.background.push_back(b);
  }
  Direction pan = Direction::Still;
  for (size_t k = 0; k + 2 < w.size(); ++k)
    if (w[k] == "camera" && w[k + 1] == "pans") pan = axis_word(w[k + 2]);
  t.direction = dir != Direction::Still ? dir : opposite(pan);
  return t;
}

CaptionCheck check_caption(const std::vector<cv::Mat>& frames, const CaptionTarget& target,
                           const DetectorOptions& o) {
  require(!frames.empty(), "no frames");
  require(o.tolerance > 0 && o.min_gain > 0 && o.max_gain >= o.min_gain && o.min_blob_fraction >= 0 &&
              o.max_blob_fraction > o.min_blob_fraction && o.min_found_fraction >= 0 &&
              o.min_found_fraction <= 1 && o.min_displacement >= 0 && o.perpendicular_ratio >= 0 &&
              o.max_track_residual >= 0,
          "invalid detector options (tolerance and gains > 0, fractions in range, thresholds >= 0)");
  for (size_t i = 0; i < frames.size(); ++i) {
    require(!frames[i].empty() && frames[i].type() == CV_8UC3 && frames[i].size() == frames[0].size(),
            "frame " + std::to_string(i) + " must be RGB8 (CV_8UC3) of frame 0's size");
  }
  const int T = int(frames.size());
  CaptionCheck c;
  c.frames.resize(T);
  std::vector<double> ts, xs, ys;
  for (int t = 0; t < T; ++t) {
    c.frames[t] = detect_frame(frames[t], references_for(target, t, T), o);
    if (c.frames[t].found) {
      ts.push_back(t);
      xs.push_back(c.frames[t].x);
      ys.push_back(c.frames[t].y);
    }
  }
  c.found_fraction = double(ts.size()) / T;
  c.colour_found = !ts.empty() && c.found_fraction >= o.min_found_fraction;
  const double span = std::max(T - 1, 1);
  const double sx = theil_sen(ts, xs), sy = theil_sen(ts, ys);
  c.dx = sx * span;
  c.dy = sy * span;
  // How far the centroids lie from the fitted straight track (median, in pixels).
  {
    std::vector<double> ox, oy, res;
    for (size_t i = 0; i < ts.size(); ++i) {
      ox.push_back(xs[i] - sx * ts[i]);
      oy.push_back(ys[i] - sy * ts[i]);
    }
    const double x0 = median(ox), y0 = median(oy);
    for (size_t i = 0; i < ts.size(); ++i) res.push_back(std::hypot(ox[i] - x0, oy[i] - y0));
    c.track_residual = median(res);
  }
  const double m = std::max(1.5, o.min_displacement * std::min(frames[0].cols, frames[0].rows));
  c.measured = direction_of(sign_of(c.dx, m), sign_of(c.dy, m));
  const double max_residual = std::max(1.5, o.max_track_residual * std::min(frames[0].cols, frames[0].rows));
  if (c.colour_found && ts.size() >= 2 && c.track_residual <= max_residual) {
    int sx, sy;
    expected_signs(target.direction, sx, sy);
    const double along = std::max(sx ? std::abs(c.dx) : 0.0, sy ? std::abs(c.dy) : 0.0);
    const double perp_limit = std::max(m, o.perpendicular_ratio * along);
    auto axis_ok = [&](int s, double d) { return s != 0 ? s * d >= m : std::abs(d) <= perp_limit; };
    if (sx == 0 && sy == 0)
      c.direction_ok = std::abs(c.dx) <= m && std::abs(c.dy) <= m;
    else
      c.direction_ok = axis_ok(sx, c.dx) && axis_ok(sy, c.dy);
  }
  return c;
}

CaptionCheck check_caption(const std::vector<cv::Mat>& frames, const toyworld::Scene& scene,
                           const DetectorOptions& options) {
  return check_caption(frames, caption_target(scene), options);
}

void CaptionAccuracy::add(const CaptionCheck& c) {
  ++clips;
  colour_found += c.colour_found;
  direction_ok += c.direction_ok;
  both += c.ok();
}

double CaptionAccuracy::accuracy() const {
  require(clips > 0, "accuracy over no clips");
  return double(both) / clips;
}

}  // namespace mf::eval
