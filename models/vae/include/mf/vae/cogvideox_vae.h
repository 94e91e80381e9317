// The CogVideoX video VAE as the studio uses it: load a released vae/ folder (config.json + safetensors) or any
// weight source, encode videos to a latent distribution, and decode latents to frames with the official
// temporal chunking (decode: 2 latent frames per chunk, the first takes 2 + T mod 2; encode: 8 frames, the first
// takes 8 + T mod 8), conv caches carried across chunks, and the official tiled mode (diffusers 0.33.1
// AutoencoderKLCogVideoX; ../shared/design/mfm-reference.md D).
//
// Memory: decoding never holds the activations of more than one temporal chunk of one tile. Without tiles the
// frames of each chunk go to the FrameSink as soon as they are decoded. With tiles the decoded tile pixels are
// kept (optionally in host memory) until every tile is done, because a frame needs all its tiles; the frames are
// then blended and handed to the sink chunk by chunk, and each chunk's tile pixels are released after use.
//
// Threading: one CogVideoXVae is used by one thread at a time (the engine's worker). encode()/decode() run without
// autograd (NoGradGuard); the *_train entry points record it for backend/training.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mf/io/tensor_io.h"
#include "mf/vae/config.h"
#include "mf/vae/modules.h"

namespace mf::vae {

// DiagonalGaussianDistribution of diffusers: mean and log-variance (clamped to [-30, 20]).
struct LatentDistribution {
  torch::Tensor mean;    // [B, latent, t, h, w]
  torch::Tensor logvar;  // [B, latent, t, h, w]
  torch::Tensor std() const { return torch::exp(0.5 * logvar); }
  torch::Tensor mode() const { return mean; }
  // mean + std * randn(generator) with randn drawn on the generator's device in the latents' dtype.
  torch::Tensor sample(torch::Generator generator) const;
};

// Receives decoded frames in order: frames [B, out_channels, n, H, W] that start at output frame `first_frame`.
using FrameSink = std::function<void(const torch::Tensor& frames, int64_t first_frame)>;

// Knobs that bound memory without changing results.
struct RunOptions {
  int64_t conv_chunk_bytes = int64_t(512) << 20;  // see RunContext::conv_chunk_bytes
  bool tiles_on_host = false;  // tiled decode on a GPU: park decoded tiles in host memory until blended
};

class CogVideoXVae {
 public:
  // Random (LibTorch default) initialisation; load weights with load_weights().
  explicit CogVideoXVae(const VaeConfig& cfg, torch::Device device = torch::kCPU,
                        torch::ScalarType dtype = torch::kFloat);
  // A released vae/ folder: config.json and diffusion_pytorch_model.safetensors (or a sharded index).
  // Throws mf::Error(MissingModel / BadFile) naming the folder and the offending tensor.
  static CogVideoXVae load(const std::string& vae_dir, torch::Device device = torch::kCPU,
                           torch::ScalarType dtype = torch::kFloat);
  // Strictly loads every parameter from `weights` (names as in the diffusers state_dict).
  void load_weights(const mf::io::WeightSource& weights);

  const VaeConfig& config() const { return model_->config(); }
  AutoencoderKLCogVideoX& model() { return model_; }
  torch::Device device() const { return device_; }
  torch::ScalarType dtype() const { return dtype_; }

  // Tiling as diffusers' enable_tiling(): defaults to tiles of half the config's sample size.
  void enable_tiling() { tiling_ = TilingOptions::defaults_for(config()); }
  void enable_tiling(const TilingOptions& t);
  void disable_tiling() { tiling_.enabled = false; }
  const TilingOptions& tiling() const { return tiling_; }
  RunOptions& run_options() { return run_; }

  // video: [B, in_channels, T, H, W] in [-1, 1] -> moments [B, latent, encoded_frames(T), H/8, W/8].
  LatentDistribution encode(const torch::Tensor& video) const;

  // z: [B, latent, t, h, w], already divided by the MfM latent scale. Returns [B, out, decoded_frames(t), 8h, 8w]
  // when `sink` is empty; with a sink, hands the frames over chunk by chunk and returns an undefined tensor.
  torch::Tensor decode(const torch::Tensor& z, const FrameSink& sink = nullptr) const;

  // Training entry points (the inference paths above are unchanged): encoder and decoder over the whole clip in
  // ONE temporal chunk with no conv caches and no NoGradGuard/InferenceMode, so autograd records every op, and no
  // tiling. For clips the inference paths also handle as one untiled chunk (at most 15 frames to encode, at most 3
  // latent frames to decode: T <= 9 with 4x temporal compression) the values equal encode()/decode(); longer clips
  // differ (the chunked paths take group-norm statistics per chunk). Shapes as encode()/decode().
  LatentDistribution encode_train(const torch::Tensor& video);
  torch::Tensor decode_train(const torch::Tensor& z);
  struct TrainOutput {
    torch::Tensor reconstruction;  // [B, out_channels, T, H, W]
    LatentDistribution posterior;
    torch::Tensor latents;  // what the decoder got: a posterior sample, or its mean without a generator
  };
  // encode_train -> posterior.sample(generator) (mean when `generator` is undefined) -> decode_train.
  TrainOutput forward_train(const torch::Tensor& video, torch::Generator generator = {});

  // Frame-count rules of the chunked decode/encode: decode 1 -> 1, odd t -> 4(t-1)+1, even t -> 4t.
  int64_t decoded_frames(int64_t latent_frames) const;
  int64_t encoded_frames(int64_t sample_frames) const;
  bool decode_uses_tiles(int64_t latent_height, int64_t latent_width) const;
  bool encode_uses_tiles(int64_t height, int64_t width) const;

  // [begin, end) ranges of the official temporal chunking: max(T / batch, 1) chunks, the first one also
  // takes the T mod batch remainder frames.
  static std::vector<std::pair<int64_t, int64_t>> temporal_chunks(int64_t frames, int64_t batch);
  static constexpr int64_t kLatentFramesPerChunk = 2;
  static constexpr int64_t kSampleFramesPerChunk = 8;

 private:
  torch::Tensor encode_moments(const torch::Tensor& x) const;      // [B, 2*latent, t, h, w]
  torch::Tensor encode_stream(const torch::Tensor& x) const;       // one tile (or all), chunked in time
  torch::Tensor decode_chunk(const torch::Tensor& z, RunContext& ctx) const;
  void decode_untiled(const torch::Tensor& z, const FrameSink& sink) const;
  void decode_tiled(const torch::Tensor& z, const FrameSink& sink) const;

  mutable AutoencoderKLCogVideoX model_;  // forward passes keep no state in the modules
  torch::Device device_;
  torch::ScalarType dtype_;
  TilingOptions tiling_;
  RunOptions run_;
};

// Official in-place blends (diffusers blend_v / blend_h): the first e rows (columns) of `b` become a linear
// ramp from `a`'s last e rows (columns), e = min(a, b, extent). Exposed for tests.
void blend_vertical(const torch::Tensor& a, torch::Tensor& b, int64_t extent);
void blend_horizontal(const torch::Tensor& a, torch::Tensor& b, int64_t extent);

}  // namespace mf::vae
