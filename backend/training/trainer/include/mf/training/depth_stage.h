// Stage "depth" of the built-in model: a small Depth-Anything-V2 (DINOv2 backbone + DPT neck and head, the
// mf_depth port of transformers' DepthAnythingForDepthEstimation) trained to predict the toy world's rendered
// inverse depth (1/z, larger = nearer) from one RGB frame. MfM puts the raw output of its depth model on the
// known frames of the generation tasks (i2v, itrans, vexd, vtrans); the toy MfM is trained with the ground-truth
// inverse depth there, so this model is trained to output exactly that scale (no normalisation).
//
// One step: `batch` clips of the training split, one frame of each (drawn from the TrainState), DPT
// preprocessing as at inference (dpt_preprocess with this model's preprocessor_config: aspect-keeping resize to
// multiples of 14 near `input_size`, PIL bicubic, ImageNet normalisation), the network, the pipeline's bicubic
// post-processing back to the frame size (dpt_postprocess), and loss = mean |prediction - ground truth|.
//
// Output: <out>/depth/ in the Depth-Anything-V2-Small-hf layout (config.json, preprocessor_config.json,
// model.safetensors under transformers' names), which mf::depth::DepthEstimator::load() and the pipeline's
// <folder>/depth read.
//
// Threading: one thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/depth/config.h"
#include "mf/depth/depth_estimator.h"
#include "mf/training/dataset.h"
#include "mf/training/trainer.h"

namespace mf::training {

struct DepthStageOptions {
  // DINOv2 backbone
  int64_t hidden_size = 64;
  int64_t num_hidden_layers = 4;
  int64_t num_attention_heads = 2;
  // DPT neck / head
  int64_t reassemble_hidden_size = 64;
  std::vector<int64_t> neck_hidden_sizes{16, 32, 48, 64};
  int64_t fusion_hidden_size = 32;
  int64_t head_hidden_size = 16;
  // Preprocessing: the network input side the DPT resize aims at (multiples of 14).
  int64_t input_size = 112;

  // The transformers config.json (DepthAnythingConfig with a Dinov2 backbone_config) and the DPTImageProcessor
  // preprocessor_config.json this model is saved with.
  nlohmann::json config_json() const;
  nlohmann::json preprocessor_json() const;
  // Parses the "depth" section of a training config; appends one line per problem to `problems`.
  static DepthStageOptions from_json(const nlohmann::json& j, std::vector<std::string>& problems);
  nlohmann::json to_json() const;
};

class DepthStage : public Stage {
 public:
  // Builds the model with LibTorch's default initialisation (position embeddings and CLS token ~ N(0, 0.02))
  // under torch::manual_seed(cfg.seed).
  DepthStage(const TrainConfig& cfg, DepthStageOptions options);

  std::string name() const override { return "depth"; }
  torch::nn::Module& module() override { return *model_; }
  StepResult train_step(TrainState& state) override;
  // Validation split (the middle frame of each clip): l1 and relative error (|pred - gt| / gt, mean) at frame
  // size, and the mean ground truth for scale.
  nlohmann::json evaluate() override;
  std::string export_model(const std::string& out_dir) override;  // <out_dir>/depth

  // Prediction at frame size for one uint8 RGB frame [H, W, 3], as the pipeline computes it (no autograd; a CPU
  // tensor whatever the training device).
  torch::Tensor predict(const torch::Tensor& rgb_u8);
  const ToyVideoDataset& dataset() const { return data_; }

 private:
  torch::Tensor predict_batch(const std::vector<torch::Tensor>& frames_u8, int64_t H, int64_t W);

  TrainConfig cfg_;
  DepthStageOptions opt_;
  ToyVideoDataset data_;
  torch::Device device_;  // the model's (frames are rendered and preprocessed on the CPU, then moved)
  mf::depth::DepthAnythingConfig model_cfg_;
  mf::depth::DptPreprocessorConfig pre_;
  mf::depth::DepthAnything model_{nullptr};
};

// Writes a Depth-Anything folder (config.json, preprocessor_config.json, model.safetensors) atomically.
void write_depth_folder(mf::depth::DepthAnything& model, const nlohmann::json& config,
                        const nlohmann::json& preprocessor, const std::string& dir);

}  // namespace mf::training
