// Mask, image and clip helpers for the pipeline, the canvas and training data (OpenCV underneath).
// Masks are Gray8 images: 0 = keep, 255 = edit; values between are soft edges.
// Stateless functions; thread-safe.
#pragma once

#include <filesystem>
#include <vector>

#include "mf/media/image.h"
#include "mf/media/reader.h"

namespace mf::media {

// A mask video (any codec) as single-channel frames (luma; full range).
std::vector<Image> read_mask_video(const std::filesystem::path& path, int width = 0, int height = 0);

// Image files of a folder in natural order (f2 before f10), or of a printf pattern ("m_%04d.png").
std::vector<std::filesystem::path> list_image_sequence(const std::filesystem::path& folder_or_pattern);
// A mask image sequence as single-channel frames. An image with a non-opaque alpha channel uses alpha.
// Throws BadInput when the folder holds no images or the sizes differ.
std::vector<Image> read_mask_sequence(const std::filesystem::path& folder_or_pattern);

// Resizes an RGB8 or Gray8 image (area averaging when shrinking, bilinear when enlarging).
Image resize_image(const Image& image, int width, int height);

// Binarises at `threshold` (value >= threshold -> 255).
Image threshold_mask(const Image& mask, int threshold = 128);
// Grows (pixels > 0, dilation) or shrinks (pixels < 0, erosion) with a disc of radius |pixels|.
Image grow_shrink(const Image& mask, int pixels);
// Softens edges with a Gaussian of standard deviation radius/2 (window 2*radius+1); radius 0 = unchanged.
Image feather(const Image& mask, int radius);

// A mask for an in-between frame, propagated from the painted masks of two other frames with optical flow
// (OpenCV Farneback, computed on copies whose longer side is at most `max_side`): each mask is warped to
// `frame_t` along the flow from frame_t to its own frame, the two are blended with weights (1 - t) and t, and the
// blend is binarised at 128. Frames are RGB8 or Gray8, masks Gray8, all the same size (else BadInput);
// t in [0, 1] (0 = frame_a's mask warped, 1 = frame_b's). Used for mask tracks with flow interpolation.
Image interpolate_mask_flow(const Image& frame_a, const Image& mask_a, const Image& frame_b, const Image& mask_b,
                            const Image& frame_t, double t, int max_side = 512);
// One mask warped along the flow from `frame_t` to `frame_src` (the mask belongs to frame_src); not binarised.
Image warp_mask_flow(const Image& frame_src, const Image& mask_src, const Image& frame_t, int max_side = 512);

// Source frame shown at each output time k/dst_fps for a clip whose frames start at `src_times` (seconds,
// ascending) and which lasts `duration` seconds: count = floor(duration*dst_fps) (at least 1).
std::vector<int64_t> resample_indices(const std::vector<double>& src_times, double duration, Rational dst_fps);
// Same for a constant-rate clip of n frames.
std::vector<int64_t> resample_indices(int64_t n, Rational src_fps, Rational dst_fps);
std::vector<Image> resample_fps(const std::vector<Image>& frames, Rational src_fps, Rational dst_fps);

struct MotionOptions {
  int max_side = 256;  // frames are downscaled so the longer side is at most this (speed, noise)
  int step = 1;        // compare frame i with i+step
  int max_pairs = 0;   // 0 = all pairs
};
// Mean optical-flow magnitude (OpenCV Farneback) between consecutive frames, in pixels of a frame whose
// longer side is max_side (so the score does not depend on the resolution). 0 for a still clip.
double motion_score(const std::vector<Image>& frames, const MotionOptions& options = {});
double motion_score(const std::filesystem::path& video, const MotionOptions& options = {});

}  // namespace mf::media
