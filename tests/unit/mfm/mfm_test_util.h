// Shared helpers of the mf_mfm unit tests: tiny configurations and random inputs.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "mf/mfm/transformer.h"

namespace mf::mfm::test {

// The parity files' configuration: 2 heads x 64, 2 layers, text width 48, RoPE, motion score, depth.
inline Config tiny_config() {
  Config c;
  c.num_attention_heads = 2;
  c.attention_head_dim = 64;
  c.in_channels = 16;
  c.out_channels = 16;
  c.num_layers = 2;
  c.cross_attention_dim = {48, 48};
  c.sample_size = 32;
  c.activation_fn = "gelu-approximate";
  c.norm_type = "ada_norm_zero";
  c.use_rope = true;
  c.add_motion_score = true;
  c.use_depth_cond = true;
  return c;
}

// Random inputs for `pixel_frames` frames of H x W pixels (latents T = adapter frames, H/8 x W/8).
inline TransformerInputs random_inputs(const Config& c, int64_t batch, int64_t pixel_frames, int64_t H, int64_t W,
                                       int64_t text_len, uint64_t seed, int64_t valid_tokens = -1) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto f32 = torch::TensorOptions().dtype(torch::kFloat);
  const int64_t T = ConditionAdapterImpl::output_frames(pixel_frames);
  TransformerInputs in;
  in.hidden_states = at::randn({batch, c.in_channels, T, H / 8, W / 8}, gen, f32);
  in.conditional_pixel_values = at::randn({batch, c.adapter_in_channels() - 1, pixel_frames, H, W}, gen, f32);
  in.conditional_masks = at::rand({batch, 1, pixel_frames, H, W}, gen, f32);
  const int64_t ct = c.cross_attention_dim[0] ? *c.cross_attention_dim[0] : c.inner_dim();
  in.encoder_hidden_states = at::randn({batch, text_len, ct}, gen, f32);
  auto mask = torch::ones({batch, text_len}, torch::kLong);
  if (valid_tokens >= 0) mask.slice(1, valid_tokens).zero_();
  in.encoder_attention_mask = mask;
  in.timestep = at::rand({batch}, gen, f32) * 1000;
  in.motion_score = torch::full({batch}, 5.0f);
  return in;
}

inline double rel_l2(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.to(torch::kDouble), y = b.to(torch::kDouble);
  return ((x - y).norm() / y.norm()).item<double>();
}

inline double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.to(torch::kDouble).flatten(), y = b.to(torch::kDouble).flatten();
  return ((x * y).sum() / (x.norm() * y.norm())).item<double>();
}

}  // namespace mf::mfm::test
