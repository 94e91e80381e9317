// The VAE stage: reconstruction + KL on toy-world clips through the real CogVideoX encoder/decoder.
#include "mf/training/vae_stage.h"

#include <cmath>
#include <filesystem>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "mf/core/error.h"
#include "mf/io/tensor_io.h"
#include "mf/training/checkpoint.h"

namespace mf::training {

namespace fs = std::filesystem;

DatasetOptions dataset_options(const TrainConfig& cfg) {
  return DatasetOptions::toy(cfg.width, cfg.height, cfg.frames, cfg.seed, cfg.val_size, cfg.train_size, cfg.max_shapes);
}

nlohmann::json diffusers_vae_config(const mf::vae::VaeConfig& c) {
  const size_t n = c.block_out_channels.size();
  return {{"_class_name", "AutoencoderKLCogVideoX"},
          {"_diffusers_version", "0.33.1"},
          {"_manyfold_trained", true},
          {"in_channels", c.in_channels},
          {"out_channels", c.out_channels},
          {"down_block_types", std::vector<std::string>(n, "CogVideoXDownBlock3D")},
          {"up_block_types", std::vector<std::string>(n, "CogVideoXUpBlock3D")},
          {"block_out_channels", c.block_out_channels},
          {"latent_channels", c.latent_channels},
          {"layers_per_block", c.layers_per_block},
          {"act_fn", "silu"},
          {"norm_eps", c.norm_eps},
          {"norm_num_groups", c.norm_num_groups},
          {"temporal_compression_ratio", c.temporal_compression_ratio},
          {"sample_height", c.sample_height},
          {"sample_width", c.sample_width},
          {"scaling_factor", c.scaling_factor},
          {"force_upcast", true},
          {"use_quant_conv", c.use_quant_conv},
          {"use_post_quant_conv", c.use_post_quant_conv}};
}

void write_vae_folder(mf::vae::CogVideoXVae& vae, const std::string& dir) {
  replace_folder_atomic(dir, [&](const std::string& tmp_s) {
    const fs::path tmp(tmp_s);
    write_file_atomic((tmp / "config.json").string(), diffusers_vae_config(vae.config()).dump(2) + "\n");
    mf::io::save_tensors((tmp / "diffusion_pytorch_model.safetensors").string(), module_tensors(*vae.model()),
                         {{"format", "pt"}});
  });
}

// ---------------------------------------------------------------------------------------------------------------
VaeStage::VaeStage(const TrainConfig& cfg) : cfg_(cfg), data_(dataset_options(cfg)), device_(cfg.torch_device()) {
  mf::check(cfg.stage == "vae", mf::ErrorCode::BadInput, "VaeStage needs a config with stage \"vae\"");
  torch::manual_seed(cfg.seed);
  if (cfg.vae.init_from.empty()) {
    // The modules initialise on the CPU and then move, so every device starts from the same weights.
    vae_ = std::make_unique<mf::vae::CogVideoXVae>(cfg.vae.model, device_);
  } else {
    // The released-folder loader (config.json + every tensor, strictly); the config parser already checked that
    // cfg.vae.model is this folder's config.
    vae_ = std::make_unique<mf::vae::CogVideoXVae>(mf::vae::CogVideoXVae::load(cfg.vae.init_from, device_));
    // requires_grad set explicitly for every parameter: the decoder trains, the encoder unless frozen.
    int frozen = 0;
    for (auto& p : vae_->model()->named_parameters(true)) {
      const bool encoder = p.key().rfind("encoder.", 0) == 0 || p.key().rfind("quant_conv.", 0) == 0;
      p.value().set_requires_grad(!(cfg.vae.freeze_encoder && encoder));
      frozen += cfg.vae.freeze_encoder && encoder;
    }
    mf::check(!cfg.vae.freeze_encoder || frozen > 0, mf::ErrorCode::Internal,
              "freeze_encoder: the VAE has no encoder parameters");
  }
}

torch::Tensor random_crop(const torch::Tensor& video, int64_t frames, int64_t height, int64_t width, uint64_t r) {
  mf::check(video.dim() == 5, mf::ErrorCode::BadInput, "random_crop: expected a [B, 3, T, H, W] clip batch");
  const int64_t T = video.size(2), H = video.size(3), W = video.size(4);
  const int64_t ct = frames > 0 ? frames : T, ch = height > 0 ? height : H, cw = width > 0 ? width : W;
  mf::check(ct <= T && ch <= H && cw <= W, mf::ErrorCode::BadInput, "random_crop: the crop is larger than the clip");
  // Three offsets from one draw: 16 bits each for frame, row and column.
  const int64_t t0 = static_cast<int64_t>((r & 0xffff) % static_cast<uint64_t>(T - ct + 1));
  const int64_t y0 = static_cast<int64_t>(((r >> 16) & 0xffff) % static_cast<uint64_t>(H - ch + 1));
  const int64_t x0 = static_cast<int64_t>(((r >> 32) & 0xffff) % static_cast<uint64_t>(W - cw + 1));
  return video.slice(2, t0, t0 + ct).slice(3, y0, y0 + ch).slice(4, x0, x0 + cw).contiguous();
}

StepResult VaeStage::train_step(TrainState& state) {
  const auto batch = data_.train_batch(state.draw(), cfg_.batch);
  torch::Tensor video = batch.video;  // [B, 3, T, H, W]
  const auto& o = cfg_.vae;
  if (o.crop_width > 0 || o.crop_height > 0 || o.crop_frames > 0)
    video = random_crop(video, o.crop_frames, o.crop_height, o.crop_width, state.draw());
  video = video.to(device_);
  torch::Generator noise;
  if (o.sample_posterior) noise = state.draw_generator();
  // CogVideoXVae::forward_train's steps, with the decoder's input perturbed when latent_noise asks for it (one
  // more draw, only in such runs).
  mf::vae::CogVideoXVae::TrainOutput out;
  out.posterior = vae_->encode_train(video);
  out.latents = noise.defined() ? out.posterior.sample(noise) : out.posterior.mean;
  if (o.latent_noise > 0) {
    auto gen = state.draw_generator();
    const auto& z = out.latents;
    const int64_t B = z.size(0), C = z.size(1);
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat);
    const auto level = (at::rand({B}, gen, f32) * o.latent_noise).to(z.device()).view({B, 1, 1, 1, 1});
    const auto eps = at::randn(z.sizes(), gen, f32).to(z.device());
    const auto channel_std = z.detach().transpose(0, 1).reshape({C, -1}).std(1).view({1, C, 1, 1, 1});
    out.latents = z + level * channel_std * eps;
  }
  out.reconstruction = vae_->decode_train(out.latents);
  const auto diff = out.reconstruction - video;
  const auto rec = o.recon_loss == ReconLoss::L1 ? diff.abs().mean() : diff.square().mean();
  const auto& mean = out.posterior.mean;
  const auto& logvar = out.posterior.logvar;
  const auto kl = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).mean();
  StepResult r;
  r.loss = rec + o.kl_weight * kl;
  r.metrics["rec"] = rec.item<double>();
  r.metrics["kl"] = kl.item<double>();
  r.samples = batch.size();
  return r;
}

torch::Tensor VaeStage::reconstruct(const torch::Tensor& video) {
  torch::NoGradGuard ng;
  return vae_->decode(vae_->encode(video.to(device_)).mean).cpu();
}

nlohmann::json VaeStage::evaluate() {
  const int64_t n = data_.size(Split::Validation);
  if (n == 0) return nlohmann::json::object();
  torch::NoGradGuard ng;
  vae_->model()->eval();
  double l1 = 0, se = 0, se01 = 0, kl = 0, zs = 0, zss = 0;
  double pixels = 0, latents = 0;
  for (int64_t i = 0; i < n; i += cfg_.batch) {
    const int64_t count = std::min<int64_t>(cfg_.batch, n - i);
    const auto batch = data_.range(Split::Validation, i, count);
    const auto video = batch.video.to(device_);
    const auto post = vae_->encode(video);
    const auto rec = vae_->decode(post.mean);
    const auto d = rec - video;
    l1 += d.abs().sum().item<double>();
    se += d.square().sum().item<double>();
    const auto r01 = ((rec + 1) * 0.5).clamp(0, 1), x01 = (video + 1) * 0.5;
    se01 += (r01 - x01).square().sum().item<double>();
    pixels += static_cast<double>(d.numel());
    kl += (0.5 * (post.mean.square() + post.logvar.exp() - 1.0 - post.logvar)).sum().item<double>();
    zs += post.mean.sum().item<double>();
    zss += post.mean.square().sum().item<double>();
    latents += static_cast<double>(post.mean.numel());
  }
  const double mse01 = se01 / pixels;
  const double zmean = zs / latents;
  return {{"clips", n},
          {"rec_l1", l1 / pixels},
          {"mse", se / pixels},
          {"psnr", mse01 > 0 ? 10.0 * std::log10(1.0 / mse01) : 99.0},
          {"kl", kl / latents},
          {"latent_mean", zmean},
          {"latent_std", std::sqrt(std::max(0.0, zss / latents - zmean * zmean))}};
}

std::string VaeStage::export_model(const std::string& out_dir) {
  const std::string dir = (fs::path(out_dir) / "vae").string();
  write_vae_folder(*vae_, dir);
  return dir;
}

nlohmann::json VaeStage::render_samples(const std::string& dir, int64_t step) {
  const auto paths = write_reconstruction_pngs(dir, 0, {0, cfg_.frames / 2, cfg_.frames - 1});
  nlohmann::json files = nlohmann::json::array();
  for (const auto& p : paths) files.push_back(fs::path(p).filename().string());
  return {{"step", step}, {"files", files}, {"note", "validation clip 0: input | reconstruction"}};
}

std::vector<std::string> VaeStage::write_reconstruction_pngs(const std::string& out_dir, int64_t index,
                                                             const std::vector<int>& frame_list) {
  const Split split = data_.size(Split::Validation) > index ? Split::Validation : Split::Train;
  const auto batch = data_.range(split, index, 1);
  const auto rec = reconstruct(batch.video);
  auto to_u8 = [](const torch::Tensor& v) {  // [3, T, H, W] in [-1, 1] -> [T, H, W, 3] uint8
    return ((v + 1) * 127.5).round().clamp(0, 255).to(torch::kUInt8).permute({1, 2, 3, 0}).contiguous();
  };
  const auto a = to_u8(batch.video[0]), b = to_u8(rec[0]);
  const int H = static_cast<int>(a.size(1)), W = static_cast<int>(a.size(2));
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  std::vector<std::string> paths;
  for (int t : frame_list) {
    if (t < 0 || t >= a.size(0)) continue;
    cv::Mat side(H, 2 * W, CV_8UC3);
    cv::Mat left(H, W, CV_8UC3, a[t].data_ptr<uint8_t>()), right(H, W, CV_8UC3, b[t].data_ptr<uint8_t>());
    left.copyTo(side(cv::Rect(0, 0, W, H)));
    right.copyTo(side(cv::Rect(W, 0, W, H)));
    cv::Mat bgr;
    cv::cvtColor(side, bgr, cv::COLOR_RGB2BGR);
    const std::string p =
        (fs::path(out_dir) / ("recon_" + std::to_string(index) + "_frame_" + std::to_string(t) + ".png")).string();
    if (!cv::imwrite(p, bgr)) throw mf::Error(mf::ErrorCode::Io, "cannot write " + p);
    paths.push_back(p);
  }
  return paths;
}


}  // namespace mf::training
