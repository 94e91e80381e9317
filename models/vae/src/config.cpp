// VaeConfig parsing and the tile geometry arithmetic of diffusers 0.33.1.
#include "mf/vae/config.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"

namespace mf::vae {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& origin, const std::string& what) {
  throw mf::Error(mf::ErrorCode::BadFile, origin + ": VAE config " + what);
}

template <typename T>
void read_number(const json& j, const char* key, T* out, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;  // keep the diffusers default
  if (!it->is_number()) bad(origin, std::string("field '") + key + "' must be a number, found " + it->dump());
  if constexpr (std::is_integral_v<T>) {
    double v = it->get<double>();
    if (v != std::floor(v)) bad(origin, std::string("field '") + key + "' must be an integer, found " + it->dump());
    *out = static_cast<T>(v);
  } else {
    *out = it->get<T>();
  }
}

void read_bool(const json& j, const char* key, bool* out, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_boolean()) bad(origin, std::string("field '") + key + "' must be true/false, found " + it->dump());
  *out = it->get<bool>();
}

}  // namespace

int VaeConfig::temporal_compress_level() const {
  // diffusers: int(np.log2(temporal_compression_ratio))
  return static_cast<int>(std::floor(std::log2(static_cast<double>(temporal_compression_ratio))));
}

VaeConfig VaeConfig::from_json_text(const std::string& json_text, const std::string& origin) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const std::exception& e) {
    bad(origin, std::string("is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(origin, "must be a JSON object");
  VaeConfig c;
  read_number(j, "in_channels", &c.in_channels, origin);
  read_number(j, "out_channels", &c.out_channels, origin);
  if (auto it = j.find("block_out_channels"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || it->empty()) bad(origin, "field 'block_out_channels' must be a non-empty list");
    c.block_out_channels.clear();
    for (auto& v : *it) {
      if (!v.is_number_integer()) bad(origin, "field 'block_out_channels' must hold integers, found " + v.dump());
      c.block_out_channels.push_back(v.get<int>());
    }
  }
  read_number(j, "latent_channels", &c.latent_channels, origin);
  read_number(j, "layers_per_block", &c.layers_per_block, origin);
  read_number(j, "norm_eps", &c.norm_eps, origin);
  read_number(j, "norm_num_groups", &c.norm_num_groups, origin);
  read_number(j, "temporal_compression_ratio", &c.temporal_compression_ratio, origin);
  read_number(j, "sample_height", &c.sample_height, origin);
  read_number(j, "sample_width", &c.sample_width, origin);
  read_number(j, "scaling_factor", &c.scaling_factor, origin);
  read_bool(j, "use_quant_conv", &c.use_quant_conv, origin);
  read_bool(j, "use_post_quant_conv", &c.use_post_quant_conv, origin);
  if (auto it = j.find("act_fn"); it != j.end() && !it->is_null()) {
    if (!it->is_string() || (it->get<std::string>() != "silu" && it->get<std::string>() != "swish"))
      bad(origin, "field 'act_fn' is " + it->dump() + "; only \"silu\" is supported");
  }
  auto check_types = [&](const char* key, const char* want) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    if (!it->is_array()) bad(origin, std::string("field '") + key + "' must be a list");
    if (it->size() != c.block_out_channels.size())
      bad(origin, std::string("field '") + key + "' has " + std::to_string(it->size()) +
                      " entries but block_out_channels has " + std::to_string(c.block_out_channels.size()));
    for (auto& v : *it)
      if (!v.is_string() || v.get<std::string>() != want)
        bad(origin, std::string("field '") + key + "' holds " + v.dump() + "; only " + want + " is supported");
  };
  check_types("down_block_types", "CogVideoXDownBlock3D");
  check_types("up_block_types", "CogVideoXUpBlock3D");
  c.validate(origin);
  return c;
}

VaeConfig VaeConfig::from_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::path p = fs::path(dir) / "config.json";
  std::ifstream in(p);
  if (!in)
    throw mf::Error(mf::ErrorCode::MissingModel,
                    "no VAE config at " + p.string() + " (point at the pipeline's vae/ folder)");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), p.string());
}

void VaeConfig::validate(const std::string& origin) const {
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) bad(origin, what);
  };
  need(in_channels > 0 && out_channels > 0 && latent_channels > 0, "channel counts must be positive");
  need(!block_out_channels.empty(), "block_out_channels must not be empty");
  for (int ch : block_out_channels) {
    need(ch > 0, "block_out_channels must be positive");
    need(norm_num_groups > 0 && ch % norm_num_groups == 0,
         "norm_num_groups " + std::to_string(norm_num_groups) + " does not divide block channel count " +
             std::to_string(ch));
  }
  need(layers_per_block >= 1, "layers_per_block must be >= 1");
  need(temporal_compression_ratio >= 1 && (temporal_compression_ratio & (temporal_compression_ratio - 1)) == 0,
       "temporal_compression_ratio must be a power of two, found " + std::to_string(temporal_compression_ratio));
  need(temporal_compress_level() <= static_cast<int>(block_out_channels.size()) - 1,
       "temporal_compression_ratio is larger than the number of down-sampling blocks allows");
  need(sample_height > 0 && sample_width > 0, "sample_height/sample_width must be positive");
}

std::string VaeConfig::to_json_text() const {
  json j;
  j["in_channels"] = in_channels;
  j["out_channels"] = out_channels;
  j["block_out_channels"] = block_out_channels;
  j["latent_channels"] = latent_channels;
  j["layers_per_block"] = layers_per_block;
  j["norm_eps"] = norm_eps;
  j["norm_num_groups"] = norm_num_groups;
  j["temporal_compression_ratio"] = temporal_compression_ratio;
  j["sample_height"] = sample_height;
  j["sample_width"] = sample_width;
  j["scaling_factor"] = scaling_factor;
  j["use_quant_conv"] = use_quant_conv;
  j["use_post_quant_conv"] = use_post_quant_conv;
  return j.dump();
}

TilingOptions TilingOptions::defaults_for(const VaeConfig& cfg) {
  TilingOptions t;
  t.enabled = true;
  t.tile_sample_min_height = cfg.sample_height / 2;
  t.tile_sample_min_width = cfg.sample_width / 2;
  return t;
}

TileGeometry TileGeometry::compute(const TilingOptions& t, int spatial_compression_ratio) {
  // Python's int() truncates toward zero; every quantity here is non-negative, so a cast of the same double
  // products reproduces it bit for bit (e.g. int(6 * (1 - 1/6)) == 5 because the product is 5.000000000000001).
  auto py_int = [](double v) { return static_cast<int64_t>(v); };
  TileGeometry g;
  const double fh = t.overlap_factor_height, fw = t.overlap_factor_width;
  g.tile_latent_min_height = py_int(static_cast<double>(t.tile_sample_min_height) / spatial_compression_ratio);
  g.tile_latent_min_width = py_int(static_cast<double>(t.tile_sample_min_width) / spatial_compression_ratio);

  g.decode_stride_height = py_int(static_cast<double>(g.tile_latent_min_height) * (1.0 - fh));
  g.decode_stride_width = py_int(static_cast<double>(g.tile_latent_min_width) * (1.0 - fw));
  g.decode_blend_height = py_int(static_cast<double>(t.tile_sample_min_height) * fh);
  g.decode_blend_width = py_int(static_cast<double>(t.tile_sample_min_width) * fw);
  g.decode_keep_height = t.tile_sample_min_height - g.decode_blend_height;
  g.decode_keep_width = t.tile_sample_min_width - g.decode_blend_width;

  g.encode_stride_height = py_int(static_cast<double>(t.tile_sample_min_height) * (1.0 - fh));
  g.encode_stride_width = py_int(static_cast<double>(t.tile_sample_min_width) * (1.0 - fw));
  g.encode_blend_height = py_int(static_cast<double>(g.tile_latent_min_height) * fh);
  g.encode_blend_width = py_int(static_cast<double>(g.tile_latent_min_width) * fw);
  g.encode_keep_height = g.tile_latent_min_height - g.encode_blend_height;
  g.encode_keep_width = g.tile_latent_min_width - g.encode_blend_width;
  return g;
}

}  // namespace mf::vae
