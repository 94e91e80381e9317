// Cross-checks of configs against checkpoint shapes (mfm-reference.md A.9, D.4, E.2) and the reader of a
// whole pipeline folder. Only headers are read: no tensor data.
#include "mf/io/pipeline_folder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "mf/core/error.h"
#include "mf/io/checkpoint.h"

namespace fs = std::filesystem;

namespace mf::io {

namespace {

using json = nlohmann::json;
using Severity = ConfigProblem::Severity;

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

const std::vector<int64_t>* shape_of(const ShapeMap& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? nullptr : &it->second;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// Parses a non-negative decimal at s[pos..] up to the next '.', advancing pos past the dot.
bool parse_index(const std::string& s, size_t& pos, int* out) {
  size_t end = s.find('.', pos);
  if (end == std::string::npos || end == pos || end - pos > 6) return false;
  int v = 0;
  for (size_t i = pos; i < end; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  pos = end + 1;
  return true;
}

struct BlockLayout {
  std::vector<std::string> prefixes;  // per global block index, e.g. "transformer_blocks.3." or "...1.module.0."
  bool chunked = false;
  int chunks = 0;
  bool uniform = true;  // every chunk holds the same number of blocks
};

BlockLayout block_layout(const ShapeMap& shapes) {
  std::set<std::pair<int, int>> plain, chunked;
  const std::string root = "transformer_blocks.";
  for (const auto& kv : shapes) {
    const std::string& k = kv.first;
    if (!starts_with(k, root)) continue;
    size_t pos = root.size();
    int a = 0, b = 0;
    if (!parse_index(k, pos, &a)) continue;
    if (k.compare(pos, 7, "module.") == 0) {
      pos += 7;
      if (parse_index(k, pos, &b)) chunked.insert({a, b});
    } else {
      plain.insert({a, 0});
    }
  }
  BlockLayout L;
  L.chunked = !chunked.empty();
  if (L.chunked) {
    std::map<int, int> per_chunk;
    for (auto& [c, j] : chunked) per_chunk[c]++;
    L.chunks = static_cast<int>(per_chunk.size());
    for (auto& kv : per_chunk) L.uniform = L.uniform && kv.second == per_chunk.begin()->second;
    for (auto& [c, j] : chunked)
      L.prefixes.push_back(root + std::to_string(c) + ".module." + std::to_string(j) + ".");
  } else {
    for (auto& [i, unused] : plain) L.prefixes.push_back(root + std::to_string(i) + ".");
  }
  return L;
}

// Highest index + 1 of keys "<root><i>." (e.g. decoder up blocks, T5 blocks).
int count_indexed(const ShapeMap& shapes, const std::string& root) {
  int n = 0;
  for (const auto& kv : shapes) {
    if (!starts_with(kv.first, root)) continue;
    size_t pos = root.size();
    int i = 0;
    if (parse_index(kv.first, pos, &i)) n = std::max(n, i + 1);
  }
  return n;
}

struct Collector {
  std::vector<ConfigProblem>& out;
  const std::string& file;
  void error(const std::string& key, const std::string& msg) { out.push_back({Severity::Error, file, key, msg, false}); }
  void warn(const std::string& key, const std::string& msg) { out.push_back({Severity::Warning, file, key, msg, false}); }
  // Tensor `name` must exist with `expected` shape (entries < 0 are wildcards).
  const std::vector<int64_t>* expect_shape(const ShapeMap& shapes, const std::string& name,
                                           const std::vector<int64_t>& expected, const std::string& why) {
    const auto* s = shape_of(shapes, name);
    if (!s) {
      error(name, "tensor is missing (" + why + ")");
      return nullptr;
    }
    bool ok = s->size() == expected.size();
    for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || expected[i] == (*s)[i];
    if (!ok) {
      std::vector<int64_t> shown = expected;
      std::string e = "[";
      for (size_t i = 0; i < shown.size(); ++i) e += (i ? ", " : "") + (shown[i] < 0 ? std::string("*") : std::to_string(shown[i]));
      error(name, "shape " + shape_str(*s) + ", expected " + e + "] (" + why + ")");
    }
    return s;
  }
};

}  // namespace

std::vector<ConfigProblem> check_transformer_weights(const TransformerConfig& cfg, const ShapeMap& shapes,
                                                     const std::string& file, int text_width) {
  std::vector<ConfigProblem> out;
  Collector c{out, file};
  const auto* pe = shape_of(shapes, "pos_embed.proj.weight");
  if (!pe || pe->size() != 4) {
    c.error("pos_embed.proj.weight", pe ? "shape " + shape_str(*pe) + ", expected [D, C_in, p, p]"
                                        : "tensor is missing: this is not a Transformer3DModel checkpoint");
    return out;
  }
  const int64_t D = (*pe)[0];
  if (D != cfg.inner_dim())
    c.error("pos_embed.proj.weight", "D = " + std::to_string(D) + " from the weights, but the config gives "
                                     "num_attention_heads x attention_head_dim = " + std::to_string(cfg.num_attention_heads) +
                                     " x " + std::to_string(cfg.attention_head_dim) + " = " + std::to_string(cfg.inner_dim()));
  if (cfg.in_channels > 0 && (*pe)[1] != cfg.in_channels)
    c.error("pos_embed.proj.weight", "C_in = " + std::to_string((*pe)[1]) + " from the weights, config in_channels = " +
                                     std::to_string(cfg.in_channels));
  if ((*pe)[2] != cfg.patch_size || (*pe)[3] != cfg.patch_size)
    c.error("pos_embed.proj.weight", "patch " + std::to_string((*pe)[2]) + "x" + std::to_string((*pe)[3]) +
                                     " from the weights, config patch_size = " + std::to_string(cfg.patch_size));
  const int64_t p2 = (*pe)[2] * (*pe)[3];
  if (const auto* po = c.expect_shape(shapes, "proj_out_2.weight", {-1, D}, "[p*p*C_out, D]")) {
    if (p2 > 0 && (*po)[0] != p2 * cfg.effective_out_channels())
      c.error("proj_out_2.weight", "C_out = " + std::to_string((*po)[0]) + " / " + std::to_string(p2) + " = " +
                                   std::to_string((*po)[0] / p2) + " from the weights, config out_channels = " +
                                   std::to_string(cfg.effective_out_channels()));
  }
  c.expect_shape(shapes, "proj_out_1.weight", {2 * D, D}, "[2D, D]");
  c.expect_shape(shapes, "time_embedder.timestep_embedder.linear_1.weight", {D, 256}, "[D, 256]");

  // Blocks: count, key naming, per-block flags.
  BlockLayout L = block_layout(shapes);
  const int nblocks = static_cast<int>(L.prefixes.size());
  if (nblocks == 0) {
    c.error("transformer_blocks", "no transformer_blocks.* tensors");
    return out;
  }
  if (nblocks != cfg.num_layers)
    c.error("num_layers", "the weights hold " + std::to_string(nblocks) + " blocks (max block index + 1), config num_layers = " +
                          std::to_string(cfg.num_layers));
  if (L.chunked && cfg.num_block_chunks <= 1)
    c.error("num_block_chunks", "keys are named transformer_blocks.{chunk}.module.{j}.* (" + std::to_string(L.chunks) +
                                " chunks) but config num_block_chunks = " + std::to_string(cfg.num_block_chunks));
  if (!L.chunked && cfg.num_block_chunks > 1)
    c.error("num_block_chunks", "config num_block_chunks = " + std::to_string(cfg.num_block_chunks) +
                                " expects keys transformer_blocks.{chunk}.module.{j}.* but they are transformer_blocks.{i}.*");
  if (L.chunked && (L.chunks != cfg.num_block_chunks || !L.uniform))
    c.error("num_block_chunks", "the weights hold " + std::to_string(L.chunks) + " block chunks" +
                                (L.uniform ? "" : " of unequal size") + ", config num_block_chunks = " +
                                std::to_string(cfg.num_block_chunks));
  const std::string b0 = L.prefixes[0];
  const bool has_bias = shapes.count(b0 + "attn1.q_proj.bias") > 0;
  if (has_bias != cfg.attention_bias)
    c.error("attention_bias", std::string("config attention_bias = ") + (cfg.attention_bias ? "true" : "false") +
                              " but " + b0 + "attn1.q_proj.bias is " + (has_bias ? "present" : "absent"));
  const bool has_rms = shapes.count(b0 + "norm1.norm.weight") > 0;
  if (has_rms != (cfg.adaln_norm_type == "rmsnorm"))
    c.error("adaln_norm_type", "config adaln_norm_type = '" + cfg.adaln_norm_type + "' but " + b0 +
                               "norm1.norm.weight is " + (has_rms ? "present (rmsnorm)" : "absent (legacy layernorm)"));
  const bool has_motion = shapes.count("time_embedder.guidance_embedder.linear_1.weight") > 0;
  if (has_motion != cfg.add_motion_score)
    c.error("add_motion_score", std::string("config add_motion_score = ") + (cfg.add_motion_score ? "true" : "false") +
                                " but time_embedder.guidance_embedder.* is " + (has_motion ? "present" : "absent"));
  // Condition adapter.
  const auto* ci = shape_of(shapes, "cond_conv.conv_in.weight");
  if (cfg.condition_type == "inpaint_mask") {
    if (!ci) {
      c.error("cond_conv.conv_in.weight", "tensor is missing: condition_type inpaint_mask needs the condition adapter");
    } else if (ci->size() != 4) {
      c.error("cond_conv.conv_in.weight", "shape " + shape_str(*ci) + ", expected [16, C_in, 3, 3]");
    } else {
      const int64_t cin = (*ci)[1];
      const int64_t want = cfg.use_depth_cond ? 5 : 4;
      if (cin != want)
        c.error("cond_conv.conv_in.weight", "adapter C_in = " + std::to_string(cin) + " from the weights, config use_depth_cond = " +
                                            (cfg.use_depth_cond ? "true (5)" : "false (4)"));
      if (cin != 5)
        c.error("cond_conv.conv_in.weight", "adapter C_in = " + std::to_string(cin) +
                                            ": the MfM pipeline always feeds 5 channels (RGB, depth, mask)");
    }
    c.expect_shape(shapes, "cond_conv.conv_out.weight", {D, 512, 3, 3}, "[D, 512, 3, 3]");
  }
  // Per-block shapes and cross-attention widths.
  std::set<int64_t> widths;
  for (int i = 0; i < nblocks; ++i) {
    const std::string& b = L.prefixes[i];
    if (!c.expect_shape(shapes, b + "attn1.q_proj.weight", {D, D}, "[D, D]")) continue;
    c.expect_shape(shapes, b + "norm1.linear.weight", {6 * D, D}, "[6D, D]");
    c.expect_shape(shapes, b + "ff.fc1.weight", {4 * D, D}, "[4D, D]");
    const int want = cfg.cross_attention_dim_for_block(i);
    const auto* k = shape_of(shapes, b + "attn2.k_proj.weight");
    if (!k && want > 0) {
      c.error(b + "attn2.k_proj.weight", "tensor is missing but config cross_attention_dim gives block " +
                                         std::to_string(i) + " a cross-attention of width " + std::to_string(want));
    } else if (k && want == 0) {
      c.error("cross_attention_dim", "config has no cross-attention but " + b + "attn2.k_proj.weight exists");
    } else if (k) {
      if (k->size() != 2 || (*k)[0] != D) {
        c.error(b + "attn2.k_proj.weight", "shape " + shape_str(*k) + ", expected [D = " + std::to_string(D) + ", width]");
      } else {
        widths.insert((*k)[1]);
        if ((*k)[1] != want)
          c.error(b + "attn2.k_proj.weight", "cross-attention width " + std::to_string((*k)[1]) + " from the weights, config "
                                             "cross_attention_dim gives " + std::to_string(want) + " for block " + std::to_string(i));
      }
    }
  }
  if (widths.size() > 1)
    c.error("cross_attention_dim", "blocks use different cross-attention widths, but the pipeline feeds one text "
                                   "embedding to every block");
  if (text_width > 0 && widths.size() == 1 && *widths.begin() != text_width)
    c.error("cross_attention_dim", "cross-attention width " + std::to_string(*widths.begin()) +
                                   " differs from the text encoder's d_model = " + std::to_string(text_width));
  return out;
}

std::vector<ConfigProblem> check_vae_weights(const VaeConfig& cfg, const ShapeMap& shapes, const std::string& file) {
  std::vector<ConfigProblem> out;
  Collector c{out, file};
  if (cfg.block_out_channels.empty()) return out;
  const int64_t top = cfg.block_out_channels.back(), bottom = cfg.block_out_channels.front();
  const int64_t Z = cfg.latent_channels;
  if (!shape_of(shapes, "decoder.conv_in.conv.weight")) {
    c.error("decoder.conv_in.conv.weight", "tensor is missing: this is not an AutoencoderKLCogVideoX checkpoint");
    return out;
  }
  c.expect_shape(shapes, "decoder.conv_in.conv.weight", {top, Z, 3, 3, 3},
                 "[block_out_channels[-1], latent_channels, 3, 3, 3]");
  c.expect_shape(shapes, "decoder.conv_out.conv.weight", {cfg.out_channels, bottom, 3, 3, 3},
                 "[out_channels, block_out_channels[0], 3, 3, 3]");
  c.expect_shape(shapes, "decoder.norm_out.conv_y.conv.weight", {bottom, Z, 1, 1, 1},
                 "[block_out_channels[0], latent_channels, 1, 1, 1]");
  const int n_up = count_indexed(shapes, "decoder.up_blocks.");
  if (n_up != static_cast<int>(cfg.block_out_channels.size()))
    c.error("block_out_channels", "the weights hold " + std::to_string(n_up) + " decoder up blocks, config has " +
                                  std::to_string(cfg.block_out_channels.size()) + " block_out_channels");
  std::vector<int64_t> rev(cfg.block_out_channels.rbegin(), cfg.block_out_channels.rend());
  for (int b = 0; b < std::min<int>(n_up, static_cast<int>(rev.size())); ++b) {
    const std::string pre = "decoder.up_blocks." + std::to_string(b) + ".resnets.";
    const int n_res = count_indexed(shapes, pre);
    if (n_res != cfg.layers_per_block + 1)
      c.error("layers_per_block", "decoder up block " + std::to_string(b) + " holds " + std::to_string(n_res) +
                                  " resnets, config layers_per_block + 1 = " + std::to_string(cfg.layers_per_block + 1));
    const int64_t in = b == 0 ? rev[0] : rev[b - 1];
    c.expect_shape(shapes, pre + "0.conv1.conv.weight", {rev[b], in, 3, 3, 3}, "reversed block_out_channels");
  }
  if (shapes.count("encoder.conv_in.conv.weight"))
    c.expect_shape(shapes, "encoder.conv_in.conv.weight", {bottom, cfg.in_channels, 3, 3, 3},
                   "[block_out_channels[0], in_channels, 3, 3, 3]");
  if (shapes.count("post_quant_conv.weight") != (cfg.use_post_quant_conv ? 1u : 0u))
    c.error("use_post_quant_conv", std::string("config use_post_quant_conv = ") + (cfg.use_post_quant_conv ? "true" : "false") +
                                   " but post_quant_conv.weight is " + (shapes.count("post_quant_conv.weight") ? "present" : "absent"));
  return out;
}

std::vector<ConfigProblem> check_t5_weights(const T5Config& cfg, const ShapeMap& shapes, const std::string& file) {
  std::vector<ConfigProblem> out;
  Collector c{out, file};
  const char* emb = shapes.count("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
  if (!shapes.count(emb)) {
    c.error("shared.weight", "tensor is missing (neither shared.weight nor encoder.embed_tokens.weight): "
                             "this is not a T5EncoderModel checkpoint");
    return out;
  }
  c.expect_shape(shapes, emb, {cfg.vocab_size, cfg.d_model}, "[vocab_size, d_model]");
  const int n = count_indexed(shapes, "encoder.block.");
  if (n != cfg.num_layers)
    c.error("num_layers", "the weights hold " + std::to_string(n) + " encoder blocks, config num_layers = " +
                          std::to_string(cfg.num_layers));
  const int64_t inner = static_cast<int64_t>(cfg.num_heads) * cfg.d_kv;
  const std::string a = "encoder.block.0.layer.0.SelfAttention.";
  c.expect_shape(shapes, a + "q.weight", {inner, cfg.d_model}, "[num_heads * d_kv, d_model]");
  c.expect_shape(shapes, a + "o.weight", {cfg.d_model, inner}, "[d_model, num_heads * d_kv]");
  c.expect_shape(shapes, a + "relative_attention_bias.weight", {cfg.relative_attention_num_buckets, cfg.num_heads},
                 "[relative_attention_num_buckets, num_heads]");
  const std::string f = "encoder.block.0.layer.1.DenseReluDense.";
  if (cfg.is_gated_act()) {
    c.expect_shape(shapes, f + "wi_0.weight", {cfg.d_ff, cfg.d_model}, "gated FFN: [d_ff, d_model]");
    c.expect_shape(shapes, f + "wi_1.weight", {cfg.d_ff, cfg.d_model}, "gated FFN: [d_ff, d_model]");
  } else {
    c.expect_shape(shapes, f + "wi.weight", {cfg.d_ff, cfg.d_model}, "[d_ff, d_model]");
  }
  c.expect_shape(shapes, f + "wo.weight", {cfg.d_model, cfg.d_ff}, "[d_model, d_ff]");
  c.expect_shape(shapes, "encoder.final_layer_norm.weight", {cfg.d_model}, "[d_model]");
  return out;
}

TransformerConfig infer_transformer_config(const ShapeMap& shapes) {
  TransformerConfig cfg;
  cfg.norm_type = "ada_norm_zero";
  cfg.activation_fn = "gelu-approximate";
  cfg.attention_head_dim = 64;
  const auto* pe = shape_of(shapes, "pos_embed.proj.weight");
  if (!pe || pe->size() != 4) return cfg;
  const int64_t D = (*pe)[0];
  cfg.num_attention_heads = static_cast<int>(D / 64);
  if (D % 64 != 0) {  // not a multiple of 64: report one head of width D rather than a wrong split
    cfg.num_attention_heads = 1;
    cfg.attention_head_dim = static_cast<int>(D);
  }
  cfg.in_channels = static_cast<int>((*pe)[1]);
  cfg.patch_size = static_cast<int>((*pe)[2]);
  if (const auto* po = shape_of(shapes, "proj_out_2.weight"); po && !po->empty() && (*pe)[2] * (*pe)[3] > 0)
    cfg.out_channels = static_cast<int>((*po)[0] / ((*pe)[2] * (*pe)[3]));
  BlockLayout L = block_layout(shapes);
  cfg.num_layers = static_cast<int>(L.prefixes.size());
  cfg.num_block_chunks = L.chunked ? L.chunks : 1;
  if (!L.prefixes.empty()) {
    const std::string& b0 = L.prefixes[0];
    cfg.attention_bias = shapes.count(b0 + "attn1.q_proj.bias") > 0;
    cfg.adaln_norm_type = shapes.count(b0 + "norm1.norm.weight") ? "rmsnorm" : "legacy";
    std::vector<int> widths;
    for (size_t i = 0; i < L.prefixes.size() && i < 2; ++i)
      if (const auto* k = shape_of(shapes, L.prefixes[i] + "attn2.k_proj.weight"); k && k->size() == 2)
        widths.push_back(static_cast<int>((*k)[1]));
    if (widths.size() == 2 && widths[0] == widths[1]) widths.pop_back();
    cfg.cross_attention_dim = widths;
  }
  cfg.add_motion_score = shapes.count("time_embedder.guidance_embedder.linear_1.weight") > 0;
  const auto* ci = shape_of(shapes, "cond_conv.conv_in.weight");
  cfg.condition_type = ci ? "inpaint_mask" : "none";
  cfg.use_depth_cond = ci && ci->size() == 4 && (*ci)[1] == 5;
  return cfg;
}

// ---- the folder ------------------------------------------------------------------------------------

bool PipelineFolder::ok() const {
  for (const auto& p : problems)
    if (p.severity == Severity::Error) return false;
  return true;
}

std::string PipelineFolder::report() const {
  std::string s;
  for (const auto& p : problems) s += p.to_string() + "\n";
  if (!s.empty()) s.pop_back();
  return s;
}

const PipelineComponent* PipelineFolder::component(const std::string& name) const {
  for (const auto& c : components)
    if (c.name == name) return &c;
  return nullptr;
}

namespace {

json read_json_or_problem(const std::string& path, std::vector<ConfigProblem>& problems, bool required) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (required) problems.push_back({Severity::Error, path, "", "file is missing", false});
    return json();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    problems.push_back({Severity::Error, path, "", "not a well-formed JSON object", false});
    return json();
  }
  return j;
}

void add_unsupported(std::vector<ConfigProblem>& problems, const std::string& file,
                     const std::vector<std::pair<std::string, std::string>>& items) {
  for (const auto& [k, m] : items) problems.push_back({Severity::Error, file, k, m, true});
}

void add_ignored(std::vector<ConfigProblem>& problems, const std::string& file, const std::vector<std::string>& keys) {
  for (const auto& k : keys)
    problems.push_back({Severity::Warning, file, k, "key is not used by Manyfold (unknown to the official code?)", false});
}

// Opens the component's weights (headers only) into a ShapeMap; problems are recorded, not thrown.
bool load_shapes(PipelineComponent& comp, ShapeMap& shapes, std::vector<ConfigProblem>& problems) {
  try {
    std::string w = find_weights_in_folder(comp.dir);
    if (w.empty()) {
      problems.push_back({Severity::Error, comp.dir, "", "no *.safetensors weights in the folder (.bin/.pt "
                                                         "checkpoints are not read: convert them to safetensors)", false});
      return false;
    }
    comp.weights = w;
    CheckpointFiles ck = open_checkpoint(w);
    for (const auto& [name, e] : ck.tensors) {
      shapes[name] = e.info->shape;
      comp.num_parameters += e.info->numel();
    }
    comp.num_tensors = ck.tensors.size();
    return true;
  } catch (const Error& e) {
    problems.push_back({Severity::Error, comp.weights.empty() ? comp.dir : comp.weights, "", e.what(), false});
    return false;
  }
}

const std::map<std::string, std::vector<std::string>>& expected_classes() {
  static const std::map<std::string, std::vector<std::string>> m = {
      {"transformer", {"Transformer3DModel"}},
      {"vae", {"AutoencoderKLCogVideoX"}},
      {"text_encoder", {"T5EncoderModel"}},
      {"tokenizer", {"T5Tokenizer", "T5TokenizerFast"}},
      {"scheduler", {"FlowMatchEulerDiscreteScheduler"}},
  };
  return m;
}

}  // namespace

PipelineFolder read_pipeline_folder(const std::string& dir) {
  PipelineFolder pf;
  pf.root = dir;
  const std::string index_path = (fs::path(dir) / "model_index.json").string();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorCode::MissingModel, dir + ": no such folder (expected an MfM pipeline folder)");
  if (!fs::exists(index_path, ec))
    throw Error(ErrorCode::MissingModel, dir + ": not an MfM pipeline folder (no model_index.json)");
  std::vector<ConfigProblem> tmp;
  json index = read_json_or_problem(index_path, tmp, true);
  if (!tmp.empty()) throw Error(ErrorCode::BadFile, index_path + ": not a well-formed JSON object");
  if (index.contains("_class_name") && index["_class_name"].is_string())
    pf.pipeline_class = index["_class_name"].get<std::string>();
  if (index.contains("_diffusers_version") && index["_diffusers_version"].is_string())
    pf.diffusers_version = index["_diffusers_version"].get<std::string>();
  auto& P = pf.problems;
  if (!pf.pipeline_class.empty() && pf.pipeline_class != "MfMPipeline")
    P.push_back({Severity::Warning, index_path, "_class_name",
                 "pipeline class '" + pf.pipeline_class + "' (expected MfMPipeline); reading it as one", false});

  for (auto it = index.begin(); it != index.end(); ++it) {
    if (it.key().empty() || it.key()[0] == '_') continue;
    const json& v = it.value();
    PipelineComponent comp;
    comp.name = it.key();
    comp.dir = (fs::path(dir) / it.key()).string();
    if (v.is_array() && v.size() == 2 && v[0].is_null() && v[1].is_null()) continue;  // explicitly absent
    if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_string()) {
      P.push_back({Severity::Error, index_path, it.key(), "entry must be [library, class], found " + v.dump(), false});
      continue;
    }
    comp.library = v[0].get<std::string>();
    comp.class_name = v[1].get<std::string>();
    pf.components.push_back(comp);
  }
  for (const auto& [name, classes] : expected_classes()) {
    if (!pf.component(name))
      P.push_back({Severity::Error, index_path, name, "component is missing from model_index.json", false});
  }

  int text_width = 0;
  ShapeMap transformer_shapes;
  bool transformer_weights = false;
  for (auto& comp : pf.components) {
    auto ex = expected_classes().find(comp.name);
    if (ex == expected_classes().end()) {
      P.push_back({Severity::Warning, index_path, comp.name, "component '" + comp.name + "' (" + comp.class_name +
                                                             ") is not part of the MfM pipeline; ignored", false});
      continue;
    }
    if (std::find(ex->second.begin(), ex->second.end(), comp.class_name) == ex->second.end())
      P.push_back({Severity::Error, index_path, comp.name, "class '" + comp.class_name + "', expected " + ex->second[0],
                   true});
    if (!fs::is_directory(comp.dir, ec)) {
      P.push_back({Severity::Error, comp.dir, "", "component folder is missing", false});
      continue;
    }
    try {
      if (comp.name == "scheduler") {
        comp.config_file = (fs::path(comp.dir) / "scheduler_config.json").string();
        json j = read_json_or_problem(comp.config_file, P, true);
        if (j.is_null()) continue;
        pf.scheduler = SchedulerConfig::from_json(j, comp.config_file);
        add_unsupported(P, comp.config_file, pf.scheduler->unsupported());
        add_ignored(P, comp.config_file, pf.scheduler->ignored_keys);
      } else if (comp.name == "tokenizer") {
        pf.tokenizer = TokenizerInfo::from_folder(comp.dir);
        comp.config_file = (fs::path(comp.dir) / "tokenizer_config.json").string();
        if (pf.tokenizer->spiece_model.empty() && pf.tokenizer->tokenizer_json.empty())
          P.push_back({Severity::Error, comp.dir, "spiece.model",
                       "the tokenizer folder has neither spiece.model nor tokenizer.json", false});
        else if (pf.tokenizer->spiece_model.empty())
          P.push_back({Severity::Error, comp.dir, "spiece.model",
                       "spiece.model is missing (Manyfold tokenizes with the SentencePiece model)", true});
      } else {
        comp.config_file = (fs::path(comp.dir) / "config.json").string();
        json j = read_json_or_problem(comp.config_file, P, true);
        ShapeMap shapes;
        bool have_shapes = load_shapes(comp, shapes, P);
        if (j.is_null()) continue;
        const std::string wfile = comp.weights;
        if (comp.name == "transformer") {
          pf.transformer = TransformerConfig::from_json(j, comp.config_file);
          add_unsupported(P, comp.config_file, pf.transformer->unsupported());
          add_ignored(P, comp.config_file, pf.transformer->ignored_keys);
          if (have_shapes) {
            transformer_shapes = std::move(shapes);
            transformer_weights = true;
          }
        } else if (comp.name == "vae") {
          pf.vae = VaeConfig::from_json(j, comp.config_file);
          add_unsupported(P, comp.config_file, pf.vae->unsupported());
          add_ignored(P, comp.config_file, pf.vae->ignored_keys);
          if (have_shapes) {
            auto v = check_vae_weights(*pf.vae, shapes, wfile);
            P.insert(P.end(), v.begin(), v.end());
          }
        } else if (comp.name == "text_encoder") {
          pf.text_encoder = T5Config::from_json(j, comp.config_file);
          text_width = pf.text_encoder->d_model;
          add_unsupported(P, comp.config_file, pf.text_encoder->unsupported());
          add_ignored(P, comp.config_file, pf.text_encoder->ignored_keys);
          if (have_shapes) {
            auto v = check_t5_weights(*pf.text_encoder, shapes, wfile);
            P.insert(P.end(), v.begin(), v.end());
          }
        }
      }
    } catch (const Error& e) {
      P.push_back({Severity::Error, comp.config_file.empty() ? comp.dir : comp.config_file, "", e.what(), false});
    }
  }
  // The transformer is checked last, so that its cross-attention width can be compared with the text encoder.
  if (pf.transformer && transformer_weights) {
    auto v = check_transformer_weights(*pf.transformer, transformer_shapes, pf.component("transformer")->weights,
                                       text_width);
    P.insert(P.end(), v.begin(), v.end());
  }
  return pf;
}

void require_ok(const PipelineFolder& folder) {
  if (folder.ok()) return;
  bool all_unsupported = true;
  std::string msg;
  int n = 0;
  for (const auto& p : folder.problems) {
    if (p.severity != Severity::Error) continue;
    all_unsupported = all_unsupported && p.unsupported;
    msg += "\n  " + p.to_string();
    ++n;
  }
  throw Error(all_unsupported ? ErrorCode::Unsupported : ErrorCode::BadFile,
              folder.root + ": " + std::to_string(n) + " problem(s) in the pipeline folder:" + msg);
}

}  // namespace mf::io
