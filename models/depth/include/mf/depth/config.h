// Configuration of Depth-Anything (transformers' DepthAnythingConfig with a Dinov2 backbone_config) and of its
// DPT image processor, read from a model folder's config.json and preprocessor_config.json. Defaults are those of
// transformers 4.51 (configuration_dinov2.py, configuration_depth_anything.py, image_processing_dpt.py), so a
// field missing from the JSON means what it means in Python.
//
// Thread-safety: plain value types.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mf::depth {

struct Dinov2Config {
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  double mlp_ratio = 4.0;
  std::string hidden_act = "gelu";
  double layer_norm_eps = 1e-6;
  int64_t image_size = 224;
  int64_t patch_size = 14;
  int64_t num_channels = 3;
  bool qkv_bias = true;
  double layerscale_value = 1.0;
  bool use_swiglu_ffn = false;
  // Hidden states fed to the neck: index 0 is the embedding output, i the output of layer i.
  std::vector<int64_t> out_indices;
  bool apply_layernorm = true;
  bool reshape_hidden_states = true;
  bool use_mask_token = true;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t mlp_hidden() const { return static_cast<int64_t>(static_cast<double>(hidden_size) * mlp_ratio); }
  int64_t trained_grid() const { return image_size / patch_size; }  // side of the position-embedding grid
};

struct DepthAnythingConfig {
  Dinov2Config backbone;
  int64_t patch_size = 14;  // the model's own field: used for the grid and the head's output size
  int64_t reassemble_hidden_size = 384;
  std::vector<double> reassemble_factors{4, 2, 1, 0.5};
  std::vector<int64_t> neck_hidden_sizes{48, 96, 192, 384};
  int64_t fusion_hidden_size = 64;
  int64_t head_in_index = -1;
  int64_t head_hidden_size = 32;
  std::string depth_estimation_type = "relative";  // "relative" (ReLU) or "metric" (sigmoid)
  double max_depth = 1.0;

  // Parses config.json's object. Throws mf::Error(BadFile) naming `label` for wrong types/values and
  // mf::Error(Unsupported) for valid configurations this port does not implement (SwiGLU FFN, other activations,
  // reshape_hidden_states=true, a non-Dinov2 backbone).
  static DepthAnythingConfig from_json(const nlohmann::json& j, const std::string& label = "config.json");
  static DepthAnythingConfig from_file(const std::string& path);
  // Depth-Anything-V2-Small-hf (what the released config.json says).
  static DepthAnythingConfig v2_small();
  // Throws mf::Error(BadFile) when the fields contradict each other (e.g. 4 out_indices but 3 neck sizes).
  void validate(const std::string& label) const;
};

struct DptPreprocessorConfig {
  bool do_resize = true;
  int64_t height = 518, width = 518;  // "size"
  bool keep_aspect_ratio = true;
  int64_t ensure_multiple_of = 14;
  int resample = 3;  // PIL BICUBIC; the only filter supported
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean{0.485, 0.456, 0.406};
  std::array<double, 3> image_std{0.229, 0.224, 0.225};
  bool do_pad = false;

  // Parses preprocessor_config.json's object (DPTImageProcessor keys). Unset keys keep the values of the released
  // Depth-Anything-V2-Small-hf preprocessor_config.json above.
  static DptPreprocessorConfig from_json(const nlohmann::json& j, const std::string& label = "preprocessor_config.json");
  static DptPreprocessorConfig from_file(const std::string& path);
};

}  // namespace mf::depth
