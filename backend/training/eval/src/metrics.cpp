#include "mf/eval/metrics.h"

#include <cmath>
#include <limits>
#include <string>

#include <opencv2/imgproc.hpp>

#include "mf/core/error.h"

namespace mf::eval {

namespace {

void require(bool cond, const std::string& msg) { check(cond, ErrorCode::BadInput, "eval: " + msg); }

std::string size_str(const cv::Mat& m) {
  return std::to_string(m.cols) + "x" + std::to_string(m.rows) + " with " + std::to_string(m.channels()) +
         " channel(s), depth " + std::to_string(m.depth());
}

constexpr int kSsimWindow = 11;
constexpr double kSsimSigma = 1.5;
constexpr double kC1 = (0.01 * 255) * (0.01 * 255);
constexpr double kC2 = (0.03 * 255) * (0.03 * 255);

cv::Mat gauss(const cv::Mat& m) {
  cv::Mat out;
  cv::GaussianBlur(m, out, cv::Size(kSsimWindow, kSsimWindow), kSsimSigma, kSsimSigma, cv::BORDER_REFLECT_101);
  return out;
}

// Selects the i-th mask of a clip: none, one for all frames, or one per frame.
const cv::Mat& mask_for(const std::vector<cv::Mat>& masks, size_t i) {
  static const cv::Mat none;
  if (masks.empty()) return none;
  return masks.size() == 1 ? masks[0] : masks[i];
}

}  // namespace

double SquaredError::mse() const {
  require(pixels > 0, "empty region: the mask has no regenerate pixel (values < 128), nothing to measure");
  return sum / (double(pixels) * channels);
}

void check_frame_pair(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask, const char* what) {
  const std::string w = std::string(what) + ": ";
  require(!a.empty() && !b.empty(), w + "empty frame");
  require(a.type() == CV_8UC3, w + "the first frame must be RGB8 (CV_8UC3), got " + size_str(a));
  require(b.type() == CV_8UC3, w + "the second frame must be RGB8 (CV_8UC3), got " + size_str(b));
  require(a.size() == b.size(), w + "frames of different sizes (" + size_str(a) + " vs " + size_str(b) + ")");
  if (!mask.empty()) {
    require(mask.type() == CV_8UC1, w + "the mask must be CV_8UC1, got " + size_str(mask));
    require(mask.size() == a.size(),
            w + "the mask is " + size_str(mask) + " but the frames are " + size_str(a));
  }
}

int64_t region_pixels(const cv::Mat& mask, cv::Size frame_size) {
  if (mask.empty()) return int64_t(frame_size.area());
  require(mask.type() == CV_8UC1, "region_pixels: the mask must be CV_8UC1, got " + size_str(mask));
  int64_t n = 0;
  for (int y = 0; y < mask.rows; ++y) {
    const uint8_t* m = mask.ptr<uint8_t>(y);
    for (int x = 0; x < mask.cols; ++x) n += m[x] < kRegenerateBelow;
  }
  return n;
}

SquaredError squared_error(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) {
  check_frame_pair(a, b, mask, "squared_error");
  SquaredError e;
  for (int y = 0; y < a.rows; ++y) {
    const uint8_t* pa = a.ptr<uint8_t>(y);
    const uint8_t* pb = b.ptr<uint8_t>(y);
    const uint8_t* pm = mask.empty() ? nullptr : mask.ptr<uint8_t>(y);
    int64_t row = 0;  // exact integer sum per row
    for (int x = 0; x < a.cols; ++x) {
      if (pm && pm[x] >= kRegenerateBelow) continue;
      ++e.pixels;
      for (int c = 0; c < 3; ++c) {
        const int d = int(pa[3 * x + c]) - int(pb[3 * x + c]);
        row += d * d;
      }
    }
    e.sum += double(row);
  }
  return e;
}

double mse(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) { return squared_error(a, b, mask).mse(); }

double psnr_from_mse(double m) {
  require(std::isfinite(m) && m >= 0.0, "psnr: the MSE must be finite and >= 0 (got " + std::to_string(m) + ")");
  if (m == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / m);
}

double psnr(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) { return psnr_from_mse(mse(a, b, mask)); }

cv::Mat luma(const cv::Mat& rgb) {
  require(!rgb.empty() && rgb.type() == CV_8UC3, "luma: the frame must be RGB8 (CV_8UC3), got " + size_str(rgb));
  cv::Mat y(rgb.size(), CV_64FC1);
  for (int r = 0; r < rgb.rows; ++r) {
    const uint8_t* p = rgb.ptr<uint8_t>(r);
    double* q = y.ptr<double>(r);
    for (int x = 0; x < rgb.cols; ++x) q[x] = 0.299 * p[3 * x] + 0.587 * p[3 * x + 1] + 0.114 * p[3 * x + 2];
  }
  return y;
}

namespace {

// The SSIM map of two single-channel CV_64F images.
cv::Mat ssim_map_plane(const cv::Mat& ya, const cv::Mat& yb) {
  const cv::Mat mu_a = gauss(ya), mu_b = gauss(yb);
  const cv::Mat saa = gauss(ya.mul(ya)), sbb = gauss(yb.mul(yb)), sab = gauss(ya.mul(yb));
  cv::Mat map(ya.size(), CV_64FC1);
  for (int r = 0; r < ya.rows; ++r) {
    const double* ma = mu_a.ptr<double>(r);
    const double* mb = mu_b.ptr<double>(r);
    const double* paa = saa.ptr<double>(r);
    const double* pbb = sbb.ptr<double>(r);
    const double* pab = sab.ptr<double>(r);
    double* out = map.ptr<double>(r);
    for (int x = 0; x < ya.cols; ++x) {
      const double va = paa[x] - ma[x] * ma[x];
      const double vb = pbb[x] - mb[x] * mb[x];
      const double cov = pab[x] - ma[x] * mb[x];
      const double num = (2.0 * ma[x] * mb[x] + kC1) * (2.0 * cov + kC2);
      const double den = (ma[x] * ma[x] + mb[x] * mb[x] + kC1) * (va + vb + kC2);
      out[x] = num / den;
    }
  }
  return map;
}

}  // namespace

cv::Mat ssim_map(const cv::Mat& a, const cv::Mat& b, SsimOn on) {
  check_frame_pair(a, b, cv::Mat(), "ssim");
  if (on == SsimOn::Luma) return ssim_map_plane(luma(a), luma(b));
  std::vector<cv::Mat> pa, pb;
  cv::split(a, pa);
  cv::split(b, pb);
  cv::Mat sum;
  for (int c = 0; c < 3; ++c) {
    cv::Mat fa, fb;
    pa[c].convertTo(fa, CV_64F);
    pb[c].convertTo(fb, CV_64F);
    const cv::Mat m = ssim_map_plane(fa, fb);
    sum = c == 0 ? m : sum + m;
  }
  return sum / 3.0;
}

double ssim(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask, SsimOn on) {
  check_frame_pair(a, b, mask, "ssim");
  require(region_pixels(mask, a.size()) > 0,
          "ssim: empty region: the mask has no regenerate pixel (values < 128), nothing to measure");
  const cv::Mat map = ssim_map(a, b, on);
  double sum = 0.0;
  int64_t n = 0;
  for (int r = 0; r < map.rows; ++r) {
    const double* p = map.ptr<double>(r);
    const uint8_t* m = mask.empty() ? nullptr : mask.ptr<uint8_t>(r);
    for (int x = 0; x < map.cols; ++x) {
      if (m && m[x] >= kRegenerateBelow) continue;
      sum += p[x];
      ++n;
    }
  }
  return sum / double(n);
}

bool ScoreAccumulator::add_frame(const cv::Mat& out, const cv::Mat& truth, const cv::Mat& mask) {
  const SquaredError e = squared_error(out, truth, mask);
  if (e.pixels == 0) return false;
  se_sum_ += e.sum;
  pixels_ += e.pixels;
  values_ += e.pixels * e.channels;
  ssim_sum_ += ssim(out, truth, mask, ssim_on_);
  ++frames_;
  return true;
}

void ScoreAccumulator::add_clip(const std::vector<cv::Mat>& out, const std::vector<cv::Mat>& truth,
                                const std::vector<cv::Mat>& masks) {
  require(out.size() == truth.size(), "compare_clips: " + std::to_string(out.size()) + " frames against " +
                                          std::to_string(truth.size()) + " ground-truth frames");
  require(!out.empty(), "compare_clips: no frames");
  require(masks.empty() || masks.size() == 1 || masks.size() == out.size(),
          "compare_clips: " + std::to_string(masks.size()) + " masks for " + std::to_string(out.size()) +
              " frames (give none, one for all frames, or one per frame)");
  for (size_t i = 0; i < out.size(); ++i) add_frame(out[i], truth[i], mask_for(masks, i));
}

ClipScores ScoreAccumulator::result() const {
  require(frames_ > 0 && values_ > 0,
          "empty region: no frame had a regenerate pixel (mask values < 128), nothing to measure");
  ClipScores s;
  s.mse = se_sum_ / double(values_);
  s.psnr = psnr_from_mse(s.mse);
  s.ssim = ssim_sum_ / frames_;
  s.pixels = pixels_;
  s.frames = frames_;
  return s;
}

ClipScores compare_clips(const std::vector<cv::Mat>& out, const std::vector<cv::Mat>& truth,
                         const std::vector<cv::Mat>& masks) {
  ScoreAccumulator acc;
  acc.add_clip(out, truth, masks);
  return acc.result();
}

cv::Mat regenerate_all_mask(cv::Size size) { return cv::Mat(size, CV_8UC1, cv::Scalar(0)); }
cv::Mat keep_all_mask(cv::Size size) { return cv::Mat(size, CV_8UC1, cv::Scalar(255)); }

std::vector<cv::Mat> frame_selection_masks(cv::Size size, const std::vector<bool>& regenerate) {
  std::vector<cv::Mat> masks;
  masks.reserve(regenerate.size());
  for (bool r : regenerate) masks.push_back(r ? regenerate_all_mask(size) : keep_all_mask(size));
  return masks;
}

}  // namespace mf::eval
