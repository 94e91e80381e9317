// Depth estimation as the official MfM pipeline runs it: transformers' "depth-estimation" pipeline with
// Depth-Anything-V2-Small-hf in float32 (mfm-reference.md F): DPT preprocessing (aspect-keeping resize to
// multiples of 14 near 518 with PIL bicubic, x/255, ImageNet normalisation), the model, and a bicubic
// (align_corners false) resize of the raw prediction back to the frame size. The result is the raw relative
// inverse depth (larger = nearer), NOT normalised: MfM writes it into the depth channel as is.
//
// A model folder holds config.json, preprocessor_config.json (optional: the released defaults are used when it
// is missing) and model.safetensors (or a sharded index), as in depth-anything/Depth-Anything-V2-Small-hf.
//
// Thread-safety: a DepthEstimator is immutable after construction except for set_resize(); call predict_depth()
// from one thread at a time (the engine's worker thread).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mf/depth/config.h"
#include "mf/depth/model.h"

namespace mf::depth {

// The network input size (height, width) DPTImageProcessor picks for an image of (height, width):
// scale each side towards size; with keep_aspect_ratio use the scale closer to 1 for both; then
// ensure_multiple_of * round(side / ensure_multiple_of) with Python's round (half to even).
// Throws mf::Error(BadInput) when a side would become 0.
std::pair<int64_t, int64_t> dpt_network_size(int64_t height, int64_t width, const DptPreprocessorConfig& cfg);

// Resizes an interleaved RGB uint8 image [h, w, 3] to [out_h, out_w, 3]. The default is pil_resize_bicubic.
using ResizeFn = std::function<std::vector<uint8_t>(const uint8_t* rgb, int h, int w, int out_h, int out_w)>;

// DPT preprocessing of an already resized uint8 RGB image [h, w, 3] (CPU, contiguous): x * rescale_factor
// (double, then float32), then (x - mean) / std in float32 -> pixel_values [1, 3, h, w] float32.
torch::Tensor dpt_normalize(const torch::Tensor& resized_rgb_u8, const DptPreprocessorConfig& cfg);

// Full DPT preprocessing of a uint8 RGB image [H, W, 3]: dpt_network_size, `resize` (PIL bicubic by default),
// dpt_normalize. Returns pixel_values [1, 3, h, w] float32 on the CPU.
torch::Tensor dpt_preprocess(const torch::Tensor& rgb_u8, const DptPreprocessorConfig& cfg,
                             const ResizeFn& resize = {});

// The pipeline's post-processing: predicted_depth [h, w] (or [1, h, w]) -> [H, W] by bicubic interpolation
// (align_corners false, no antialias), float32.
torch::Tensor dpt_postprocess(const torch::Tensor& predicted_depth, int64_t height, int64_t width);

class DepthEstimator {
 public:
  // Loads config.json, preprocessor_config.json (optional) and the weights of `model_dir` strictly (every
  // parameter present with its shape; unknown tensors are an error). Throws mf::Error(MissingModel/BadFile).
  static DepthEstimator load(const std::string& model_dir, torch::Device device = torch::kCPU);

  // A model with the given configuration and its current (e.g. random or already loaded) weights.
  DepthEstimator(DepthAnythingConfig cfg, DptPreprocessorConfig pre, DepthAnything model,
                 torch::Device device = torch::kCPU);

  // uint8 RGB [H, W, 3] (any device; read on the CPU) -> raw depth [H, W] float32 on the CPU.
  torch::Tensor predict_depth(const torch::Tensor& rgb_u8) const;
  // pixel_values [B, 3, h, w] -> predicted_depth [B, h, w] at network resolution (float32, on the model's device).
  torch::Tensor forward(const torch::Tensor& pixel_values) const;

  void set_resize(ResizeFn fn) { resize_ = std::move(fn); }
  const DepthAnythingConfig& config() const { return cfg_; }
  const DptPreprocessorConfig& preprocessor() const { return pre_; }
  DepthAnything model() const { return model_; }

 private:
  DepthAnythingConfig cfg_;
  DptPreprocessorConfig pre_;
  DepthAnything model_{nullptr};
  torch::Device device_;
  ResizeFn resize_;
};

}  // namespace mf::depth
