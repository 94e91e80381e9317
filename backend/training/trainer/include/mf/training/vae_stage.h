// Stage 1 of the built-in model: the CogVideoX-architecture VAE (mf::vae::CogVideoXVae) trained on toy-world clips.
//
// Loss of a batch x [B, 3, T, H, W] in [-1, 1]:
//   posterior = encoder(x) (mean, logvar clamped to [-30, 20]);  z = posterior sample (or mean);  x^ = decoder(z)
//   (with vae.latent_noise s > 0 the decoder gets z + u s sigma_c eps instead, see config.h)
//   rec = mean |x^ - x|   (or mean (x^ - x)^2)                    over every pixel value
//   kl  = mean 0.5 (mean^2 + exp(logvar) - 1 - logvar)            over every latent value
//   loss = rec + kl_weight * kl
// through CogVideoXVae::forward_train (the real encoder/decoder modules, one temporal chunk, autograd on).
// The noise of the posterior sample comes from TrainState::draw_generator(), the batch from
// ToyVideoDataset::train_batch(state.draw(), batch).
//
// Output: <out>/vae/ in the diffusers layout (config.json with _class_name AutoencoderKLCogVideoX and
// diffusion_pytorch_model.safetensors under the diffusers key names), which CogVideoXVae::load() reads.
//
// Threading: one thread.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "mf/training/config.h"
#include "mf/training/dataset.h"
#include "mf/training/trainer.h"
#include "mf/vae/cogvideox_vae.h"

namespace mf::training {

// The dataset options a config implies (size, seed, splits, max_shapes).
DatasetOptions dataset_options(const TrainConfig& cfg);

class VaeStage : public Stage {
 public:
  // Builds the VAE from cfg.vae.model with LibTorch's default initialisation under torch::manual_seed(cfg.seed),
  // or loads cfg.vae.init_from (every tensor, strictly). With cfg.vae.freeze_encoder the encoder's parameters
  // (encoder.*, quant_conv.*) get requires_grad false, so the trainer optimises the decoder only.
  explicit VaeStage(const TrainConfig& cfg);

  std::string name() const override { return "vae"; }
  torch::nn::Module& module() override { return *vae_->model(); }
  std::vector<std::string> metric_names() const override { return {"rec", "kl"}; }
  StepResult train_step(TrainState& state) override;
  // Validation split with the posterior mean: rec_l1, mse, psnr (dB, on [0, 1] after clamping), kl,
  // latent_mean and latent_std (over every latent value; the DiT stage scales latents by 1/0.958917567).
  nlohmann::json evaluate() override;
  // Input | reconstruction PNGs of validation clip 0 (first, middle and last frames) through encode/decode.
  nlohmann::json render_samples(const std::string& dir, int64_t step) override;
  std::string export_model(const std::string& out_dir) override;  // writes <out_dir>/vae, returns it

  // Reconstruction of `video` with the posterior mean, no autograd ([B, 3, T, H, W], unclamped).
  torch::Tensor reconstruct(const torch::Tensor& video);
  mf::vae::CogVideoXVae& vae() { return *vae_; }
  const ToyVideoDataset& dataset() const { return data_; }

  // Writes PNGs of input | reconstruction side by side for validation clip `index`, frames `frame_list`
  // (out_dir/recon_<index>_frame_<t>.png). Returns the paths.
  std::vector<std::string> write_reconstruction_pngs(const std::string& out_dir, int64_t index,
                                                     const std::vector<int>& frame_list);

 private:
  TrainConfig cfg_;
  ToyVideoDataset data_;
  std::unique_ptr<mf::vae::CogVideoXVae> vae_;  // on device_
  torch::Device device_;
};

// Writes a diffusers-layout vae/ folder (config.json + diffusion_pytorch_model.safetensors) atomically:
// assembled in <dir>.tmp, then renamed over <dir>. Throws mf::Error(Io).
void write_vae_folder(mf::vae::CogVideoXVae& vae, const std::string& dir);
// The diffusers config.json of a VaeConfig (AutoencoderKLCogVideoX with its block types and act_fn).
nlohmann::json diffusers_vae_config(const mf::vae::VaeConfig& cfg);

// The same window of every clip in `video` [B, 3, T, H, W]: `frames` x `height` x `width` (0: the whole extent)
// at offsets taken from the random word r (the VAE stage's crops; one draw per step). Throws mf::Error(BadInput)
// when the window is larger than the clip.
torch::Tensor random_crop(const torch::Tensor& video, int64_t frames, int64_t height, int64_t width, uint64_t r);

// Builds the stage a config names ("vae", "depth", "mfm"; src/stages.cpp). Throws mf::Error(BadInput) for others.
std::unique_ptr<Stage> make_stage(const TrainConfig& cfg);

}  // namespace mf::training
