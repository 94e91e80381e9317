#include "mf/depth/depth_estimator.h"

#include <cfenv>
#include <cmath>
#include <filesystem>

#include "mf/core/error.h"
#include "mf/depth/pil_resample.h"
#include "mf/io/tensor_io.h"

namespace mf::depth {
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {

// Python's round(): nearest integer, ties to even (std::nearbyint in the default rounding mode).
int64_t python_round(double v) {
  const int old = std::fegetround();
  std::fesetround(FE_TONEAREST);
  const double r = std::nearbyint(v);
  std::fesetround(old);
  return static_cast<int64_t>(r);
}

}  // namespace

std::pair<int64_t, int64_t> dpt_network_size(int64_t height, int64_t width, const DptPreprocessorConfig& cfg) {
  mf::check(height > 0 && width > 0, ErrorCode::BadInput, "depth: the image is empty");
  if (!cfg.do_resize) return {height, width};
  double sh = static_cast<double>(cfg.height) / static_cast<double>(height);
  double sw = static_cast<double>(cfg.width) / static_cast<double>(width);
  if (cfg.keep_aspect_ratio) {
    if (std::abs(1 - sw) < std::abs(1 - sh)) {
      sh = sw;  // fit width
    } else {
      sw = sh;  // fit height
    }
  }
  const double m = static_cast<double>(cfg.ensure_multiple_of);
  // constrain_to_multiple_of without max_val; min_val 0 never triggers for positive sizes.
  const int64_t nh = python_round(sh * static_cast<double>(height) / m) * cfg.ensure_multiple_of;
  const int64_t nw = python_round(sw * static_cast<double>(width) / m) * cfg.ensure_multiple_of;
  mf::check(nh > 0 && nw > 0, ErrorCode::BadInput,
            "depth: an image of " + std::to_string(width) + "x" + std::to_string(height) +
                " is too elongated: one side of the network input would be 0 pixels");
  return {nh, nw};
}

torch::Tensor dpt_normalize(const torch::Tensor& resized, const DptPreprocessorConfig& cfg) {
  mf::check(resized.dim() == 3 && resized.size(2) == 3 && resized.scalar_type() == torch::kUInt8, ErrorCode::BadInput,
            "depth: expected a uint8 RGB image [H, W, 3]");
  auto x = resized.to(torch::kCPU).contiguous();
  // image_transforms.rescale: float64 multiply, then float32.
  torch::Tensor f = cfg.do_rescale ? (x.to(torch::kFloat64) * cfg.rescale_factor).to(torch::kFloat32)
                                   : x.to(torch::kFloat32);
  if (cfg.do_normalize) {
    // image_transforms.normalize: mean/std as float32 arrays, (x - mean) / std in float32.
    auto opts = torch::TensorOptions().dtype(torch::kFloat32);
    auto mean = torch::tensor({static_cast<float>(cfg.image_mean[0]), static_cast<float>(cfg.image_mean[1]),
                               static_cast<float>(cfg.image_mean[2])}, opts);
    auto std = torch::tensor({static_cast<float>(cfg.image_std[0]), static_cast<float>(cfg.image_std[1]),
                              static_cast<float>(cfg.image_std[2])}, opts);
    f = (f - mean) / std;
  }
  return f.permute({2, 0, 1}).unsqueeze(0).contiguous();  // [1, 3, h, w]
}

torch::Tensor dpt_preprocess(const torch::Tensor& rgb, const DptPreprocessorConfig& cfg, const ResizeFn& resize) {
  mf::check(rgb.dim() == 3 && rgb.size(2) == 3 && rgb.scalar_type() == torch::kUInt8, ErrorCode::BadInput,
            "depth: expected a uint8 RGB image [H, W, 3]");
  auto img = rgb.to(torch::kCPU).contiguous();
  const int64_t H = img.size(0), W = img.size(1);
  auto [h, w] = dpt_network_size(H, W, cfg);
  if (h == H && w == W) return dpt_normalize(img, cfg);  // PIL returns a copy when the size does not change
  std::vector<uint8_t> out =
      resize ? resize(img.data_ptr<uint8_t>(), static_cast<int>(H), static_cast<int>(W), static_cast<int>(h),
                      static_cast<int>(w))
             : pil_resize_bicubic(img.data_ptr<uint8_t>(), static_cast<int>(H), static_cast<int>(W), 3,
                                  static_cast<int>(h), static_cast<int>(w));
  mf::check(out.size() == static_cast<size_t>(h * w * 3), ErrorCode::Internal,
            "depth: the resize callback returned the wrong number of bytes");
  auto resized = torch::from_blob(out.data(), {h, w, 3}, torch::kUInt8);
  return dpt_normalize(resized, cfg);
}

torch::Tensor dpt_postprocess(const torch::Tensor& predicted_depth, int64_t height, int64_t width) {
  auto d = predicted_depth;
  if (d.dim() == 3) {
    mf::check(d.size(0) == 1, ErrorCode::BadInput, "depth: post-processing takes one depth map at a time");
    d = d[0];
  }
  mf::check(d.dim() == 2, ErrorCode::BadInput, "depth: expected a depth map [h, w]");
  auto out = F::interpolate(d.unsqueeze(0).unsqueeze(1).to(torch::kFloat32),
                            F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{height, width})
                                .mode(torch::kBicubic)
                                .align_corners(false));
  return out[0][0];  // [H, W]
}

// ---------------------------------------------------------------------------------------------------------------

DepthEstimator::DepthEstimator(DepthAnythingConfig cfg, DptPreprocessorConfig pre, DepthAnything model,
                               torch::Device device)
    : cfg_(std::move(cfg)), pre_(pre), model_(std::move(model)), device_(device) {
  model_->to(device_, torch::kFloat32);
  model_->eval();
}

DepthEstimator DepthEstimator::load(const std::string& model_dir, torch::Device device) {
  const fs::path dir(model_dir);
  mf::check(fs::is_directory(dir), ErrorCode::MissingModel,
            model_dir + " is not a folder (expected a Depth-Anything folder with config.json and model.safetensors)");
  mf::check(fs::exists(dir / "config.json"), ErrorCode::MissingModel, (dir / "config.json").string() + " is missing");
  auto cfg = DepthAnythingConfig::from_file((dir / "config.json").string());
  DptPreprocessorConfig pre;
  if (fs::exists(dir / "preprocessor_config.json")) {
    pre = DptPreprocessorConfig::from_file((dir / "preprocessor_config.json").string());
  }
  DepthAnything model(cfg);
  auto weights = mf::io::WeightSource::open(model_dir);
  mf::io::load_state_dict(*model, weights, /*strict=*/true);
  return DepthEstimator(cfg, pre, model, device);
}

torch::Tensor DepthEstimator::forward(const torch::Tensor& pixel_values) const {
  torch::NoGradGuard no_grad;
  DepthAnything model = model_;  // the holder is a shared pointer; forward() does not mutate the module
  return model->forward(pixel_values.to(device_, torch::kFloat32));
}

torch::Tensor DepthEstimator::predict_depth(const torch::Tensor& rgb) const {
  torch::NoGradGuard no_grad;
  auto px = dpt_preprocess(rgb, pre_, resize_);
  auto raw = forward(px);  // [1, h, w]
  return dpt_postprocess(raw.to(torch::kCPU), rgb.size(0), rgb.size(1));
}

}  // namespace mf::depth
