// MfM pipeline: runs one TaskSpec end to end (prompts -> conditions -> text encoding -> sampling -> decode ->
// outputs with the recipe), the way the official MfMPipeline does (mfm-reference.md C), as a library that the
// engine and the command-line tool call.
//
// The run is split into stages so the engine can persist state between them, pause after any step and resume
// from saved latents, and so a decode failure never costs the denoising:
//   prepare()  -> Prepared (conditions, prompt embeddings, schedule, initial noise; everything small is on host)
//   denoise()  -> latents after the last step (or after the step where cancellation/pause was requested)
//   decode_and_write() -> output files (video/PNG) + sidecar recipe JSON
//
// Choices Manyfold makes knowingly where the official code has quirks (mfm-reference.md H):
//  - frame count: the official driver drops the first 3 frames whenever the final count is a multiple of 4 (H.20).
//    decode_and_write() defaults to tasks::Drop3Policy::EvenLatentOnly: the 3 frames are dropped only when the VAE
//    returned 4T frames for an even latent count (the case the rule exists for), never from the kept input frames
//    of vexd/vtrans. DecodeControl::drop3 = Driver reproduces the driver's files, Never gives MfMPipeline's
//    return value. decode_video() always returns MfMPipeline's return value (no drop).
//  - videos are always written as videos (the driver averages clips of <= 16 frames into one PNG); image tasks
//    write a PNG.
//  - noise augmentation draws from the job's seeded generator (the official code uses the global RNG), so a
//    recipe reproduces its take.
//  - inputs are refused where the official code silently stretches or ignores them (see mf::tasks).
//
// Dtype policy (LoadOptions::dtype): kFloat32 runs everything in float32 (the parity reference); kBFloat16 is the
// official production policy (A.7): transformer, VAE and T5 in bf16, the depth model in fp32, conditions and
// prompt embeddings cast to bf16, the guided velocity and the Euler step in fp32, latents cast back to bf16 after
// every step.
//
// Threading: a Pipeline is used by ONE thread at a time (the engine's worker thread). It sets
// c10::InferenceMode itself. Callbacks are invoked synchronously on that thread and must be cheap.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/tasks/condition.h"
#include "mf/tasks/geometry.h"
#include "mf/tasks/task_spec.h"

namespace mf::pipeline {

struct LoadOptions {
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;  // kBFloat16 = the official production policy
  bool load_depth = true;                     // Depth-Anything folder; needed by i2v/itrans/vexd/vtrans
  std::string depth_model_dir;                // empty: <pipeline>/depth or the registry's default
  size_t text_cache_bytes = size_t(64) << 20;  // in-memory T5 embedding cache (0 disables it)
  std::string text_cache_dir;                  // optional on-disk T5 embedding cache
};

// Replaces parts of prepare() (tests, the parity goldens, callers that already hold decoded frames).
struct PrepareOverrides {
  // Text encoder stand-in: the final lower-cased prompt -> (embeddings [77, Ct], attention mask [77] int64).
  // `negative` tells which half it is. When set, T5 is not run (the tokenizer still records token ids if the
  // pipeline has one).
  std::function<std::pair<torch::Tensor, torch::Tensor>(const std::string& prompt, bool negative)> encode_text;
  // Depth stand-in: a processed condition frame, uint8 RGB [H, W, 3] -> raw depth [H, W] float32.
  std::function<torch::Tensor(const torch::Tensor& rgb_u8)> depth;
  // Decoded inputs instead of reading spec.images / spec.clips / spec.mask through the media layer.
  std::optional<tasks::ConditionInputs> inputs;
  // Initial latents [1, 16, T', h, w] instead of the seeded generator's noise.
  torch::Tensor noise;
};

// Everything prepare() computes; the engine may persist it (tensors are CPU, float32 unless noted).
struct Prepared {
  tasks::TaskSpec spec;          // with the seed filled in
  std::string prompt, negative_prompt;                // final strings (lower-cased as the model sees them)
  torch::Tensor prompt_embeds;                        // [B, 77, Ct] (B = 2 with CFG, negative first)
  torch::Tensor prompt_mask;                          // [B, 77] int64
  torch::Tensor cond_pixels;                          // [B, 4, T, H, W] (RGB x mask, depth; uncond depth zeroed)
  torch::Tensor cond_masks;                           // [B, 1, T, H, W]
  torch::Tensor motion_score;                         // [B]
  std::vector<float> sigmas;                          // steps + 1, last 0
  std::vector<float> timesteps;                       // steps
  torch::Tensor initial_latents;                      // [1, 16, T', h, w] (the noise)
  int height = 0, width = 0, num_frames = 0;          // generation size
  nlohmann::json kept_frames;                         // what the output step re-attaches (vexd/vtrans), etc.

  // Added by the implementation (all optional for a consumer):
  torch::Tensor token_ids;             // [B, 77] int64 (negative first with CFG); undefined without a tokenizer
  tasks::FramePlan plan;               // frame bookkeeping (known frames, kept input frames)
  tasks::ConditionGeometry geometry;   // input size, box, fitted size, letterbox offsets, output resize
  int output_width = 0, output_height = 0;  // isr/icolor final nearest resize (0 = the generation size)
  torch::Tensor kept_pre, kept_post;   // [N, H, W, 3] uint8: vexd/vtrans input frames put around the output
  uint64_t seed = 0;                   // = *spec.seed
  double shift = 0;                    // scheduler shift used
  bool cfg = false;                    // guidance_scale > 1 (batch 2)
  std::map<std::string, double> stage_seconds;  // "text", "conditions" (prepare's share of the timings)
  std::vector<std::string> warnings;   // validation warnings, test-fixture notice, ...
};

struct StepEvent {
  int step = 0;             // 0-based index of the step just finished
  int total = 0;
  float sigma = 0, sigma_next = 0;
  double seconds = 0;       // wall time of this step
  torch::Tensor latents;    // [1, 16, T', h, w] after the step
  torch::Tensor predicted;  // predicted clean latents x0 = x - sigma * v at this step
  torch::Tensor model_output;  // [B, 16, T', h, w] float32: the transformer's raw prediction (before guidance)
};

struct DenoiseControl {
  // Called after every step. Return false to stop after this step (cancel or pause); denoise() then returns
  // with `completed_steps` < total and the latents of the last finished step.
  std::function<bool(const StepEvent&)> on_step;
};

struct DenoiseResult {
  torch::Tensor latents;  // [1, 16, T', h, w]
  int completed_steps = 0;  // steps done in total (start_step + steps run in this call)
  int total_steps = 0;
  bool finished() const;    // completed_steps == total_steps
};

struct DecodeControl {
  // Frames as they are decoded: [N, H, W, 3] uint8, first_frame = index of the first one in the output.
  std::function<void(int first_frame, const torch::Tensor& frames)> on_frames;
  // The official driver's "drop 3 frames" rule (see the top of this file).
  tasks::Drop3Policy drop3 = tasks::Drop3Policy::EvenLatentOnly;
  // Extra entries merged into the recipe (e.g. the engine's job id).
  nlohmann::json recipe_extra;
};

struct Outputs {
  std::vector<std::string> files;  // the video or image(s), then the sidecar JSON
  nlohmann::json recipe;           // task, prompts, seed, steps, guidance, shift, model id and hashes, timings
  std::map<std::string, double> stage_seconds;  // text, conditions, denoise, decode
};

class Pipeline {
 public:
  // Loads a pipeline folder (official diffusers layout, or a test folder written by make_test_pipeline).
  // Throws mf::Error(MissingModel) naming what is missing and what to do.
  static std::unique_ptr<Pipeline> load(const std::string& folder, const LoadOptions& options = {});
  virtual ~Pipeline() = default;

  virtual const std::string& model_id() const = 0;
  // True for a folder written by make_test_pipeline (random weights; never a product model).
  virtual bool is_test_fixture() const { return false; }
  // Folder, dtype, component configs and weight-file fingerprints (what the recipe records as "model").
  virtual const nlohmann::json& model_info() const = 0;

  // Validates (every error at once), reads inputs, builds conditions and prompts, encodes text, draws noise.
  virtual Prepared prepare(const tasks::TaskSpec& spec) = 0;
  virtual Prepared prepare(const tasks::TaskSpec& spec, const PrepareOverrides& overrides) = 0;

  // Runs steps [start_step, total) from `latents` (the initial noise when start_step == 0).
  virtual DenoiseResult denoise(const Prepared& p, const torch::Tensor& latents, int start_step,
                                const DenoiseControl& control = {}) = 0;

  // Decodes finished latents and writes the outputs (video through the media layer / PNG) with the recipe.
  virtual Outputs decode_and_write(const Prepared& p, const torch::Tensor& latents, const std::string& output_path,
                                   const DecodeControl& control = {}) = 0;

  // MfMPipeline's return value for finished latents: [1, 3, T, H, W] float32 on the CPU in [-1, 1] (not clamped):
  // decoded frames with the kept input frames attached (vexd/vtrans) and the isr/icolor resize; no drop-3.
  virtual torch::Tensor decode_video(const Prepared& p, const torch::Tensor& latents) = 0;

  // Cheap latent -> RGB preview of latents [1, 16, T', h, w]: [T', h, w, 3] uint8.
  virtual torch::Tensor preview(const torch::Tensor& latents) const = 0;

  // Releases device memory of components not needed until the next prepare() (e.g. T5 after encoding).
  virtual void release_text_encoder() = 0;
};

// Where decode_and_write() puts the files for `output_path`: image tasks -> PNG (extension replaced by .png),
// video tasks -> the path as given (".mp4" appended when it has no extension); the sidecar is <stem>.json.
struct OutputNames {
  std::string media;
  std::string sidecar;
};
OutputNames output_names(const tasks::TaskSpec& spec, const std::string& output_path);

// Cheap fingerprint of a weight file: size, mtime and a 64-bit FNV-1a hash of its first MiB.
nlohmann::json file_fingerprint(const std::string& path);

}  // namespace mf::pipeline
