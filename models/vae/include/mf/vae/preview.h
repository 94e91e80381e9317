// Fast latent-to-RGB preview: a per-channel linear map rgb = W z + b (W [3, C], b [3]) applied to every latent
// pixel, used by the engine for a preview at every sampling step (no VAE decode). The coefficients are data,
// one JSON file per VAE (resources/preview/*.json), fitted by least squares on pairs of latents and the frames
// the VAE decodes from them (`manyfold fit-preview --vae DIR`).
//
// The map works on model-space latents (what the sampler holds: VAE latents x latent_scale, 0.958917567 for
// MfM) and yields values on the decoded [-1, 1] scale.
//
// Threading: LatentPreview is an immutable value once built; apply() may run on any thread.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace mf::vae {

class CogVideoXVae;

struct LatentPreview {
  std::vector<std::vector<double>> weight;  // [3][C]
  std::vector<double> bias;                 // [3]
  double latent_scale = 0.958917567;        // latents the map expects = VAE latents x latent_scale
  std::string model;                        // a label (e.g. the VAE folder's name)
  std::string fingerprint;                  // vae_fingerprint() of the VAE it was fitted on ("" = any)
  int64_t samples = 0;                      // latent pixels used for the fit
  double rmse = 0;                          // fit residual on the [-1, 1] scale

  int64_t channels() const { return weight.empty() ? 0 : static_cast<int64_t>(weight[0].size()); }

  // latents [B, C, T, h, w] (or [C, T, h, w] / [C, h, w]) -> rgb with 3 in place of C, same dtype and device.
  torch::Tensor apply(const torch::Tensor& latents) const;
  // Batch 0 as uint8 frames [T, h, w, 3] ((x + 1) / 2 clamped, x 255, rounded), for display.
  torch::Tensor to_rgb8(const torch::Tensor& latents) const;

  std::string to_json_text() const;
  static LatentPreview from_json_text(const std::string& text, const std::string& origin);
  static LatentPreview load(const std::string& path);  // throws mf::Error(MissingModel / BadFile)
  void save(const std::string& path) const;

  // Least squares (in double, with a tiny ridge for conditioning) of rgb [N, 3] on latents [N, C] plus a bias.
  static LatentPreview fit(const torch::Tensor& latents, const torch::Tensor& rgb, double ridge = 1e-6);
};

// For each latent frame of a decode of `latent_frames` frames: the [begin, end) output frames it became
// (official chunking: in a chunk with an odd number of latents the first one becomes 1 frame, every other
// latent becomes temporal_ratio frames).
std::vector<std::pair<int64_t, int64_t>> latent_frame_spans(int64_t latent_frames, int temporal_ratio);

// Fit pairs from latents [B, C, t, h, w] and the frames decoded from them [B, 3, T, h*s, w*s]: each latent pixel
// is paired with the mean of the decoded pixels it covers (s x s block over its span of frames).
// Returns {X [N, C], Y [N, 3]} in float64.
std::pair<torch::Tensor, torch::Tensor> preview_fit_pairs(const torch::Tensor& latents, const torch::Tensor& decoded,
                                                          int spatial_ratio, int temporal_ratio);

// A stable identity for a VAE: hash of its config and decoder.conv_out weights.
std::string vae_fingerprint(const CogVideoXVae& vae);

struct PreviewFitOptions {
  int videos = 4;          // procedural test videos (colour fields, gradients, moving shapes)
  int frames = 9;          // per video (4k + 1)
  int height = 128, width = 128;
  uint64_t seed = 1234;
  double latent_scale = 0.958917567;
};
// Encodes procedural videos with `vae`, decodes their mean latents, and fits the map on (latents x scale,
// decoded frames). Works for any CogVideoX-style VAE.
LatentPreview fit_preview_for(const CogVideoXVae& vae, const PreviewFitOptions& opt = {});

// The preview file in `dir` (e.g. resources/preview) whose fingerprint matches `vae`, or an empty preview.
LatentPreview find_preview(const std::string& dir, const CogVideoXVae& vae);

}  // namespace mf::vae
