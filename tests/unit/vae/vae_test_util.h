// Shared helpers of the VAE unit tests: a tiny random CogVideoX VAE.
#pragma once

#include <torch/torch.h>

#include "mf/vae/cogvideox_vae.h"

namespace mf::vae::testing {

inline VaeConfig tiny_config() {
  VaeConfig c;
  c.block_out_channels = {8, 8, 16, 16};
  c.layers_per_block = 1;
  c.norm_num_groups = 4;
  c.latent_channels = 4;
  c.sample_height = 32;  // tiles of 16x16 pixels = 2x2 latents by default
  c.sample_width = 32;
  return c;
}

// A tiny VAE with seeded random weights (scaled so activations stay O(1) through the stack).
inline CogVideoXVae tiny_vae(uint64_t seed = 7, VaeConfig cfg = tiny_config()) {
  torch::manual_seed(seed);
  CogVideoXVae vae(cfg);
  return vae;
}

inline double rel_l2(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.to(torch::kFloat64), y = b.to(torch::kFloat64);
  return (x - y).norm().item<double>() / std::max(y.norm().item<double>(), 1e-300);
}

}  // namespace mf::vae::testing
