// Rendering of toy scenes: RGB8 frames, inverse-depth maps and the caption. Deterministic (no randomness,
// no threads). Frame coordinates: pixel (i, j) covers [i, i+1) x [j, j+1), its centre is (i + 0.5, j + 0.5).
// Shapes are antialiased (hard OpenCV fills on a 4x finer grid, box-filtered), with sub-pixel positions on
// both axes; background stripes/checkers have a one-pixel linear ramp at every edge. The depth map takes a
// shape's 1/z where its coverage is at least one half (no blending of depths).
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "mf/toyworld/scene.h"

namespace mf::toyworld {

struct ToyClip {
  std::vector<cv::Mat> frames;  // `frames` x CV_8UC3, height x width, RGB order
  std::vector<cv::Mat> depth;   // `frames` x CV_32FC1, inverse depth 1/z (larger = nearer)
  std::string caption;
  double fps = 16.0;
};

// Renders every frame of a validated scene (throws mf::Error(BadInput) from validate()).
ToyClip render(const Scene& scene);

// Renders frame t (0 <= t < frames) into rgb (CV_8UC3) and depth (CV_32FC1), reallocating them as needed.
// render() is this for every t.
void render_frame(const Scene& scene, int t, cv::Mat& rgb, cv::Mat& depth);

// Ground truth for a caption-following detector: the main shape (shapes[0]) per frame.
struct TrackPoint {
  double x = 0.0, y = 0.0;  // on-screen centre in pixels (world position minus camera offset)
  bool visible = false;     // some part of the shape's bounding circle is inside the frame
  Colour colour = Colour::Red;  // its colour's name at this frame (the nearer end of a colour change)
};
struct MainShapeTrack {
  ShapeKind kind = ShapeKind::Circle;
  Direction direction = Direction::Still;  // the captioned (world) direction
  std::vector<TrackPoint> points;          // one per frame
};
MainShapeTrack main_shape_track(const Scene& scene);

// Writes frame_000.png ... (RGB -> BGR for cv::imwrite), optionally depth_000.png (8-bit, inverse depth
// scaled so the clip's nearest value is 255), and caption.txt into `folder` (created if missing).
// Throws mf::Error(Io) naming the file when a write fails.
void write_clip_png(const ToyClip& clip, const std::string& folder, bool with_depth = true);

}  // namespace mf::toyworld
