// `manyfold depth --model DIR IMAGE --out DEPTH.png`: Depth-Anything depth of one image, as MfM conditions on it.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <nlohmann/json.hpp>

#include "command.h"
#include "mf/core/error.h"
#include "mf/depth/depth_estimator.h"
#include "mf/io/runtime.h"
#include "mf/io/tensor_io.h"

namespace fs = std::filesystem;

namespace {

int run_depth(const std::vector<std::string>& argv) {
  mf::cli::Args args(argv, {"json"});
  auto unknown = args.unknown({"model", "out", "raw", "device", "json"});
  if (!unknown.empty()) return mf::cli::usage_error("depth", "unknown option " + unknown[0]);
  if (args.positionals().size() != 1) return mf::cli::usage_error("depth", "expects exactly one IMAGE");
  auto model_dir = args.get("model");
  auto out = args.get("out");
  if (!model_dir) return mf::cli::usage_error("depth", "--model DIR is required (a Depth-Anything-V2-Small-hf folder)");
  if (!out) return mf::cli::usage_error("depth", "--out DEPTH.png is required");
  const std::string image_path = args.positionals()[0];
  std::string raw_path = args.get_or("raw", fs::path(*out).replace_extension(".safetensors").string());
  if (raw_path == *out) raw_path = *out + ".safetensors";
  const std::string device_name = args.get_or("device", "cpu");
  if (!mf::io::is_device_name(device_name))
    return mf::cli::usage_error("depth", "--device must be cpu, cuda or cuda:N, found \"" + device_name + "\"");
  const c10::Device device = mf::io::resolve_device(device_name);  // throws Unsupported without that GPU

  mf::io::init_torch_runtime();
  if (!fs::is_regular_file(image_path)) throw mf::Error(mf::ErrorCode::BadInput, "no image file " + image_path);
  cv::Mat bgr = cv::imread(image_path, cv::IMREAD_COLOR);  // 8-bit BGR (16-bit and grey files are converted)
  if (bgr.empty()) {
    throw mf::Error(mf::ErrorCode::BadInput, "cannot decode the image " + image_path +
                                                 " (not a format OpenCV reads: use PNG, JPEG, BMP, TIFF or WebP)");
  }
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  auto image = torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8).clone();  // [H, W, 3]

  auto est = mf::depth::DepthEstimator::load(*model_dir, device);
  auto net = mf::depth::dpt_network_size(rgb.rows, rgb.cols, est.preprocessor());
  auto depth = est.predict_depth(image).contiguous();  // [H, W] float32, raw relative inverse depth

  // 16-bit PNG for viewing: min-max normalised to 0..65535 (nearer = brighter, as the raw values).
  const float lo = depth.min().item<float>(), hi = depth.max().item<float>();
  auto norm = hi > lo ? (depth - lo) / (hi - lo) : torch::zeros_like(depth);
  auto u16 = (norm * 65535.0).round().clamp(0, 65535).to(torch::kInt32).contiguous();
  cv::Mat png(rgb.rows, rgb.cols, CV_16UC1);
  const int32_t* src = u16.data_ptr<int32_t>();
  for (int y = 0; y < rgb.rows; ++y) {
    auto* row = png.ptr<uint16_t>(y);
    for (int x = 0; x < rgb.cols; ++x) row[x] = static_cast<uint16_t>(src[static_cast<size_t>(y) * rgb.cols + x]);
  }
  if (!cv::imwrite(*out, png)) throw mf::Error(mf::ErrorCode::Io, "cannot write " + *out);

  nlohmann::json meta = {{"image", image_path},
                         {"model", *model_dir},
                         {"network_size", {net.first, net.second}},
                         {"min", lo},
                         {"max", hi}};
  mf::io::save_tensors(raw_path, {{"depth", depth}}, {{"manyfold_depth", meta.dump()}});

  nlohmann::json j = meta;
  j["png"] = *out;
  j["raw"] = raw_path;
  j["size"] = {rgb.rows, rgb.cols};
  if (args.has("json")) {
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "depth " << rgb.cols << "x" << rgb.rows << " (network " << net.second << "x" << net.first
              << "), raw range [" << lo << ", " << hi << "]\n"
              << "  " << *out << "  16-bit PNG, min-max normalised\n"
              << "  " << raw_path << "  raw float32 tensor 'depth' [H, W]\n";
  }
  return mf::cli::kExitOk;
}

}  // namespace

MF_CLI_COMMAND("depth", "Depth-Anything depth map of an image (16-bit PNG + raw float32)",
               "manyfold depth --model DIR IMAGE --out DEPTH.png [--raw RAW.safetensors] [--device cpu|cuda|cuda:N] [--json]\n"
               "  DIR is a Depth-Anything(-V2-Small-hf) folder: config.json, model.safetensors and optionally\n"
               "  preprocessor_config.json. The depth is computed as MfM does (DPT preprocessing with PIL bicubic,\n"
               "  float32 model, bicubic resize back to the image size): raw relative inverse depth, larger = nearer.\n"
               "  Writes DEPTH.png (16-bit grey, min-max normalised for viewing) and the raw values, unnormalised,\n"
               "  as the float32 tensor 'depth' [H, W] in RAW.safetensors (default: DEPTH.png with the extension\n"
               "  replaced by .safetensors; its metadata 'manyfold_depth' holds min, max and the network size).",
               run_depth);
