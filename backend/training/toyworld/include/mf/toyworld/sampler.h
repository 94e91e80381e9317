// Seeded random scenes. The same seed and options give the same Scene on every platform
// (own PRNG, no std distributions); the options are validated first.
#pragma once

#include <cstdint>

#include "mf/toyworld/scene.h"

namespace mf::toyworld {

struct SamplerOptions {
  int width = 160;
  int height = 96;
  int frames = 49;
  double fps = 16.0;
  int min_shapes = 1;
  int max_shapes = 3;  // 1 .. 8

  // Relative weights of the background kinds (>= 0, at least one > 0).
  double w_flat = 1.0;
  double w_gradient = 1.0;  // vertical or horizontal, half each
  double w_stripes = 1.5;   // horizontal, vertical or diagonal, a third each
  double w_checker = 0.75;

  // Probabilities in [0, 1].
  double p_extra_shapes = 0.5;    // chance of each shape beyond min_shapes (stops at the first miss)
  double p_diagonal = 0.2;        // a moving shape moves diagonally
  double p_still = 0.05;          // a shape does not move
  double p_colour_change = 0.15;  // per shape
  double p_enter_leave = 0.2;     // per moving, axis-aligned shape: enters or leaves the frame
  double p_lighting = 0.15;       // a brightness ramp (dims or brightens)
  double p_pan = 0.15;            // camera pan (only over stripes / checker that show it)
  bool allow_star_ring = true;    // otherwise only circles, squares and triangles
};

// Throws mf::Error(BadInput) with a message naming the option when one is out of range.
void validate(const SamplerOptions& options);

// A random scene. Guarantees: colours of the background, of every shape and of every colour change are all
// different (so each shape can be found by its colour); shapes[0] is medium or big, is on screen at the start
// unless it enters, and its on-screen motion goes the captioned way even with a camera pan; every z is in
// [1.5, 5] and distinct, nearer than the background.
Scene sample_scene(uint64_t seed, const SamplerOptions& options = {});

}  // namespace mf::toyworld
