#include "mf/depth/config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"

namespace mf::depth {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& label, const std::string& msg) {
  throw mf::Error(ErrorCode::BadFile, label + ": " + msg);
}

template <typename T>
void read(const json& j, const char* key, T* out, const std::string& label) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  try {
    *out = it->get<T>();
  } catch (const json::exception& e) {
    bad(label, std::string("field '") + key + "' has the wrong type (" + it->dump() + ")");
  }
}

json parse_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw mf::Error(ErrorCode::MissingModel, "cannot open " + path);
  try {
    return json::parse(f);
  } catch (const json::exception& e) {
    throw mf::Error(ErrorCode::BadFile, path + " is not valid JSON: " + e.what());
  }
}

Dinov2Config parse_backbone(const json& b, const std::string& label) {
  Dinov2Config c;
  if (b.contains("model_type") && b["model_type"].is_string() && b["model_type"] != "dinov2") {
    throw mf::Error(ErrorCode::Unsupported, label + ": backbone_config.model_type '" +
                                                b["model_type"].get<std::string>() +
                                                "' is not supported (only 'dinov2', as in Depth-Anything-V2)");
  }
  read(b, "hidden_size", &c.hidden_size, label);
  read(b, "num_hidden_layers", &c.num_hidden_layers, label);
  read(b, "num_attention_heads", &c.num_attention_heads, label);
  read(b, "mlp_ratio", &c.mlp_ratio, label);
  read(b, "hidden_act", &c.hidden_act, label);
  read(b, "layer_norm_eps", &c.layer_norm_eps, label);
  read(b, "image_size", &c.image_size, label);
  read(b, "patch_size", &c.patch_size, label);
  read(b, "num_channels", &c.num_channels, label);
  read(b, "qkv_bias", &c.qkv_bias, label);
  read(b, "layerscale_value", &c.layerscale_value, label);
  read(b, "use_swiglu_ffn", &c.use_swiglu_ffn, label);
  read(b, "apply_layernorm", &c.apply_layernorm, label);
  read(b, "reshape_hidden_states", &c.reshape_hidden_states, label);
  read(b, "use_mask_token", &c.use_mask_token, label);
  // Stage names are "stem", "stage1".."stageN"; out_indices wins over out_features (transformers aligns them).
  std::vector<int64_t> idx;
  read(b, "out_indices", &idx, label);
  if (idx.empty() && b.contains("out_features") && b["out_features"].is_array()) {
    for (auto& f : b["out_features"]) {
      std::string s = f.is_string() ? f.get<std::string>() : "";
      if (s == "stem") {
        idx.push_back(0);
      } else if (s.rfind("stage", 0) == 0 && s.size() > 5) {
        idx.push_back(std::stoll(s.substr(5)));
      } else {
        bad(label, "backbone_config.out_features holds '" + f.dump() + "', expected 'stem' or 'stageN'");
      }
    }
  }
  if (idx.empty()) idx.push_back(c.num_hidden_layers);  // transformers' default: the last stage
  for (auto& i : idx) {
    if (i < 0) i += c.num_hidden_layers + 1;  // Python-style negative indices
  }
  c.out_indices = idx;
  return c;
}

}  // namespace

DepthAnythingConfig DepthAnythingConfig::from_json(const json& j, const std::string& label) {
  if (!j.is_object()) bad(label, "expected a JSON object");
  DepthAnythingConfig c;
  if (j.contains("backbone") && j["backbone"].is_string()) {
    throw mf::Error(ErrorCode::Unsupported, label + ": a named (timm/hub) backbone '" +
                                                j["backbone"].get<std::string>() +
                                                "' is not supported; the folder must carry backbone_config");
  }
  if (j.contains("backbone_config") && j["backbone_config"].is_object()) {
    c.backbone = parse_backbone(j["backbone_config"], label);
  } else {
    // DepthAnythingConfig's default backbone when none is given.
    c.backbone.image_size = 518;
    c.backbone.hidden_size = 384;
    c.backbone.num_attention_heads = 6;
    c.backbone.out_indices = {9, 10, 11, 12};
    c.backbone.apply_layernorm = true;
    c.backbone.reshape_hidden_states = false;
  }
  read(j, "patch_size", &c.patch_size, label);
  read(j, "reassemble_hidden_size", &c.reassemble_hidden_size, label);
  read(j, "reassemble_factors", &c.reassemble_factors, label);
  read(j, "neck_hidden_sizes", &c.neck_hidden_sizes, label);
  read(j, "fusion_hidden_size", &c.fusion_hidden_size, label);
  read(j, "head_in_index", &c.head_in_index, label);
  read(j, "head_hidden_size", &c.head_hidden_size, label);
  read(j, "depth_estimation_type", &c.depth_estimation_type, label);
  double md = 0;
  read(j, "max_depth", &md, label);
  c.max_depth = md != 0 ? md : 1.0;  // `max_depth if max_depth else 1`
  c.validate(label);
  return c;
}

DepthAnythingConfig DepthAnythingConfig::from_file(const std::string& path) { return from_json(parse_file(path), path); }

DepthAnythingConfig DepthAnythingConfig::v2_small() {
  DepthAnythingConfig c;
  c.backbone.hidden_size = 384;
  c.backbone.num_hidden_layers = 12;
  c.backbone.num_attention_heads = 6;
  c.backbone.image_size = 518;
  c.backbone.patch_size = 14;
  c.backbone.out_indices = {3, 6, 9, 12};
  c.backbone.apply_layernorm = true;
  c.backbone.reshape_hidden_states = false;
  c.validate("Depth-Anything-V2-Small");
  return c;
}

void DepthAnythingConfig::validate(const std::string& label) const {
  const auto& b = backbone;
  if (b.hidden_size <= 0 || b.num_attention_heads <= 0 || b.hidden_size % b.num_attention_heads != 0) {
    bad(label, "backbone hidden_size " + std::to_string(b.hidden_size) + " is not a positive multiple of " +
                   "num_attention_heads " + std::to_string(b.num_attention_heads));
  }
  if (b.num_hidden_layers <= 0 || b.patch_size <= 0 || b.image_size < b.patch_size || b.num_channels <= 0) {
    bad(label, "backbone num_hidden_layers/patch_size/image_size/num_channels are not sensible");
  }
  if (b.use_swiglu_ffn) throw mf::Error(ErrorCode::Unsupported, label + ": use_swiglu_ffn=true is not supported");
  if (b.hidden_act != "gelu") {
    throw mf::Error(ErrorCode::Unsupported, label + ": backbone hidden_act '" + b.hidden_act +
                                                "' is not supported (only exact 'gelu')");
  }
  if (b.reshape_hidden_states) {
    throw mf::Error(ErrorCode::Unsupported,
                    label + ": backbone reshape_hidden_states=true is not supported (Depth-Anything expects "
                            "token sequences with the CLS token; its configs set it to false)");
  }
  for (auto i : b.out_indices) {
    if (i < 0 || i > b.num_hidden_layers) {
      bad(label, "backbone out_indices entry " + std::to_string(i) + " is outside 0.." +
                     std::to_string(b.num_hidden_layers));
    }
  }
  const size_t n = neck_hidden_sizes.size();
  if (n == 0 || b.out_indices.size() != n || reassemble_factors.size() != n) {
    bad(label, "neck_hidden_sizes (" + std::to_string(n) + "), reassemble_factors (" +
                   std::to_string(reassemble_factors.size()) + ") and backbone out_indices (" +
                   std::to_string(b.out_indices.size()) + ") must have the same length");
  }
  for (double f : reassemble_factors) {
    const bool up = f > 1 && std::floor(f) == f;
    const bool down = f < 1 && f > 0 && std::floor(1.0 / f) == 1.0 / f;
    if (!(up || down || f == 1)) {
      bad(label, "reassemble factor " + std::to_string(f) + " is not an integer >= 1 or 1/integer");
    }
  }
  if (reassemble_hidden_size != b.hidden_size) {
    bad(label, "reassemble_hidden_size " + std::to_string(reassemble_hidden_size) +
                   " differs from the backbone hidden_size " + std::to_string(b.hidden_size));
  }
  if (fusion_hidden_size <= 1 || head_hidden_size <= 0 || patch_size <= 0) {
    bad(label, "fusion_hidden_size/head_hidden_size/patch_size must be positive");
  }
  const int64_t hi = head_in_index < 0 ? head_in_index + static_cast<int64_t>(n) : head_in_index;
  if (hi < 0 || hi >= static_cast<int64_t>(n)) bad(label, "head_in_index " + std::to_string(head_in_index) + " is out of range");
  if (depth_estimation_type != "relative" && depth_estimation_type != "metric") {
    bad(label, "depth_estimation_type must be 'relative' or 'metric', got '" + depth_estimation_type + "'");
  }
}

DptPreprocessorConfig DptPreprocessorConfig::from_json(const json& j, const std::string& label) {
  if (!j.is_object()) bad(label, "expected a JSON object");
  DptPreprocessorConfig c;
  read(j, "do_resize", &c.do_resize, label);
  if (j.contains("size") && !j["size"].is_null()) {
    const auto& s = j["size"];
    if (s.is_number_integer()) {
      c.height = c.width = s.get<int64_t>();
    } else if (s.is_object() && s.contains("height") && s.contains("width")) {
      read(s, "height", &c.height, label);
      read(s, "width", &c.width, label);
    } else {
      bad(label, "'size' must be an integer or {\"height\", \"width\"}, got " + s.dump());
    }
  }
  read(j, "keep_aspect_ratio", &c.keep_aspect_ratio, label);
  read(j, "ensure_multiple_of", &c.ensure_multiple_of, label);
  read(j, "resample", &c.resample, label);
  read(j, "do_rescale", &c.do_rescale, label);
  read(j, "rescale_factor", &c.rescale_factor, label);
  read(j, "do_normalize", &c.do_normalize, label);
  std::vector<double> v;
  read(j, "image_mean", &v, label);
  if (!v.empty()) {
    if (v.size() != 3) bad(label, "image_mean must have 3 values");
    c.image_mean = {v[0], v[1], v[2]};
  }
  v.clear();
  read(j, "image_std", &v, label);
  if (!v.empty()) {
    if (v.size() != 3) bad(label, "image_std must have 3 values");
    c.image_std = {v[0], v[1], v[2]};
  }
  read(j, "do_pad", &c.do_pad, label);
  if (c.do_resize && c.resample != 3) {
    throw mf::Error(ErrorCode::Unsupported, label + ": resample " + std::to_string(c.resample) +
                                                " is not supported (only 3 = PIL BICUBIC)");
  }
  if (c.do_pad) throw mf::Error(ErrorCode::Unsupported, label + ": do_pad=true is not supported");
  if (c.height <= 0 || c.width <= 0 || c.ensure_multiple_of <= 0) bad(label, "size/ensure_multiple_of must be positive");
  return c;
}

DptPreprocessorConfig DptPreprocessorConfig::from_file(const std::string& path) {
  return from_json(parse_file(path), path);
}

}  // namespace mf::depth
