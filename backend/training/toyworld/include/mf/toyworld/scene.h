// The toy world's scene description: pure data, JSON round trip, no rendering.
//
// Units and conventions
// - Positions, sizes and speeds are in pixels of the scene's own width x height; y grows downwards.
// - Time is the frame index t = 0 .. frames-1. A shape's centre in the world at frame t is
//   (x0, y0) + unit(direction) * speed * t; the camera offset at frame t is unit(camera.pan) * camera.speed * t,
//   and what is seen on screen is world - camera offset (a camera panning right makes everything drift left).
// - Depth: every shape has a distance z > 0 from the camera (smaller = nearer). Nearer shapes occlude
//   farther ones whatever their order in `shapes`. The rendered depth map is inverse depth 1/z
//   (larger = nearer, like Depth-Anything's relative output); the background is the farthest surface.
// - shapes[0] is the main shape: the caption starts with it and main_shape_track() follows it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mf::toyworld {

// The fixed palette. Every colour has one caption word (to_string).
enum class Colour { Red, Green, Blue, Yellow, Orange, Purple, White, Black, Cyan, Pink };
inline constexpr int kNumColours = 10;

enum class ShapeKind { Circle, Square, Triangle, Star, Ring };
inline constexpr int kNumShapeKinds = 5;

// Still: no motion. Diagonals are written as "up and left" etc. in captions.
enum class Direction { Still, Left, Right, Up, Down, UpLeft, UpRight, DownLeft, DownRight };

enum class BackgroundKind {
  Flat,                // colour_a everywhere
  GradientVertical,    // colour_a at the top to colour_b at the bottom; also a ground plane in depth
  GradientHorizontal,  // colour_a at the left to colour_b at the right
  StripesHorizontal,   // bands of colour_a / colour_b stacked vertically, `period` pixels per pair
  StripesVertical,
  StripesDiagonal,     // bands along x + y
  Checker,             // squares of period/2 pixels
};

// Whether the shape enters the frame from off-frame or leaves it during the clip (for captions; the
// motion itself follows from its start position, direction and speed).
enum class Exit { None, Enters, Leaves };

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

struct Background {
  BackgroundKind kind = BackgroundKind::Flat;
  Colour colour_a = Colour::Blue;
  Colour colour_b = Colour::White;  // unused by Flat
  double period = 24.0;             // stripes / checker: pixels per colour_a + colour_b pair
};

struct Shape {
  ShapeKind kind = ShapeKind::Circle;
  Colour colour = Colour::Red;
  // Colour change over the clip: linear in RGB from `colour` at frame 0 to `colour_to` at the last frame.
  std::optional<Colour> colour_to;
  double size = 12.0;   // radius of the circumscribed circle, pixels
  double angle = 0.0;   // static rotation in degrees (squares, triangles, stars)
  double x0 = 0.0, y0 = 0.0;  // world centre at frame 0, pixels
  Direction direction = Direction::Still;
  double speed = 0.0;   // pixels per frame along `direction`
  double z = 3.0;       // distance from the camera (> 0, smaller = nearer)
  Exit exit = Exit::None;
};

// A global brightness ramp: every pixel is multiplied by start at frame 0 .. end at the last frame.
struct Lighting {
  double start = 1.0;
  double end = 1.0;
};

// Camera pan: a horizontal or vertical direction (Still = none) and its speed in pixels per frame.
struct Camera {
  Direction pan = Direction::Still;
  double speed = 0.0;
};

struct Scene {
  int width = 160;
  int height = 96;
  int frames = 49;
  double fps = 16.0;
  uint64_t seed = 0;  // the seed it was sampled from (informational; rendering uses no randomness)
  Background background;
  std::vector<Shape> shapes;  // shapes[0] is the main shape
  Lighting lighting;
  Camera camera;
};

// Distances of the background (see the depth convention above).
inline constexpr double kBackgroundZ = 10.0;            // flat, stripes, checker, horizontal gradient
inline constexpr double kGroundZTop = 12.0;             // vertical gradient: far at the top ...
inline constexpr double kGroundZBottom = 6.0;           // ... nearer at the bottom

// Names (the caption words) and their inverses. from_string throws mf::Error(BadInput) on unknown names.
const char* to_string(Colour c);
const char* to_string(ShapeKind k);
const char* to_string(Direction d);
const char* to_string(BackgroundKind k);
const char* to_string(Exit e);
Colour colour_from_string(const std::string& s);
ShapeKind shape_kind_from_string(const std::string& s);
Direction direction_from_string(const std::string& s);
BackgroundKind background_kind_from_string(const std::string& s);
Exit exit_from_string(const std::string& s);

// The palette's RGB value of a colour.
Rgb palette_rgb(Colour c);

// Unit vector of a direction in image coordinates (y down); Still gives (0, 0).
void direction_vector(Direction d, double& dx, double& dy);

// Checks a scene before rendering: sizes, frame count, fps, at least one shape, positive sizes and
// distances, finite numbers, a horizontal/vertical pan. Throws mf::Error(BadInput) naming the field.
void validate(const Scene& scene);

// JSON with enum names as strings. scene_from_json validates the result and throws
// mf::Error(BadInput) on missing/invalid fields (BadFile for text that is not JSON).
nlohmann::json scene_to_json(const Scene& scene);
Scene scene_from_json(const nlohmann::json& j);
std::string scene_to_json_string(const Scene& scene, int indent = -1);
Scene scene_from_json_string(const std::string& text);

}  // namespace mf::toyworld
