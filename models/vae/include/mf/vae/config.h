// Configuration of the CogVideoX video VAE (diffusers AutoencoderKLCogVideoX constructor arguments, read from a
// released vae/config.json or a parity file's metadata) and of its tiled mode.
//
// Threading: plain value types; safe to copy between threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mf::vae {

// MfM feeds the decoder latents / 0.958917567 (the VAE config's scaling_factor is not used by MfM).
constexpr double kMfmLatentScale = 0.958917567;

struct VaeConfig {
  int in_channels = 3;
  int out_channels = 3;
  std::vector<int> block_out_channels{128, 256, 256, 512};
  int latent_channels = 16;
  int layers_per_block = 3;
  double norm_eps = 1e-6;
  int norm_num_groups = 32;
  int temporal_compression_ratio = 4;
  int sample_height = 480;  // tiles are half of these (tile_sample_min = sample / 2)
  int sample_width = 720;
  double scaling_factor = 1.15258426;
  bool use_quant_conv = false;
  bool use_post_quant_conv = false;

  // 2^(number of blocks - 1): 8 for the released VAE.
  int spatial_compression_ratio() const { return 1 << (static_cast<int>(block_out_channels.size()) - 1); }
  // log2(temporal_compression_ratio): how many down/up blocks also compress time (2 for the released VAE).
  int temporal_compress_level() const;

  // Throws mf::Error(BadFile) naming `origin` when a value is missing the right type or is unsupported
  // (e.g. an act_fn other than silu, block types other than CogVideoX{Down,Up}Block3D).
  static VaeConfig from_json_text(const std::string& json_text, const std::string& origin);
  // Reads DIR/config.json. Throws mf::Error(MissingModel) when it is absent.
  static VaeConfig from_folder(const std::string& dir);
  void validate(const std::string& origin) const;
  std::string to_json_text() const;
};

// Official tiling parameters (AutoencoderKLCogVideoX.enable_tiling with its defaults).
struct TilingOptions {
  bool enabled = false;
  int tile_sample_min_height = 240;  // pixels; default sample_height / 2
  int tile_sample_min_width = 360;   // pixels; default sample_width / 2
  double overlap_factor_height = 1.0 / 6.0;
  double overlap_factor_width = 1.0 / 5.0;

  // The defaults diffusers derives from a config (enabled = true, tiles of half the sample size).
  static TilingOptions defaults_for(const VaeConfig& cfg);
};

// The integer tile geometry derived exactly as diffusers 0.33.1 does it (Python int() of float products).
struct TileGeometry {
  int64_t tile_latent_min_height = 0, tile_latent_min_width = 0;
  // decode: latent stride between tiles; pixel blend extent; pixel rows/cols kept per tile
  int64_t decode_stride_height = 0, decode_stride_width = 0;
  int64_t decode_blend_height = 0, decode_blend_width = 0;
  int64_t decode_keep_height = 0, decode_keep_width = 0;
  // encode: pixel stride between tiles; latent blend extent; latent rows/cols kept per tile
  int64_t encode_stride_height = 0, encode_stride_width = 0;
  int64_t encode_blend_height = 0, encode_blend_width = 0;
  int64_t encode_keep_height = 0, encode_keep_width = 0;

  static TileGeometry compute(const TilingOptions& t, int spatial_compression_ratio);
};

}  // namespace mf::vae
