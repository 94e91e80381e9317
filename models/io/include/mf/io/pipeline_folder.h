// MfM pipeline folders in the official diffusers layout, read into plain typed configs (no LibTorch):
//
//   model_index.json            {"_class_name": "MfMPipeline", "transformer": [lib, class], "vae": ..., ...}
//   transformer/config.json     + diffusion_pytorch_model.safetensors (or shards + *.safetensors.index.json)
//   vae/config.json             + weights
//   text_encoder/config.json    + model.safetensors (or shards)
//   tokenizer/                  spiece.model, tokenizer_config.json, special_tokens_map.json
//   scheduler/scheduler_config.json
//
// Every config field defaults to the official code's default (mfm-reference.md A.1, C.7, D.1, E), so a
// config.json that omits a key means what it means to the official code. from_json() also accepts the
// `config` JSON stored in the parity files' __metadata__. read_pipeline_folder() parses everything,
// cross-checks the configs against the tensor shapes in the weight headers (A.9) and collects every
// problem with the file and key named; it reads no tensor data.
// Thread-safety: plain values; functions are reentrant.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mf::io {

// Transformer3DModel constructor arguments (A.1). -1 stands for the code's None where an int is expected.
struct TransformerConfig {
  int num_attention_heads = 16;
  int attention_head_dim = 88;
  int in_channels = -1;          // None in code: must be set
  int out_channels = -1;         // None -> in_channels
  int num_layers = 1;
  std::vector<int> cross_attention_dim;  // None = {}, an int = {d}, a 2-list = {d_even, d_odd}
  bool attention_bias = false;
  int sample_size = -1;          // None in code: must be set (no parameter depends on it)
  int patch_size = 2;
  int patch_size_t = 1;
  std::string activation_fn = "geglu";
  bool upcast_attention = false;
  std::string norm_type = "layer_norm";
  bool double_self_attention = false;
  bool only_cross_attention = false;
  int sequence_parallel_size = 1;  // null in the JSON is read as 1 (see unknown_or_null)
  int num_block_chunks = 1;
  std::string adaln_norm_type = "legacy";
  bool use_rope = false;
  bool add_motion_score = false;
  std::string condition_type = "inpaint_mask";
  bool use_depth_cond = false;
  std::vector<std::string> ignored_keys;  // keys present in the JSON that this reader does not use

  int inner_dim() const { return num_attention_heads * attention_head_dim; }  // D
  int effective_out_channels() const { return out_channels > 0 ? out_channels : in_channels; }
  // K/V input width of block i's cross-attention (cross_attention_dim[i % 2]); 0 when there is none.
  int cross_attention_dim_for_block(int i) const;
  // Throws mf::Error(BadFile) naming `where` and the key on a wrongly typed value.
  static TransformerConfig from_json(const nlohmann::json& j, const std::string& where);
  nlohmann::json to_json() const;
  // What the official code would refuse, or Manyfold does not run, as (key, message) pairs (empty = fine):
  // sequence_parallel_size > 1, condition_type other than inpaint_mask, norm_type other than
  // ada_norm_zero[_nolabel], activation_fn other than gelu-approximate, missing in_channels/sample_size.
  std::vector<std::pair<std::string, std::string>> unsupported() const;
};

// AutoencoderKLCogVideoX arguments (D.1; defaults are the CogVideoX-2b VAE's code defaults).
struct VaeConfig {
  int in_channels = 3;
  int out_channels = 3;
  std::vector<std::string> down_block_types = std::vector<std::string>(4, "CogVideoXDownBlock3D");
  std::vector<std::string> up_block_types = std::vector<std::string>(4, "CogVideoXUpBlock3D");
  std::vector<int> block_out_channels = {128, 256, 256, 512};
  int latent_channels = 16;
  int layers_per_block = 3;
  std::string act_fn = "silu";
  double norm_eps = 1e-6;
  int norm_num_groups = 32;
  int temporal_compression_ratio = 4;
  int sample_height = 480;
  int sample_width = 720;
  double scaling_factor = 1.15258426;  // unused by MfM (it uses 0.958917567, C.1)
  std::optional<double> shift_factor;
  bool use_quant_conv = false;
  bool use_post_quant_conv = false;
  std::vector<std::string> ignored_keys;

  static VaeConfig from_json(const nlohmann::json& j, const std::string& where);
  nlohmann::json to_json() const;
  std::vector<std::pair<std::string, std::string>> unsupported() const;  // quant convs, activation, block counts
};

// transformers T5Config (E.1): defaults are the transformers code defaults; the released folder sets the
// XL shapes (d_model 2048, 24 layers, 32 heads, gated-gelu).
struct T5Config {
  int vocab_size = 32128;
  int d_model = 512;
  int d_kv = 64;
  int d_ff = 2048;
  int num_layers = 6;
  int num_heads = 8;
  int relative_attention_num_buckets = 32;
  int relative_attention_max_distance = 128;
  double layer_norm_epsilon = 1e-6;
  std::string feed_forward_proj = "relu";
  bool tie_word_embeddings = true;
  int pad_token_id = 0;
  int eos_token_id = 1;
  std::vector<std::string> ignored_keys;

  bool is_gated_act() const;         // feed_forward_proj starts with "gated-"
  std::string dense_act_fn() const;  // "gelu_new" for gated-gelu (as transformers maps it), else the last part
  static T5Config from_json(const nlohmann::json& j, const std::string& where);
  nlohmann::json to_json() const;
  std::vector<std::pair<std::string, std::string>> unsupported() const;  // unknown feed_forward_proj
};

// FlowMatchEulerDiscreteScheduler (C.7; diffusers 0.33.1 defaults).
struct SchedulerConfig {
  std::string class_name = "FlowMatchEulerDiscreteScheduler";
  int num_train_timesteps = 1000;
  double shift = 1.0;
  bool use_dynamic_shifting = false;
  double base_shift = 0.5;
  double max_shift = 1.15;
  int base_image_seq_len = 256;
  int max_image_seq_len = 4096;
  bool invert_sigmas = false;
  std::optional<double> shift_terminal;
  bool use_karras_sigmas = false;
  bool use_exponential_sigmas = false;
  bool use_beta_sigmas = false;
  std::vector<std::string> ignored_keys;

  static SchedulerConfig from_json(const nlohmann::json& j, const std::string& where);
  nlohmann::json to_json() const;
  std::vector<std::pair<std::string, std::string>> unsupported() const;  // other classes, dynamic/karras/...
};

// The tokenizer folder (E.4): which files exist and the few settings that matter.
struct TokenizerInfo {
  std::string dir;
  std::string tokenizer_class = "T5Tokenizer";
  std::string spiece_model;    // path, "" if absent
  std::string tokenizer_json;  // path of a fast tokenizer's tokenizer.json, "" if absent
  int model_max_length = 512;
  int extra_ids = 100;
  bool legacy = true;
  std::string pad_token = "<pad>", eos_token = "</s>", unk_token = "<unk>";

  // Reads tokenizer_config.json / special_tokens_map.json when present. Throws mf::Error(BadFile).
  static TokenizerInfo from_folder(const std::string& dir);
  nlohmann::json to_json() const;
};

// A problem found while reading a folder or cross-checking a config against weights.
struct ConfigProblem {
  enum class Severity { Error, Warning };
  Severity severity = Severity::Error;
  std::string file;     // the file the problem is in (config.json, a weights file, model_index.json)
  std::string key;      // the config key or tensor name involved ("" if none)
  std::string message;  // what is wrong, with expected vs found
  bool unsupported = false;  // valid for the official code in principle, but not something Manyfold runs
  std::string to_string() const;
};

// A tensor-name -> shape view of a checkpoint (from the headers; no data), used by the cross-checks.
using ShapeMap = std::map<std::string, std::vector<int64_t>>;

// A.9 checks of a transformer config against a checkpoint's shapes: D, C_in, C_out, patch size, L (and the
// num_block_chunks key naming), attention_bias, adaln_norm_type, add_motion_score, adapter C_in = 5,
// cross-attention widths (one width for all blocks, equal to `text_width` when > 0).
std::vector<ConfigProblem> check_transformer_weights(const TransformerConfig& cfg, const ShapeMap& shapes,
                                                     const std::string& weights_file, int text_width = 0);
// VAE decoder checks (D.4): latent channels, block_out_channels, layers_per_block, output channels.
std::vector<ConfigProblem> check_vae_weights(const VaeConfig& cfg, const ShapeMap& shapes,
                                             const std::string& weights_file);
// T5 encoder checks (E.2): vocab x d_model, layer count, heads x d_kv, d_ff, gated FFN keys.
std::vector<ConfigProblem> check_t5_weights(const T5Config& cfg, const ShapeMap& shapes,
                                            const std::string& weights_file);

// Config inferred from shapes alone (for `inspect` on a bare checkpoint): D, L, C_in, C_out, patch,
// attention_bias, adaln, motion score, depth conditioning and cross-attention width. Heads assume Dh = 64.
TransformerConfig infer_transformer_config(const ShapeMap& shapes);

struct PipelineComponent {
  std::string name;        // "transformer", "vae", ...
  std::string library;     // model_index.json entry [library, class]
  std::string class_name;
  std::string dir;         // <root>/<name>
  std::string config_file; // the JSON read ("" if none)
  std::string weights;     // the .safetensors or index.json used ("" if none)
  uint64_t num_tensors = 0;
  uint64_t num_parameters = 0;
};

struct PipelineFolder {
  std::string root;
  std::string pipeline_class;     // model_index.json _class_name
  std::string diffusers_version;  // model_index.json _diffusers_version
  std::vector<PipelineComponent> components;  // in model_index.json order
  std::optional<TransformerConfig> transformer;
  std::optional<VaeConfig> vae;
  std::optional<T5Config> text_encoder;
  std::optional<TokenizerInfo> tokenizer;
  std::optional<SchedulerConfig> scheduler;
  std::vector<ConfigProblem> problems;

  bool ok() const;               // no Error-severity problem
  std::string report() const;    // one line per problem
  const PipelineComponent* component(const std::string& name) const;
};

// Reads `dir` (which must hold model_index.json, else mf::Error(MissingModel)). Component problems
// (missing folders, bad JSON, config/weight mismatches, unsupported settings) are collected in
// `problems`, not thrown, so a caller can show all of them at once.
PipelineFolder read_pipeline_folder(const std::string& dir);
// Throws mf::Error(BadFile, or Unsupported when every error is about an unsupported setting) listing
// every Error-severity problem of `folder`.
void require_ok(const PipelineFolder& folder);

}  // namespace mf::io
