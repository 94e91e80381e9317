// Configuration of the MfM diffusion transformer (official Transformer3DModel), read from a released
// transformer/config.json or from the `config` JSON in a parity file's metadata, with the official
// constructor defaults for every absent field (mfm-reference.md A.1), and cross-checked against the
// checkpoint's tensor names and shapes (A.9). Torch-free value type; thread-safe (no shared state).
// A mf::io::TransformerConfig (mf/io/pipeline_folder.h, whole pipeline folders) converts losslessly with
// Config::from_json(tc.to_json()): both follow the official constructor's field names and defaults.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mf::mfm {

struct Config {
  // Defaults are the official constructor's, not the released values: a config.json that omits a field
  // gets exactly what the official code would have built.
  int num_attention_heads = 16;
  int attention_head_dim = 88;
  int in_channels = -1;   // required (the official code asserts it)
  int out_channels = -1;  // -1: same as in_channels
  int num_layers = 1;
  // Width of the cross-attention K/V input for even/odd blocks (block i uses element i % 2). An int in
  // config.json applies to both; null means "no cross-attention" (unless double_self_attention).
  std::array<std::optional<int>, 2> cross_attention_dim{};
  bool attention_bias = false;    // bias on q/k/v/o projections of both attentions
  bool double_self_attention = false;  // attn2 without a cross dim: K/V width = D
  bool upcast_attention = false;  // attention runs in fp32 whatever the model dtype
  int sample_size = -1;           // required but without effect on parameters or math
  int patch_size = 2;
  int patch_size_t = 1;
  std::string activation_fn = "geglu";    // the Goku block accepts only "gelu-approximate"
  std::string norm_type = "layer_norm";   // must be ada_norm_zero or ada_norm_zero_nolabel
  std::string adaln_norm_type = "legacy";  // legacy|layernorm -> LayerNorm; rmsnorm -> RMSNorm+weight
  int sequence_parallel_size = 1;          // >1 needs torch.distributed: refused
  int num_block_chunks = 1;                // >1 renames keys transformer_blocks.{c}.module.{j}
  bool use_rope = false;
  bool add_motion_score = false;
  std::string condition_type = "inpaint_mask";  // anything else: refused (official path is broken)
  bool use_depth_cond = false;                  // adapter input channels 5 (true) or 4

  // Derived values.
  int inner_dim() const { return num_attention_heads * attention_head_dim; }  // D
  int out_channels_resolved() const { return out_channels > 0 ? out_channels : in_channels; }
  int adapter_in_channels() const { return use_depth_cond ? 5 : 4; }
  bool block_has_cross_attention(int i) const {
    return cross_attention_dim[i % 2].has_value() || double_self_attention;
  }
  int block_cross_dim(int i) const {  // K/V input width of attn2 in block i
    return cross_attention_dim[i % 2] ? *cross_attention_dim[i % 2] : inner_dim();
  }
  bool adaln_rmsnorm() const { return adaln_norm_type == "rmsnorm"; }
  int blocks_per_chunk() const { return num_layers / num_block_chunks; }
  // State-dict prefix of block i (with the trailing dot), honouring num_block_chunks (A.8).
  std::string block_prefix(int i) const;

  // Throws mf::Error(Unsupported / BadFile) with an actionable message for settings this port does not
  // run (sequence parallelism, other condition types, other activations or norm types, ...).
  void validate() const;

  // Parses a config.json object; unknown keys (e.g. _class_name, _diffusers_version) are ignored.
  // `source` names the file in error messages.
  static Config from_json(const nlohmann::json& j, const std::string& source = "config.json");
  static Config from_json_text(const std::string& text, const std::string& source = "config.json");
  static Config from_file(const std::string& path);
  nlohmann::json to_json() const;

  // The released MfM-2B / MfM-8B architectures (mfm-reference.md A.2, paper Table 7). Fields the
  // reference marks [CONFIG] that the weights cannot tell (use_rope, upcast_attention) take the values
  // the paper describes; attention_bias=false and adaln legacy are assumptions to be confirmed by the
  // released config.json (check_against_weights catches a disagreement).
  static Config mfm_2b();
  static Config mfm_8b();
};

// Tensor name -> shape, as listed by a checkpoint (no data).
using ShapeMap = std::map<std::string, std::vector<int64_t>>;

// Cross-checks a config against a checkpoint's tensors (A.9): hidden size, channels, layer count,
// cross-attention widths per block, attention bias, AdaLN norm type, motion-score embedder, adapter
// input channels and the num_block_chunks key naming. Throws mf::Error(BadFile) naming the tensor and
// the expected vs found value. `source` names the checkpoint in messages.
void check_against_weights(const Config& cfg, const ShapeMap& shapes, const std::string& source);

}  // namespace mf::mfm
