// Image quality metrics over a region: PSNR and SSIM of 8-bit RGB frames against the ground truth.
//
// Conventions
// - Frames are CV_8UC3 (RGB order; the metrics do not depend on the order except SSIM's luma weights, which
//   assume RGB). Data range 255.
// - Masks are CV_8UC1 of the frame's size with the project's convention: 0 = regenerate, 255 = keep. A pixel
//   belongs to the measured region when its mask value is < 128 (kRegenerateBelow). An empty cv::Mat means
//   the whole frame.
// - PSNR = 10 log10(255^2 / MSE), the MSE taken over the three channels of every region pixel. Identical
//   inputs (MSE 0) give +infinity (std::numeric_limits<double>::infinity(); JSON writes it as "inf", see
//   report.h).
// - SSIM is computed on luma only, Y = 0.299 R + 0.587 G + 0.114 B in double precision (no rounding), with the
//   standard Gaussian window of Wang et al. (11 x 11, sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255. The SSIM map
//   has the frame's size: local statistics near the border use a reflected border (BORDER_REFLECT_101), so
//   the map can be averaged over any region. SSIM in a region = the mean of the map over the region pixels
//   (the window itself still sees the surrounding pixels). Identical inputs give exactly 1.
// - An empty region (a mask that keeps everything) is an error: mf::Error(BadInput) saying so.
#pragma once

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

namespace mf::eval {

inline constexpr int kRegenerateBelow = 128;  // mask values below this are "regenerate"

// Sum of squared differences and the number of region pixels (not channels) of one frame.
struct SquaredError {
  double sum = 0.0;     // over all channels of the region pixels
  int64_t pixels = 0;   // region pixels
  int channels = 3;
  double mse() const;   // sum / (pixels * channels); throws BadInput when pixels == 0
};

// Throws mf::Error(BadInput) unless a and b are non-empty CV_8UC3 of the same size and mask is empty or a
// CV_8UC1 of that size. `what` names the caller in the message.
void check_frame_pair(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask, const char* what);

// Number of regenerate pixels of a mask; frame_size.area() when the mask is empty (the whole frame).
int64_t region_pixels(const cv::Mat& mask, cv::Size frame_size);

SquaredError squared_error(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask = {});
double mse(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask = {});

// 10 log10(255^2 / mse); +inf for mse == 0. Throws BadInput for a negative or non-finite mse.
double psnr_from_mse(double mse);
double psnr(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask = {});

// Luma of an RGB8 frame as CV_64FC1 (see the weights above).
cv::Mat luma(const cv::Mat& rgb);
// What SSIM is computed on: the luma (the default), or each of R, G and B with the three maps averaged
// (colorization, whose input already is the luma: luma SSIM cannot tell a right colour from a wrong one).
enum class SsimOn { Luma, Rgb };
// The SSIM map (CV_64FC1, the frame's size) of two RGB8 frames.
cv::Mat ssim_map(const cv::Mat& a, const cv::Mat& b, SsimOn on = SsimOn::Luma);
// Mean SSIM over the region (whole frame when mask is empty).
double ssim(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask = {}, SsimOn on = SsimOn::Luma);

// Clip-level scores. Frames whose mask has no regenerate pixel are skipped (so a caller measures only the
// generated frames of frame interpolation / extension by keeping the known frames entirely).
struct ClipScores {
  double psnr = 0.0;     // from the MSE pooled over every region pixel of every measured frame
  double ssim = 0.0;     // mean over measured frames of each frame's region SSIM
  double mse = 0.0;      // the pooled MSE
  int64_t pixels = 0;    // region pixels in all
  int frames = 0;        // measured frames
};

// Pools scores over frames and clips; result() is the same aggregation as compare_clips over everything added.
class ScoreAccumulator {
 public:
  explicit ScoreAccumulator(SsimOn ssim_on = SsimOn::Luma) : ssim_on_(ssim_on) {}
  // Adds one frame pair. Returns false (and adds nothing) when the region is empty.
  bool add_frame(const cv::Mat& out, const cv::Mat& truth, const cv::Mat& mask = {});
  // Adds a clip: `masks` empty (whole frames), one mask for every frame, or one per frame. Throws BadInput
  // for different frame counts or a wrong number of masks.
  void add_clip(const std::vector<cv::Mat>& out, const std::vector<cv::Mat>& truth,
                const std::vector<cv::Mat>& masks = {});
  // Throws mf::Error(BadInput) "empty region" when nothing was measured.
  ClipScores result() const;
  int frames() const { return frames_; }

 private:
  double se_sum_ = 0.0;
  SsimOn ssim_on_ = SsimOn::Luma;
  double ssim_sum_ = 0.0;
  int64_t pixels_ = 0;
  int64_t values_ = 0;
  int frames_ = 0;
};

ClipScores compare_clips(const std::vector<cv::Mat>& out, const std::vector<cv::Mat>& truth,
                         const std::vector<cv::Mat>& masks = {});

// Mask helpers (CV_8UC1, 0 = regenerate, 255 = keep).
cv::Mat regenerate_all_mask(cv::Size size);
cv::Mat keep_all_mask(cv::Size size);
// One mask per frame: frame t is regenerated entirely when regenerate[t], kept entirely otherwise
// (frame interpolation: the in-between frames; extension: the new frames).
std::vector<cv::Mat> frame_selection_masks(cv::Size size, const std::vector<bool>& regenerate);

}  // namespace mf::eval
