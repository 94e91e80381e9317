// The training run's configuration: one JSON file (`manyfold train --config FILE.json`).
//
// {
//   "stage": "vae",                 required; the component to train: "vae", "depth" or "mfm" (see the stage
//                                   headers vae_stage.h, depth_stage.h, mfm_stage.h)
//   "steps": 2000,                  required; optimizer steps in total (a resumed run continues up to it)
//   "batch": 2,                     clips per step
//   "lr": 5e-4, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01,   AdamW
//   "warmup_steps": 50,             linear warmup from lr/warmup to lr
//   "lr_schedule": "constant",      or "cosine" (from lr after warmup down to min_lr at the last step)
//   "min_lr": 0.0,
//   "grad_clip": 1.0,               max global gradient norm (0: no clipping)
//   "ema_decay": 0,                 exponential moving average of the weights (0: off; e.g. 0.999): updated
//                                   after every step with min(ema_decay, (1+n)/(10+n)) at step n, kept in the
//                                   checkpoints (ema.safetensors) and used for the exported model, the final
//                                   evaluation and the sample renders
//   "width": 96, "height": 64, "frames": 9,   clip size (frames = 4k+1, and 8k+1 for the VAE stage so that the
//                                   latent count is odd and decodes back to the same count; width/height multiples of 8)
//   "seed": 0,                      model initialisation, data order and noise (< 2^32)
//   "train_size": 0,                0: every step draws new scenes; N: a fixed set of N training scenes
//   "val_size": 16,                 held-out scenes (disjoint seed range) for the final evaluation
//   "max_shapes": 2,                shapes per toy scene (1..8)
//   "checkpoint_every": 200,        steps between checkpoints (0: only the timer and the end)
//   "checkpoint_minutes": 10,       wall-clock minutes between checkpoints (0: off)
//   "keep_checkpoints": 2,          how many checkpoints stay on disk
//   "log_every": 10,                steps per loss.csv row and per progress line when not on a TTY
//   "threads": 0,                   LibTorch intra-op threads (0: MF_NUM_THREADS / OMP_NUM_THREADS / all cores)
//   "device": "cpu",                where the model trains: "cpu", "cuda" or "cuda:N" (needs a CUDA build of
//                                   LibTorch and a GPU; Debian's libtorch is CPU-only). Toy clips, conditions and
//                                   random draws are made on the CPU and moved, so the data and noise are the same
//                                   on every device; a run may resume on another device (the numbers then differ
//                                   in the last bits). `manyfold train --device` overrides it.
//   "vae": {                        the VAE stage
//     "kl_weight": 1e-4,            weight of the KL term (per-element means, see vae_stage.h)
//     "recon_loss": "l1",           or "mse"
//     "sample_posterior": true,     decode a posterior sample (false: its mean)
//     "latent_noise": 0,            s > 0: the decoder sees z + u s sigma_c eps (u ~ U(0, 1) per clip, sigma_c the
//                                   channel's std over the batch, eps ~ N(0, 1)), so it learns to decode latents
//                                   that are a little off (a diffusion model's outputs) into clean frames instead
//                                   of speckle; training only, the exported VAE is the usual one
//     "init_from": "DIR",           start from the weights of a diffusers-layout vae folder (e.g. a trained
//                                   pipeline's vae/); its config.json sets the architecture (the keys below,
//                                   when given too, must agree with it)
//     "freeze_encoder": false,      train the decoder only (needs init_from): the encoder, and with it the latent
//                                   space a transformer was trained on, stays bit-identical, so the result can
//                                   replace that pipeline's vae/ folder
//     ... and overrides of the model's diffusers config.json keys: block_out_channels, layers_per_block,
//     norm_num_groups, norm_eps, latent_channels, temporal_compression_ratio, sample_height, sample_width,
//     scaling_factor (MfM needs latent_channels 16, temporal_compression_ratio 4 and 4 blocks)
//   },
//   "depth": { ... },               the depth stage's options (DepthStageOptions, depth_stage.h)
//   "mfm": { ... }                  the MfM stage's options (MfmStageOptions, mfm_stage.h)
// }
// Unknown keys and bad values are errors; every problem of a file is reported at once.
//
// Threading: plain value types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "mf/vae/config.h"

namespace mf::training {

enum class ReconLoss { L1, MSE };

struct VaeStageOptions {
  mf::vae::VaeConfig model = toy_model();
  double kl_weight = 1e-4;
  ReconLoss recon_loss = ReconLoss::L1;
  bool sample_posterior = true;
  double latent_noise = 0.0;  // see "latent_noise" above
  // Random crops of each training clip (0: the whole clip). The VAE is convolutional, so crops train the same
  // weights on fewer pixels per step; validation always uses whole clips. Sizes are multiples of the spatial
  // compression, crop_frames is 8k+1 like 'frames'.
  int crop_width = 0;
  int crop_height = 0;
  int crop_frames = 0;
  // A vae folder to start from (its config.json replaces `model`), and whether only the decoder is trained.
  std::string init_from;
  bool freeze_encoder = false;

  // The built-in toy model's VAE: CogVideoX architecture, 3 -> 16 latent channels, 8x spatial (4 blocks of
  // 16/32/32/64 channels), 4x temporal, one layer per block, 8 norm groups.
  static mf::vae::VaeConfig toy_model();
};

struct TrainConfig {
  std::string stage = "vae";
  int64_t steps = 0;
  int batch = 2;
  double lr = 5e-4;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  int64_t warmup_steps = 50;
  std::string lr_schedule = "constant";  // "constant" | "cosine"
  double min_lr = 0.0;
  double grad_clip = 1.0;
  double ema_decay = 0.0;
  int width = 96, height = 64, frames = 9;
  uint64_t seed = 0;
  int64_t train_size = 0;
  int64_t val_size = 16;
  int max_shapes = 2;
  int64_t checkpoint_every = 200;
  double checkpoint_minutes = 10.0;
  int keep_checkpoints = 2;
  int64_t log_every = 10;
  int threads = 0;
  std::string device = "cpu";  // "cpu" | "cuda" | "cuda:N"
  // "fp32", or "bf16": the forward pass under the device's autocast (matmuls and convolutions in bfloat16),
  // weights, gradients and AdamW state in float32.
  std::string precision = "fp32";
  // Recompute each transformer block in the backward pass instead of storing its activations (stage "mfm").
  bool gradient_checkpointing = false;
  // Every N steps, sample renders through the inference pipeline under <out>/samples/step_N (0 = never).
  int64_t sample_every = 0;
  VaeStageOptions vae;
  // The "depth" / "mfm" sections as validated by their stage (DepthStageOptions / MfmStageOptions::to_json();
  // empty objects for other stages).
  nlohmann::json depth = nlohmann::json::object();
  nlohmann::json mfm = nlohmann::json::object();

  // Parses and validates; throws mf::Error(BadInput) whose message names `origin` and lists every problem,
  // one per line ("unknown key 'x'", "'frames' must be 4k+1 ...").
  static TrainConfig from_json(const nlohmann::json& j, const std::string& origin);
  static TrainConfig from_json_text(const std::string& text, const std::string& origin);
  static TrainConfig from_file(const std::string& path);  // Io when unreadable, BadInput otherwise
  // Every field (defaults filled in); from_json(to_json()) gives the same config.
  nlohmann::json to_json() const;

  // The device to train on (mf::io::resolve_device): throws mf::Error(Unsupported) when it is a CUDA device and
  // this LibTorch has no CUDA or sees no such GPU, with what to do instead.
  torch::Device torch_device() const;

  // Learning rate at optimizer step `step` (0-based): warmup, then the schedule.
  double lr_at(int64_t step) const;
};

// Keys whose change makes a resumed run a different run (everything but steps, checkpoint/log cadence,
// keep_checkpoints, threads, device, gradient checkpointing and sample_every). Returns one line per differing
// key; empty when the runs match.
std::vector<std::string> resume_conflicts(const TrainConfig& saved, const TrainConfig& now);

}  // namespace mf::training
