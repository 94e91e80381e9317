// Captions of toy scenes in simple lower-case English from a small fixed vocabulary.
//
// Grammar (words separated by single spaces, no punctuation):
//   caption   := clause(shapes[0]) " over " background [" and " clause(shape)]* [lighting] [pan]
//   clause    := article [size] colour shape motion [" and turns " colour]
//   motion    := "moves " dir | "moves " dir " into the frame" | "moves " dir " out of the frame" | "stays still"
//   dir       := "left" | "right" | "up" | "down" | "up and left" | "up and right" | "down and left" | "down and right"
//   size      := "small" | "big"  (nothing for medium shapes)
//   background:= "a plain " c " background" | "a " c " to " c " vertical gradient" | ... " horizontal gradient"
//              | c " and " c " horizontal stripes" | ... vertical | ... diagonal | "a " c " and " c " checkerboard"
//   lighting  := " as the light dims" | " as the light brightens"
//   pan       := " while the camera pans " ("left" | "right" | "up" | "down")
// Example: "a red circle moves left over blue and white vertical stripes and a small yellow square moves up
//           as the light dims while the camera pans right".
#pragma once

#include <string>
#include <vector>

#include "mf/toyworld/scene.h"

namespace mf::toyworld {

// Size word thresholds, as a fraction of min(width, height) for the shape's radius.
inline constexpr double kSmallSizeFraction = 0.10;  // size < this -> "small"
inline constexpr double kBigSizeFraction = 0.20;    // size >= this -> "big"

// Lighting ramps smaller than this (|end - start|) are not mentioned.
inline constexpr double kLightingCaptionThreshold = 0.1;

std::string caption(const Scene& scene);

// Every word a caption can contain, each once, in a fixed order (for a tokenizer of the toy vocabulary).
const std::vector<std::string>& caption_vocabulary();

// The words of a direction as they appear in captions ("left", "up and left", "still").
std::string direction_words(Direction d);

}  // namespace mf::toyworld
