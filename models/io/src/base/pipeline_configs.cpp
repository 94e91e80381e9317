// Typed configs of the MfM pipeline components: JSON parsing with the official code defaults, and the
// settings Manyfold refuses. Cross-checks against weights live in pipeline_checks.cpp.
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "mf/core/error.h"
#include "mf/io/pipeline_folder.h"

namespace mf::io {

namespace {

using json = nlohmann::json;

// Reads typed fields out of a JSON object, remembering which keys were used; a wrongly typed value throws
// mf::Error(BadFile) naming the file and the key. A JSON null keeps the default (the code's None).
class FieldReader {
 public:
  FieldReader(const json& j, const std::string& where) : j_(j), where_(where) {
    if (!j.is_object()) throw Error(ErrorCode::BadFile, where + ": the config is not a JSON object");
  }
  const json* find(const char* key) {
    used_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  [[noreturn]] void fail(const char* key, const char* expected, const json& v) {
    std::string shown = v.dump();
    if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
    throw Error(ErrorCode::BadFile, where_ + ": key '" + key + "' must be " + expected + ", found " + shown);
  }
  void get(const char* key, int& out) {
    if (const json* v = find(key)) {
      if (v->is_number_integer() && v->get<int64_t>() >= INT32_MIN && v->get<int64_t>() <= INT32_MAX)
        out = static_cast<int>(v->get<int64_t>());
      else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
               std::fabs(v->get<double>()) < 2e9)
        out = static_cast<int>(v->get<double>());
      else
        fail(key, "an integer", *v);
    }
  }
  void get(const char* key, double& out) {
    if (const json* v = find(key)) {
      if (!v->is_number()) fail(key, "a number", *v);
      out = v->get<double>();
    }
  }
  void get(const char* key, std::optional<double>& out) {
    if (const json* v = find(key)) {
      if (!v->is_number()) fail(key, "a number or null", *v);
      out = v->get<double>();
    }
  }
  void get(const char* key, bool& out) {
    if (const json* v = find(key)) {
      if (!v->is_boolean()) fail(key, "true or false", *v);
      out = v->get<bool>();
    }
  }
  void get(const char* key, std::string& out) {
    if (const json* v = find(key)) {
      if (!v->is_string()) fail(key, "a string", *v);
      out = v->get<std::string>();
    }
  }
  void get(const char* key, std::vector<int>& out) {
    if (const json* v = find(key)) {
      if (!v->is_array()) fail(key, "a list of integers", *v);
      std::vector<int> r;
      for (const auto& e : *v) {
        if (!e.is_number_integer()) fail(key, "a list of integers", *v);
        r.push_back(e.get<int>());
      }
      out = r;
    }
  }
  void get(const char* key, std::vector<std::string>& out) {
    if (const json* v = find(key)) {
      if (!v->is_array()) fail(key, "a list of strings", *v);
      std::vector<std::string> r;
      for (const auto& e : *v) {
        if (!e.is_string()) fail(key, "a list of strings", *v);
        r.push_back(e.get<std::string>());
      }
      out = r;
    }
  }
  // Keys present but never read (diffusers bookkeeping keys starting with '_' are not reported).
  std::vector<std::string> ignored() const {
    std::vector<std::string> out;
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!used_.count(it.key()) && (it.key().empty() || it.key()[0] != '_')) out.push_back(it.key());
    return out;
  }

 private:
  const json& j_;
  std::string where_;
  std::set<std::string> used_;
};

json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

// ---- TransformerConfig ---------------------------------------------------------------------------

int TransformerConfig::cross_attention_dim_for_block(int i) const {
  if (cross_attention_dim.empty()) return 0;
  return cross_attention_dim[static_cast<size_t>(i) % cross_attention_dim.size()];
}

TransformerConfig TransformerConfig::from_json(const nlohmann::json& j, const std::string& where) {
  TransformerConfig c;
  FieldReader r(j, where);
  r.get("num_attention_heads", c.num_attention_heads);
  r.get("attention_head_dim", c.attention_head_dim);
  r.get("in_channels", c.in_channels);
  r.get("out_channels", c.out_channels);
  r.get("num_layers", c.num_layers);
  if (const json* v = r.find("cross_attention_dim")) {
    if (v->is_number_integer()) {
      c.cross_attention_dim = {v->get<int>()};
    } else if (v->is_array() && (v->size() == 1 || v->size() == 2)) {
      for (const auto& e : *v) {
        if (!e.is_number_integer()) r.fail("cross_attention_dim", "an integer or a list of 1-2 integers", *v);
        c.cross_attention_dim.push_back(e.get<int>());
      }
    } else {
      r.fail("cross_attention_dim", "an integer or a list of 1-2 integers", *v);
    }
  }
  r.get("attention_bias", c.attention_bias);
  r.get("sample_size", c.sample_size);
  r.get("patch_size", c.patch_size);
  r.get("patch_size_t", c.patch_size_t);
  r.get("activation_fn", c.activation_fn);
  r.get("upcast_attention", c.upcast_attention);
  r.get("norm_type", c.norm_type);
  r.get("double_self_attention", c.double_self_attention);
  r.get("only_cross_attention", c.only_cross_attention);
  r.get("sequence_parallel_size", c.sequence_parallel_size);
  r.get("num_block_chunks", c.num_block_chunks);
  r.get("adaln_norm_type", c.adaln_norm_type);
  r.get("use_rope", c.use_rope);
  r.get("add_motion_score", c.add_motion_score);
  r.get("condition_type", c.condition_type);
  r.get("use_depth_cond", c.use_depth_cond);
  // Accepted by the constructor but without effect at inference (A.1): read so they are not reported.
  for (const char* k : {"cond_channels", "dropout", "norm_num_groups", "num_embeds_ada_norm", "norm_elementwise_affine",
                        "norm_eps", "attention_type", "num_latent_frames", "gradient_checkpointing", "use_navit",
                        "enable_cached_compile", "compile_mem_gc_threshold"})
    r.find(k);
  c.ignored_keys = r.ignored();
  return c;
}

nlohmann::json TransformerConfig::to_json() const {
  json j;
  j["num_attention_heads"] = num_attention_heads;
  j["attention_head_dim"] = attention_head_dim;
  j["in_channels"] = in_channels > 0 ? json(in_channels) : json(nullptr);
  j["out_channels"] = out_channels > 0 ? json(out_channels) : json(nullptr);
  j["num_layers"] = num_layers;
  if (cross_attention_dim.empty()) j["cross_attention_dim"] = nullptr;
  else if (cross_attention_dim.size() == 1) j["cross_attention_dim"] = cross_attention_dim[0];
  else j["cross_attention_dim"] = cross_attention_dim;
  j["attention_bias"] = attention_bias;
  j["sample_size"] = sample_size > 0 ? json(sample_size) : json(nullptr);
  j["patch_size"] = patch_size;
  j["patch_size_t"] = patch_size_t;
  j["activation_fn"] = activation_fn;
  j["upcast_attention"] = upcast_attention;
  j["norm_type"] = norm_type;
  j["double_self_attention"] = double_self_attention;
  j["only_cross_attention"] = only_cross_attention;
  j["sequence_parallel_size"] = sequence_parallel_size;
  j["num_block_chunks"] = num_block_chunks;
  j["adaln_norm_type"] = adaln_norm_type;
  j["use_rope"] = use_rope;
  j["add_motion_score"] = add_motion_score;
  j["condition_type"] = condition_type;
  j["use_depth_cond"] = use_depth_cond;
  return j;
}

std::vector<std::pair<std::string, std::string>> TransformerConfig::unsupported() const {
  std::vector<std::pair<std::string, std::string>> out;
  if (sequence_parallel_size > 1)
    out.push_back({"sequence_parallel_size",
                   "sequence_parallel_size = " + std::to_string(sequence_parallel_size) +
                       " splits attention across GPUs with torch.distributed; Manyfold runs the transformer on one "
                       "device: set it to 1 (the weights are the same)"});
  if (condition_type != "inpaint_mask")
    out.push_back({"condition_type", "condition_type = '" + condition_type +
                                         "' builds no condition adapter (the official non-inpaint_mask path is broken); "
                                         "MfM tasks need 'inpaint_mask'"});
  if (norm_type != "ada_norm_zero" && norm_type != "ada_norm_zero_nolabel")
    out.push_back({"norm_type", "norm_type = '" + norm_type +
                                    "': the official Transformer3DModel asserts ada_norm_zero or ada_norm_zero_nolabel"});
  if (activation_fn != "gelu-approximate")
    out.push_back({"activation_fn", "activation_fn = '" + activation_fn +
                                        "': the Goku feed-forward only accepts 'gelu-approximate'"});
  if (in_channels <= 0) out.push_back({"in_channels", "in_channels is not set (the official code requires it)"});
  if (sample_size <= 0) out.push_back({"sample_size", "sample_size is not set (the official code asserts it)"});
  if (num_attention_heads <= 0 || attention_head_dim <= 0)
    out.push_back({"num_attention_heads", "num_attention_heads and attention_head_dim must be positive"});
  if (num_layers <= 0) out.push_back({"num_layers", "num_layers must be positive"});
  if (num_block_chunks <= 0 || (num_layers > 0 && num_block_chunks > 0 && num_layers % num_block_chunks != 0))
    out.push_back({"num_block_chunks", "num_block_chunks = " + std::to_string(num_block_chunks) +
                                           " must divide num_layers = " + std::to_string(num_layers)});
  if (patch_size != 2)
    out.push_back({"patch_size", "patch_size = " + std::to_string(patch_size) +
                                     ": the MfM pipeline hard-codes 2 in its RoPE grid"});
  if (adaln_norm_type != "legacy" && adaln_norm_type != "rmsnorm")
    out.push_back({"adaln_norm_type", "adaln_norm_type = '" + adaln_norm_type + "' (known: legacy, rmsnorm)"});
  if (!use_depth_cond && condition_type == "inpaint_mask")
    out.push_back({"use_depth_cond", "use_depth_cond is false (adapter input 4 channels) but the MfM pipeline always "
                                     "feeds 5 (RGB, depth, mask)"});
  return out;
}

// ---- VaeConfig -----------------------------------------------------------------------------------

VaeConfig VaeConfig::from_json(const nlohmann::json& j, const std::string& where) {
  VaeConfig c;
  FieldReader r(j, where);
  r.get("in_channels", c.in_channels);
  r.get("out_channels", c.out_channels);
  r.get("down_block_types", c.down_block_types);
  r.get("up_block_types", c.up_block_types);
  r.get("block_out_channels", c.block_out_channels);
  r.get("latent_channels", c.latent_channels);
  r.get("layers_per_block", c.layers_per_block);
  r.get("act_fn", c.act_fn);
  r.get("norm_eps", c.norm_eps);
  r.get("norm_num_groups", c.norm_num_groups);
  r.get("temporal_compression_ratio", c.temporal_compression_ratio);
  r.get("sample_height", c.sample_height);
  r.get("sample_width", c.sample_width);
  r.get("scaling_factor", c.scaling_factor);
  r.get("shift_factor", c.shift_factor);
  r.get("use_quant_conv", c.use_quant_conv);
  r.get("use_post_quant_conv", c.use_post_quant_conv);
  for (const char* k : {"latents_mean", "latents_std", "force_upcast", "invert_scale_latents"}) r.find(k);
  c.ignored_keys = r.ignored();
  return c;
}

nlohmann::json VaeConfig::to_json() const {
  json j;
  j["in_channels"] = in_channels;
  j["out_channels"] = out_channels;
  j["down_block_types"] = down_block_types;
  j["up_block_types"] = up_block_types;
  j["block_out_channels"] = block_out_channels;
  j["latent_channels"] = latent_channels;
  j["layers_per_block"] = layers_per_block;
  j["act_fn"] = act_fn;
  j["norm_eps"] = norm_eps;
  j["norm_num_groups"] = norm_num_groups;
  j["temporal_compression_ratio"] = temporal_compression_ratio;
  j["sample_height"] = sample_height;
  j["sample_width"] = sample_width;
  j["scaling_factor"] = scaling_factor;
  j["shift_factor"] = opt(shift_factor);
  j["use_quant_conv"] = use_quant_conv;
  j["use_post_quant_conv"] = use_post_quant_conv;
  return j;
}

std::vector<std::pair<std::string, std::string>> VaeConfig::unsupported() const {
  std::vector<std::pair<std::string, std::string>> out;
  if (block_out_channels.empty()) out.push_back({"block_out_channels", "block_out_channels is empty"});
  if (up_block_types.size() != block_out_channels.size())
    out.push_back({"up_block_types", std::to_string(up_block_types.size()) + " up blocks for " +
                                         std::to_string(block_out_channels.size()) + " block_out_channels"});
  for (const auto& t : up_block_types)
    if (t != "CogVideoXUpBlock3D") out.push_back({"up_block_types", "unknown up block type '" + t + "'"});
  for (const auto& t : down_block_types)
    if (t != "CogVideoXDownBlock3D") out.push_back({"down_block_types", "unknown down block type '" + t + "'"});
  if (act_fn != "silu") out.push_back({"act_fn", "act_fn = '" + act_fn + "' (Manyfold implements silu)"});
  if (use_quant_conv || use_post_quant_conv)
    out.push_back({use_quant_conv ? "use_quant_conv" : "use_post_quant_conv",
                   "quant_conv/post_quant_conv are not part of the CogVideoX VAE Manyfold implements"});
  if (norm_num_groups <= 0) out.push_back({"norm_num_groups", "norm_num_groups must be positive"});
  for (int ch : block_out_channels)
    if (norm_num_groups > 0 && ch % norm_num_groups != 0)
      out.push_back({"norm_num_groups", "block_out_channels entry " + std::to_string(ch) +
                                            " is not divisible by norm_num_groups = " + std::to_string(norm_num_groups)});
  if (temporal_compression_ratio != 4)
    out.push_back({"temporal_compression_ratio", "temporal_compression_ratio = " +
                                                     std::to_string(temporal_compression_ratio) +
                                                     " (the MfM pipeline hard-codes 4)"});
  return out;
}

// ---- T5Config ------------------------------------------------------------------------------------

bool T5Config::is_gated_act() const { return feed_forward_proj.rfind("gated-", 0) == 0; }

std::string T5Config::dense_act_fn() const {
  if (feed_forward_proj == "gated-gelu") return "gelu_new";  // transformers' special case
  auto pos = feed_forward_proj.rfind('-');
  return pos == std::string::npos ? feed_forward_proj : feed_forward_proj.substr(pos + 1);
}

T5Config T5Config::from_json(const nlohmann::json& j, const std::string& where) {
  T5Config c;
  FieldReader r(j, where);
  r.get("vocab_size", c.vocab_size);
  r.get("d_model", c.d_model);
  r.get("d_kv", c.d_kv);
  r.get("d_ff", c.d_ff);
  r.get("num_layers", c.num_layers);
  r.get("num_heads", c.num_heads);
  r.get("relative_attention_num_buckets", c.relative_attention_num_buckets);
  r.get("relative_attention_max_distance", c.relative_attention_max_distance);
  r.get("layer_norm_epsilon", c.layer_norm_epsilon);
  r.get("feed_forward_proj", c.feed_forward_proj);
  r.get("tie_word_embeddings", c.tie_word_embeddings);
  r.get("pad_token_id", c.pad_token_id);
  r.get("eos_token_id", c.eos_token_id);
  for (const char* k : {"architectures", "dropout_rate", "initializer_factor", "is_encoder_decoder", "use_cache",
                        "model_type", "num_decoder_layers", "decoder_start_token_id", "dense_act_fn", "is_gated_act",
                        "output_past", "torch_dtype", "transformers_version", "n_positions", "task_specific_params"})
    r.find(k);
  c.ignored_keys = r.ignored();
  return c;
}

nlohmann::json T5Config::to_json() const {
  json j;
  j["vocab_size"] = vocab_size;
  j["d_model"] = d_model;
  j["d_kv"] = d_kv;
  j["d_ff"] = d_ff;
  j["num_layers"] = num_layers;
  j["num_heads"] = num_heads;
  j["relative_attention_num_buckets"] = relative_attention_num_buckets;
  j["relative_attention_max_distance"] = relative_attention_max_distance;
  j["layer_norm_epsilon"] = layer_norm_epsilon;
  j["feed_forward_proj"] = feed_forward_proj;
  j["dense_act_fn"] = dense_act_fn();
  j["is_gated_act"] = is_gated_act();
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["pad_token_id"] = pad_token_id;
  j["eos_token_id"] = eos_token_id;
  return j;
}

std::vector<std::pair<std::string, std::string>> T5Config::unsupported() const {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string act = dense_act_fn();
  if (act != "relu" && act != "gelu_new" && act != "gelu")
    out.push_back({"feed_forward_proj", "feed_forward_proj = '" + feed_forward_proj +
                                            "' (known: relu, gated-gelu, gated-relu, gelu)"});
  if (d_model <= 0 || num_heads <= 0 || d_kv <= 0 || num_layers <= 0)
    out.push_back({"d_model", "d_model, num_heads, d_kv and num_layers must be positive"});
  return out;
}

// ---- SchedulerConfig -----------------------------------------------------------------------------

SchedulerConfig SchedulerConfig::from_json(const nlohmann::json& j, const std::string& where) {
  SchedulerConfig c;
  FieldReader r(j, where);
  r.get("_class_name", c.class_name);
  r.get("num_train_timesteps", c.num_train_timesteps);
  r.get("shift", c.shift);
  r.get("use_dynamic_shifting", c.use_dynamic_shifting);
  r.get("base_shift", c.base_shift);
  r.get("max_shift", c.max_shift);
  r.get("base_image_seq_len", c.base_image_seq_len);
  r.get("max_image_seq_len", c.max_image_seq_len);
  r.get("invert_sigmas", c.invert_sigmas);
  r.get("shift_terminal", c.shift_terminal);
  r.get("use_karras_sigmas", c.use_karras_sigmas);
  r.get("use_exponential_sigmas", c.use_exponential_sigmas);
  r.get("use_beta_sigmas", c.use_beta_sigmas);
  for (const char* k : {"time_shift_type", "stochastic_sampling"}) r.find(k);
  c.ignored_keys = r.ignored();
  return c;
}

nlohmann::json SchedulerConfig::to_json() const {
  json j;
  j["_class_name"] = class_name;
  j["num_train_timesteps"] = num_train_timesteps;
  j["shift"] = shift;
  j["use_dynamic_shifting"] = use_dynamic_shifting;
  j["base_shift"] = base_shift;
  j["max_shift"] = max_shift;
  j["base_image_seq_len"] = base_image_seq_len;
  j["max_image_seq_len"] = max_image_seq_len;
  j["invert_sigmas"] = invert_sigmas;
  j["shift_terminal"] = opt(shift_terminal);
  j["use_karras_sigmas"] = use_karras_sigmas;
  j["use_exponential_sigmas"] = use_exponential_sigmas;
  j["use_beta_sigmas"] = use_beta_sigmas;
  return j;
}

std::vector<std::pair<std::string, std::string>> SchedulerConfig::unsupported() const {
  std::vector<std::pair<std::string, std::string>> out;
  if (class_name != "FlowMatchEulerDiscreteScheduler")
    out.push_back({"_class_name", "scheduler class '" + class_name +
                                      "': the MfM pipeline's loop assumes FlowMatchEulerDiscreteScheduler"});
  if (use_dynamic_shifting)
    out.push_back({"use_dynamic_shifting", "use_dynamic_shifting needs a resolution-dependent mu the MfM pipeline "
                                           "never passes"});
  if (use_karras_sigmas || use_exponential_sigmas || use_beta_sigmas)
    out.push_back({"use_karras_sigmas", "karras/exponential/beta sigma spacing is not implemented"});
  if (invert_sigmas) out.push_back({"invert_sigmas", "invert_sigmas is not implemented"});
  if (shift_terminal) out.push_back({"shift_terminal", "shift_terminal is not implemented"});
  if (num_train_timesteps <= 0) out.push_back({"num_train_timesteps", "num_train_timesteps must be positive"});
  if (!(shift > 0)) out.push_back({"shift", "shift must be positive"});
  return out;
}

// ---- TokenizerInfo -------------------------------------------------------------------------------

namespace {
bool read_json_file(const std::string& path, json* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = json::parse(ss.str(), nullptr, false);
  if (out->is_discarded()) throw Error(ErrorCode::BadFile, path + ": not well-formed JSON");
  return true;
}

// Special tokens are either strings or {"content": "..."} objects (AddedToken).
void token_field(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if (it->is_string()) out = it->get<std::string>();
  else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    out = (*it)["content"].get<std::string>();
}
}  // namespace

TokenizerInfo TokenizerInfo::from_folder(const std::string& dir) {
  TokenizerInfo t;
  t.dir = dir;
  std::ifstream probe1(dir + "/spiece.model");
  if (probe1) t.spiece_model = dir + "/spiece.model";
  std::ifstream probe2(dir + "/tokenizer.json");
  if (probe2) t.tokenizer_json = dir + "/tokenizer.json";
  json cfg;
  if (read_json_file(dir + "/tokenizer_config.json", &cfg)) {
    FieldReader r(cfg, dir + "/tokenizer_config.json");
    r.get("tokenizer_class", t.tokenizer_class);
    if (const json* v = r.find("model_max_length")) {
      // transformers writes a huge integer (or 1e30) for "no limit".
      if (v->is_number_integer() && v->get<int64_t>() > 0 && v->get<int64_t>() < INT32_MAX)
        t.model_max_length = static_cast<int>(v->get<int64_t>());
      else if (!v->is_number()) r.fail("model_max_length", "a number", *v);
    }
    r.get("extra_ids", t.extra_ids);
    r.get("legacy", t.legacy);
    token_field(cfg, "pad_token", t.pad_token);
    token_field(cfg, "eos_token", t.eos_token);
    token_field(cfg, "unk_token", t.unk_token);
  }
  json st;
  if (read_json_file(dir + "/special_tokens_map.json", &st) && st.is_object()) {
    token_field(st, "pad_token", t.pad_token);
    token_field(st, "eos_token", t.eos_token);
    token_field(st, "unk_token", t.unk_token);
  }
  return t;
}

nlohmann::json TokenizerInfo::to_json() const {
  json j;
  j["dir"] = dir;
  j["tokenizer_class"] = tokenizer_class;
  j["spiece_model"] = spiece_model;
  j["tokenizer_json"] = tokenizer_json;
  j["model_max_length"] = model_max_length;
  j["extra_ids"] = extra_ids;
  j["legacy"] = legacy;
  j["pad_token"] = pad_token;
  j["eos_token"] = eos_token;
  j["unk_token"] = unk_token;
  return j;
}

std::string ConfigProblem::to_string() const {
  std::string s = severity == Severity::Error ? "error: " : "warning: ";
  s += file;
  if (!key.empty()) s += ": '" + key + "'";
  return s + ": " + message;
}

}  // namespace mf::io
