// Runs the VAE on a parity file (../shared/parity/cogvideox_vae_*.safetensors: weights.*, in.video, in.latent,
// the constructor config and the tiling arguments in the metadata) and pairs the results with out.*.
// Shared by `manyfold parity` and the parity tests. Threading: call from one thread.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "mf/io/tensor_io.h"
#include "mf/vae/config.h"

namespace mf::vae {

struct VaeParityResult {
  std::string name;  // latent_mean, latent_logvar, decoded
  torch::Tensor got, reference;
};

// True when the file holds VAE weights (weights.decoder.*) and in.latent or in.video.
bool is_vae_parity_file(const mf::io::WeightSource& file);
// Config from metadata "config"; tiling from metadata "tiling" ("null" or {tile_sample_min_height, ...}).
VaeConfig parity_config(const mf::io::WeightSource& file, TilingOptions* tiling);
// Encodes in.video (when present) and decodes in.latent (when present) on CPU in float32.
std::vector<VaeParityResult> run_vae_parity(const mf::io::WeightSource& file);

}  // namespace mf::vae
