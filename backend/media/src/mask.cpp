#include "mf/media/mask.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>

#include "av_common.h"
#include "mf/core/error.h"

namespace mf::media {

namespace {

cv::Mat wrap(const Image& img) {
  return cv::Mat(img.height, img.width, img.channels == 1 ? CV_8UC1 : CV_8UC3, const_cast<uint8_t*>(img.data.data()),
                 img.stride);
}

Image from_mat(const cv::Mat& m) {
  CV_Assert(m.depth() == CV_8U && (m.channels() == 1 || m.channels() == 3));
  Image img = Image::make(m.cols, m.rows, m.channels());
  for (int y = 0; y < m.rows; ++y) std::copy_n(m.ptr<uint8_t>(y), img.stride, img.row(y));
  return img;
}

void require_mask(const Image& m, const char* fn) {
  check(!m.empty() && m.channels == 1, ErrorCode::BadInput,
        std::string(fn) + ": expected a single-channel mask (got " + std::to_string(m.channels) + " channels)");
}

// Natural order: "f2" < "f10".
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      std::string na = a.substr(i, i2 - i), nb = b.substr(j, j2 - j);
      na.erase(0, std::min(na.find_first_not_of('0'), na.size()));
      nb.erase(0, std::min(nb.find_first_not_of('0'), nb.size()));
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

bool is_image_ext(const std::filesystem::path& p) {
  std::string e = p.extension().string();
  for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".webp" || e == ".bmp" || e == ".tif" || e == ".tiff";
}

cv::Mat to_small_gray(const Image& img, int max_side) {
  cv::Mat g;
  if (img.channels == 3) cv::cvtColor(wrap(img), g, cv::COLOR_RGB2GRAY);
  else g = wrap(img).clone();
  const int longer = std::max(g.cols, g.rows);
  if (max_side > 0 && longer > max_side) {
    double s = double(max_side) / longer;
    cv::Mat r;
    cv::resize(g, r, cv::Size(std::max(1, int(std::lround(g.cols * s))), std::max(1, int(std::lround(g.rows * s)))),
               0, 0, cv::INTER_AREA);
    return r;
  }
  return g;
}

double flow_mean(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat flow;
  cv::calcOpticalFlowFarneback(a, b, flow, 0.5, 3, 15, 3, 5, 1.2, 0);
  std::vector<cv::Mat> xy;
  cv::split(flow, xy);
  cv::Mat mag;
  cv::magnitude(xy[0], xy[1], mag);
  return cv::mean(mag)[0];
}

}  // namespace

std::vector<Image> read_mask_video(const std::filesystem::path& path, int width, int height) {
  DecodeOptions o;
  o.format = PixelFormat::Gray8;
  o.width = width;
  o.height = height;
  return read_frames(path, o);
}

std::vector<std::filesystem::path> list_image_sequence(const std::filesystem::path& folder_or_pattern) {
  std::vector<std::filesystem::path> out;
  const std::string p = folder_or_pattern.string();
  std::error_code ec;
  if (p.find('%') != std::string::npos) {
    char buf[4096];
    check(av_get_frame_filename2(buf, sizeof buf, p.c_str(), 0, 0) == 0, ErrorCode::BadInput,
          "image sequence pattern " + p + " must contain one %d-style number (e.g. mask_%04d.png)");
    // Like FFmpeg's image2: the first number is 0..4, then no gaps.
    int start = -1;
    for (int n = 0; n < 5 && start < 0; ++n) {
      av_get_frame_filename2(buf, sizeof buf, p.c_str(), n, 0);
      if (std::filesystem::exists(buf, ec)) start = n;
    }
    for (int n = start; start >= 0; ++n) {
      av_get_frame_filename2(buf, sizeof buf, p.c_str(), n, 0);
      if (!std::filesystem::exists(buf, ec)) break;
      out.emplace_back(buf);
    }
  } else {
    check(std::filesystem::is_directory(folder_or_pattern, ec), ErrorCode::BadInput,
          p + " is neither a folder of images nor a pattern like mask_%04d.png");
    for (auto& e : std::filesystem::directory_iterator(folder_or_pattern, ec))
      if (e.is_regular_file() && is_image_ext(e.path())) out.push_back(e.path());
    std::sort(out.begin(), out.end(), [](const std::filesystem::path& a, const std::filesystem::path& b) {
      return natural_less(a.filename().string(), b.filename().string());
    });
  }
  check(!out.empty(), ErrorCode::BadInput, "no images found in " + p);
  return out;
}

std::vector<Image> read_mask_sequence(const std::filesystem::path& folder_or_pattern) {
  std::vector<Image> out;
  for (auto& f : list_image_sequence(folder_or_pattern)) {
    cv::Mat m = cv::imread(f.string(), cv::IMREAD_UNCHANGED);
    check(!m.empty(), ErrorCode::BadFile, "cannot read mask image " + f.string() + " (corrupt or unsupported)");
    if (m.depth() == CV_16U) m.convertTo(m, CV_8U, 1.0 / 257.0);
    check(m.depth() == CV_8U, ErrorCode::Unsupported, f.string() + ": masks must be 8 or 16-bit images");
    cv::Mat g;
    if (m.channels() == 1) {
      g = m;
    } else {
      // OpenCV reads colour as BGR(A). A mask with a non-opaque alpha channel uses alpha.
      cv::Mat alpha;
      double amin = 255;
      if (m.channels() == 4 || m.channels() == 2) {
        cv::extractChannel(m, alpha, m.channels() - 1);
        cv::minMaxLoc(alpha, &amin);
      }
      if (amin < 255) g = alpha;
      else if (m.channels() == 2) cv::extractChannel(m, g, 0);
      else cv::cvtColor(m, g, m.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
    }
    Image img = from_mat(g);
    if (!out.empty())
      check(img.width == out[0].width && img.height == out[0].height, ErrorCode::BadInput,
            f.string() + " is " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                " but the sequence started at " + std::to_string(out[0].width) + "x" + std::to_string(out[0].height));
    out.push_back(std::move(img));
  }
  return out;
}

Image resize_image(const Image& image, int width, int height) {
  check(!image.empty() && width > 0 && height > 0, ErrorCode::BadInput,
        "resize_image: empty image or size " + std::to_string(width) + "x" + std::to_string(height));
  if (image.width == width && image.height == height) return image;
  cv::Mat out;
  const bool shrink = width < image.width && height < image.height;
  cv::resize(wrap(image), out, cv::Size(width, height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return from_mat(out);
}

Image threshold_mask(const Image& mask, int threshold) {
  require_mask(mask, "threshold_mask");
  Image out = Image::make(mask.width, mask.height, 1);
  for (int y = 0; y < mask.height; ++y)
    for (int x = 0; x < mask.width; ++x) out.row(y)[x] = mask.row(y)[x] >= threshold ? 255 : 0;
  return out;
}

Image grow_shrink(const Image& mask, int pixels) {
  require_mask(mask, "grow_shrink");
  if (pixels == 0) return mask;
  const int r = std::abs(pixels);
  cv::Mat k = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * r + 1, 2 * r + 1));
  cv::Mat out;
  // Outside the frame counts as "not masked" for growing and "masked" for shrinking, so borders do not erode.
  if (pixels > 0) cv::dilate(wrap(mask), out, k, cv::Point(-1, -1), 1, cv::BORDER_CONSTANT, cv::Scalar(0));
  else cv::erode(wrap(mask), out, k, cv::Point(-1, -1), 1, cv::BORDER_CONSTANT, cv::Scalar(255));
  return from_mat(out);
}

Image feather(const Image& mask, int radius) {
  require_mask(mask, "feather");
  check(radius >= 0, ErrorCode::BadInput, "feather radius must be >= 0 (got " + std::to_string(radius) + ")");
  if (radius == 0) return mask;
  cv::Mat out;
  cv::GaussianBlur(wrap(mask), out, cv::Size(2 * radius + 1, 2 * radius + 1), radius / 2.0, radius / 2.0,
                   cv::BORDER_REPLICATE);
  return from_mat(out);
}

std::vector<int64_t> resample_indices(const std::vector<double>& src_times, double duration, Rational dst_fps) {
  check(!src_times.empty(), ErrorCode::BadInput, "resample: the clip has no frames");
  check(dst_fps.valid(), ErrorCode::BadInput, "resample: target frame rate must be positive");
  const int64_t count = std::max<int64_t>(1, static_cast<int64_t>(std::floor(duration * dst_fps.to_double() + 1e-9)));
  std::vector<int64_t> out(count);
  for (int64_t k = 0; k < count; ++k) {
    const double t = double(k) * dst_fps.den / dst_fps.num;
    auto it = std::upper_bound(src_times.begin(), src_times.end(), t + 1e-9);
    out[k] = std::max<int64_t>(0, (it - src_times.begin()) - 1);
  }
  return out;
}

std::vector<int64_t> resample_indices(int64_t n, Rational src_fps, Rational dst_fps) {
  check(n > 0, ErrorCode::BadInput, "resample: the clip has no frames");
  check(src_fps.valid() && dst_fps.valid(), ErrorCode::BadInput, "resample: frame rates must be positive");
  using i128 = __int128;
  // Exact: count = floor(n/src * dst), index_k = floor(k/dst * src).
  const int64_t count = std::max<int64_t>(
      1, static_cast<int64_t>(i128(n) * src_fps.den * dst_fps.num / (i128(src_fps.num) * dst_fps.den)));
  std::vector<int64_t> out(count);
  for (int64_t k = 0; k < count; ++k)
    out[k] = std::min<int64_t>(
        n - 1, static_cast<int64_t>(i128(k) * dst_fps.den * src_fps.num / (i128(dst_fps.num) * src_fps.den)));
  return out;
}

std::vector<Image> resample_fps(const std::vector<Image>& frames, Rational src_fps, Rational dst_fps) {
  std::vector<Image> out;
  for (int64_t i : resample_indices(static_cast<int64_t>(frames.size()), src_fps, dst_fps)) out.push_back(frames[i]);
  return out;
}

double motion_score(const std::vector<Image>& frames, const MotionOptions& o) {
  const int step = std::max(1, o.step);
  if (static_cast<int>(frames.size()) <= step) return 0.0;
  double sum = 0;
  int pairs = 0;
  cv::Mat prev = to_small_gray(frames[0], o.max_side);
  for (size_t i = step; i < frames.size(); i += step) {
    cv::Mat cur = to_small_gray(frames[i], o.max_side);
    sum += flow_mean(prev, cur);
    ++pairs;
    prev = cur;
    if (o.max_pairs > 0 && pairs >= o.max_pairs) break;
  }
  return sum / pairs;
}

double motion_score(const std::filesystem::path& video, const MotionOptions& o) {
  DecodeOptions d;
  d.format = PixelFormat::Gray8;
  VideoReader probe_reader(video, d);
  const MediaInfo& info = probe_reader.info();
  if (o.max_side > 0 && std::max(info.width, info.height) > o.max_side) {
    if (info.width >= info.height) d.width = o.max_side;
    else d.height = o.max_side;
  }
  VideoReader r(video, d);
  const int step = std::max(1, o.step);
  DecodedFrame f;
  cv::Mat prev;
  double sum = 0;
  int pairs = 0;
  int64_t n = 0;
  while (r.read(f)) {
    if (n++ % step != 0) continue;
    cv::Mat cur = wrap(f.image).clone();
    if (!prev.empty()) {
      sum += flow_mean(prev, cur);
      ++pairs;
      if (o.max_pairs > 0 && pairs >= o.max_pairs) break;
    }
    prev = cur;
  }
  return pairs ? sum / pairs : 0.0;
}

namespace {

void require_same_size(const Image& a, const Image& b, const char* what) {
  check(a.width == b.width && a.height == b.height, ErrorCode::BadInput,
        std::string("flow mask interpolation: ") + what + " is " + std::to_string(b.width) + "x" +
            std::to_string(b.height) + " but the frames are " + std::to_string(a.width) + "x" +
            std::to_string(a.height) + " (repaint the mask on this clip)");
}

}  // namespace

Image warp_mask_flow(const Image& frame_src, const Image& mask_src, const Image& frame_t, int max_side) {
  require_mask(mask_src, "warp_mask_flow");
  check(!frame_t.empty() && !frame_src.empty(), ErrorCode::BadInput, "warp_mask_flow: empty frame");
  require_same_size(frame_t, frame_src, "the painted frame");
  require_same_size(frame_t, mask_src, "the painted mask");
  const int w = frame_t.width, h = frame_t.height;
  cv::Mat gt = to_small_gray(frame_t, std::max(16, max_side));
  cv::Mat gs = to_small_gray(frame_src, std::max(16, max_side));
  cv::Mat flow;  // for each pixel p of frame_t: frame_t(p) ~ frame_src(p + flow(p)), in small-image pixels
  cv::calcOpticalFlowFarneback(gt, gs, flow, 0.5, 4, 21, 5, 7, 1.5, cv::OPTFLOW_FARNEBACK_GAUSSIAN);
  if (flow.cols != w || flow.rows != h) {
    const double sx = static_cast<double>(w) / flow.cols, sy = static_cast<double>(h) / flow.rows;
    cv::Mat big;
    cv::resize(flow, big, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
    std::vector<cv::Mat> xy;
    cv::split(big, xy);
    xy[0] *= sx;
    xy[1] *= sy;
    cv::merge(xy, flow);
  }
  cv::Mat map(h, w, CV_32FC2);
  for (int y = 0; y < h; ++y) {
    const cv::Vec2f* f = flow.ptr<cv::Vec2f>(y);
    cv::Vec2f* m = map.ptr<cv::Vec2f>(y);
    for (int x = 0; x < w; ++x) m[x] = cv::Vec2f(static_cast<float>(x) + f[x][0], static_cast<float>(y) + f[x][1]);
  }
  cv::Mat out;
  cv::remap(wrap(mask_src), out, map, cv::noArray(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  return from_mat(out);
}

Image interpolate_mask_flow(const Image& frame_a, const Image& mask_a, const Image& frame_b, const Image& mask_b,
                            const Image& frame_t, double t, int max_side) {
  check(t >= 0.0 && t <= 1.0, ErrorCode::BadInput,
        "interpolate_mask_flow: t must be in [0, 1] (got " + std::to_string(t) + ")");
  const Image wa = warp_mask_flow(frame_a, mask_a, frame_t, max_side);
  const Image wb = warp_mask_flow(frame_b, mask_b, frame_t, max_side);
  cv::Mat blend;
  cv::addWeighted(wrap(wa), 1.0 - t, wrap(wb), t, 0.0, blend);
  cv::Mat bin;
  cv::threshold(blend, bin, 127.5, 255, cv::THRESH_BINARY);
  return from_mat(bin);
}

}  // namespace mf::media
