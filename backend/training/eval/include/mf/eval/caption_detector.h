// Caption following for text-to-video on the toy world: does the generated clip show the main shape in the
// captioned colour, moving the captioned way? A simple colour detector, no learning.
//
// Per frame:
//  1. Every pixel p is classified by its nearest reference colour r, brightness-invariantly (lighting ramps
//     multiply every pixel, and a dimmed colour keeps its name): for each r the gain g = p.r / r.r clamped to
//     [min_gain, max_gain] and the distance |p / g - r| (Euclidean RGB, in undimmed units). References: the
//     10 palette colours, the frame's target colours (the captioned colour; with a colour change also the
//     RGB-linear blend at this frame, as the renderer draws it, and the nearer end) and, when the background
//     colours are known, 7 blends between them (gradients and antialiased stripe edges are such blends, so
//     they are not taken for a palette colour they pass near). A pixel is a target pixel when its nearest
//     reference is a target colour within `tolerance`. With brightness_invariant = false, g = 1.
//  2. The target mask is opened with a 3x3 cross (removes isolated pixels and one-pixel lines, keeps thin
//     rings), split into 8-connected components; components larger than max_blob_fraction of the frame are
//     taken for background and ignored; the largest remaining one with at least min_blob_fraction of the
//     frame's pixels (and at least 8) is the main shape, its centroid the position.
// Over the clip:
//  - colour_found: a blob was found in at least min_found_fraction of the frames.
//  - displacement (dx, dy) over the clip = Theil-Sen slope of the centroid (median of pairwise slopes, robust
//    to frames where another shape occludes part of it) times (frames - 1).
//  - direction_ok, with m = min_displacement * min(width, height) pixels (at least 1.5): for every axis the
//    expected direction moves on, the displacement goes that way by >= m; an axis it does not move on moves
//    by at most max(m, perpendicular_ratio * the largest moving-axis displacement). "Still": both |dx| and
//    |dy| <= m. Needs colour_found, a blob in at least 2 frames and a coherent track: the median distance of
//    the centroids from the fitted straight track (track_residual) at most max_track_residual * min(width,
//    height) pixels (at least 1.5), so a blob that jumps about from frame to frame does not pass by chance.
// The expected direction is ON SCREEN. The toy sampler keeps a moving main shape's on-screen direction equal
// to its captioned direction under a camera pan; a main shape that "stays still while the camera pans X"
// drifts the opposite way on screen, and caption_target / parse_caption expect that drift.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "mf/toyworld/scene.h"

namespace mf::eval {

struct CaptionTarget {
  toyworld::Colour colour = toyworld::Colour::Red;  // the main shape's captioned colour (first frame)
  std::optional<toyworld::Colour> colour_to;        // "and turns X": linear change to X by the last frame
  toyworld::Direction direction = toyworld::Direction::Still;  // expected on-screen direction
  std::vector<toyworld::Colour> background;         // background colours if known (1 or 2), else empty
};

// From the scene that produced the caption: colour, colour change, the on-screen direction (the main
// shape's direction when it moves, else the opposite of a camera pan, else Still), background colours.
CaptionTarget caption_target(const toyworld::Scene& scene);

// The same from a caption of toyworld::caption()'s grammar (main clause, background phrase, pan).
// Throws mf::Error(BadInput) naming the word that does not fit.
CaptionTarget parse_caption(const std::string& caption);

// The opposite direction (Left <-> Right, UpLeft <-> DownRight, ..., Still -> Still).
toyworld::Direction opposite(toyworld::Direction d);

struct DetectorOptions {
  double tolerance = 60.0;            // RGB distance (after the gain) of a target pixel from its reference
  bool brightness_invariant = true;
  double min_gain = 0.3, max_gain = 1.2;  // per-pixel gain range
  double min_blob_fraction = 0.002;   // of the frame's pixels (0.002 of 96x160 = 31 pixels)
  double max_blob_fraction = 0.35;    // bigger components are background
  double min_found_fraction = 0.5;    // colour_found threshold (share of frames)
  double min_displacement = 0.025;    // of min(width, height); 2.4 pixels at 96
  double perpendicular_ratio = 0.5;
  double max_track_residual = 0.06;   // of min(width, height); 5.8 pixels at 96
};

struct FrameDetection {
  bool found = false;
  double x = 0.0, y = 0.0;  // centroid in pixels (pixel centres at i + 0.5)
  int pixels = 0;           // blob size
  double gain = 1.0;        // mean per-pixel gain over the blob (its brightness relative to the palette)
};

struct CaptionCheck {
  bool colour_found = false;
  bool direction_ok = false;
  double found_fraction = 0.0;
  double dx = 0.0, dy = 0.0;  // displacement over the clip (pixels, y down)
  double track_residual = 0.0;  // median distance of the centroids from the fitted track (pixels)
  toyworld::Direction measured = toyworld::Direction::Still;  // sign of (dx, dy) with the threshold m
  std::vector<FrameDetection> frames;
  bool ok() const { return colour_found && direction_ok; }
};

// frames: CV_8UC3 RGB, all the same size, at least one. Throws mf::Error(BadInput) otherwise.
CaptionCheck check_caption(const std::vector<cv::Mat>& frames, const CaptionTarget& target,
                           const DetectorOptions& options = {});
CaptionCheck check_caption(const std::vector<cv::Mat>& frames, const toyworld::Scene& scene,
                           const DetectorOptions& options = {});

// Accuracy over a set of clips: the fraction whose check has both colour_found and direction_ok.
struct CaptionAccuracy {
  int clips = 0;
  int colour_found = 0;
  int direction_ok = 0;
  int both = 0;
  void add(const CaptionCheck& c);
  double accuracy() const;  // both / clips; throws BadInput for no clips
};

}  // namespace mf::eval
