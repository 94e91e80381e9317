#include "mf/eval/baselines.h"

#include <cmath>
#include <string>

#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>

#include "mf/core/error.h"
#include "mf/eval/metrics.h"

namespace mf::eval {

namespace {

void require(bool cond, const std::string& msg) { check(cond, ErrorCode::BadInput, "eval baseline: " + msg); }

std::string dims(const cv::Mat& m) {
  return std::to_string(m.cols) + "x" + std::to_string(m.rows) + " type " + std::to_string(m.type());
}

void check_rgb(const cv::Mat& f, const char* what, size_t i) {
  require(!f.empty() && f.type() == CV_8UC3,
          std::string(what) + ": frame " + std::to_string(i) + " must be RGB8 (CV_8UC3), got " + dims(f));
}

// Checks frames + masks (one for all or one per frame) and returns the mask of frame i.
void check_masked(const std::vector<cv::Mat>& frames, const std::vector<cv::Mat>& masks, const char* what) {
  require(!frames.empty(), std::string(what) + ": no frames");
  require(masks.size() == 1 || masks.size() == frames.size(),
          std::string(what) + ": " + std::to_string(masks.size()) + " masks for " + std::to_string(frames.size()) +
              " frames (give one for all frames or one per frame)");
  for (size_t i = 0; i < frames.size(); ++i) {
    check_rgb(frames[i], what, i);
    require(frames[i].size() == frames[0].size(), std::string(what) + ": frame " + std::to_string(i) +
                                                      " is " + dims(frames[i]) + ", frame 0 is " + dims(frames[0]));
  }
  for (size_t i = 0; i < masks.size(); ++i) {
    require(masks[i].type() == CV_8UC1 && masks[i].size() == frames[0].size(),
            std::string(what) + ": mask " + std::to_string(i) + " must be CV_8UC1 of the frames' size " +
                dims(frames[0]) + ", got " + dims(masks[i]));
  }
}

const cv::Mat& mask_of(const std::vector<cv::Mat>& masks, size_t i) { return masks.size() == 1 ? masks[0] : masks[i]; }

// 255 where the mask regenerates, 0 where it keeps.
cv::Mat regenerate_region(const cv::Mat& mask) {
  cv::Mat r;
  cv::threshold(mask, r, kRegenerateBelow - 1, 255, cv::THRESH_BINARY_INV);  // mask <= 127 -> 255
  return r;
}

std::vector<cv::Mat> resize_all(const std::vector<cv::Mat>& frames, cv::Size target, int interpolation,
                                const char* what) {
  require(!frames.empty(), std::string(what) + ": no frames");
  require(target.width > 0 && target.height > 0, std::string(what) + ": the target size must be positive (got " +
                                                     std::to_string(target.width) + "x" +
                                                     std::to_string(target.height) + ")");
  std::vector<cv::Mat> out(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    check_rgb(frames[i], what, i);
    cv::resize(frames[i], out[i], target, 0, 0, interpolation);
  }
  return out;
}

}  // namespace

std::vector<cv::Mat> inpaint_telea(const std::vector<cv::Mat>& frames, const std::vector<cv::Mat>& masks,
                                   double radius) {
  check_masked(frames, masks, "inpaint_telea");
  require(std::isfinite(radius) && radius > 0, "inpaint_telea: the radius must be positive");
  std::vector<cv::Mat> out(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    const cv::Mat region = regenerate_region(mask_of(masks, i));
    if (cv::countNonZero(region) == 0) {
      out[i] = frames[i].clone();
      continue;
    }
    cv::inpaint(frames[i], region, out[i], radius, cv::INPAINT_TELEA);
    frames[i].copyTo(out[i], ~region);  // kept pixels exactly as given
  }
  return out;
}

std::vector<cv::Mat> outpaint_replicate(const std::vector<cv::Mat>& frames, const std::vector<cv::Mat>& masks) {
  check_masked(frames, masks, "outpaint_replicate");
  std::vector<cv::Mat> out(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    const cv::Mat region = regenerate_region(mask_of(masks, i));
    const int n_regen = cv::countNonZero(region);
    out[i] = frames[i].clone();
    if (n_regen == 0) continue;
    require(n_regen < int(region.total()),
            "outpaint_replicate: the mask of frame " + std::to_string(i) + " keeps no pixel to replicate");
    // Zero pixels of `region` (kept) are the sources; each gets its own label.
    cv::Mat dist, labels;
    cv::distanceTransform(region, dist, labels, cv::DIST_L2, 5, cv::DIST_LABEL_PIXEL);
    std::vector<cv::Point> source(size_t(region.total() - n_regen) + 1);
    for (int y = 0; y < region.rows; ++y) {
      const uint8_t* r = region.ptr<uint8_t>(y);
      const int* l = labels.ptr<int>(y);
      for (int x = 0; x < region.cols; ++x) {
        if (r[x] == 0) {
          const int k = l[x];
          require(k >= 1 && size_t(k) < source.size(), "outpaint_replicate: unexpected distance label");
          source[k] = cv::Point(x, y);
        }
      }
    }
    for (int y = 0; y < region.rows; ++y) {
      const uint8_t* r = region.ptr<uint8_t>(y);
      const int* l = labels.ptr<int>(y);
      auto* o = out[i].ptr<cv::Vec3b>(y);
      for (int x = 0; x < region.cols; ++x) {
        if (r[x] != 0) {
          const int k = l[x];
          require(k >= 1 && size_t(k) < source.size(), "outpaint_replicate: unexpected distance label");
          o[x] = frames[i].at<cv::Vec3b>(source[k]);
        }
      }
    }
  }
  return out;
}

MeanChroma mean_chroma(const std::vector<std::vector<cv::Mat>>& clips) {
  double cr = 0.0, cb = 0.0;
  int64_t n = 0;
  for (size_t c = 0; c < clips.size(); ++c) {
    for (size_t i = 0; i < clips[c].size(); ++i) {
      check_rgb(clips[c][i], "mean_chroma", i);
      cv::Mat ycc;
      cv::cvtColor(clips[c][i], ycc, cv::COLOR_RGB2YCrCb);
      const cv::Scalar s = cv::sum(ycc);
      cr += s[1];
      cb += s[2];
      n += int64_t(ycc.total());
    }
  }
  require(n > 0, "mean_chroma: no reference frames");
  MeanChroma m;
  m.cr = cr / double(n);
  m.cb = cb / double(n);
  m.pixels = n;
  return m;
}

std::vector<cv::Mat> colorize_mean_chroma(const std::vector<cv::Mat>& grey_frames, const MeanChroma& chroma) {
  require(!grey_frames.empty(), "colorize_mean_chroma: no frames");
  require(std::isfinite(chroma.cr) && std::isfinite(chroma.cb), "colorize_mean_chroma: non-finite chroma");
  const int cr = cv::saturate_cast<uint8_t>(chroma.cr);
  const int cb = cv::saturate_cast<uint8_t>(chroma.cb);
  std::vector<cv::Mat> out(grey_frames.size());
  for (size_t i = 0; i < grey_frames.size(); ++i) {
    const cv::Mat& f = grey_frames[i];
    require(!f.empty() && (f.type() == CV_8UC1 || f.type() == CV_8UC3),
            "colorize_mean_chroma: frame " + std::to_string(i) + " must be CV_8UC1 or CV_8UC3, got " + dims(f));
    cv::Mat y;
    if (f.type() == CV_8UC1) {
      y = f;
    } else {
      cv::Mat ycc;
      cv::cvtColor(f, ycc, cv::COLOR_RGB2YCrCb);
      cv::extractChannel(ycc, y, 0);
    }
    const cv::Mat planes[] = {y, cv::Mat(y.size(), CV_8UC1, cv::Scalar(cr)), cv::Mat(y.size(), CV_8UC1, cv::Scalar(cb))};
    cv::Mat ycc;
    cv::merge(planes, 3, ycc);
    cv::cvtColor(ycc, out[i], cv::COLOR_YCrCb2RGB);
  }
  return out;
}

std::vector<cv::Mat> to_grey_rgb(const std::vector<cv::Mat>& frames) {
  std::vector<cv::Mat> out(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    check_rgb(frames[i], "to_grey_rgb", i);
    cv::Mat g;
    cv::cvtColor(frames[i], g, cv::COLOR_RGB2GRAY);
    cv::cvtColor(g, out[i], cv::COLOR_GRAY2RGB);
  }
  return out;
}

std::vector<cv::Mat> upscale_nearest(const std::vector<cv::Mat>& low, cv::Size target) {
  return resize_all(low, target, cv::INTER_NEAREST, "upscale_nearest");
}

std::vector<cv::Mat> upscale_bicubic(const std::vector<cv::Mat>& low, cv::Size target) {
  return resize_all(low, target, cv::INTER_CUBIC, "upscale_bicubic");
}

std::vector<cv::Mat> downscale_area(const std::vector<cv::Mat>& frames, cv::Size low) {
  return resize_all(frames, low, cv::INTER_AREA, "downscale_area");
}

std::vector<cv::Mat> interpolate_linear(const cv::Mat& first, const cv::Mat& last, int frames) {
  check_rgb(first, "interpolate_linear (first)", 0);
  check_rgb(last, "interpolate_linear (last)", 0);
  require(first.size() == last.size(),
          "interpolate_linear: first and last frames differ in size (" + dims(first) + " vs " + dims(last) + ")");
  require(frames >= 2, "interpolate_linear: need at least 2 frames (got " + std::to_string(frames) + ")");
  std::vector<cv::Mat> out(frames);
  out[0] = first.clone();
  out[frames - 1] = last.clone();
  for (int t = 1; t < frames - 1; ++t) {
    const double w = double(t) / double(frames - 1);
    cv::addWeighted(first, 1.0 - w, last, w, 0.0, out[t]);
  }
  return out;
}

std::vector<cv::Mat> extend_repeat_last(const std::vector<cv::Mat>& known, int total_frames) {
  require(!known.empty(), "extend_repeat_last: no known frames");
  require(total_frames >= int(known.size()), "extend_repeat_last: total_frames " + std::to_string(total_frames) +
                                                 " is fewer than the " + std::to_string(known.size()) +
                                                 " known frames");
  std::vector<cv::Mat> out;
  out.reserve(total_frames);
  for (size_t i = 0; i < known.size(); ++i) {
    check_rgb(known[i], "extend_repeat_last", i);
    out.push_back(known[i].clone());
  }
  while (int(out.size()) < total_frames) out.push_back(known.back().clone());
  return out;
}

std::vector<cv::Mat> fill_black(const std::vector<cv::Mat>& frames, const std::vector<cv::Mat>& masks) {
  check_masked(frames, masks, "fill_black");
  std::vector<cv::Mat> out(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    out[i] = frames[i].clone();
    out[i].setTo(cv::Scalar::all(0), regenerate_region(mask_of(masks, i)));
  }
  return out;
}

}  // namespace mf::eval
