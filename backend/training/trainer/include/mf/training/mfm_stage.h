// Stage "mfm" of the built-in model: the MfM diffusion transformer (mf::mfm::Transformer3DModel, the official
// architecture) and a small T5 encoder (mf::text::T5Encoder) trained together on toy-world clips, with the VAE of
// stage "vae" frozen. The exported folder is a complete pipeline in the official layout that Pipeline::load reads.
//
// One step (every random choice from the TrainState, so a resumed run repeats the uninterrupted one):
//   1. a task, drawn with the weights of `tasks` (basic generation tasks 3x by default, as the MfM paper does);
//      the whole batch shares the task (image tasks are 1-frame clips, video tasks `frames` frames);
//   2. `batch` training clips; the task's inputs made from each clip as a user would give them (vinp/iinp: a
//      random rectangle or ellipse hole, held or moving; voutp/ioutp: a random border; vsr/isr: the clip at
//      1/sr_factor size; vcolor/icolor: the colour clip, which the condition code turns grey; t2v/t2i: nothing);
//   3. the condition exactly as inference builds it: tasks::build_condition_frames + condition_to_float on the
//      task's official TaskSpec (tasks::official_defaults with this size), the depth channel from the toy world's
//      ground truth on FramePlan::depth_frames (dropped with p = depth_dropout, as the unconditional CFG half
//      sees it), the prompt from tasks::preprocessed_prompts (replaced with p = text_dropout by the task's
//      negative prompt, the text of the unconditional CFG half);
//   4. x0 = VAE posterior mean x 0.958917567 (the latent scale the pipeline divides by before decoding);
//      sigma = shift * u / (1 + (shift - 1) * u) with u = sigmoid(N(logit_mean, logit_std)) (logit-normal,
//      shifted like the inference schedule); x_t = (1 - sigma) x0 + sigma * eps; the model predicts
//      v = eps - x0 at timestep sigma * 1000 (what the pipeline's Euler step integrates);
//   5. loss = mean (v_pred - v)^2, plus adapter_aux_weight x the adapter probe's loss when it is on (below).
//
// Latent scale: the pipeline's fixed 0.958917567 expects VAE latents of std ~1/0.958917567. The stage measures
// the frozen VAE's per-channel std on `scale_clips` training clips and folds a per-channel factor into the VAE
// weights (encoder mean/logvar outputs, every decoder conv that reads the latent); reconstructions are unchanged
// up to float rounding. The rescaled VAE is the one exported.
//
// Output: <out>/pipeline/ with model_index.json (MfMPipeline), transformer/, text_encoder/, tokenizer/ (copied),
// vae/ (rescaled), scheduler/ (FlowMatchEulerDiscreteScheduler with `shift`), and depth/ (copied) when `depth`
// names a folder.
//
// Initialisation: normal(0, 1/fan_in) for matrices and convolutions, zero for the AdaLN modulations
// (norm1.linear), the second output projection and, unless adapter_out_scale > 0, the adapter's conv_out.
//
// The generation tasks (i2v, itrans, vexd, vtrans) train at the config's clip length (the official pipeline
// always makes 97 frames; Manyfold runs them at any 4k+1 length with room for a generated frame), with the
// toy world's ground-truth inverse depth on their known frames. vedit needs edit pairs, which the toy world
// does not make, so it is refused. bf16 autocast, gradient checkpointing and sample renders come from the trainer options.
//
// Threading: one thread.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/mfm/transformer.h"
#include "mf/tasks/condition.h"
#include "mf/tasks/task_id.h"
#include "mf/text/t5_encoder.h"
#include "mf/text/tokenizer.h"
#include "mf/training/dataset.h"
#include "mf/training/trainer.h"
#include "mf/vae/cogvideox_vae.h"

namespace mf::training {

struct MfmStageOptions {
  std::string vae;        // trained vae/ folder (required)
  std::string tokenizer;  // tokenizer folder with spiece.model (required)
  std::string depth;      // optional depth/ folder copied into the exported pipeline
  // Optional pipeline/ folder of an earlier mfm run: a fresh run starts from its transformer and text-encoder
  // weights instead of the random initialisation (fine-tuning, curricula; the optimizer and schedule start
  // anew) and keeps that run's latent scale. Its VAE must be `vae` up to that scale, and its architecture the
  // configured one.
  std::string init_from;
  // T5 encoder
  int64_t text_d_model = 64, text_d_kv = 32, text_d_ff = 128, text_layers = 2, text_heads = 2;
  // Transformer (hidden = heads x head_dim)
  int heads = 2, head_dim = 64, layers = 4;
  // Task -> sampling weight (tasks absent or at 0 are not trained).
  std::map<std::string, double> tasks = default_tasks();
  double shift = 3.0;  // written to scheduler_config.json and used for the training sigmas
  double logit_mean = 0.0, logit_std = 1.0;
  double text_dropout = 0.1, depth_dropout = 0.1;
  int sr_factor = 4;       // vsr/isr inputs are the clip at 1/sr_factor size
  int scale_clips = 16;    // clips used to measure the VAE latent std
  // Initial weights of the condition adapter's last convolution: 0 starts it at zero (ControlNet style: the
  // condition's influence grows from nothing); s > 0 draws N(0, s^2 / fan_in), so the condition reaches the
  // transformer, and gradients reach the adapter's earlier layers, from the first step.
  double adapter_out_scale = 0.0;
  // Gain of the adapter's other ten convolutions, each followed by SiLU: N(0, gain^2 / fan_in). At 1 a unit signal
  // shrinks ~0.6x per layer (under 1% after ten); 1.676 = 1 / sqrt(E[silu(z)^2]) keeps it at unit variance. Alone,
  // 1.676 trained no better than 1 on the toy multi-task mix (recipe/RESULTS.md, run C); with the adapter probe
  // below it is what lets the adapter learn (run D), so the recipe sets both. The default stays 1.
  double adapter_gain = 1.0;
  // "fan_in" (default): the draws above. "data": then, layer by layer, each of the adapter's ten hidden
  // convolutions is re-centred (per-channel bias) and rescaled so that its output before SiLU has mean 0 and std 1
  // on conditions of the configured tasks built from training clips (a data-dependent, LSUV-style
  // initialisation: the official adapter has no normalisation, and with fan-in draws its output shrinks to ~1e-4),
  // and conv_out's output to std adapter_out_scale (left at zero when that is 0). Not with init_from.
  std::string adapter_init = "fan_in";
  // Weight of an auxiliary loss that teaches the condition adapter directly: a linear probe (D -> patch*patch*C,
  // trained with the model, kept in checkpoints, never exported) reads the adapter's output per token and
  // predicts the clean target latent x0 of that patch; loss = v-loss + w * mean (probe(A) - x0 patch)^2. With the
  // official objective alone the adapter learns only through the transformer (recipe/RESULTS.md, run C: after
  // 2500 steps the model still ignores the condition at sigma 1). 0 (default) = the official objective only.
  double adapter_aux_weight = 0.0;
  // Whether the T5 text encoder is trained with the transformer (default). false keeps it at its initial weights
  // (random, or init_from's), as the recipe's first two stages did before the trainer switched T5's gradients on:
  // recipe/mfm.json and finetune.json set it so that a rerun of the recipe trains what the installed model was.
  bool train_text_encoder = true;

  static std::map<std::string, double> default_tasks();
  // Parses the "mfm" section of a training config; appends one line per problem to `problems`. `frames` is the
  // config's clip length (generation tasks are refused for clips too short to generate a frame).
  static MfmStageOptions from_json(const nlohmann::json& j, int frames, std::vector<std::string>& problems);
  nlohmann::json to_json() const;
  nlohmann::json transformer_config(int64_t text_dim) const;  // transformer/config.json
  nlohmann::json text_config(int64_t vocab) const;            // text_encoder/config.json
};

// The inputs of one training example for `task`, made from a clip [T, H, W, 3] uint8 the way a user would
// give them (see step 2 above). `rng` is a 64-bit seed for the mask/border draw.
tasks::ConditionInputs make_task_inputs(tasks::TaskId task, const std::vector<tasks::Image8>& frames,
                                        uint64_t rng, int sr_factor);

class MfmStage : public Stage {
 public:
  MfmStage(const TrainConfig& cfg, MfmStageOptions options);

  std::string name() const override { return "mfm"; }
  torch::nn::Module& module() override { return *root_; }
  std::vector<std::string> metric_names() const override;
  StepResult train_step(TrainState& state) override;
  // Held-out (validation, 8 clips) per task: val_loss, the v-loss at sigmas 0.25/0.5/0.75 with fixed noise;
  // x0_unexplained_by_sigma (mean over tasks): |x_t - sigma v - x0|^2 / var(x0) of the one-step clean-latent
  // prediction at sigmas 0.25 ... 1.0 (1 = no better than the clip's mean latent); latent_scale; with the adapter
  // probe on, adapter_probe_unexplained_by_task (its error over var(x0), the same oracle denominator).
  nlohmann::json evaluate() override;
  std::string export_model(const std::string& out_dir) override;  // <out_dir>/pipeline
  // Exports the current weights to <dir>/pipeline, runs vinp, vsr and t2v (those trained) on one held-out clip
  // through the inference pipeline (10 steps, guidance 1) and writes <task>.png sheets; the exported folder is
  // removed afterwards. Returns the evaluation rows of that clip.
  nlohmann::json render_samples(const std::string& dir, int64_t step) override;

  const std::vector<double>& latent_scale() const { return channel_scale_; }
  mf::vae::CogVideoXVae& vae() { return *vae_; }
  mf::mfm::Transformer3DModel& transformer() { return transformer_; }
  mf::text::T5Encoder& text_encoder() { return t5_; }

  struct Example {
    torch::Tensor x0;         // [B, 16, t, h, w]
    torch::Tensor cond;       // [B, 4, T, H, W]
    torch::Tensor cond_mask;  // [B, 1, T, H, W]
    torch::Tensor ids;        // [B, 77]
    torch::Tensor text_mask;  // [B, 77]
    torch::Tensor motion;     // [B]
  };
  // The conditioned example of `task` for clips `indices` of `split` (drop flags per clip).
  Example make_example(tasks::TaskId task, Split split, const std::vector<int64_t>& indices,
                       const std::vector<uint64_t>& draws, const std::vector<bool>& drop_text,
                       const std::vector<bool>& drop_depth);
  // Velocity prediction [B, 16, t, h, w]; `adapter` (optional) receives the condition adapter's output.
  torch::Tensor predict(const Example& e, const torch::Tensor& x_t, const torch::Tensor& sigma,
                        torch::Tensor* adapter = nullptr);
  // The adapter probe's squared error per clip [B] against x0 (adapter_aux_weight > 0 only).
  torch::Tensor adapter_probe_error(const torch::Tensor& adapter, const torch::Tensor& x0);

 private:
  std::vector<double> adopt_latent_scale(const std::string& pipeline_folder) const;
  void init_adapter_from_data();
  void load_initial_weights(const std::string& pipeline_folder);
  TrainConfig cfg_;
  MfmStageOptions opt_;
  ToyVideoDataset data_;
  torch::Device device_;  // where the models and examples live (clips, conditions and noise are made on the CPU)
  std::unique_ptr<mf::vae::CogVideoXVae> vae_;
  std::shared_ptr<mf::text::T5Tokenizer> tokenizer_;
  std::shared_ptr<torch::nn::Module> root_;  // "transformer" + "text_encoder"
  mf::mfm::Transformer3DModel transformer_{nullptr};
  mf::text::T5Encoder t5_{nullptr};
  torch::nn::Linear adapter_probe_{nullptr};  // "adapter_probe" in the checkpoint, only with adapter_aux_weight > 0
  std::vector<double> channel_scale_;
  std::vector<tasks::TaskId> task_list_;
  std::vector<double> task_cdf_;
  std::unordered_map<uint64_t, torch::Tensor> latent_cache_;  // (scene seed, frame) -> VAE posterior mean (device_)
};

// Folds per-channel factors k_c into a CogVideoX VAE so that its latents become z'_c = k_c z_c while decode(z')
// gives what decode(z) gave: encoder mean outputs x k_c, logvar outputs + 2 ln k_c, decoder convs reading the
// latent (conv_in, spatial-norm conv_y/conv_b) / k_c on their input channels.
void rescale_vae_latents(mf::vae::CogVideoXVae& vae, const std::vector<double>& k);

}  // namespace mf::training
