// What a weights file is, from its tensor names, shapes and __metadata__ alone (no tensor data, no
// LibTorch): a bare checkpoint of an MfM component (transformer / CogVideoX VAE / T5 text encoder /
// Depth-Anything), a parity file of one component (weights.*, in.*, out.*, config in metadata), a
// pipeline golden, or unknown. Used by `manyfold inspect` and by code that must pick a loader.
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mf/io/checkpoint.h"
#include "mf/io/pipeline_folder.h"

namespace mf::io {

// Component names used below: "transformer", "vae", "t5", "depth", "scheduler" (schedule tables), "".
std::string detect_component(const ShapeMap& shapes);

struct ModelInfo {
  // "checkpoint" (bare weights of `component`), "parity" (parity file of `component`),
  // "pipeline_golden" (one MfMPipeline call; metadata task), "pipeline_weights" (tiny transformer + VAE of
  // the goldens), "pipeline_inputs" (videos/images the goldens read), "schedules" (scheduler tables),
  // or "unknown".
  std::string kind = "unknown";
  std::string component;              // for checkpoint / parity
  std::string task;                   // for pipeline_golden
  std::map<std::string, std::string> weight_prefixes;  // component -> tensor-name prefix of its weights
  nlohmann::json config = nlohmann::json::object();    // component -> config JSON (typed, defaults filled in)
  std::map<std::string, std::string> config_source;    // component -> "metadata 'config'", "inferred from shapes", ...
  uint64_t num_parameters = 0;        // elements of the model weights (all tensors for unknown files)
  std::vector<ConfigProblem> problems;  // config vs shapes cross-checks, unreadable metadata configs
  bool cross_checked = false;           // a typed config was checked against the shapes
  std::string summary() const;        // one line, e.g. "parity file of the transformer (weights.*)"
};

// Describes a checkpoint opened with open_checkpoint(). `file` names it in problems.
ModelInfo describe_model(const CheckpointFiles& ck, const std::string& file);

// Configs inferred from shapes (used when a checkpoint has no config): the CogVideoX VAE decoder
// (block_out_channels, latent_channels, layers_per_block, in/out channels) and the T5 encoder.
VaeConfig infer_vae_config(const ShapeMap& shapes);
T5Config infer_t5_config(const ShapeMap& shapes);

}  // namespace mf::io
