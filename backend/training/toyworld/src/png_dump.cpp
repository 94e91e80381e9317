#include <filesystem>
#include <fstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "mf/core/error.h"
#include "mf/toyworld/render.h"

namespace mf::toyworld {

namespace {

std::string numbered(const std::string& folder, const char* stem, int i, int digits) {
  std::string n = std::to_string(i);
  if (int(n.size()) < digits) n.insert(0, size_t(digits) - n.size(), '0');
  return (std::filesystem::path(folder) / (std::string(stem) + "_" + n + ".png")).string();
}

void write_png(const std::string& path, const cv::Mat& img) {
  bool ok = false;
  try {
    ok = cv::imwrite(path, img);
  } catch (const cv::Exception& e) {
    throw Error(ErrorCode::Io, "cannot write " + path + ": " + e.what());
  }
  check(ok, ErrorCode::Io, "cannot write " + path);
}

}  // namespace

void write_clip_png(const ToyClip& clip, const std::string& folder, bool with_depth) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  check(!ec, ErrorCode::Io, "cannot create folder " + folder + ": " + ec.message());
  const int n = int(clip.frames.size());
  int digits = 3;
  for (int v = n - 1; v >= 1000; v /= 10) ++digits;
  cv::Mat bgr;
  for (int i = 0; i < n; ++i) {
    cv::cvtColor(clip.frames[i], bgr, cv::COLOR_RGB2BGR);
    write_png(numbered(folder, "frame", i, digits), bgr);
  }
  if (with_depth && !clip.depth.empty()) {
    double max_v = 0.0;
    for (const cv::Mat& d : clip.depth) {
      double lo, hi;
      cv::minMaxLoc(d, &lo, &hi);
      max_v = std::max(max_v, hi);
    }
    const double scale = max_v > 0 ? 255.0 / max_v : 0.0;
    cv::Mat d8;
    for (int i = 0; i < int(clip.depth.size()); ++i) {
      clip.depth[i].convertTo(d8, CV_8UC1, scale);
      write_png(numbered(folder, "depth", i, digits), d8);
    }
  }
  const std::string cap = (std::filesystem::path(folder) / "caption.txt").string();
  std::ofstream f(cap);
  f << clip.caption << "\n";
  check(bool(f), ErrorCode::Io, "cannot write " + cap);
}

}  // namespace mf::toyworld
