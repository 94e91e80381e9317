// Depth-Anything (transformers 4.51 DepthAnythingForDepthEstimation) in LibTorch, float32:
// a DINOv2 ViT backbone (patch embedding, CLS token, bicubic-interpolated position embeddings, pre-norm layers
// with layer scale), a DPT neck (reassemble, 3x3 convs, feature fusion from the deepest stage) and the depth head.
//
// Every child is registered under the checkpoint's own name, so named_parameters() equals the keys of the
// released model.safetensors (backbone.embeddings.*, backbone.encoder.layer.N.*, backbone.layernorm.*,
// neck.reassemble_stage.layers.N.*, neck.convs.N.*, neck.fusion_stage.layers.N.*, head.*).
//
// Thread-safety: forward() does not mutate the module; one module may serve one caller at a time (LibTorch
// modules are not documented as safe for concurrent forward calls).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "mf/depth/config.h"

namespace mf::depth {

// One pre-norm ViT layer of DINOv2 (transformers' Dinov2Layer).
class Dinov2LayerImpl : public torch::nn::Module {
 public:
  explicit Dinov2LayerImpl(const Dinov2Config& c);
  torch::Tensor forward(const torch::Tensor& x);  // [B, S, D] -> [B, S, D]

 private:
  int64_t heads_, head_dim_;
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Linear query_{nullptr}, key_{nullptr}, value_{nullptr}, dense_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
  torch::Tensor lambda1_, lambda2_;
};
TORCH_MODULE(Dinov2Layer);

// Dinov2Backbone: returns the hidden states selected by out_indices, each through the final LayerNorm.
class Dinov2BackboneImpl : public torch::nn::Module {
 public:
  explicit Dinov2BackboneImpl(const Dinov2Config& c);
  // pixel_values [B, C, H, W] with H, W multiples of the patch size -> out_indices.size() x [B, 1 + gh*gw, D]
  std::vector<torch::Tensor> forward(const torch::Tensor& pixel_values);
  // The trained [1, 1 + N, D] table resized to the (gh, gw) grid (bicubic, align_corners false, size=, fp32).
  torch::Tensor position_embeddings_for(int64_t gh, int64_t gw) const;

 private:
  Dinov2Config cfg_;
  torch::Tensor cls_token_, mask_token_, position_embeddings_;
  torch::nn::Conv2d projection_{nullptr};
  std::vector<Dinov2Layer> layers_;
  torch::nn::LayerNorm layernorm_{nullptr};
};
TORCH_MODULE(Dinov2Backbone);

// DepthAnythingPreActResidualLayer: x + conv2(relu(conv1(relu(x)))).
class PreActResidualImpl : public torch::nn::Module {
 public:
  explicit PreActResidualImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(PreActResidual);

// Neck (reassemble + convs + fusion) and head.
class DepthAnythingImpl : public torch::nn::Module {
 public:
  explicit DepthAnythingImpl(const DepthAnythingConfig& c);
  // pixel_values [B, 3, h, w] (h, w multiples of patch_size) -> predicted_depth [B, h', w'] with
  // h' = patch_size * (h / patch_size) (the head resizes to the patch grid times the patch size).
  torch::Tensor forward(const torch::Tensor& pixel_values);
  const DepthAnythingConfig& config() const { return cfg_; }
  Dinov2Backbone backbone() const { return backbone_; }

 private:
  struct Reassemble {
    torch::nn::Conv2d projection{nullptr};
    torch::nn::ConvTranspose2d up{nullptr};
    torch::nn::Conv2d down{nullptr};
  };
  struct Fusion {
    torch::nn::Conv2d projection{nullptr};
    PreActResidual residual1{nullptr}, residual2{nullptr};
  };
  DepthAnythingConfig cfg_;
  Dinov2Backbone backbone_{nullptr};
  std::vector<Reassemble> reassemble_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<Fusion> fusion_;
  torch::nn::Conv2d head_conv1_{nullptr}, head_conv2_{nullptr}, head_conv3_{nullptr};
};
TORCH_MODULE(DepthAnything);

}  // namespace mf::depth
