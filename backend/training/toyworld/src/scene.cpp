#include "mf/toyworld/scene.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "mf/core/error.h"

namespace mf::toyworld {

namespace {

constexpr const char* kColourNames[] = {"red",    "green",  "blue",  "yellow", "orange",
                                        "purple", "white",  "black", "cyan",   "pink"};
constexpr Rgb kPalette[] = {
    {220, 40, 40},   // red
    {40, 175, 60},   // green
    {40, 80, 220},   // blue
    {240, 220, 40},  // yellow
    {245, 140, 30},  // orange
    {140, 60, 190},  // purple
    {245, 245, 245}, // white
    {20, 20, 20},    // black
    {40, 210, 220},  // cyan
    {245, 130, 190}, // pink
};
constexpr const char* kShapeNames[] = {"circle", "square", "triangle", "star", "ring"};
constexpr const char* kDirectionNames[] = {"still", "left",      "right",      "up",        "down",
                                           "up_left", "up_right", "down_left", "down_right"};
constexpr const char* kBackgroundNames[] = {"flat",           "gradient_vertical", "gradient_horizontal",
                                            "stripes_horizontal", "stripes_vertical", "stripes_diagonal",
                                            "checker"};
constexpr const char* kExitNames[] = {"none", "enters", "leaves"};

template <typename E, size_t N>
E from_name(const char* const (&names)[N], const std::string& s, const char* what) {
  for (size_t i = 0; i < N; ++i)
    if (s == names[i]) return static_cast<E>(i);
  std::string known;
  for (size_t i = 0; i < N; ++i) known += (i ? ", " : "") + std::string(names[i]);
  throw Error(ErrorCode::BadInput, "toy scene: unknown " + std::string(what) + " '" + s + "' (known: " + known + ")");
}

void require(bool cond, const std::string& msg) { check(cond, ErrorCode::BadInput, "toy scene: " + msg); }

bool finite(double v) { return std::isfinite(v); }

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

const char* to_string(Colour c) { return kColourNames[static_cast<int>(c)]; }
const char* to_string(ShapeKind k) { return kShapeNames[static_cast<int>(k)]; }
const char* to_string(Direction d) { return kDirectionNames[static_cast<int>(d)]; }
const char* to_string(BackgroundKind k) { return kBackgroundNames[static_cast<int>(k)]; }
const char* to_string(Exit e) { return kExitNames[static_cast<int>(e)]; }

Colour colour_from_string(const std::string& s) { return from_name<Colour>(kColourNames, s, "colour"); }
ShapeKind shape_kind_from_string(const std::string& s) { return from_name<ShapeKind>(kShapeNames, s, "shape"); }
Direction direction_from_string(const std::string& s) {
  return from_name<Direction>(kDirectionNames, s, "direction");
}
BackgroundKind background_kind_from_string(const std::string& s) {
  return from_name<BackgroundKind>(kBackgroundNames, s, "background kind");
}
Exit exit_from_string(const std::string& s) { return from_name<Exit>(kExitNames, s, "exit"); }

Rgb palette_rgb(Colour c) { return kPalette[static_cast<int>(c)]; }

void direction_vector(Direction d, double& dx, double& dy) {
  constexpr double h = 0.70710678118654752440;  // 1/sqrt(2)
  switch (d) {
    case Direction::Still: dx = 0; dy = 0; return;
    case Direction::Left: dx = -1; dy = 0; return;
    case Direction::Right: dx = 1; dy = 0; return;
    case Direction::Up: dx = 0; dy = -1; return;
    case Direction::Down: dx = 0; dy = 1; return;
    case Direction::UpLeft: dx = -h; dy = -h; return;
    case Direction::UpRight: dx = h; dy = -h; return;
    case Direction::DownLeft: dx = -h; dy = h; return;
    case Direction::DownRight: dx = h; dy = h; return;
  }
  dx = 0;
  dy = 0;
}

void validate(const Scene& s) {
  require(s.width > 0, "width must be positive (got " + std::to_string(s.width) + ")");
  require(s.height > 0, "height must be positive (got " + std::to_string(s.height) + ")");
  require(s.width <= 8192 && s.height <= 8192,
          "width and height must be at most 8192 (got " + std::to_string(s.width) + "x" +
              std::to_string(s.height) + ")");
  require(s.frames > 0, "frames must be positive (got " + std::to_string(s.frames) + ")");
  require(s.frames <= 100000, "frames must be at most 100000 (got " + std::to_string(s.frames) + ")");
  require(finite(s.fps) && s.fps > 0, "fps must be positive (got " + num(s.fps) + ")");
  require(!s.shapes.empty(), "at least one shape is needed (shapes[0] is the main shape)");
  require(s.shapes.size() <= 64, "at most 64 shapes (got " + std::to_string(s.shapes.size()) + ")");
  require(finite(s.background.period) && s.background.period >= 2.0,
          "background period must be at least 2 pixels (got " + num(s.background.period) + ")");
  for (size_t i = 0; i < s.shapes.size(); ++i) {
    const Shape& sh = s.shapes[i];
    const std::string p = "shapes[" + std::to_string(i) + "].";
    require(finite(sh.size) && sh.size > 0, p + "size must be positive (got " + num(sh.size) + ")");
    require(sh.size <= 16384, p + "size must be at most 16384 pixels (got " + num(sh.size) + ")");
    require(finite(sh.z) && sh.z > 0, p + "z must be positive (got " + num(sh.z) + ")");
    require(finite(sh.speed) && sh.speed >= 0, p + "speed must be >= 0 (got " + num(sh.speed) + ")");
    require(sh.speed <= 10000, p + "speed must be at most 10000 pixels per frame (got " + num(sh.speed) + ")");
    require(finite(sh.x0) && finite(sh.y0) && std::abs(sh.x0) < 1e6 && std::abs(sh.y0) < 1e6,
            p + "x0/y0 must be finite and within 1e6 pixels");
    require(finite(sh.angle), p + "angle must be finite");
  }
  require(finite(s.lighting.start) && finite(s.lighting.end) && s.lighting.start >= 0 && s.lighting.end >= 0 &&
              s.lighting.start <= 4 && s.lighting.end <= 4,
          "lighting start/end must be in [0, 4] (got " + num(s.lighting.start) + ", " + num(s.lighting.end) + ")");
  const Direction pan = s.camera.pan;
  require(pan == Direction::Still || pan == Direction::Left || pan == Direction::Right || pan == Direction::Up ||
              pan == Direction::Down,
          std::string("camera pan must be still, left, right, up or down (got ") + to_string(pan) + ")");
  require(finite(s.camera.speed) && s.camera.speed >= 0 && s.camera.speed <= 10000,
          "camera speed must be in [0, 10000] pixels per frame (got " + num(s.camera.speed) + ")");
}

nlohmann::json scene_to_json(const Scene& s) {
  nlohmann::json j;
  j["width"] = s.width;
  j["height"] = s.height;
  j["frames"] = s.frames;
  j["fps"] = s.fps;
  j["seed"] = s.seed;
  j["background"] = {{"kind", to_string(s.background.kind)},
                     {"colour_a", to_string(s.background.colour_a)},
                     {"colour_b", to_string(s.background.colour_b)},
                     {"period", s.background.period}};
  nlohmann::json shapes = nlohmann::json::array();
  for (const Shape& sh : s.shapes) {
    nlohmann::json o = {{"kind", to_string(sh.kind)}, {"colour", to_string(sh.colour)},
                        {"size", sh.size},            {"angle", sh.angle},
                        {"x0", sh.x0},                {"y0", sh.y0},
                        {"direction", to_string(sh.direction)},
                        {"speed", sh.speed},          {"z", sh.z},
                        {"exit", to_string(sh.exit)}};
    if (sh.colour_to) o["colour_to"] = to_string(*sh.colour_to);
    shapes.push_back(std::move(o));
  }
  j["shapes"] = std::move(shapes);
  j["lighting"] = {{"start", s.lighting.start}, {"end", s.lighting.end}};
  j["camera"] = {{"pan", to_string(s.camera.pan)}, {"speed", s.camera.speed}};
  return j;
}

Scene scene_from_json(const nlohmann::json& j) {
  Scene s;
  try {
    require(j.is_object(), "JSON must be an object");
    s.width = j.at("width").get<int>();
    s.height = j.at("height").get<int>();
    s.frames = j.at("frames").get<int>();
    s.fps = j.value("fps", 16.0);
    s.seed = j.value("seed", uint64_t{0});
    const auto& b = j.at("background");
    s.background.kind = background_kind_from_string(b.at("kind").get<std::string>());
    s.background.colour_a = colour_from_string(b.at("colour_a").get<std::string>());
    s.background.colour_b = colour_from_string(b.value("colour_b", std::string("white")));
    s.background.period = b.value("period", 24.0);
    for (const auto& o : j.at("shapes")) {
      Shape sh;
      sh.kind = shape_kind_from_string(o.at("kind").get<std::string>());
      sh.colour = colour_from_string(o.at("colour").get<std::string>());
      if (o.contains("colour_to") && !o.at("colour_to").is_null())
        sh.colour_to = colour_from_string(o.at("colour_to").get<std::string>());
      sh.size = o.at("size").get<double>();
      sh.angle = o.value("angle", 0.0);
      sh.x0 = o.at("x0").get<double>();
      sh.y0 = o.at("y0").get<double>();
      sh.direction = direction_from_string(o.value("direction", std::string("still")));
      sh.speed = o.value("speed", 0.0);
      sh.z = o.at("z").get<double>();
      sh.exit = exit_from_string(o.value("exit", std::string("none")));
      s.shapes.push_back(sh);
    }
    if (j.contains("lighting")) {
      s.lighting.start = j.at("lighting").value("start", 1.0);
      s.lighting.end = j.at("lighting").value("end", 1.0);
    }
    if (j.contains("camera")) {
      s.camera.pan = direction_from_string(j.at("camera").value("pan", std::string("still")));
      s.camera.speed = j.at("camera").value("speed", 0.0);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BadInput, std::string("toy scene JSON: ") + e.what());
  }
  validate(s);
  return s;
}

std::string scene_to_json_string(const Scene& scene, int indent) { return scene_to_json(scene).dump(indent); }

Scene scene_from_json_string(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BadFile, std::string("toy scene JSON does not parse: ") + e.what());
  }
  return scene_from_json(j);
}

}  // namespace mf::toyworld
