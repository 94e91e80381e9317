// Simple per-task baselines the small model must beat. Each takes what the model gets for its task and
// returns frames of the target size (CV_8UC3 RGB). Masks: CV_8UC1, 0 = regenerate, 255 = keep (values < 128
// regenerate, as in metrics.h); either one mask for all frames or one per frame. Pixels and frames the task
// keeps are returned unchanged. Invalid inputs throw mf::Error(BadInput) naming the problem.
#pragma once

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

namespace mf::eval {

// Inpainting (vinp / iinp): cv::inpaint with Telea's method, per frame, inside the regenerate region.
// The result equals the input wherever the mask keeps. A frame whose mask keeps everything is copied.
std::vector<cv::Mat> inpaint_telea(const std::vector<cv::Mat>& frames, const std::vector<cv::Mat>& masks,
                                   double radius = 3.0);

// Outpainting (voutp / ioutp): edge replication, generalised to any mask shape: every regenerate pixel takes
// the colour of the nearest kept pixel (Euclidean distance, cv::distanceTransform with pixel labels, 5x5
// mask). For a kept rectangle this is exactly cv::copyMakeBorder(BORDER_REPLICATE) of it. Kept pixels are
// unchanged. Throws BadInput for a frame whose mask keeps nothing. (inpaint_telea also works on a border
// region; replication is the documented outpainting baseline.)
std::vector<cv::Mat> outpaint_replicate(const std::vector<cv::Mat>& frames, const std::vector<cv::Mat>& masks);

// Colorization (vcolor / icolor): mean chroma in YCrCb (OpenCV's 8-bit RGB2YCrCb, offset 128).
struct MeanChroma {
  double cr = 128.0;
  double cb = 128.0;
  int64_t pixels = 0;  // how many pixels the mean is over
};
// Mean Cr / Cb over every pixel of every frame of the reference clips (RGB8 frames, e.g. training clips).
MeanChroma mean_chroma(const std::vector<std::vector<cv::Mat>>& clips);
// Output = the input's luma (Y of RGB2YCrCb for CV_8UC3 input, the value itself for CV_8UC1 input) with the
// constant mean chroma, converted back to RGB (YCrCb2RGB, saturating).
std::vector<cv::Mat> colorize_mean_chroma(const std::vector<cv::Mat>& grey_frames, const MeanChroma& chroma);
// What the model gets for colorization: the grey version of RGB frames (R = G = B = round(Y)), CV_8UC3.
std::vector<cv::Mat> to_grey_rgb(const std::vector<cv::Mat>& frames);

// Super-resolution (vsr / isr): cv::resize of the low-resolution input to the target size.
std::vector<cv::Mat> upscale_nearest(const std::vector<cv::Mat>& low, cv::Size target);
std::vector<cv::Mat> upscale_bicubic(const std::vector<cv::Mat>& low, cv::Size target);
// A low-resolution input for tests and evaluation: cv::resize with INTER_AREA to `low`.
std::vector<cv::Mat> downscale_area(const std::vector<cv::Mat>& frames, cv::Size low);

// Frame interpolation (itrans): `frames` frames (>= 2) from `first` to `last`; frame t is the linear blend
// (1 - w) first + w last with w = t / (frames - 1), rounded to nearest. Frame 0 equals first, the last equals last.
std::vector<cv::Mat> interpolate_linear(const cv::Mat& first, const cv::Mat& last, int frames);

// Extension (vexd): the known frames followed by copies of the last known frame, `total_frames` in all
// (total_frames >= known.size() >= 1).
std::vector<cv::Mat> extend_repeat_last(const std::vector<cv::Mat>& known, int total_frames);

// Trivial worse baselines for sanity checks: the regenerate region filled with black (0, 0, 0).
std::vector<cv::Mat> fill_black(const std::vector<cv::Mat>& frames, const std::vector<cv::Mat>& masks);

}  // namespace mf::eval
