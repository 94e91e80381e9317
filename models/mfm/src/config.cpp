#include "mf/mfm/config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"

namespace mf::mfm {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

[[noreturn]] void bad_field(const std::string& source, const std::string& key, const std::string& want,
                            const nlohmann::json& got) {
  throw Error(ErrorCode::BadFile,
              source + ": field '" + key + "' should be " + want + " but is " + got.dump());
}

// Reads an optional field; an absent key or JSON null keeps the default.
void read_int(const nlohmann::json& j, const char* key, int& out, const std::string& src) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_number_integer()) bad_field(src, key, "an integer", *it);
  out = it->get<int>();
}
void read_bool(const nlohmann::json& j, const char* key, bool& out, const std::string& src) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_boolean()) bad_field(src, key, "true or false", *it);
  out = it->get<bool>();
}
void read_string(const nlohmann::json& j, const char* key, std::string& out, const std::string& src) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_string()) bad_field(src, key, "a string", *it);
  out = it->get<std::string>();
}

}  // namespace

std::string Config::block_prefix(int i) const {
  if (num_block_chunks <= 1) return "transformer_blocks." + std::to_string(i) + ".";
  const int per = blocks_per_chunk();
  return "transformer_blocks." + std::to_string(i / per) + ".module." + std::to_string(i % per) + ".";
}

void Config::validate() const {
  auto fail = [](ErrorCode code, const std::string& m) { throw Error(code, "MfM transformer config: " + m); };
  if (in_channels <= 0) fail(ErrorCode::BadFile, "in_channels must be set (the official model asserts it)");
  if (num_attention_heads <= 0 || attention_head_dim <= 0)
    fail(ErrorCode::BadFile, "num_attention_heads and attention_head_dim must be positive");
  if (num_layers < 1) fail(ErrorCode::BadFile, "num_layers must be at least 1");
  if (sequence_parallel_size > 1)
    fail(ErrorCode::Unsupported,
         "sequence_parallel_size=" + std::to_string(sequence_parallel_size) +
             " splits attention across several processes (torch.distributed); Manyfold runs the model in one "
             "process. Set sequence_parallel_size to 1 (or 0) in transformer/config.json: the weights are the same.");
  if (condition_type != "inpaint_mask")
    fail(ErrorCode::Unsupported,
         "condition_type '" + condition_type +
             "' is not supported: only 'inpaint_mask' (the convolutional condition adapter used by the released "
             "MfM models) works; the official 'latent_concat' path is broken (mfm-reference.md H.32)");
  if (activation_fn != "gelu-approximate")
    fail(ErrorCode::Unsupported, "activation_fn '" + activation_fn +
                                     "': the Goku block only accepts 'gelu-approximate' (the official code raises "
                                     "for anything else)");
  if (norm_type != "ada_norm_zero" && norm_type != "ada_norm_zero_nolabel")
    fail(ErrorCode::Unsupported,
         "norm_type '" + norm_type + "': the official model asserts ada_norm_zero or ada_norm_zero_nolabel");
  if (adaln_norm_type != "legacy" && adaln_norm_type != "layernorm" && adaln_norm_type != "rmsnorm")
    fail(ErrorCode::Unsupported, "adaln_norm_type '" + adaln_norm_type + "': expected legacy, layernorm or rmsnorm");
  if (patch_size < 1) fail(ErrorCode::BadFile, "patch_size must be positive");
  if (patch_size_t != 1)
    fail(ErrorCode::Unsupported, "patch_size_t=" + std::to_string(patch_size_t) +
                                     ": the model has no temporal patching (only patch_size_t=1 is consistent)");
  if (num_block_chunks < 1 || num_layers % num_block_chunks != 0)
    fail(ErrorCode::BadFile, "num_layers (" + std::to_string(num_layers) + ") must be divisible by num_block_chunks (" +
                                 std::to_string(num_block_chunks) + ")");
  if (use_rope && attention_head_dim % 16 != 0)
    fail(ErrorCode::Unsupported, "3D RoPE splits the head dim 2/8, 3/8, 3/8 into parts of interleaved pairs: "
                                 "attention_head_dim " + std::to_string(attention_head_dim) + " is not a multiple of 16");
  for (int k = 0; k < 2; ++k)
    if (cross_attention_dim[k] && *cross_attention_dim[k] <= 0)
      fail(ErrorCode::BadFile, "cross_attention_dim must be positive");
}

Config Config::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw Error(ErrorCode::BadFile, source + ": the transformer config is not a JSON object");
  Config c;
  read_int(j, "num_attention_heads", c.num_attention_heads, source);
  read_int(j, "attention_head_dim", c.attention_head_dim, source);
  read_int(j, "in_channels", c.in_channels, source);
  read_int(j, "out_channels", c.out_channels, source);
  read_int(j, "num_layers", c.num_layers, source);
  read_bool(j, "attention_bias", c.attention_bias, source);
  read_bool(j, "double_self_attention", c.double_self_attention, source);
  read_bool(j, "upcast_attention", c.upcast_attention, source);
  read_int(j, "sample_size", c.sample_size, source);
  read_int(j, "patch_size", c.patch_size, source);
  read_int(j, "patch_size_t", c.patch_size_t, source);
  read_string(j, "activation_fn", c.activation_fn, source);
  read_string(j, "norm_type", c.norm_type, source);
  read_string(j, "adaln_norm_type", c.adaln_norm_type, source);
  // An explicit null is treated like 1 (the constructor does so; only the official forward trips on it).
  read_int(j, "sequence_parallel_size", c.sequence_parallel_size, source);
  read_int(j, "num_block_chunks", c.num_block_chunks, source);
  read_bool(j, "use_rope", c.use_rope, source);
  read_bool(j, "add_motion_score", c.add_motion_score, source);
  read_string(j, "condition_type", c.condition_type, source);
  read_bool(j, "use_depth_cond", c.use_depth_cond, source);
  auto it = j.find("cross_attention_dim");
  if (it != j.end() && !it->is_null()) {
    if (it->is_number_integer()) {
      c.cross_attention_dim = {it->get<int>(), it->get<int>()};
    } else if (it->is_array() && it->size() == 2) {
      for (int k = 0; k < 2; ++k) {
        const auto& e = (*it)[k];
        if (e.is_null()) continue;
        if (!e.is_number_integer()) bad_field(source, "cross_attention_dim", "an integer or a list of two", *it);
        c.cross_attention_dim[k] = e.get<int>();
      }
    } else {
      bad_field(source, "cross_attention_dim", "an integer or a list of two", *it);
    }
  }
  c.validate();
  return c;
}

Config Config::from_json_text(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::BadFile, source + ": not valid JSON (" + e.what() + ")");
  }
  return from_json(j, source);
}

Config Config::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::MissingModel, "cannot open transformer config " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

nlohmann::json Config::to_json() const {
  nlohmann::json j;
  j["num_attention_heads"] = num_attention_heads;
  j["attention_head_dim"] = attention_head_dim;
  j["in_channels"] = in_channels;
  j["out_channels"] = out_channels_resolved();
  j["num_layers"] = num_layers;
  if (cross_attention_dim[0] == cross_attention_dim[1]) {
    j["cross_attention_dim"] = cross_attention_dim[0] ? nlohmann::json(*cross_attention_dim[0]) : nlohmann::json();
  } else {
    nlohmann::json a = nlohmann::json::array();
    for (auto& v : cross_attention_dim) a.push_back(v ? nlohmann::json(*v) : nlohmann::json());
    j["cross_attention_dim"] = a;
  }
  j["attention_bias"] = attention_bias;
  j["double_self_attention"] = double_self_attention;
  j["upcast_attention"] = upcast_attention;
  j["sample_size"] = sample_size;
  j["patch_size"] = patch_size;
  j["patch_size_t"] = patch_size_t;
  j["activation_fn"] = activation_fn;
  j["norm_type"] = norm_type;
  j["adaln_norm_type"] = adaln_norm_type;
  j["sequence_parallel_size"] = sequence_parallel_size;
  j["num_block_chunks"] = num_block_chunks;
  j["use_rope"] = use_rope;
  j["add_motion_score"] = add_motion_score;
  j["condition_type"] = condition_type;
  j["use_depth_cond"] = use_depth_cond;
  return j;
}

static Config released_base() {
  Config c;
  c.attention_head_dim = 64;
  c.in_channels = 16;
  c.out_channels = 16;
  c.cross_attention_dim = {2048, 2048};
  c.sample_size = 64;
  c.activation_fn = "gelu-approximate";
  c.norm_type = "ada_norm_zero";
  c.use_rope = true;
  c.add_motion_score = true;
  c.use_depth_cond = true;
  return c;
}

Config Config::mfm_2b() {
  Config c = released_base();
  c.num_attention_heads = 28;
  c.num_layers = 28;
  return c;
}

Config Config::mfm_8b() {
  Config c = released_base();
  c.num_attention_heads = 48;
  c.num_layers = 40;
  return c;
}

void check_against_weights(const Config& cfg, const ShapeMap& shapes, const std::string& source) {
  auto fail = [&](const std::string& m) { throw Error(ErrorCode::BadFile, source + ": " + m); };
  auto need = [&](const std::string& name) -> const std::vector<int64_t>& {
    auto it = shapes.find(name);
    if (it == shapes.end())
      fail("tensor '" + name + "' is missing (the transformer config says it should exist)");
    return it->second;
  };
  auto expect_dim = [&](const std::string& name, size_t axis, int64_t want, const std::string& what) {
    const auto& s = need(name);
    if (s.size() <= axis || s[axis] != want)
      fail("tensor '" + name + "' has shape " + shape_str(s) + " but the config gives " + what + " = " +
           std::to_string(want));
  };
  const int64_t D = cfg.inner_dim();
  const int64_t p = cfg.patch_size;
  expect_dim("pos_embed.proj.weight", 0, D, "num_attention_heads*attention_head_dim");
  expect_dim("pos_embed.proj.weight", 1, cfg.in_channels, "in_channels");
  expect_dim("pos_embed.proj.weight", 2, p, "patch_size");
  expect_dim("proj_out_2.weight", 0, p * p * cfg.out_channels_resolved(), "patch_size^2*out_channels");
  expect_dim("cond_conv.conv_in.weight", 1, cfg.adapter_in_channels(),
             "adapter input channels (use_depth_cond ? 5 : 4)");
  expect_dim("cond_conv.conv_out.weight", 0, D, "hidden size");

  const bool has_guidance = shapes.count("time_embedder.guidance_embedder.linear_1.weight") > 0;
  if (has_guidance != cfg.add_motion_score)
    fail(std::string("config add_motion_score=") + (cfg.add_motion_score ? "true" : "false") + " but the tensor "
         "'time_embedder.guidance_embedder.linear_1.weight' is " + (has_guidance ? "present" : "absent"));

  // Layer count and key naming: the highest block index present.
  int max_block = -1;
  bool chunked_names = false;
  const std::string tb = "transformer_blocks.";
  for (const auto& [name, s] : shapes) {
    if (name.compare(0, tb.size(), tb) != 0) continue;
    size_t dot = name.find('.', tb.size());
    int idx = std::atoi(name.substr(tb.size(), dot - tb.size()).c_str());
    if (name.compare(dot + 1, 7, "module.") == 0) {
      chunked_names = true;
      size_t dot2 = name.find('.', dot + 8);
      int j = std::atoi(name.substr(dot + 8, dot2 - dot - 8).c_str());
      idx = idx * cfg.blocks_per_chunk() + j;
    }
    max_block = std::max(max_block, idx);
  }
  if (chunked_names != (cfg.num_block_chunks > 1))
    fail(std::string("block tensors are named ") +
         (chunked_names ? "transformer_blocks.{chunk}.module.{j}.*" : "transformer_blocks.{i}.*") +
         " but the config has num_block_chunks=" + std::to_string(cfg.num_block_chunks));
  if (max_block + 1 != cfg.num_layers)
    fail("the checkpoint has " + std::to_string(max_block + 1) + " transformer blocks but the config says num_layers=" +
         std::to_string(cfg.num_layers));

  for (int i = 0; i < cfg.num_layers; ++i) {
    const std::string pre = cfg.block_prefix(i);
    expect_dim(pre + "norm1.linear.weight", 0, 6 * D, "6*hidden size");
    const bool has_bias = shapes.count(pre + "attn1.q_proj.bias") > 0;
    if (has_bias != cfg.attention_bias)
      fail(std::string("config attention_bias=") + (cfg.attention_bias ? "true" : "false") + " but '" + pre +
           "attn1.q_proj.bias' is " + (has_bias ? "present" : "absent"));
    const bool has_norm_w = shapes.count(pre + "norm1.norm.weight") > 0;
    if (has_norm_w != cfg.adaln_rmsnorm())
      fail("config adaln_norm_type='" + cfg.adaln_norm_type + "' but '" + pre + "norm1.norm.weight' is " +
           (has_norm_w ? "present (rmsnorm)" : "absent (layernorm)"));
    const bool has_attn2 = shapes.count(pre + "attn2.k_proj.weight") > 0;
    if (has_attn2 != cfg.block_has_cross_attention(i))
      fail("config cross_attention_dim says block " + std::to_string(i) +
           (cfg.block_has_cross_attention(i) ? " has" : " has no") + " cross-attention but '" + pre +
           "attn2.k_proj.weight' is " + (has_attn2 ? "present" : "absent"));
    if (has_attn2)
      expect_dim(pre + "attn2.k_proj.weight", 1, cfg.block_cross_dim(i), "cross_attention_dim for this block");
  }
}

}  // namespace mf::mfm
