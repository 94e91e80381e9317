#include "mf/toyworld/caption.h"

#include <algorithm>
#include <cmath>

namespace mf::toyworld {

namespace {

std::string article_for(const std::string& next_word) {
  return (!next_word.empty() && std::string("aeiou").find(next_word[0]) != std::string::npos) ? "an" : "a";
}

std::string size_word(const Scene& s, const Shape& sh) {
  const double ref = std::min(s.width, s.height);
  if (sh.size < kSmallSizeFraction * ref) return "small";
  if (sh.size >= kBigSizeFraction * ref) return "big";
  return "";
}

std::string shape_clause(const Scene& s, const Shape& sh) {
  std::string sz = size_word(s, sh);
  std::string noun = (sz.empty() ? "" : sz + " ") + to_string(sh.colour) + " " + to_string(sh.kind);
  std::string out = article_for(noun) + " " + noun;
  if (sh.direction == Direction::Still || sh.speed <= 0.0) {
    out += " stays still";
  } else {
    out += " moves " + direction_words(sh.direction);
    if (sh.exit == Exit::Enters) out += " into the frame";
    if (sh.exit == Exit::Leaves) out += " out of the frame";
  }
  if (sh.colour_to && *sh.colour_to != sh.colour) out += std::string(" and turns ") + to_string(*sh.colour_to);
  return out;
}

std::string background_phrase(const Background& b) {
  const std::string a = to_string(b.colour_a);
  const std::string c = to_string(b.colour_b);
  switch (b.kind) {
    case BackgroundKind::Flat: return "a plain " + a + " background";
    case BackgroundKind::GradientVertical: return article_for(a) + " " + a + " to " + c + " vertical gradient";
    case BackgroundKind::GradientHorizontal: return article_for(a) + " " + a + " to " + c + " horizontal gradient";
    case BackgroundKind::StripesHorizontal: return a + " and " + c + " horizontal stripes";
    case BackgroundKind::StripesVertical: return a + " and " + c + " vertical stripes";
    case BackgroundKind::StripesDiagonal: return a + " and " + c + " diagonal stripes";
    case BackgroundKind::Checker: return article_for(a) + " " + a + " and " + c + " checkerboard";
  }
  return "a plain " + a + " background";
}

}  // namespace

std::string direction_words(Direction d) {
  switch (d) {
    case Direction::Still: return "still";
    case Direction::Left: return "left";
    case Direction::Right: return "right";
    case Direction::Up: return "up";
    case Direction::Down: return "down";
    case Direction::UpLeft: return "up and left";
    case Direction::UpRight: return "up and right";
    case Direction::DownLeft: return "down and left";
    case Direction::DownRight: return "down and right";
  }
  return "still";
}

std::string caption(const Scene& s) {
  if (s.shapes.empty()) return background_phrase(s.background);
  std::string out = shape_clause(s, s.shapes[0]) + " over " + background_phrase(s.background);
  for (size_t i = 1; i < s.shapes.size(); ++i) out += " and " + shape_clause(s, s.shapes[i]);
  const double dl = s.lighting.end - s.lighting.start;
  if (dl <= -kLightingCaptionThreshold) out += " as the light dims";
  if (dl >= kLightingCaptionThreshold) out += " as the light brightens";
  if (s.camera.pan != Direction::Still && s.camera.speed > 0.0)
    out += " while the camera pans " + direction_words(s.camera.pan);
  return out;
}

const std::vector<std::string>& caption_vocabulary() {
  static const std::vector<std::string> words = [] {
    std::vector<std::string> w = {"a",     "an",        "and",        "over",     "plain",  "background",
                                  "to",    "vertical",  "horizontal", "diagonal", "gradient", "stripes",
                                  "checkerboard", "moves", "stays",   "still",    "left",   "right",
                                  "up",    "down",      "into",       "out",      "of",     "the",
                                  "frame", "turns",     "as",         "light",    "dims",   "brightens",
                                  "while", "camera",    "pans",       "small",    "big"};
    for (int c = 0; c < kNumColours; ++c) w.push_back(to_string(static_cast<Colour>(c)));
    for (int k = 0; k < kNumShapeKinds; ++k) w.push_back(to_string(static_cast<ShapeKind>(k)));
    return w;
  }();
  return words;
}

}  // namespace mf::toyworld
