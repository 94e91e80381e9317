#include "mf/toyworld/sampler.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "mf/core/error.h"
#include "mf/toyworld/rng.h"

namespace mf::toyworld {

namespace {

void require(bool cond, const std::string& msg) { check(cond, ErrorCode::BadInput, "toy sampler: " + msg); }

void check_probability(double p, const char* name) {
  require(std::isfinite(p) && p >= 0.0 && p <= 1.0,
          std::string(name) + " must be a probability in [0, 1] (got " + std::to_string(p) + ")");
}

void check_weight(double w, const char* name) {
  require(std::isfinite(w) && w >= 0.0, std::string(name) + " must be a weight >= 0 (got " + std::to_string(w) + ")");
}

// Colours not yet used in the scene, so every surface keeps a colour of its own.
class ColourPool {
 public:
  bool empty() const { return std::find(used_.begin(), used_.end(), false) == used_.end(); }
  Colour take(Rng& rng) {
    std::vector<int> free;
    for (int c = 0; c < kNumColours; ++c)
      if (!used_[c]) free.push_back(c);
    const int c = free[rng.below(free.size())];
    used_[c] = true;
    return static_cast<Colour>(c);
  }

 private:
  std::array<bool, kNumColours> used_{};
};

// Start position and speed of a moving shape so that it stays inside the frame (exit None), enters from
// off-frame, or leaves it. Along an axis the shape does not move on, its centre is anywhere that keeps it inside.
void place(Rng& rng, int W, int H, int frames, Shape& sh) {
  const double r = sh.size;
  const double t1 = std::max(frames - 1, 1);
  auto inside = [&](double dim) {  // a centre coordinate that keeps the shape inside [0, dim)
    return (dim > 2 * r) ? rng.uniform(r, dim - r) : dim * 0.5;
  };
  double dx, dy;
  direction_vector(sh.direction, dx, dy);
  if (sh.direction == Direction::Still) {
    sh.speed = 0.0;
    sh.x0 = inside(W);
    sh.y0 = inside(H);
    return;
  }
  if (sh.exit != Exit::None) {
    // Axis-aligned only (the sampler never asks otherwise). a = coordinate along the motion.
    const bool horizontal = dx != 0.0;
    const double dim = horizontal ? W : H;
    const double sign = horizontal ? dx : dy;
    const double off = r + rng.uniform(1.0, 1.0 + 0.1 * dim);  // distance beyond the edge, fully off-frame
    double a0, a1;  // along-axis coordinates at the first and last frame, in the direction of motion
    if (sh.exit == Exit::Enters) {
      a0 = -off;
      a1 = rng.uniform(0.3, 0.7) * dim;
    } else {
      a0 = rng.uniform(0.3, 0.7) * dim;
      a1 = dim + off;
    }
    if (sign < 0) {  // mirror: moving towards smaller coordinates
      a0 = dim - a0;
      a1 = dim - a1;
    }
    sh.speed = std::abs(a1 - a0) / t1;
    if (horizontal) {
      sh.x0 = a0;
      sh.y0 = inside(H);
    } else {
      sh.y0 = a0;
      sh.x0 = inside(W);
    }
    return;
  }
  // Stays inside: travel a share of the frame, limited by the room the shape has on each axis it moves on.
  const double along = (dx != 0.0 && dy != 0.0) ? std::min(W, H) : (dx != 0.0 ? W : H);
  double travel = rng.uniform(0.25, 0.6) * along;
  if (dx != 0.0) travel = std::min(travel, std::max(W - 2 * r, 0.0) / std::abs(dx));
  if (dy != 0.0) travel = std::min(travel, std::max(H - 2 * r, 0.0) / std::abs(dy));
  travel = std::max(travel, 0.0);
  auto start = [&](double dim, double d) {
    const double lo = r + std::max(0.0, -d * travel);
    const double hi = dim - r - std::max(0.0, d * travel);
    return lo < hi ? rng.uniform(lo, hi) : 0.5 * (lo + hi);
  };
  sh.x0 = start(W, dx);
  sh.y0 = start(H, dy);
  sh.speed = travel / t1;
  if (sh.speed <= 0.0) {  // no room at all (shape as big as the frame): still keep the captioned motion visible
    sh.speed = 0.1 * along / t1;
  }
}

}  // namespace

void validate(const SamplerOptions& o) {
  require(o.width > 0, "width must be positive (got " + std::to_string(o.width) + ")");
  require(o.height > 0, "height must be positive (got " + std::to_string(o.height) + ")");
  require(o.width <= 8192 && o.height <= 8192, "width and height must be at most 8192 (got " +
                                                   std::to_string(o.width) + "x" + std::to_string(o.height) + ")");
  require(o.frames > 0, "frames must be positive (got " + std::to_string(o.frames) + ")");
  require(o.frames <= 100000, "frames must be at most 100000 (got " + std::to_string(o.frames) + ")");
  require(std::isfinite(o.fps) && o.fps > 0, "fps must be positive (got " + std::to_string(o.fps) + ")");
  require(o.min_shapes >= 1, "min_shapes must be at least 1 (got " + std::to_string(o.min_shapes) + ")");
  require(o.max_shapes >= o.min_shapes && o.max_shapes <= 8,
          "max_shapes must be in [min_shapes, 8] (got " + std::to_string(o.max_shapes) + " with min_shapes " +
              std::to_string(o.min_shapes) + ")");
  check_weight(o.w_flat, "w_flat");
  check_weight(o.w_gradient, "w_gradient");
  check_weight(o.w_stripes, "w_stripes");
  check_weight(o.w_checker, "w_checker");
  require(o.w_flat + o.w_gradient + o.w_stripes + o.w_checker > 0, "at least one background weight must be > 0");
  check_probability(o.p_extra_shapes, "p_extra_shapes");
  check_probability(o.p_diagonal, "p_diagonal");
  check_probability(o.p_still, "p_still");
  check_probability(o.p_colour_change, "p_colour_change");
  check_probability(o.p_enter_leave, "p_enter_leave");
  check_probability(o.p_lighting, "p_lighting");
  check_probability(o.p_pan, "p_pan");
}

Scene sample_scene(uint64_t seed, const SamplerOptions& o) {
  validate(o);
  Rng rng(seed);
  Scene s;
  s.width = o.width;
  s.height = o.height;
  s.frames = o.frames;
  s.fps = o.fps;
  s.seed = seed;
  const double ref = std::min(o.width, o.height);
  ColourPool pool;

  // Background.
  {
    const double total = o.w_flat + o.w_gradient + o.w_stripes + o.w_checker;
    const double u = rng.uniform() * total;
    Background& b = s.background;
    if (u < o.w_flat) {
      b.kind = BackgroundKind::Flat;
    } else if (u < o.w_flat + o.w_gradient) {
      b.kind = rng.chance(0.5) ? BackgroundKind::GradientVertical : BackgroundKind::GradientHorizontal;
    } else if (u < o.w_flat + o.w_gradient + o.w_stripes) {
      constexpr BackgroundKind k[] = {BackgroundKind::StripesHorizontal, BackgroundKind::StripesVertical,
                                      BackgroundKind::StripesDiagonal};
      b.kind = k[rng.below(3)];
    } else {
      b.kind = BackgroundKind::Checker;
    }
    b.colour_a = pool.take(rng);
    b.colour_b = (b.kind == BackgroundKind::Flat) ? b.colour_a : pool.take(rng);
    b.period = std::max(4.0, std::round(rng.uniform(0.15, 0.4) * ref));
  }

  // Shapes: count, distinct distances (one random stratum of [1.5, 5] each), then each shape.
  int n = o.min_shapes;
  while (n < o.max_shapes && rng.chance(o.p_extra_shapes)) ++n;
  std::vector<int> strata(n);
  for (int i = 0; i < n; ++i) strata[i] = i;
  for (int i = n - 1; i > 0; --i) std::swap(strata[i], strata[rng.below(i + 1)]);
  const double z_lo = 1.5, z_hi = 5.0, z_step = (z_hi - z_lo) / n;
  const int kinds = o.allow_star_ring ? kNumShapeKinds : 3;
  for (int i = 0; i < n; ++i) {
    Shape sh;
    sh.kind = static_cast<ShapeKind>(rng.below(kinds));
    sh.colour = pool.take(rng);
    sh.size = (i == 0 ? rng.uniform(0.12, 0.26) : rng.uniform(0.06, 0.22)) * ref;
    sh.angle = (sh.kind == ShapeKind::Circle || sh.kind == ShapeKind::Ring) ? 0.0 : std::round(rng.uniform(0, 360));
    if (rng.chance(o.p_still)) {
      sh.direction = Direction::Still;
    } else if (rng.chance(o.p_diagonal)) {
      constexpr Direction d[] = {Direction::UpLeft, Direction::UpRight, Direction::DownLeft, Direction::DownRight};
      sh.direction = d[rng.below(4)];
    } else {
      constexpr Direction d[] = {Direction::Left, Direction::Right, Direction::Up, Direction::Down};
      sh.direction = d[rng.below(4)];
      if (rng.chance(o.p_enter_leave)) sh.exit = rng.chance(0.5) ? Exit::Enters : Exit::Leaves;
    }
    place(rng, o.width, o.height, o.frames, sh);
    sh.z = z_lo + z_step * (strata[i] + rng.uniform(0.1, 0.9));
    if (rng.chance(o.p_colour_change) && !pool.empty()) sh.colour_to = pool.take(rng);
    s.shapes.push_back(sh);
  }

  // Lighting ramp.
  if (rng.chance(o.p_lighting)) {
    if (rng.chance(0.5)) {
      s.lighting = {1.0, rng.uniform(0.35, 0.7)};
    } else {
      s.lighting = {rng.uniform(0.35, 0.7), 1.0};
    }
  }

  // Camera pan: only over a pattern that shows it, never with shapes entering/leaving (the pan would change
  // whether they do), and only along an axis the main shape moves on, slow enough that the main shape's
  // on-screen motion keeps the captioned direction (at least half its own speed on every axis it moves on).
  if (rng.chance(o.p_pan)) {
    std::vector<Direction> cand;
    const BackgroundKind k = s.background.kind;
    if (k == BackgroundKind::StripesVertical || k == BackgroundKind::StripesDiagonal || k == BackgroundKind::Checker) {
      cand.push_back(Direction::Left);
      cand.push_back(Direction::Right);
    }
    if (k == BackgroundKind::StripesHorizontal || k == BackgroundKind::StripesDiagonal ||
        k == BackgroundKind::Checker) {
      cand.push_back(Direction::Up);
      cand.push_back(Direction::Down);
    }
    bool any_exit = false;
    for (const Shape& sh : s.shapes) any_exit = any_exit || sh.exit != Exit::None;
    const Shape& main = s.shapes[0];
    double mdx, mdy;
    direction_vector(main.direction, mdx, mdy);
    const bool main_moves = main.direction != Direction::Still && main.speed > 0;
    std::vector<Direction> ok;
    for (Direction d : cand) {
      double px, py;
      direction_vector(d, px, py);
      if (main_moves && ((px != 0 && mdx == 0) || (py != 0 && mdy == 0))) continue;
      ok.push_back(d);
    }
    double speed = rng.uniform(0.25, 0.6) * ref / 96.0;
    if (!any_exit && !ok.empty()) {
      const Direction d = ok[rng.below(ok.size())];
      double px, py;
      direction_vector(d, px, py);
      if (main_moves) {
        const double along = px * mdx + py * mdy;  // > 0: the pan slows the main shape down on screen
        if (along > 0) speed = std::min(speed, 0.5 * main.speed * along);
      }
      if (speed >= 0.05) s.camera = {d, speed};
    }
  }
  return s;
}

}  // namespace mf::toyworld
